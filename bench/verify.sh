#!/usr/bin/env bash
# Load-tests latchkey's POST /v1/keys/verify with wrk on loopback, the same way as the
# better-auth peer's bench.sh (shared/peers/better-auth/bench.sh; run it with bench/peer.sh).
# Env knobs (defaults in brackets):
#   CONCS ["16 64"]  DURATION [15s]  RUNS [3]  WARMUP [5s]
#   PIN [1]   1 = server on CPU 0, wrk on CPU 1 (clean 1-core server vs 1-core client on a 2-core box)
#             0 = no pinning
#   TARGET [verify]  verify  = POST /v1/keys/verify with random keys from keys.txt (X-API-Key: admin key)
#                    pair    = verify and echo alternately on the same server, run by run, plus the
#                              median of the per-run ratios verify/echo (machine drift hits both alike)
#                    echo    = POST /bench/echo with the same bodies: parses the verify JSON and nothing
#                              else (the same binary's bare JSON route; the server runs with --bench-echo)
#                    healthz = GET /healthz (the same binary's HTTP ceiling, no auth work)
#   N [10000]  keys to verify against   PORT [7421]
#   LATCHKEY_BIN [/work/main/target/release/latchkey]
#   BENCH_DIR [/tmp/latchkey-bench/n$N]  data dir, admin key and keys.txt are cached here;
#             FRESH=1 wipes it first (do that after a schema change)
#   SANITY [1]  check one valid and one unknown key with curl before the timed runs
# Prints one line per run and a median summary (also saved to bench/results/latchkey-*.txt);
# raw wrk output and the server log go to bench/results/ too.
set -euo pipefail
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"   # as scripts/run.sh serves
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
cd "$HERE"
CONCS="${CONCS:-16 64}"; DURATION="${DURATION:-15s}"; RUNS="${RUNS:-3}"; WARMUP="${WARMUP:-5s}"
PIN="${PIN:-1}"; TARGET="${TARGET:-verify}"; PORT="${PORT:-7421}"; N="${N:-10000}"; SANITY="${SANITY:-1}"
BIN="${LATCHKEY_BIN:-/work/main/target/release/latchkey}"
BENCH_DIR="${BENCH_DIR:-/tmp/latchkey-bench/n$N}"
DATA_DIR="$BENCH_DIR/data"
BASE="http://127.0.0.1:$PORT"
case "$TARGET" in verify|echo|healthz|pair) ;; *) echo "TARGET must be verify, echo, healthz or pair" >&2; exit 2 ;; esac
[ -x "$BIN" ] || { echo "no latchkey binary at $BIN (cargo build --release -p latchkey, or set LATCHKEY_BIN)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl missing" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 missing" >&2; exit 1; }
if curl -s -o /dev/null --max-time 1 "$BASE/" 2>/dev/null; then
  echo "something already listens on 127.0.0.1:$PORT; stop it or set PORT" >&2; exit 1
fi
mkdir -p results
STAMP=$(date +%Y%m%d-%H%M%S); TAG="latchkey-${TARGET}-n${N}-pin${PIN}-${STAMP}"
pin_cpus

main() {
bench_dir_init

trap stop_server EXIT
# --- setup: init once per bench dir, then N keys (cached in keys.txt)
if [ ! -s "$BENCH_DIR/admin-key.txt" ]; then
  rm -rf "$DATA_DIR"
  "$BIN" init --org bench --email bench@example.com --data-dir "$DATA_DIR" --json > "$BENCH_DIR/init.json"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["apiKey"])' "$BENCH_DIR/init.json" > "$BENCH_DIR/admin-key.txt.tmp"
  mv "$BENCH_DIR/admin-key.txt.tmp" "$BENCH_DIR/admin-key.txt"
  rm -f "$BENCH_DIR/keys.txt"
fi
export ADMIN_KEY; ADMIN_KEY="$(cat "$BENCH_DIR/admin-key.txt")"
HAVE=0; [ -f "$BENCH_DIR/keys.txt" ] && HAVE=$(grep -c . "$BENCH_DIR/keys.txt" || true)
if [ "$TARGET" != healthz ] && [ "$HAVE" -lt "$N" ]; then
  echo "# creating $((N - HAVE)) keys in $BENCH_DIR ..."
  start_server "results/server-$TAG-setup.log" --bench-echo --data-dir "$DATA_DIR"
  python3 make_keys.py --url "$BASE" --n "$N" --out "$BENCH_DIR/keys.txt"
  stop_server   # measure a freshly started server, as the peer's is (its keys are made in-process)
fi
export KEYS_FILE="$BENCH_DIR/keys.txt"

# --- the measured server
start_server "results/server-$TAG.log" --bench-echo --data-dir "$DATA_DIR"

# wrk arguments per measured target
wrk_args() {
  case "$1" in
    healthz) WRK_ARGS=("$BASE/healthz") ;;
    echo) export VERIFY_PATH=/bench/echo; WRK_ARGS=(-s verify.lua "$BASE") ;;
    *) export VERIFY_PATH=/v1/keys/verify; WRK_ARGS=(-s verify.lua "$BASE") ;;
  esac
}
TARGETS="$TARGET"; [ "$TARGET" = pair ] && TARGETS="verify echo"

