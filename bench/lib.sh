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

# CPU pinning (PIN=1, the default): the server on CPU 0, the load generator and
# probes on CPU 1, so a 2-core box measures a 1-core server. Sets SRV_PIN and
# WRK_PIN (empty without PIN=1 or taskset).
pin_cpus() {
  SRV_PIN=(); WRK_PIN=()
  if [ "${PIN:-1}" = 1 ] && command -v taskset >/dev/null; then SRV_PIN=(taskset -c 0); WRK_PIN=(taskset -c 1); fi
}

# Starts `$BIN serve --listen 127.0.0.1:$PORT ARGS...` (pinned by SRV_PIN) with
# its output in LOG, sets SRV to its pid and waits up to START_WAIT (10) seconds
# for it to listen; exits with the log's tail if it does not.
# Usage: start_server LOG ARGS...
start_server() {
  local log=$1; shift
  "${SRV_PIN[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" "$@" > "$log" 2>&1 &
  SRV=$!
  for _ in $(seq 1 $((${START_WAIT:-10} * 50))); do
    grep -q "latchkey listening on http://127.0.0.1:$PORT" "$log" 2>/dev/null && return 0
    kill -0 "$SRV" 2>/dev/null || break
    sleep 0.02
  done
  echo "latchkey serve did not come up; log $log:" >&2; tail -20 "$log" >&2; exit 1
}

# The median of the numbers on stdin, one a line (the upper one of an even count).
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# wrk's latency ("812.00us", "12.34ms", "1.20s", "2.00m") on stdin, in milliseconds.
wrk_ms() {
  awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /m$/) {sub(/m$/,"",v); v*=60000} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f\n", v}'
}

# From the output of `wrk --latency` in FILE: "RPS P50_MS P99_MS MAX_MS NON2XX SOCKET_ERRORS".
wrk_figures() {
  local rps p50 p99 max non2xx errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$1")
  p50=$(awk '$1 == "50%" {print $2}' "$1" | wrk_ms)
  p99=$(awk '$1 == "99%" {print $2}' "$1" | wrk_ms)
  max=$(awk '$1 == "Latency" {print $4; exit}' "$1" | wrk_ms)
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$1")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$1")
  echo "${rps:-0} ${p50:-0} ${p99:-0} ${max:-0} ${non2xx:-0} ${errors:-0}"
}

# Resident memory of process PID in MiB (VmRSS), or "n/a".
rss_mib() {
  if [ -r "/proc/$1/status" ]; then awk '/^VmRSS/ {printf "%.0f\n", $2 / 1024}' "/proc/$1/status"; else echo n/a; fi
}
