#!/usr/bin/env bash
# Times the dashboard's keys list with N (10,000) keys: how long the server takes to render
# GET /dashboard/keys (and a few of its filters, and a key's detail page) for a signed-in admin.
#
# Setup (cached in BENCH_DIR): `latchkey init`, then N keys made through the JSON API by
# make_keys.py (4 keep-alive connections; all owned by the admin, so the admin's own list,
# the page's default, holds N keys), then the admin signs in through the dashboard's form
# (curl: the sign-in page's CSRF cookie, POST /dashboard/login) for a session cookie.
#
# Measured per page, on a freshly started server, after a warm-up:
#   server time: one curl over one keep-alive connection asking the page SAMPLES times in a row;
#                per request time_starttransfer - time_pretransfer (request sent to first byte
#                back), median and p99 (and curl's own total for comparison)
#   throughput:  wrk -t1 -c4 -d DURATION --latency with the session cookie: requests/s, p50, p99
# Every answer must be 200 (a redirect to the sign-in page would time the wrong thing).
#
# Env knobs (defaults in brackets):
#   N [10000]  SAMPLES [300]  DURATION [10s]  WARMUP [3s]  PORT [7422]
#   PIN [1]  1 = server on CPU 0, curl/wrk on CPU 1; 0 = no pinning
#   LATCHKEY_BIN [target/release/latchkey of this checkout]
#   BENCH_DIR [/tmp/latchkey-bench/dashboard-n$N]; FRESH=1 wipes it first (after a schema change)
#   PAGES  the paths to time, space-separated [see below]
# Output: one line per page and a SUMMARY, saved to bench/results/dashboard-*.txt.
set -euo pipefail
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
cd "$HERE"
N="${N:-10000}"; SAMPLES="${SAMPLES:-300}"; DURATION="${DURATION:-10s}"; WARMUP="${WARMUP:-3s}"
PORT="${PORT:-7422}"; PIN="${PIN:-1}"
BIN="${LATCHKEY_BIN:-$HERE/../target/release/latchkey}"
BENCH_DIR="${BENCH_DIR:-/tmp/latchkey-bench/dashboard-n$N}"
DATA_DIR="$BENCH_DIR/data"
BASE="http://127.0.0.1:$PORT"
[ -x "$BIN" ] || { echo "no latchkey binary at $BIN (cargo build --release -p latchkey, or set LATCHKEY_BIN)" >&2; exit 1; }
for c in curl wrk python3; do command -v "$c" >/dev/null || { echo "$c missing" >&2; exit 1; }; done
if curl -s -o /dev/null --max-time 1 "$BASE/" 2>/dev/null; then
  echo "something already listens on 127.0.0.1:$PORT; stop it or set PORT" >&2; exit 1
fi
mkdir -p results
STAMP=$(date +%Y%m%d-%H%M%S); TAG="dashboard-n${N}-pin${PIN}-${STAMP}"
pin_cpus; CLI_PIN=("${WRK_PIN[@]}")

main() {
bench_dir_init

TMP=$(mktemp -d)
trap 'stop_server; rm -rf "$TMP"' EXIT
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# --- setup: init (its JSON holds the admin's key and first password), then N keys
if [ ! -s "$BENCH_DIR/init.json" ]; then
  rm -rf "$DATA_DIR" "$BENCH_DIR/keys.txt"
  "$BIN" init --org bench --email bench@example.com --data-dir "$DATA_DIR" --json > "$BENCH_DIR/init.json.tmp"
  mv "$BENCH_DIR/init.json.tmp" "$BENCH_DIR/init.json"
fi
ADMIN_KEY="$(json_field "$BENCH_DIR/init.json" apiKey)"
PASSWORD="$(json_field "$BENCH_DIR/init.json" password)"
HAVE=0; [ -f "$BENCH_DIR/keys.txt" ] && HAVE=$(grep -c . "$BENCH_DIR/keys.txt" || true)
if [ "$HAVE" -lt "$N" ]; then
  echo "# creating $((N - HAVE)) keys through the API in $BENCH_DIR ..."
  start_server "results/server-$TAG-setup.log" --data-dir "$DATA_DIR"
  T0=$(date +%s.%N)
  ADMIN_KEY="$ADMIN_KEY" python3 make_keys.py --url "$BASE" --n "$N" --out "$BENCH_DIR/keys.txt"
  echo "# made in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
  stop_server
fi

start_server "results/server-$TAG.log" --data-dir "$DATA_DIR"

# --- sign in through the dashboard's form
JAR="$TMP/jar"
curl -s -c "$JAR" -o "$TMP/login.html" "$BASE/dashboard/login"
CSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$TMP/login.html" | head -n1)
CODE=$(curl -s -b "$JAR" -c "$JAR" -o /dev/null -w '%{http_code}' -X POST \
  --data-urlencode "csrf=$CSRF" --data-urlencode "email=bench@example.com" --data-urlencode "password=$PASSWORD" \
  "$BASE/dashboard/login")
[ "$CODE" = 303 ] || { echo "signing in answered $CODE, not 303" >&2; exit 1; }
SESSION=$(awk '$6 == "latchkey_session" {print $7}' "$JAR")
[ -n "$SESSION" ] || { echo "no session cookie after signing in" >&2; exit 1; }
COOKIE="Cookie: latchkey_session=$SESSION"

# --- the pages: the default list (the admin's own keys: N), the organization's, a search
# (a scan of the name and prefix), a status no key has (a scan of every key), a key's page
ONE_KEY=$(curl -s -H "X-API-Key: $ADMIN_KEY" "$BASE/v1/api-keys?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
PAGES="${PAGES:-/dashboard/keys /dashboard/keys?all=true /dashboard/keys?search=bench-4242 /dashboard/keys?status=revoked /dashboard/keys/$ONE_KEY}"

p99() { sort -g | awk '{a[NR]=$1} END {i=int(NR*0.99 + 0.999); if (i > NR) i = NR; print a[i]}'; }

echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)  n=$N samples=$SAMPLES duration=$DURATION pin=$PIN bin=$BIN"
for P in $PAGES; do
  URL="$BASE$P"
  BYTES=$(curl -s -H "$COOKIE" -o "$TMP/page.html" -w '%{size_download}' "$URL")
  CODE=$(curl -s -H "$COOKIE" -o /dev/null -w '%{http_code}' "$URL")
  [ "$CODE" = 200 ] || { echo "GET $P answered $CODE" >&2; exit 1; }
  ROWS=$(grep -c '^  <tr>$' "$TMP/page.html" || true)
  "${CLI_PIN[@]}" wrk -t1 -c2 -d"$WARMUP" -H "$COOKIE" "$URL" > /dev/null
  # One connection, SAMPLES requests in a row: what the server takes per page.
  : > "$TMP/curl.cfg"
  for _ in $(seq 1 "$SAMPLES"); do printf 'url = "%s"\noutput = /dev/null\n' "$URL" >> "$TMP/curl.cfg"; done
  "${CLI_PIN[@]}" curl -s -H "$COOKIE" -K "$TMP/curl.cfg" \
    -w '%{http_code} %{time_pretransfer} %{time_starttransfer} %{time_total}\n' > "$TMP/times"
  BAD=$(awk '$1 != 200' "$TMP/times" | wc -l)
  [ "$BAD" = 0 ] || { echo "GET $P: $BAD answers were not 200" >&2; exit 1; }
  awk '{printf "%.3f\n", ($3 - $2) * 1000}' "$TMP/times" > "$TMP/server"
  awk '{printf "%.3f\n", $4 * 1000}' "$TMP/times" > "$TMP/total"
  SRV_MED=$(median < "$TMP/server"); SRV_P99=$(p99 < "$TMP/server"); TOT_MED=$(median < "$TMP/total")
  OUTF="results/wrk-$TAG-$(echo "$P" | tr -c 'A-Za-z0-9\n' '_').txt"
  "${CLI_PIN[@]}" wrk -t1 -c4 -d"$DURATION" --latency -H "$COOKIE" "$URL" > "$OUTF"
  RPS=$(awk '/Requests\/sec/ {print $2}' "$OUTF")
  W50=$(awk '$1=="50%" {print $2}' "$OUTF" | wrk_ms); W99=$(awk '$1=="99%" {print $2}' "$OUTF" | wrk_ms)
  NON2XX=$(awk '/Non-2xx/ {print $NF}' "$OUTF")
  echo "SUMMARY page=$P rows=$((ROWS)) bytes=$BYTES server_ms_median=$SRV_MED server_ms_p99=$SRV_P99 curl_total_ms_median=$TOT_MED wrk_c4_rps=$RPS wrk_c4_p50_ms=$W50 wrk_c4_p99_ms=$W99 non2xx=${NON2XX:-0}"
done
echo "server peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' "/proc/$SRV/status" 2>/dev/null || echo n/a)"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
main 2>&1 | tee "results/$TAG.txt"
echo "# saved bench/results/$TAG.txt"
