#!/usr/bin/env bash
# Multi-node figures (issue 6), on loopback only, bounded by DURATION per run:
#   A. verify throughput of 1 node vs 3 nodes on PostgreSQL + Redis (wrk, POST /v1/keys/verify
#      with random keys; for 3 nodes, one wrk per node at the same time, rps summed);
#   B. key-create throughput (POST /v1/api-keys) on SQLite vs PostgreSQL, one node each.
# Env knobs [defaults]: DURATION [10s] RUNS [3] C [48] N [2000] CREATE_C [16]
#   PG [postgres://postgres@127.0.0.1:5432]  REDIS [redis://127.0.0.1:6379]
#   LATCHKEY_BIN [/work/main/target/release/latchkey]  BASE_PORT [7431]
# The database latchkey_bench_cluster on $PG is dropped and re-created each run.
# Prints one line per run and median summaries; raw output goes to bench/results/.
set -euo pipefail
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
HERE="$(cd "$(dirname "$0")" && pwd)"; cd "$HERE"
DURATION="${DURATION:-10s}"; RUNS="${RUNS:-3}"; C="${C:-48}"; N="${N:-2000}"; CREATE_C="${CREATE_C:-16}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"; REDIS="${REDIS:-redis://127.0.0.1:6379}"
BIN="${LATCHKEY_BIN:-/work/main/target/release/latchkey}"; BASE_PORT="${BASE_PORT:-7431}"
DB="$PG/latchkey_bench_cluster"
[ -x "$BIN" ] || { echo "no latchkey binary at $BIN (cargo build --release -p latchkey)" >&2; exit 1; }
for tool in wrk psql python3 curl; do command -v $tool >/dev/null || { echo "$tool missing" >&2; exit 1; }; done
mkdir -p results; STAMP=$(date +%Y%m%d-%H%M%S)
WORK=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

start_node() {  # $1 port, then extra args; sets LAST_PID
  local port=$1; shift
  "$BIN" serve --listen "127.0.0.1:$port" "$@" > "results/cluster-$STAMP-node-$port.log" 2>&1 &
  LAST_PID=$!; PIDS+=("$LAST_PID")
  for _ in $(seq 1 100); do
    grep -q "latchkey listening" "results/cluster-$STAMP-node-$port.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "node on $port did not start" >&2; tail "results/cluster-$STAMP-node-$port.log" >&2; exit 1
}
stop_all() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }

psql "$PG/postgres" -q -c 'DROP DATABASE IF EXISTS latchkey_bench_cluster WITH (FORCE)'
export ADMIN_KEY
ADMIN_KEY=$("$BIN" init --org bench --email bench@example.com --data-dir "$WORK/pg" --database-url "$DB" --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
PGARGS=(--data-dir "$WORK/pg" --database-url "$DB" --redis-url "$REDIS")
start_node "$BASE_PORT" "${PGARGS[@]}"
python3 make_keys.py --url "http://127.0.0.1:$BASE_PORT" --n "$N" --out "$WORK/keys.txt" > /dev/null
export KEYS_FILE="$WORK/keys.txt"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)  N=$N C=$C duration=$DURATION runs=$RUNS cores=$(nproc)"

# A1: one node.
wrk -t1 -c16 -d3s -s verify.lua "http://127.0.0.1:$BASE_PORT" > /dev/null
: > "$WORK/one"
for r in $(seq 1 "$RUNS"); do
  wrk -t1 -c"$C" -d"$DURATION" -s verify.lua "http://127.0.0.1:$BASE_PORT" > "results/cluster-$STAMP-one-r$r.txt"
  rps=$(awk '/Requests\/sec/ {print $2}' "results/cluster-$STAMP-one-r$r.txt"); echo "$rps" >> "$WORK/one"
  echo "verify 1 node  run=$r rps=$rps"
done
# A2: three nodes on the same database and Redis.
start_node $((BASE_PORT + 1)) "${PGARGS[@]}"; start_node $((BASE_PORT + 2)) "${PGARGS[@]}"
for p in 0 1 2; do wrk -t1 -c16 -d3s -s verify.lua "http://127.0.0.1:$((BASE_PORT + p))" > /dev/null; done
: > "$WORK/three"
for r in $(seq 1 "$RUNS"); do
  WPIDS=()
  for p in 0 1 2; do
    wrk -t1 -c$((C / 3)) -d"$DURATION" -s verify.lua "http://127.0.0.1:$((BASE_PORT + p))" > "$WORK/three-$p.txt" &
    WPIDS+=($!)
  done
  wait "${WPIDS[@]}"
  rps=$(cat "$WORK"/three-*.txt | awk '/Requests\/sec/ {s += $2} END {printf "%.2f", s}')
  cat "$WORK"/three-*.txt > "results/cluster-$STAMP-three-r$r.txt"; echo "$rps" >> "$WORK/three"
  echo "verify 3 nodes run=$r rps=$rps (sum of 3)"
done
echo "SUMMARY verify PostgreSQL+Redis: 1 node median_rps=$(median < "$WORK/one")  3 nodes median_rps=$(median < "$WORK/three")"

# B: create throughput, PostgreSQL (the node above) vs SQLite (a fresh node).
stop_all
start_node "$BASE_PORT" "${PGARGS[@]}"
SQLITE_KEY=$("$BIN" init --org bench --email bench@example.com --data-dir "$WORK/sqlite" --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')
start_node $((BASE_PORT + 1)) --data-dir "$WORK/sqlite"
for backend in postgres sqlite; do
  port=$BASE_PORT; [ "$backend" = sqlite ] && { port=$((BASE_PORT + 1)); ADMIN_KEY=$SQLITE_KEY; }
  : > "$WORK/create-$backend"
  for r in $(seq 1 "$RUNS"); do
    wrk -t1 -c"$CREATE_C" -d"$DURATION" --latency -s create.lua "http://127.0.0.1:$port" > "results/cluster-$STAMP-create-$backend-r$r.txt"
    rps=$(awk '/Requests\/sec/ {print $2}' "results/cluster-$STAMP-create-$backend-r$r.txt"); echo "$rps" >> "$WORK/create-$backend"
    non2xx=$(awk '/Non-2xx/ {print $NF}' "results/cluster-$STAMP-create-$backend-r$r.txt")
    echo "create $backend run=$r rps=$rps non2xx=${non2xx:-0}"
  done
done
echo "SUMMARY create (c=$CREATE_C): postgres median_rps=$(median < "$WORK/create-postgres")  sqlite median_rps=$(median < "$WORK/create-sqlite")"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
