#!/usr/bin/env bash
# The TypeScript SDK (sdks/typescript, `@latchkey/sdk`): installs its pinned
# dependencies (npm ci, again only when package-lock.json changed), checks
# that the committed contract types are what openapi-typescript makes of
# docs/openapi.json now, type-checks everything (tsc --noEmit), builds dist/
# and runs the tests with `node --test` against a latchkey each test file
# starts from the debug build (cargo build -p latchkey) on a free loopback
# port. The 503 test runs latchkey on PostgreSQL (LATCHKEY_TEST_DATABASE_URL,
# default postgres://postgres@127.0.0.1:5432); LATCHKEY_TEST_BACKENDS=sqlite
# skips it. Needs Node.js 20+ with npm.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "sdk-typescript: Node.js 20+ and npm are needed" >&2
  exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "sdk-typescript: Node.js 20+ is needed (found $(node --version))" >&2
  exit 1
fi
# The binary: LATCHKEY_BIN when given (scripts/test.sh passes the one its
# test pass built), else the debug build.
[ -n "${LATCHKEY_BIN:-}" ] || cargo build --locked -p latchkey
cd sdks/typescript
if ! cmp -s package-lock.json node_modules/.latchkey-package-lock.json; then
  echo "== sdks/typescript: npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.latchkey-package-lock.json
fi
echo "== sdks/typescript: generated types, tsc --noEmit, tests"
node scripts/check-generated.mjs
npx --no-install tsc --noEmit -p tsconfig.json
npm test
