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
BACKENDS=${BACKENDS:-"sqlite postgres"}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo bench -q -p latchkey-store --bench warmup --no-run
for b in $BACKENDS; do
  arg=$b
  [ "$b" = postgres ] && arg=$PG_URL
  CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} timeout 600 cargo bench -q -p latchkey-store --bench warmup -- "$arg" | tee -a "$out"
done

echo
echo "medians (ms):"
awk '/^RESULT/ {
  split($5, v, "="); key = $2 " " $3; n[key]++; x[key, n[key]] = v[2]
} END {
  for (k in n) {
    m = n[k]; for (i = 1; i <= m; i++) a[i] = x[k, i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    med = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    printf "%-10s %-22s %10.1f  (runs: %d)\n", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), med, m
  }
}' "$out" | sort
