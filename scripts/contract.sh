#!/usr/bin/env bash
# The contract run (issue 19): schemathesis against a live server, with the
# committed docs/openapi.json, authenticated as the organization's admin
# (the key `latchkey init` prints), with the checks not_a_server_error,
# status_code_conformance, content_type_conformance and
# response_schema_conformance. It passes when schemathesis tested at least
# as many operations as the document has, with no failure and no error
# (scripts/contract/gate.py), and the admin's key still works at the end.
#
# The server is the debug build (what `cargo test` builds) on a free
# loopback port with a fresh data directory; its per-address sign-up, login
# and failed-authentication limits are raised, or schemathesis would test
# 429s instead of the operations behind them. The cases that would revoke,
# delete, rotate or throttle the run's own key are not generated
# (scripts/contract/hooks.py). Reports and the server's log are left in
# target/contract/.
#   CONTRACT_EXAMPLES  examples per operation and phase  [25]
#                      (scripts/contract-long.sh: 1000)
#   CONTRACT_SEED      schemathesis' seed, to repeat a run  [random]
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${CONTRACT_EXAMPLES:-25}"
scripts/python-env.sh
# The binary: LATCHKEY_BIN when given (scripts/test.sh passes the one its
# test pass built), else the debug build.
[ -n "${LATCHKEY_BIN:-}" ] || cargo build --locked -p latchkey
bin="${LATCHKEY_BIN:-target/debug/latchkey}"
out=target/contract
rm -rf "$out"
mkdir -p "$out"
data="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT

"$bin" init --org "Contract" --email admin@example.com --data-dir "$data" --json > "$data/init.json"
cat > "$data/latchkey.toml" <<'TOML'
signups_per_hour_per_ip = 1000000
failed_auth_per_minute = 1000000
login_failures_per_account_and_ip = 1000000
login_failures_per_account = 1000000
login_failures_per_ip = 1000000
TOML
"$bin" serve --listen 127.0.0.1:0 --data-dir "$data" > "$data/stdout" 2> "$out/server.log" &
server=$!
url=""
for _ in $(seq 100); do
  url="$(sed -n 's/^latchkey listening on //p' "$data/stdout")"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { echo "contract: the server did not start (target/contract/server.log)" >&2; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "contract: the server did not report its address" >&2; exit 1; }

py=.venv/bin/python
LATCHKEY_CONTRACT_KEY="$("$py" -c 'import json, sys; print(json.load(sys.stdin)["apiKey"])' < "$data/init.json")"
me() { curl -s -H "X-API-Key: $LATCHKEY_CONTRACT_KEY" -w '\n%{http_code}' "$url/v1/me"; }
LATCHKEY_CONTRACT_KEY_ID="$(me | head -n1 | "$py" -c 'import json, sys; print(json.load(sys.stdin)["data"]["keyId"])')"
export LATCHKEY_CONTRACT_KEY LATCHKEY_CONTRACT_KEY_ID
export SCHEMATHESIS_HOOKS=scripts/contract/hooks.py

echo "== contract: schemathesis on $url, $examples examples per operation"
seed=()
[ -n "${CONTRACT_SEED:-}" ] && seed=(--seed "$CONTRACT_SEED")
status=0
.venv/bin/schemathesis --config-file scripts/contract/schemathesis.toml run docs/openapi.json \
  --url "$url" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" "${seed[@]}" --no-color \
  --report json,junit --report-json-path "$out/report.json" --report-junit-path "$out/junit.xml" \
  > "$out/schemathesis.txt" 2>&1 || status=$?
sed -n '/^=* *\(FAILURES\|ERRORS\|SUMMARY\) *=*$/,$p' "$out/schemathesis.txt"
if [ ! -f "$out/report.json" ]; then
  cat "$out/schemathesis.txt"
  echo "contract: schemathesis wrote no report (exit $status)" >&2
  exit 1
fi
"$py" scripts/contract/gate.py "$out/report.json" docs/openapi.json || status=1
if [ "$(me | tail -n1)" != 200 ]; then
  echo "contract: FAILED: the admin's key stopped working during the run (see scripts/contract/hooks.py)" >&2
  status=1
fi
exit "$status"
