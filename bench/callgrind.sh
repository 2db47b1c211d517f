#!/usr/bin/env bash
# Instructions per HTTP request, counted by callgrind: repeatable where requests/s are not
# (a shared 2-core machine moves wall-clock figures by 30 %, instruction counts by < 1 %).
# The release server runs under valgrind on the bench dir that bench/verify.sh set up
# (run `RUNS=1 DURATION=2s bench/verify.sh` once first); instrumentation is switched on
# after a warm-up, wrk drives c=8 for the measured seconds, and the total is divided by the
# requests wrk completed (all must be 2xx). Under valgrind SHA-256 runs in software.
#   TARGET [verify] verify | echo      LATCHKEY_BIN [/work/main/target/release/latchkey]
#   SECONDS_ON [8]  PORT [7431]  N [10000]  BENCH_DIR [/tmp/latchkey-bench/n$N]
# Prints: instructions/request, requests, non-2xx.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
TARGET="${TARGET:-verify}"; PORT="${PORT:-7431}"; N="${N:-10000}"; ON="${SECONDS_ON:-8}"
BIN="${LATCHKEY_BIN:-/work/main/target/release/latchkey}"
BENCH_DIR="${BENCH_DIR:-/tmp/latchkey-bench/n$N}"
[ -s "$BENCH_DIR/keys.txt" ] || { echo "no keys in $BENCH_DIR: run bench/verify.sh once first" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install -y valgrind" >&2; exit 1; }
export ADMIN_KEY; ADMIN_KEY="$(cat "$BENCH_DIR/admin-key.txt")"
export KEYS_FILE="$BENCH_DIR/keys.txt"
case "$TARGET" in verify) export VERIFY_PATH=/v1/keys/verify ;; echo) export VERIFY_PATH=/bench/echo ;;
  *) echo "TARGET must be verify or echo" >&2; exit 2 ;; esac
OUT=$(mktemp -d)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg.out" \
  "$BIN" serve --bench-echo --workers 1 --data-dir "$BENCH_DIR/data" --listen "127.0.0.1:$PORT" \
  > "$OUT/server.log" 2>&1 &
SRV=$!
trap 'kill -TERM $SRV 2>/dev/null; wait $SRV 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$OUT"' EXIT
for _ in $(seq 1 300); do
  grep -q "latchkey listening" "$OUT/server.log" 2>/dev/null && break
  kill -0 "$SRV" 2>/dev/null || { cat "$OUT/server.log" >&2; exit 1; }
  sleep 0.2
done
wrk -t1 -c8 -d5s -s "$HERE/verify.lua" "http://127.0.0.1:$PORT" > /dev/null   # warm-up
callgrind_control -i on "$SRV" > /dev/null 2>&1
wrk -t1 -c8 -d"${ON}s" -s "$HERE/verify.lua" "http://127.0.0.1:$PORT" > "$OUT/wrk.txt"
callgrind_control -i off "$SRV" > /dev/null 2>&1
callgrind_control -d "$SRV" > /dev/null 2>&1
REQS=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
BAD=$(awk '/Non-2xx/ {print $NF}' "$OUT/wrk.txt"); BAD="${BAD:-0}"
IR=$(cat "$OUT"/cg.out* | awk '/^totals:/ {s += $2} END {print s}')
echo "target=$TARGET bin=$BIN instructions/request=$(( IR / REQS )) requests=$REQS non2xx=$BAD"
