#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, property and integration
# tests (the integration tests start the real binary on loopback ports, the
# sign-in tests a real OpenID provider, tests/idp, under Node: its npm
# packages are installed first when missing or stale; the workspaces tests
# a real S3 server, SeaweedFS's `weed` from .venv, which
# scripts/python-env.sh sets up first when missing), the contract run
# (scripts/contract.sh: schemathesis against a live server with
# docs/openapi.json; it sets up its Python environment, .venv, when
# missing), the dashboard's tests in Chromium (scripts/browser.sh; it runs
# `npm ci` in tests/browser when needed), the Python SDK's tests
# (scripts/sdk-python.sh, with its own sdks/python/.venv), then the
# integration suite again on PostgreSQL (with Redis for the multi-node
# tests), then a short run of every fuzz target (scripts/fuzz.sh).
# LATCHKEY_TEST_BACKENDS=sqlite skips the second pass;
# CONTRACT_EXAMPLES sets schemathesis' examples per operation (default 25);
# LATCHKEY_TEST_FUZZ_SECONDS=0 skips fuzzing (default 10 s a target).
set -euo pipefail
cd "$(dirname "$0")/.."
# Runs a tier and prints how long it took (CI's whole run must stay under
# 30 minutes on 2 cores: these lines show where the time goes).
timed() {
  local name="$1" start=$SECONDS
  shift
  "$@"
  echo "== $name: $((SECONDS - start)) s (${SECONDS} s in all)"
}
timed format cargo fmt --all -- --check
timed clippy cargo clippy --workspace --all-targets --locked -- -D warnings
# The sign-in tests' OpenID provider (tests/idp, oidc-provider under Node):
# `npm ci` when node_modules is missing or older than package-lock.json (npm
# writes node_modules/.package-lock.json on every install). The harness
# (crates/latchkey/tests/it/idp.rs) would install it when missing, not stale.
idp=tests/idp
if [ ! -f "$idp/node_modules/.package-lock.json" ] || [ "$idp/package-lock.json" -nt "$idp/node_modules/.package-lock.json" ]; then
  timed "npm ci (tests/idp)" npm ci --prefix "$idp" --no-audit --no-fund
fi
# The object-store tests' `weed` (and the contract run's schemathesis), in .venv.
timed "python environment" scripts/python-env.sh
# Four tests at a time on two cores: the integration tests mostly wait (on
# their servers' start, on PostgreSQL creating and migrating a database, on
# timers), so two at a time left the machine idle more than half the time
# (measured: the SQLite pass 148 s at 2, 97 s at 4; the PostgreSQL pass 317 s
# at 2, 232 s at 4, on a busy machine). RUST_TEST_THREADS overrides it.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
# The SQLite pass runs the servers at `trace`: every test server's log is
# searched for the secrets the tests handled when it stops (the log canary,
# tests/it/canary.rs).
LATCHKEY_TEST_LOG="${LATCHKEY_TEST_LOG:-trace}" timed "tests on SQLite" cargo test --workspace --locked
# The tiers below run the binary that pass built: `cargo build -p latchkey`
# resolves the dependencies' features without the tests' and would build
# much of the tree again (51 s in a CI run).
export LATCHKEY_BIN="$PWD/target/debug/latchkey"
timed contract scripts/contract.sh
timed browser scripts/browser.sh
timed "Python SDK" scripts/sdk-python.sh
timed "TypeScript SDK" scripts/sdk-typescript.sh

fuzz_smoke() {
  local seconds="${LATCHKEY_TEST_FUZZ_SECONDS:-10}"
  [ "$seconds" = 0 ] && return 0
  # cargo-fuzz builds with the nightly toolchain the machine carries.
  cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
  echo "== fuzz targets, ${seconds} s each"
  FUZZ_SECONDS="$seconds" timed fuzz scripts/fuzz.sh
}

if [ "${LATCHKEY_TEST_BACKENDS:-sqlite,postgres}" = "sqlite" ]; then
  fuzz_smoke
  exit 0
fi
export LATCHKEY_TEST_DATABASE_URL="${LATCHKEY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
export LATCHKEY_TEST_REDIS_URL="${LATCHKEY_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
if ! pg_isready -q -d "$LATCHKEY_TEST_DATABASE_URL/postgres" 2>/dev/null; then
  echo "PostgreSQL at $LATCHKEY_TEST_DATABASE_URL is needed for the second pass" \
       "(start it, or run with LATCHKEY_TEST_BACKENDS=sqlite)" >&2
  exit 1
fi
echo "== store suite and integration suite on PostgreSQL ($LATCHKEY_TEST_DATABASE_URL) and Redis ($LATCHKEY_TEST_REDIS_URL)"
# The store suite (every storage method, as on SQLite above) and what only
# the PostgreSQL adapter does, each case on a fresh database of its own.
# `--workspace` with the test's name: the features of the pass above, so
# nothing is built again (`-p` rebuilt a third of the dependencies).
timed "store suite on PostgreSQL" cargo test --workspace --test store --locked
timed "integration suite on PostgreSQL" cargo test --workspace --test it --locked
fuzz_smoke