if [ "$TARGET" != echo ] && [ "$TARGET" != healthz ] && [ "$SANITY" = 1 ]; then
  K=$(head -n1 "$KEYS_FILE")
  for probe in "$K" "lk_live_bench_not_a_key"; do
    CODE=$(curl -s -o "$BENCH_DIR/sanity.json" -w '%{http_code}' --max-time 5 -X POST "$BASE/v1/keys/verify" \
      -H "Content-Type: application/json" -H "X-API-Key: $ADMIN_KEY" -d "{\"key\":\"$probe\"}" || true)
    echo "# sanity: verify $([ "$probe" = "$K" ] && echo known || echo unknown) key -> HTTP $CODE $(head -c 200 "$BENCH_DIR/sanity.json")"
    if [ "$probe" = "$K" ] && [ "$CODE" != 200 ]; then
      echo "verify of a known key did not answer 200; not benchmarking (SANITY=0 skips this check)" >&2; exit 1
    fi
  done
fi

# CPU time (user+system, clock ticks) the server and its threads have used; steal time on a
# shared VM is not in it, so CPU per request stays comparable when wall-clock rps do not.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SRV/stat"; }

echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)  target=$TARGET n=$N pin=$PIN duration=$DURATION runs=$RUNS bin=$BIN"
for T in $TARGETS; do   # warm-up (caches, page cache)
  wrk_args "$T"; "${WRK_PIN[@]}" wrk -t1 -c16 -d"$WARMUP" "${WRK_ARGS[@]}" > /dev/null
done
TMP=$(mktemp -d); trap 'stop_server; rm -rf "$TMP"' EXIT
HZ=$(getconf CLK_TCK)
for C in $CONCS; do
  for T in $TARGETS; do : > "$TMP/$T.rps"; : > "$TMP/$T.p50"; : > "$TMP/$T.p99"; : > "$TMP/$T.cpu"; done
  : > "$TMP/ratio"
  for R in $(seq 1 "$RUNS"); do
    for T in $TARGETS; do
      wrk_args "$T"
      OUTF="results/wrk-$TAG-$T-c$C-r$R.txt"
      T0=$(cpu_ticks)
      "${WRK_PIN[@]}" wrk -t1 -c"$C" -d"$DURATION" --latency "${WRK_ARGS[@]}" > "$OUTF"
      T1=$(cpu_ticks)
      RPS=$(awk '/Requests\/sec/ {print $2}' "$OUTF")
      REQS=$(awk '/requests in/ {print $1}' "$OUTF")
      CPU_US=$(awk -v t="$((T1 - T0))" -v hz="$HZ" -v n="$REQS" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
      P50=$(awk '$1=="50%" {print $2}' "$OUTF" | wrk_ms); P99=$(awk '$1=="99%" {print $2}' "$OUTF" | wrk_ms)
      NON2XX=$(awk '/Non-2xx/ {print $NF}' "$OUTF"); SOCK=$(grep -c "Socket errors" "$OUTF" || true)
      echo "$T c=$C run=$R rps=$RPS p50_ms=$P50 p99_ms=$P99 server_cpu_us_per_req=$CPU_US non2xx=${NON2XX:-0} socket_err_lines=$SOCK"
      if [ "${NON2XX:-0}" != 0 ]; then echo "WARNING: $T c=$C run=$R had $NON2XX non-2xx answers (every key in keys.txt is valid, so the rps are not verify rps); see $OUTF and the server log"; fi
      echo "$RPS" >> "$TMP/$T.rps"; echo "$P50" >> "$TMP/$T.p50"; echo "$P99" >> "$TMP/$T.p99"; echo "$CPU_US" >> "$TMP/$T.cpu"
    done
    if [ "$TARGET" = pair ]; then
      paste "$TMP/verify.rps" "$TMP/echo.rps" | tail -n1 | awk '{printf "%.3f\n", $1 / $2}' >> "$TMP/ratio"
    fi
  done
  for T in $TARGETS; do
    echo "SUMMARY target=$T c=$C median_rps=$(median < "$TMP/$T.rps") median_p50_ms=$(median < "$TMP/$T.p50") median_p99_ms=$(median < "$TMP/$T.p99") median_cpu_us_per_req=$(median < "$TMP/$T.cpu")"
  done
  if [ "$TARGET" = pair ]; then
    echo "SUMMARY c=$C verify/echo per-run ratios: $(tr '\n' ' ' < "$TMP/ratio")median=$(median < "$TMP/ratio")"
  fi
done
echo "server peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$SRV/status" 2>/dev/null || echo "n/a (server gone?)")"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
main 2>&1 | tee "results/$TAG.txt"
echo "# saved bench/results/$TAG.txt"
