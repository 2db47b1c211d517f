#!/usr/bin/env bash
# The verifier's warm-up read (100,000 keys, paged 1,000 at a time) and the
# change-log prune (200,000 entries), before and after issue 25's first part,
# on SQLite and PostgreSQL; medians of 3 runs. See
# crates/latchkey-store/benches/warmup.rs for what each figure is.
#
#   bench/warmup.sh                       # both backends
#   BACKENDS=sqlite bench/warmup.sh       # one
#   PG_URL=postgres://postgres@127.0.0.1:5432 (default; a fresh database, dropped afterwards)
#
# About 1–2 minutes per backend (release build first). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
store_bench warmup
