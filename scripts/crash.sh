#!/usr/bin/env bash
# The crash proof at full size: 10,000 key creations and revocations by 8
# concurrent clients, with `kill -9` at 20 points spread over them (each while
# requests are in flight), on SQLite and then on PostgreSQL. After each restart
# every change the client got a success answer for must be there (created keys
# exist and verify, revoked keys are refused), and no key or revocation may lack
# its audit event. It runs the integration test
# `d11_crash_loses_no_acknowledged_change_and_no_audit_event`, which CI runs at
# 1,000 operations and 5 kills; each run prints its figures (operations, kills,
# lost, unaudited).
#   LATCHKEY_CRASH_OPS, LATCHKEY_CRASH_KILLS   override the size (10000, 20)
#   LATCHKEY_TEST_BACKENDS=sqlite               skip the PostgreSQL run
set -euo pipefail
cd "$(dirname "$0")/.."
export LATCHKEY_CRASH_OPS="${LATCHKEY_CRASH_OPS:-10000}"
export LATCHKEY_CRASH_KILLS="${LATCHKEY_CRASH_KILLS:-20}"

run() {
  cargo test -q -p latchkey --test it --locked d11_crash_loses_no_acknowledged_change -- --nocapture
}

echo "== SQLite"
LATCHKEY_TEST_DATABASE_URL= run

if [ "${LATCHKEY_TEST_BACKENDS:-sqlite,postgres}" = "sqlite" ]; then
  exit 0
fi
export LATCHKEY_TEST_DATABASE_URL="${LATCHKEY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
if ! pg_isready -q -d "$LATCHKEY_TEST_DATABASE_URL/postgres" 2>/dev/null; then
  echo "PostgreSQL at $LATCHKEY_TEST_DATABASE_URL is needed for the second run" \
       "(start it, or run with LATCHKEY_TEST_BACKENDS=sqlite)" >&2
  exit 1
fi
echo "== PostgreSQL ($LATCHKEY_TEST_DATABASE_URL)"
run
