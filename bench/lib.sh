# Shared by the bench scripts (sourced, not run).

# The bench dir: our own scratch space, marked so that FRESH=1 never wipes
# anything else. Uses BENCH_DIR.
bench_dir_init() {
  if [ "${FRESH:-0}" = 1 ] && [ -f "$BENCH_DIR/.latchkey-bench" ]; then rm -rf "$BENCH_DIR"; fi
  mkdir -p "$BENCH_DIR"
  if [ ! -f "$BENCH_DIR/.latchkey-bench" ]; then
    [ -z "$(ls -A "$BENCH_DIR")" ] || { echo "$BENCH_DIR is not empty and not a bench dir; set BENCH_DIR" >&2; exit 1; }
    touch "$BENCH_DIR/.latchkey-bench"
  fi
}

# Stops the server whose pid is in SRV (TERM, then KILL after 5 s).
SRV=""
stop_server() {
  [ -n "$SRV" ] || return 0
  kill -TERM "$SRV" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$SRV" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SRV" 2>/dev/null || true
  wait "$SRV" 2>/dev/null || true
  SRV=""
}

# Runs the latchkey-store bench $1 (release build) on each of BACKENDS
# (default "sqlite postgres"; PostgreSQL at PG_URL, a fresh database dropped
# afterwards), then prints the median of every figure over its runs
# (`RESULT <backend> <figure> run=<n> ms=<value>` lines).
store_bench() {
  local bench=$1 out b arg
  local backends=${BACKENDS:-"sqlite postgres"} pg_url=${PG_URL:-postgres://postgres@127.0.0.1:5432}
  out=$(mktemp)
  CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo bench -q -p latchkey-store --bench "$bench" --no-run
  for b in $backends; do
    arg=$b
    [ "$b" = postgres ] && arg=$pg_url
    CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} timeout 600 cargo bench -q -p latchkey-store --bench "$bench" -- "$arg" | tee -a "$out"
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
      printf "%-10s %-22s %10.3f  (runs: %d)\n", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), med, m
    }
  }' "$out" | sort
  rm -f "$out"
}
