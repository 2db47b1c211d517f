#!/usr/bin/env bash
# One command: latchkey's POST /v1/keys/verify and the better-auth peer's POST /verify,
# measured back to back with the same knobs, then their SUMMARY lines side by side.
#   bench/compare.sh                    verify only (about 2 x (5 s + 2 x 3 x DURATION) + setup)
#   CEILINGS=1 bench/compare.sh         also POST /bench/echo and GET /healthz (latchkey), GET /plaintext (peer)
#   CONCS, DURATION, RUNS, PIN, WARMUP, N, LATCHKEY_BIN, BENCH_DIR, PEER_DIR pass through.
# Output: bench/results/compare-<stamp>.txt (plus the per-side files the two scripts write).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
mkdir -p results
OUT="results/compare-$(date +%Y%m%d-%H%M%S).txt"
run() {
  LOAD1=$(cut -d' ' -f1 /proc/loadavg)
  BUSY=$(pgrep -x -d, 'cargo|rustc|cc1|cc1plus|ld|node' || true)
  if [ -n "$BUSY" ] || awk -v l="$LOAD1" 'BEGIN {exit !(l > 0.5)}'; then
    echo "WARNING: machine not quiet (load1=$LOAD1${BUSY:+, busy pids $BUSY}); numbers will be low"
  fi
  "$HERE/peer.sh" setup                      # cached after the first time
  echo "## latchkey verify";  TARGET=verify "$HERE/verify.sh"
  echo "## peer verify";      TARGET=verify "$HERE/peer.sh"
  if [ "${CEILINGS:-0}" = 1 ]; then
    echo "## latchkey echo";    TARGET=echo "$HERE/verify.sh"
    echo "## latchkey healthz"; TARGET=healthz "$HERE/verify.sh"
    echo "## peer plaintext";   TARGET=plaintext "$HERE/peer.sh"
  fi
}
run 2>&1 | tee "$OUT.log"
{
  echo "# side by side ($(date -Is)); full log: $OUT.log"
  awk '/^## /{side=$2" "$3} /^SUMMARY/ || /peak RSS/ {printf "%-18s %s\n", side, $0}' "$OUT.log"
} | tee "$OUT"
