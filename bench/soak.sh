#!/usr/bin/env bash
# A long verify load over a million keys (issue 25, points 1 and 4), sampled as it runs:
#   bench/soak.sh            # 600 s at c=64 over all keys of bench/scale.sh's 1 M-key SQLite database
#
# Needs the cached database of bench/scale.sh (`SIZES=1000000 bench/scale.sh --build-only`, ~40 s).
# Each run copies it, starts the server (pinned to CPU 0, as scripts/run.sh serves), waits for
# its warm-up, runs wrk over all keys (CPU 1) and every EVERY seconds records the server's
# resident memory (anonymous and file-backed), high-water mark, pending usage, cached entries
# and WAL size; every 10 ms it records the kernel stack of any server thread blocked in the
# kernel (state D): where a stall waits, e.g. a read waiting for a page under writeback.
# Prints wrk's latency, the samples every minute, and the blocked stacks by count.
# Bounded: stops after SOAK seconds; loopback only.
#
# Env knobs [defaults]: SOAK [600] EVERY [2] C [64] LATCHKEY_BIN [target/release/latchkey]
#   BENCH_DIR [/tmp/latchkey-bench/scale] (where scale.sh keeps its databases) OUT [bench/results/soak-<time>]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
. ./lib.sh
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"   # as scripts/run.sh serves
SOAK="${SOAK:-600}"; EVERY="${EVERY:-2}"; C="${C:-64}"
BIN="${LATCHKEY_BIN:-$HERE/../target/release/latchkey}"
BENCH_DIR="${BENCH_DIR:-/tmp/latchkey-bench/scale}"
OUT="${OUT:-$HERE/results/soak-$(date +%Y%m%d-%H%M%S)}"
PORT="${PORT:-7471}"; BASE="http://127.0.0.1:$PORT"
[ -x "$BIN" ] || { echo "no latchkey binary at $BIN (cargo build --release -p latchkey, or set LATCHKEY_BIN)" >&2; exit 1; }
for tool in wrk curl python3; do command -v $tool >/dev/null || { echo "$tool missing" >&2; exit 1; }; done
CACHE=$(ls -d "$BENCH_DIR"/sqlite-*-n1000000 2>/dev/null | head -1 || true)
[ -n "$CACHE" ] && [ -f "$CACHE/.complete" ] || { echo "no 1 M-key database in $BENCH_DIR: SIZES=1000000 bench/scale.sh --build-only" >&2; exit 1; }
pin_cpus
mkdir -p "$OUT"; rm -rf "$OUT/data"; cp -r "$CACHE/data" "$OUT/data"
export ADMIN_KEY KEYS_FILE="$CACHE/keys.txt"; ADMIN_KEY=$(cat "$CACHE/admin-key.txt")

"${SRV_PIN[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$OUT/data" > "$OUT/server.log" 2>&1 &
SRV=$!
trap 'stop_server; kill $(jobs -p) 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do grep -q "key cache warmed" "$OUT/server.log" && break; sleep 0.1; done
grep "key cache warmed" "$OUT/server.log" || { echo "the server did not warm up; see $OUT/server.log" >&2; exit 1; }

# Blocked threads' kernel stacks (root only: /proc/<pid>/task/*/stack).
python3 - "$SRV" "$OUT/blocked.txt" "$SOAK" <<'EOF' &
import os, sys, time
pid, out, until = sys.argv[1], open(sys.argv[2], "w"), time.time() + float(sys.argv[3])
while time.time() < until and os.path.exists(f"/proc/{pid}"):
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()[0] != "D":
                continue
            frames = [l.split(" ", 1)[1].split("+")[0] for l in open(f"/proc/{pid}/task/{tid}/stack") if l.strip()]
            out.write(f"{time.time():.2f} {tid} {' <- '.join(frames[:12])}\n")
        except (OSError, IndexError):
            pass
    out.flush()
    time.sleep(0.01)
EOF

"${WRK_PIN[@]}" wrk -t1 -c"$C" -d"${SOAK}s" --timeout 10s --latency -s verify.lua "$BASE" > "$OUT/wrk.txt" 2>&1 &
WRK=$!
t0=$SECONDS
metric() { awk -v n="$1" '$1 == n {print $2}' <<< "$2"; }
status() { awk -v k="$1:" '$1 == k {printf "%d", $2 / 1024}' "/proc/$SRV/status"; }
while kill -0 "$WRK" 2>/dev/null; do
  m=$(curl -s --max-time 2 "$BASE/metrics" || true)
  wal=$(stat -c %s "$OUT/data/latchkey.db-wal" 2>/dev/null || echo 0)
  echo "t=$((SECONDS - t0)) rss=$(status VmRSS) hwm=$(status VmHWM) anon=$(status RssAnon) file=$(status RssFile)" \
    "pending=$(metric latchkey_usage_pending_keys "$m") cached=$(metric latchkey_key_cache_entries "$m")" \
    "wal_mib=$((wal / 1048576))" >> "$OUT/samples.txt"
  sleep "$EVERY"
done
wait "$WRK" || true
echo "# $BIN, $SOAK s at c=$C over all keys of $CACHE"
grep -A2 "Thread Stats" "$OUT/wrk.txt"; grep -A5 "Latency Distribution" "$OUT/wrk.txt" | tail -4; grep "Requests/sec" "$OUT/wrk.txt"
echo "# samples (MiB), one a minute:"
awk -v every="$EVERY" 'NR == 1 || (NR - 1) % int(60 / every) == 0' "$OUT/samples.txt"
tail -1 "$OUT/samples.txt"
echo "# blocked in the kernel (10 ms samples, by stack):"
cut -d' ' -f3- "$OUT/blocked.txt" | sort | uniq -c | sort -rn | head -8 | cut -c1-220
echo "# saved in $OUT"
