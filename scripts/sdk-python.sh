#!/usr/bin/env bash
# The Python SDK (sdks/python, issue 21): its generated files are current
# (codegen/generate.py --check, also a test), mypy --strict is clean, and
# pytest passes against the debug server, which the tests start themselves
# on loopback ports (SQLite; the 503 tests on PostgreSQL at
# LATCHKEY_TEST_DATABASE_URL). The tools are pinned in
# sdks/python/requirements-test.txt and installed into sdks/python/.venv
# (git-ignored) when missing or when the pins changed, as
# scripts/python-env.sh does for .venv. One test builds the wheel and
# installs it into a fresh virtual environment (Python 3.9 when the machine
# has one), which fetches httpx and pydantic from PyPI.
# LATCHKEY_TEST_BACKENDS=sqlite lets the PostgreSQL tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."
sdk=sdks/python
requirements=$sdk/requirements-test.txt
installed=$sdk/.venv/.requirements
if ! [ -x "$sdk/.venv/bin/pytest" ] || ! cmp -s "$requirements" "$installed"; then
  if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "python3 with its venv module is needed for the Python SDK:" \
         "apt-get install python3-venv (.ci/run installs it)" >&2
    exit 1
  fi
  echo "== $sdk/.venv: installing $requirements"
  rm -rf "$sdk/.venv"
  python3 -m venv "$sdk/.venv"
  "$sdk/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$installed"
fi
# The binary: LATCHKEY_BIN when given (scripts/test.sh passes the one its
# test pass built), else the debug build.
[ -n "${LATCHKEY_BIN:-}" ] || cargo build --locked -p latchkey
if [ "${LATCHKEY_TEST_BACKENDS:-sqlite,postgres}" != "sqlite" ]; then
  export LATCHKEY_SDK_REQUIRE_POSTGRES=1
fi
export LATCHKEY_BIN="${LATCHKEY_BIN:-$PWD/target/debug/latchkey}"
cd "$sdk"
echo "== Python SDK: generated files, mypy --strict, pytest"
.venv/bin/python codegen/generate.py --check
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider
