#!/usr/bin/env bash
# Key-creation throughput (issue 25, point 6), on loopback, bounded by DURATION per run:
#   single: wrk -c$C POST /v1/api-keys (create.lua): keys/s and p99;
#   batch:  wrk -c$BATCH_C POST /v1/api-keys/batch with $BATCH keys each (create_batch.lua):
#           keys/s = requests/s x BATCH (skipped when the binary has no batch route).
# On SQLite and PostgreSQL (BACKENDS), each on a fresh database; the server pinned to CPU 0
# and wrk to CPU 1 (PIN=1). Medians of RUNS runs.
# Env knobs [defaults]: DURATION [10s] RUNS [3] C [8] BATCH [100] BATCH_C [2] PIN [1]
#   BACKENDS ["sqlite postgres"] PG [postgres://postgres@127.0.0.1:5432] PORT [7451]
#   LATCHKEY_BIN [target/release/latchkey of this checkout] LABEL [after]
# The database latchkey_bench_create on $PG is dropped and re-created each run.
set -euo pipefail
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
HERE="$(cd "$(dirname "$0")" && pwd)"; cd "$HERE"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
DURATION="${DURATION:-10s}"; RUNS="${RUNS:-3}"; C="${C:-8}"; BATCH="${BATCH:-100}"; BATCH_C="${BATCH_C:-2}"
PIN="${PIN:-1}"; BACKENDS="${BACKENDS:-sqlite postgres}"; PORT="${PORT:-7451}"; LABEL="${LABEL:-after}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"; DB="$PG/latchkey_bench_create"
BIN="${LATCHKEY_BIN:-$HERE/../target/release/latchkey}"
[ -x "$BIN" ] || { echo "no latchkey binary at $BIN (cargo build --release -p latchkey)" >&2; exit 1; }
for tool in wrk python3 curl; do command -v $tool >/dev/null || { echo "$tool missing" >&2; exit 1; }; done
mkdir -p results; STAMP=$(date +%Y%m%d-%H%M%S)
WORK=$(mktemp -d)
trap 'stop_server; rm -rf "$WORK"' EXIT
pin_cpus

echo "# $LABEL: $BIN  load: $(cut -d' ' -f1-3 /proc/loadavg)  C=$C BATCH=$BATCH BATCH_C=$BATCH_C duration=$DURATION runs=$RUNS"
for backend in $BACKENDS; do
  data="$WORK/$backend"; args=(--data-dir "$data")
  if [ "$backend" = postgres ]; then
    command -v psql >/dev/null || { echo "psql missing" >&2; exit 1; }
    psql "$PG/postgres" -q -c 'DROP DATABASE IF EXISTS latchkey_bench_create WITH (FORCE)'
    args+=(--database-url "$DB")
  fi
  ADMIN_KEY=$("$BIN" init --org bench --email bench@example.com "${args[@]}" --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
  export ADMIN_KEY
  log="results/create-$STAMP-$backend-server.log"
  start_server "$log" "${args[@]}"
  url="http://127.0.0.1:$PORT"
  "${WRK_PIN[@]}" wrk -t1 -c"$C" -d2s -s create.lua "$url" > /dev/null
  : > "$WORK/rps"; : > "$WORK/p99"
  for r in $(seq 1 "$RUNS"); do
    out="results/create-$STAMP-$LABEL-$backend-single-r$r.txt"
    "${WRK_PIN[@]}" wrk -t1 -c"$C" -d"$DURATION" --latency -s create.lua "$url" > "$out"
    rps=$(awk '/Requests\/sec/ {print $2}' "$out"); p99=$(awk '$1 == "99%" {print $2}' "$out" | wrk_ms)
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    echo "$rps" >> "$WORK/rps"; echo "$p99" >> "$WORK/p99"
    echo "single $backend run=$r keys/s=$rps p99_ms=$p99 non2xx=${non2xx:-0}"
  done
  echo "SUMMARY $LABEL single $backend (c=$C): median keys/s=$(median < "$WORK/rps") median p99_ms=$(median < "$WORK/p99")"
  probe=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/v1/api-keys/batch" -H "X-API-Key: $ADMIN_KEY" \
    -d '{"keys":[{"name":"probe"}]}')
  if [ "$probe" = 201 ]; then
    : > "$WORK/brps"; : > "$WORK/bp99"
    for r in $(seq 1 "$RUNS"); do
      out="results/create-$STAMP-$LABEL-$backend-batch-r$r.txt"
      BATCH="$BATCH" "${WRK_PIN[@]}" wrk -t1 -c"$BATCH_C" -d"$DURATION" --latency -s create_batch.lua "$url" > "$out"
      rps=$(awk '/Requests\/sec/ {print $2}' "$out"); p99=$(awk '$1 == "99%" {print $2}' "$out" | wrk_ms)
      non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
      keys=$(awk -v r="$rps" -v b="$BATCH" 'BEGIN {printf "%.0f", r * b}')
      echo "$keys" >> "$WORK/brps"; echo "$p99" >> "$WORK/bp99"
      echo "batch $backend run=$r keys/s=$keys (requests/s=$rps) p99_ms=$p99 non2xx=${non2xx:-0}"
    done
    echo "SUMMARY $LABEL batch $backend ($BATCH keys/request, c=$BATCH_C): median keys/s=$(median < "$WORK/brps") median p99_ms=$(median < "$WORK/bp99")"
  else
    echo "batch $backend: skipped (POST /v1/api-keys/batch answered $probe)"
  fi
  stop_server
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
