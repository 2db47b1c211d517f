#!/usr/bin/env bash
# Issue 28's figures: verify latency during `latchkey admin backup` vs without (same run),
# and the time `latchkey admin migrate` takes to move N (100,000) keys to PostgreSQL.
#
#   bench/ops.sh                      # both, N=100000
#   N=10000 RUNS=5 PHASE=3 bench/ops.sh
#   PARTS=migrate bench/ops.sh        # only one part ("backup", "migrate")
#
# The database: `latchkey init`, one key made through the API, copied N-1 times by
# bench/scale.py build (cached in $BENCH_DIR/cache-N; FRESH=1 rebuilds it).
# backup: a server on a copy of it (SRV_PIN, default CPU 0), bench/ops_latency.py verifying
#   random keys over CONNS (4) keep-alive connections (on CPU 1), alternating PHASE (5) s
#   idle and PHASE s of back-to-back backups, RUNS (3) times: p50/p99/max per phase, medians.
# migrate: RUNS times into a fresh PostgreSQL database at PG (postgres://postgres@127.0.0.1:5432),
#   the command's wall time (median reported); then a PostgreSQL node verifies 200 random keys
#   (bench/scale.py check). The databases made are dropped.
# Knobs: LATCHKEY_BIN [target/release/latchkey], N, RUNS, PHASE, CONNS, PORT [7431], BENCH_DIR
#   [/tmp/latchkey-bench/ops], PG, PIN [1], FRESH, PARTS.
set -euo pipefail
cd "$(dirname "$0")"
. ./lib.sh
BIN=$(realpath "${LATCHKEY_BIN:-../target/release/latchkey}")
N=${N:-100000} RUNS=${RUNS:-3} PHASE=${PHASE:-5} CONNS=${CONNS:-4} PORT=${PORT:-7431}
PG=${PG:-postgres://postgres@127.0.0.1:5432} PARTS=${PARTS:-"backup migrate"}
BENCH_DIR=${BENCH_DIR:-/tmp/latchkey-bench/ops}
BASE="http://127.0.0.1:$PORT"
if [ "${PIN:-1}" = 1 ]; then SRV_PIN=(taskset -c 0); CLI_PIN=(taskset -c 1); else SRV_PIN=(); CLI_PIN=(); fi
bench_dir_init
trap stop_server EXIT
CACHE="$BENCH_DIR/cache-$N"
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("data", d); print(d["'"$1"'"])'; }
pg() { PGOPTIONS=--client-min-messages=warning psql "$PG/postgres" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

echo "# binary $BIN ($("$BIN" --version)); N=$N RUNS=$RUNS; $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -f "$CACHE/.complete" ]; then
  rm -rf "$CACHE"; mkdir -p "$CACHE"
  "$BIN" init --org bench --email bench@example.com --data-dir "$CACHE/data" --json > "$CACHE/init.json"
  admin=$(json_field apiKey < "$CACHE/init.json")
  start_server "$CACHE/build.log" --data-dir "$CACHE/data"
  created=$(curl -s --fail-with-body -X POST "$BASE/v1/api-keys" -H "X-API-Key: $admin" \
    -H 'Content-Type: application/json' -d '{"name":"ops-template","scopes":["sandbox:read"]}')
  # A sealed secret, so that the copy and the migration carry one.
  curl -s --fail-with-body -X PUT "$BASE/v1/secrets/BENCH" -H "X-API-Key: $admin" \
    -H 'Content-Type: application/json' -d '{"value":"bench-value","category":"tool","orgWide":true}' > /dev/null
  stop_server
  python3 scale.py build --template-id "$(echo "$created" | json_field id)" \
    --template-key "$(echo "$created" | json_field key)" --n "$N" --keys-out "$CACHE/keys.txt" \
    --sqlite "$CACHE/data/latchkey.db"
  echo "$admin" > "$CACHE/admin-key.txt"
  touch "$CACHE/.complete"
fi
export ADMIN_KEY; ADMIN_KEY=$(cat "$CACHE/admin-key.txt")
echo "# database: $(du -h "$CACHE/data/latchkey.db" | cut -f1), $N keys"

if [[ " $PARTS " == *" backup "* ]]; then
  WORK="$BENCH_DIR/work"; rm -rf "$WORK"; mkdir -p "$WORK/scratch"
  cp -a "$CACHE/data" "$WORK/data"
  start_server "$WORK/serve.log" --data-dir "$WORK/data"
  echo "## backup: verify latency, idle vs back-to-back backups (CONNS=$CONNS, PHASE=${PHASE}s)"
  "${CLI_PIN[@]}" python3 ops_latency.py --url "$BASE" --keys "$CACHE/keys.txt" --bin "$BIN" \
    --data-dir "$WORK/data" --scratch "$WORK/scratch" --conns "$CONNS" --phase "$PHASE" --runs "$RUNS"
  stop_server
fi

if [[ " $PARTS " == *" migrate "* ]]; then
  echo "## migrate: $N keys into a fresh PostgreSQL database"
  times=()
  for run in $(seq 1 "$RUNS"); do
    db="latchkey_bench_migrate_$$_$run"
    pg "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    t0=$(date +%s.%N)
    "$BIN" admin migrate --data-dir "$CACHE/data" --to "$PG/$db" > "$BENCH_DIR/migrate-$run.txt"
    t=$(echo "$(date +%s.%N) - $t0" | bc)
    times+=("$t")
    echo "run $run: ${t} s ($(grep -E '^api_keys ' "$BENCH_DIR/migrate-$run.txt" | tr -s ' '))"
    if [ "$run" = "$RUNS" ]; then
      NODE="$BENCH_DIR/pg-node"; rm -rf "$NODE"; mkdir -p "$NODE"; cp -p "$CACHE/data/master.key" "$NODE/"
      start_server "$BENCH_DIR/pg-node.log" --data-dir "$NODE" --database-url "$PG/$db"
      python3 scale.py check --url "$BASE" --keys "$CACHE/keys.txt" --sample 200
      curl -s --fail-with-body -X POST "$BASE/v1/secrets/BENCH/reveal" -H "X-API-Key: $ADMIN_KEY" | grep -q bench-value
      echo "a PostgreSQL node verified 200 random keys and revealed the secret"
      stop_server
    fi
    pg "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  done
  echo "SUMMARY migrate $N keys: median $(printf '%s\n' "${times[@]}" | median) s over $RUNS runs (${times[*]})"
fi
