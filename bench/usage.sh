#!/usr/bin/env bash
# The usage write-behind's cost (issue 25, point 5): 20,000 keys' lastUsedAt
# and counts written in id order, in chunks of 50, 500, 2,000 and 5,000 keys
# (KeyStore::record_key_usage, as the flusher calls it), over a database of
# 100,000 keys, on SQLite and PostgreSQL; medians of 3 runs of the median
# chunk, the longest chunk and the cost per key, in milliseconds. See
# crates/latchkey-store/benches/usage.rs.
#
#   bench/usage.sh                       # both backends
#   BACKENDS=sqlite bench/usage.sh       # one
#   PG_URL=postgres://postgres@127.0.0.1:5432 (default; a fresh database, dropped afterwards)
#
# About a minute per backend (release build first). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
store_bench usage
