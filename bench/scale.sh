#!/usr/bin/env bash
# latchkey with 10,000, 100,000 and 1,000,000 keys (issue 25, "Benchmarks"): memory, verify
# throughput and latency over all keys and over a 10 % working set, restart under load,
# usage write-behind, shutdown and creation, per size, sizes alternated in one run.
#
#   bench/scale.sh                     # SQLite, 10k 1M 100k then 100k 1M 10k, a 60 s soak
#   bench/scale.sh --pg                # SQLite, then PostgreSQL ($PG)
#   bench/scale.sh --long              # the soak lasts 10 minutes (RSS "after 10 minutes")
#   SOAK_LARGEST=600s bench/scale.sh   # 10 minutes for the largest size only, 60 s for the rest
#   bench/scale.sh --pg --build-only   # only build the cached databases (the slow part at 1M)
#   SIZES="10000 100000" bench/scale.sh
#
# Databases: per backend and size, made once and cached under $BENCH_DIR, keyed by the size and
# a hash of the backend's migrations (FRESH=1 rebuilds): `latchkey init`, one key made through
# the API, then copies of its row in SQL with their own ids, hashes, prefixes and hints
# (bench/scale.py build), the plaintext keys in keys.txt. Every visit of a size measures a
# copy (SQLite: the data dir copied; PostgreSQL: CREATE DATABASE … TEMPLATE), so usage and the
# keys created never leak into the next visit.
#
# One visit of a size (server pinned to CPU 0; wrk, probes and queries to CPU 1):
#   start, RSS once the key cache is warmed (or WARM_WAIT passed); SAMPLE random keys must
#   verify VALID; wrk c=$C over all keys (after a WARMUP), then over the first 10 % (once the
#   usage of the all-keys run is written, SETTLE_WAIT at most, and after one pass over them,
#   each key verified once: a working set a node serves is cached), DURATION
#   each; RSS; a soak of SOAK over all keys (RSS after it; usage written vs served during it,
#   from the database, and the usage metrics if the server has them); SIGTERM → exit, and the
#   usage lost (checks counted by latchkey_verify_total but not in key_usage after exit);
#   restart with wrk starting as soon as the server listens: first VALID verify and first
#   second at 90 % of the steady rate (seconds since the server was started); creation at c=$CREATE_C (create.lua) for CREATE_DURATION.
#
# Env knobs [defaults]: SIZES ["10000 100000 1000000"] ROUNDS [2] (forward, reverse, …: the
#   sizes of odd rounds go 10k, 1M, 100k; even rounds reverse it) C [64] DURATION [20s]
#   WARMUP [5s] SOAK [60s; --long 600s] SOAK_LARGEST [$SOAK] (the largest size's) RESTART_WINDOW [30] (s) CREATE_C [8]
#   CREATE_DURATION [10s] SAMPLE [100] SETTLE_WAIT [120] (s) WARM_WAIT [180] (s) EXIT_WAIT [120] (s) PIN [1]
#   PORT [7461] BACKENDS [sqlite; --pg: "sqlite postgres"] PG [postgres://postgres@127.0.0.1:5432]
#   KEY_CACHE_MIB [unset: the server's default; passed as --key-cache-mib when serve has it]
#   BENCH_DIR [/tmp/latchkey-bench/scale] FRESH [0] LATCHKEY_BIN [target/release/latchkey]
# Output: bench/results/scale-<stamp>.log (everything) and scale-<stamp>.md (the tables,
# medians over the visits of a size); wrk output and server logs in results/scale-<stamp>/.
# PostgreSQL databases: latchkey_scale_<schema>_<size> (cached), latchkey_scale_run (per visit).
set -euo pipefail
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"   # as scripts/run.sh serves
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
cd "$HERE"
LONG=0; BUILD_ONLY=0; BACKENDS="${BACKENDS:-sqlite}"
for arg in "$@"; do
  case "$arg" in
    --pg) BACKENDS="sqlite postgres" ;;
    --long) LONG=1 ;;
    --build-only) BUILD_ONLY=1 ;;
    *) echo "usage: bench/scale.sh [--pg] [--long] [--build-only]" >&2; exit 2 ;;
  esac
done
SIZES="${SIZES:-10000 100000 1000000}"; ROUNDS="${ROUNDS:-2}"; C="${C:-64}"; DURATION="${DURATION:-20s}"
WARMUP="${WARMUP:-5s}"; SOAK="${SOAK:-$([ "$LONG" = 1 ] && echo 600s || echo 60s)}"; SOAK_LARGEST="${SOAK_LARGEST:-$SOAK}"
RESTART_WINDOW="${RESTART_WINDOW:-30}"; CREATE_C="${CREATE_C:-8}"; CREATE_DURATION="${CREATE_DURATION:-10s}"
SAMPLE="${SAMPLE:-100}"; SETTLE_WAIT="${SETTLE_WAIT:-120}"; WARM_WAIT="${WARM_WAIT:-180}"; EXIT_WAIT="${EXIT_WAIT:-120}"; PIN="${PIN:-1}"
PORT="${PORT:-7461}"; PG="${PG:-postgres://postgres@127.0.0.1:5432}"
BENCH_DIR="${BENCH_DIR:-/tmp/latchkey-bench/scale}"
BIN="${LATCHKEY_BIN:-$HERE/../target/release/latchkey}"
BASE="http://127.0.0.1:$PORT"
RUN_DB=latchkey_scale_run
[ -x "$BIN" ] || { echo "no latchkey binary at $BIN (cargo build --release -p latchkey, or set LATCHKEY_BIN)" >&2; exit 1; }
for tool in wrk curl python3 sqlite3; do command -v $tool >/dev/null || { echo "$tool missing" >&2; exit 1; }; done
case " $BACKENDS " in *" postgres "*) command -v psql >/dev/null || { echo "psql missing" >&2; exit 1; } ;; esac
if curl -s -o /dev/null --max-time 1 "$BASE/" 2>/dev/null; then
  echo "something already listens on 127.0.0.1:$PORT; stop it or set PORT" >&2; exit 1
fi
mkdir -p results
STAMP=$(date +%Y%m%d-%H%M%S); OUT="results/scale-$STAMP"; mkdir -p "$OUT"
FIGURES="$OUT/figures.tsv"   # backend size visit figure value
pin_cpus
WORK=$(mktemp -d); WRK_BG=""
cleanup() {
  [ -z "$WRK_BG" ] || kill "$WRK_BG" 2>/dev/null || true
  stop_server
  case " $BACKENDS " in *" postgres "*) pg_drop "$RUN_DB" || true ;; esac
  rm -rf "$WORK"
}

# The server's flags for the key cache budget: --key-cache-mib only when asked for and known.
CACHE_ARGS=(); CACHE_NOTE="the server's default"
if [ -n "${KEY_CACHE_MIB:-}" ]; then
  if "$BIN" serve --help | grep -q -- --key-cache-mib; then
    CACHE_ARGS=(--key-cache-mib "$KEY_CACHE_MIB"); CACHE_NOTE="--key-cache-mib $KEY_CACHE_MIB"
  else
    CACHE_NOTE="the server's default (KEY_CACHE_MIB=$KEY_CACHE_MIB ignored: serve has no --key-cache-mib)"
  fi
fi

psql_q() { PGOPTIONS=--client-min-messages=warning "${WRK_PIN[@]}" psql "$PG/$1" -X -q -At -v ON_ERROR_STOP=1 -c "$2"; }
pg_drop() { psql_q postgres "DROP DATABASE IF EXISTS $1 WITH (FORCE)" > /dev/null; }
# The key and id of a JSON answer's data (stdin).
json_data() { python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(d["'"$1"'"])'; }
# A metric's value summed over its labels, or "" when the server does not export it.
metric() {
  curl -s --max-time 5 "$BASE/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 {s += $NF; f = 1} END {if (f) printf "%.0f\n", s}'
}
# Checks not VALID so far (latchkey_verify_total by outcome), or "" without the metric.
not_valid() {
  curl -s --max-time 5 "$BASE/metrics" | awk '/^latchkey_verify_total\{/ {f = 1; if ($1 !~ /"VALID"/) s += $NF} END {if (f) printf "%.0f\n", s}'
}
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$BACKEND" "$SIZE" "$VISIT" "$1" "$2" >> "$FIGURES"; echo "  $1 = $2"; }

# Schema version of a backend: a hash of its migrations in this checkout.
schema_of() { cat ../crates/latchkey-store/migrations/"$1"/*.sql | sha256sum | cut -c1-10; }

# Makes (once) the cached database of SIZE keys for BACKEND in $CACHE.
build_cache() {
  local db_args=(--data-dir "$CACHE/data") admin created tid tkey
  if [ -f "$CACHE/.complete" ] && { [ "$BACKEND" != postgres ] \
    || [ "$(psql_q postgres "SELECT 1 FROM pg_database WHERE datname = '$CACHE_DB'")" = 1 ]; }; then
    return 0
  fi
  echo "# building $BACKEND with $SIZE keys in $CACHE ..."
  local t0=$SECONDS
  rm -rf "$CACHE"; mkdir -p "$CACHE"
  if [ "$BACKEND" = postgres ]; then
    pg_drop "$CACHE_DB"; psql_q postgres "CREATE DATABASE $CACHE_DB" > /dev/null
    db_args+=(--database-url "$PG/$CACHE_DB")
  fi
  "$BIN" init --org bench --email bench@example.com "${db_args[@]}" --json > "$CACHE/init.json"
  admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["apiKey"])' "$CACHE/init.json")
  start_server "$OUT/build-$BACKEND-$SIZE.log" "${db_args[@]}"
  # The template: three scopes, as issue 25 sizes a cached key.
  created=$(curl -s --fail-with-body -X POST "$BASE/v1/api-keys" -H "X-API-Key: $admin" -H 'Content-Type: application/json' \
    -d '{"name":"scale-template","scopes":["sandbox:read","sandbox:create","agent:run"]}')
  stop_server
  tid=$(echo "$created" | json_data id); tkey=$(echo "$created" | json_data key)
  if [ "$BACKEND" = postgres ]; then
    timeout 3600 python3 scale.py build --template-id "$tid" --template-key "$tkey" --n "$SIZE" \
      --keys-out "$CACHE/keys.txt" --pg "$PG/$CACHE_DB"
  else
    timeout 3600 python3 scale.py build --template-id "$tid" --template-key "$tkey" --n "$SIZE" \
      --keys-out "$CACHE/keys.txt" --sqlite "$CACHE/data/latchkey.db"
  fi
  head -n $((SIZE / 10)) "$CACHE/keys.txt" > "$CACHE/keys-10pct.txt"
  echo "$admin" > "$CACHE/admin-key.txt"
  touch "$CACHE/.complete"
  echo "# built in $((SECONDS - t0)) s"
}

# Verifications written to key_usage so far in the visit's database (VALID and otherwise).
usage_written() {
  local sql="SELECT coalesce(sum(count), 0) FROM key_usage"
  if [ "$BACKEND" = postgres ]; then psql_q "$RUN_DB" "$sql"; else "${WRK_PIN[@]}" sqlite3 -cmd ".timeout 10000" "$WORK/data/latchkey.db" "$sql"; fi
}

# wrk over KEYS_FILE at concurrency $1 for $2; output in $3.
load() {
  "${WRK_PIN[@]}" wrk -t1 -c"$1" -d"$2" --timeout 10s --latency -s verify.lua "$BASE" > "$3"
}

# One visit: measures $SIZE keys on $BACKEND on a fresh copy of the cached database.
visit() {
  local tag="$BACKEND-$SIZE-v$VISIT" db_args=(--data-dir "$WORK/data") t0 figs ref0 ref1 ref_rate soak="$SOAK"
  [ "$SIZE" != "$(tr ' ' '\n' <<< "$SIZES" | grep . | sort -n | tail -n1)" ] || soak="$SOAK_LARGEST"
  echo "## $BACKEND, $SIZE keys, visit $VISIT  (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  rm -rf "$WORK/data"; cp -a "$CACHE/data" "$WORK/data"
  if [ "$BACKEND" = postgres ]; then
    pg_drop "$RUN_DB"; psql_q postgres "CREATE DATABASE $RUN_DB TEMPLATE $CACHE_DB" > /dev/null
    db_args+=(--database-url "$PG/$RUN_DB")
    record "database size (MiB)" "$(psql_q "$RUN_DB" "SELECT round(pg_database_size(current_database()) / 1048576.0)")"
  else
    record "database size (MiB)" "$(du -sk "$WORK/data" | awk '{printf "%.0f", $1 / 1024}')"
  fi
  local written0; written0=$(usage_written)
  export ADMIN_KEY KEYS_FILE="$CACHE/keys.txt"; ADMIN_KEY=$(cat "$CACHE/admin-key.txt")

  # Start, warm-up, RSS.
  t0=$(date +%s.%N)
  START_WAIT=60 start_server "$OUT/server-$tag.log" "${db_args[@]}" "${CACHE_ARGS[@]}"
  for _ in $(seq 1 $((WARM_WAIT * 10))); do
    grep -q "key cache warmed\|could not warm" "$OUT/server-$tag.log" && break
    sleep 0.1
  done
  local warmed; warmed=$(grep -m1 "key cache warmed" "$OUT/server-$tag.log" | grep -o 'ms[=":]*[0-9]*' | grep -o '[0-9]*$' || true)
  record "key cache warmed after start (s)" "$([ -n "$warmed" ] && awk -v m="$warmed" 'BEGIN {printf "%.2f", m / 1000}' || echo "n/a")"
  record "RSS after start (MiB)" "$(rss_mib "$SRV")"
  "${WRK_PIN[@]}" python3 scale.py check --url "$BASE" --keys "$KEYS_FILE" --sample "$SAMPLE" \
    || { echo "a sampled key did not verify VALID; not measuring (log: $OUT/server-$tag.log)" >&2; exit 1; }

  # Throughput and latency: all keys, then a 10 % working set.
  "${WRK_PIN[@]}" wrk -t1 -c"$C" -d"$WARMUP" -s verify.lua "$BASE" > /dev/null
  ref0=$(metric latchkey_verify_total)
  load "$C" "$DURATION" "$OUT/wrk-$tag-all.txt"
  ref1=$(metric latchkey_verify_total)
  read -r -a figs <<< "$(wrk_figures "$OUT/wrk-$tag-all.txt")"
  # The steady rate in checks/s (latchkey_verify_total counts the caller's key too): wrk's
  # rate times the checks per request.
  ref_rate=$(awk -v a="${ref0:-0}" -v b="${ref1:-0}" -v rps="${figs[0]}" \
    -v n="$(awk '/requests in/ {print $1}' "$OUT/wrk-$tag-all.txt")" 'BEGIN {printf "%.0f", (n > 0 ? rps * (b - a) / n : 0)}')
  record "verify req/s, all keys (c=$C)" "${figs[0]}"
  record "p50 ms, all keys" "${figs[1]}"; record "p99 ms, all keys" "${figs[2]}"; record "max ms, all keys" "${figs[3]}"
  [ "${figs[4]}" = 0 ] && [ "${figs[5]}" = 0 ] || echo "WARNING: ${figs[4]} non-2xx, ${figs[5]} socket errors (see $OUT/wrk-$tag-all.txt)"
  # The working set is a node with 100k keys in use, not one still writing the usage of the
  # whole set just verified: wait (at most SETTLE_WAIT s, without load) until the usage pending
  # from that run is down to 1 % of the keys.
  local settle_t0 pending_now; settle_t0=$(date +%s.%N)
  while pending_now=$(metric latchkey_usage_pending_keys) && [ -n "$pending_now" ] && [ "$pending_now" -gt $((SIZE / 100)) ] \
    && awk -v a="$settle_t0" -v b="$(date +%s.%N)" -v w="$SETTLE_WAIT" 'BEGIN {exit !(b - a < w)}'; do sleep 0.5; done
  record "usage of the all-keys run written before the working set (s)" "$(awk -v a="$settle_t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')"
  # The working set warmed first, as on a node that serves it: each of its keys verified once.
  local warm_t0; warm_t0=$(date +%s.%N)
  local ws checks0
  ws=$(wc -l < "$CACHE/keys-10pct.txt"); checks0=$(metric latchkey_verify_total)
  KEYS_FILE="$CACHE/keys-10pct.txt" VERIFY_ORDER=seq "${WRK_PIN[@]}" wrk -t1 -c"$C" -d600s --timeout 10s -s verify.lua "$BASE" > /dev/null &
  WRK_BG=$!
  # Two checks a request (the caller's key and the key verified): one pass is 2 × its keys.
  while kill -0 "$WRK_BG" 2>/dev/null && [ "$(( $(metric latchkey_verify_total) - checks0 ))" -lt $((2 * ws)) ]; do sleep 0.1; done
  kill "$WRK_BG" 2>/dev/null || true; wait "$WRK_BG" 2>/dev/null || true; WRK_BG=""
  record "10 % of keys: one warming pass (s)" "$(awk -v a="$warm_t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')"
  KEYS_FILE="$CACHE/keys-10pct.txt" load "$C" "$DURATION" "$OUT/wrk-$tag-10pct.txt"
  read -r -a figs <<< "$(wrk_figures "$OUT/wrk-$tag-10pct.txt")"
  record "verify req/s, 10 % of keys (c=$C)" "${figs[0]}"
  record "p50 ms, 10 %" "${figs[1]}"; record "p99 ms, 10 %" "${figs[2]}"; record "max ms, 10 %" "${figs[3]}"
  [ "${figs[4]}" = 0 ] && [ "${figs[5]}" = 0 ] || echo "WARNING: ${figs[4]} non-2xx, ${figs[5]} socket errors (see $OUT/wrk-$tag-10pct.txt)"
  record "RSS after load (MiB)" "$(rss_mib "$SRV")"
  local entries cache_bytes
  entries=$(metric latchkey_key_cache_entries)
  cache_bytes=$(curl -s --max-time 5 "$BASE/metrics" | awk '$1 ~ /^latchkey_key_cache_[a-z_]*bytes(\{|$)/ {s += $NF; f = 1} END {if (f) printf "%.0f\n", s}')
  record "key cache entries after load (metric)" "${entries:-n/a}"
  record "key cache bytes per entry (metric)" \
    "$([ -n "$cache_bytes" ] && [ "${entries:-0}" -gt 0 ] && echo $((cache_bytes / entries)) || echo n/a)"

  # Soak over all keys: memory, latency over the long run, usage written vs served.
  local served0 written_a flushed0 soak_t0 served1 written_b flushed1 pending soak_s
  served0=$(metric latchkey_verify_total); written_a=$(usage_written); flushed0=$(metric latchkey_usage_flushed_keys_total)
  soak_t0=$(date +%s.%N)
  load "$C" "$soak" "$OUT/wrk-$tag-soak.txt"
  soak_s=$(awk -v a="$soak_t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
  served1=$(metric latchkey_verify_total); served0=${served0:-0}; served1=${served1:-0}; written_b=$(usage_written); flushed1=$(metric latchkey_usage_flushed_keys_total)
  pending=$(metric latchkey_usage_pending_keys)
  read -r -a figs <<< "$(wrk_figures "$OUT/wrk-$tag-soak.txt")"
  record "soak: verify req/s" "${figs[0]}"; record "soak: p99 ms" "${figs[2]}"; record "soak: max ms" "${figs[3]}"
  record "soak (s)" "${soak%s}"
  record "RSS after soak (MiB)" "$(rss_mib "$SRV")"
  record "usage written/served during soak (%)" \
    "$(awk -v s="$((served1 - served0))" -v w="$((written_b - written_a))" 'BEGIN {printf "%.0f", (s > 0 ? 100 * w / s : 0)}')"
  # Lag: checks served but not yet written at the end of the soak, in seconds of traffic.
  record "usage lag at end of soak (s)" \
    "$(awk -v s="$served1" -v w="$((written_b - written0))" -v r="$ref_rate" 'BEGIN {printf "%.1f", (r > 0 ? (s - w) / r : 0)}')"
  if [ -n "$flushed1" ]; then
    record "usage flushed keys/s (metric)" "$(awk -v a="${flushed0:-0}" -v b="$flushed1" -v t="$soak_s" 'BEGIN {printf "%.0f", (b - a) / t}')"
  else
    record "usage flushed keys/s (metric)" "n/a"
  fi
  record "usage pending keys at end of soak (metric)" "${pending:-n/a}"
  local bad; bad=$(not_valid)
  [ "${bad:-0}" = 0 ] || echo "WARNING: $bad checks were not VALID (latchkey_verify_total by outcome)"

  # SIGTERM → exit, and what usage it lost.
  local served_final t_term exit_s
  served_final=$(metric latchkey_verify_total); served_final=${served_final:-0}
  t_term=$(date +%s.%N)
  kill -TERM "$SRV"
  local deadline=$((SECONDS + EXIT_WAIT))
  while kill -0 "$SRV" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.01; done
  if kill -0 "$SRV" 2>/dev/null; then
    exit_s=">$EXIT_WAIT (killed)"; kill -KILL "$SRV"
  else
    exit_s=$(awk -v a="$t_term" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
  fi
  wait "$SRV" 2>/dev/null || true; SRV=""
  record "SIGTERM → exit (s)" "$exit_s"
  # Usage not written by the shutdown flush within its deadline is spilled to a file in the data
  # directory, which the next start writes to the database: not lost, only not there yet.
  local spilled; spilled=$(grep -h "key usage written at shutdown" "$OUT/server-$tag.log" | grep -o 'spilled=[0-9]*' | grep -o '[0-9]*$' || true)
  record "usage spilled at exit, written at the next start (keys)" "${spilled:-n/a}"
  record "usage not in the database after exit (checks)" "$((served_final - ($(usage_written) - written0)))"

  # Restart under load: wrk starts as soon as the server listens (it does not retry a refused
  # connection), so requests arrive while the server warms up (formatting its requests first,
  # ~1 s for a million keys, counts against the server).
  local since; since=$(date +%s.%N)
  START_WAIT=60 start_server "$OUT/server-$tag-restart.log" "${db_args[@]}" "${CACHE_ARGS[@]}"
  "${WRK_PIN[@]}" wrk -t1 -c"$C" -d"${RESTART_WINDOW}s" --timeout 10s -s verify.lua "$BASE" > "$OUT/wrk-$tag-restart.txt" 2>&1 &
  WRK_BG=$!
  local probe; probe=$("${WRK_PIN[@]}" python3 scale.py restart-probe --url "$BASE" --keys "$KEYS_FILE" --since "$since" \
    --ref-rate "$ref_rate" --timeout "$((RESTART_WINDOW - 2))")
  wait "$WRK_BG" || true; WRK_BG=""
  echo "  restart probe: $probe (reference: $ref_rate checks/s)"
  record "restart under load: first VALID verify (s)" "$(echo "$probe" | sed -n 's/.*first_valid_s=\([^ ]*\).*/\1/p')"
  record "restart under load: 90 % of steady rate (s)" "$(echo "$probe" | sed -n 's/.*steady_s=\([^ ]*\).*/\1/p')"

  # Creation at c=$CREATE_C.
  "${WRK_PIN[@]}" wrk -t1 -c"$CREATE_C" -d"$CREATE_DURATION" --latency -s create.lua "$BASE" > "$OUT/wrk-$tag-create.txt"
  read -r -a figs <<< "$(wrk_figures "$OUT/wrk-$tag-create.txt")"
  record "create keys/s (c=$CREATE_C)" "${figs[0]}"; record "create p99 ms" "${figs[2]}"
  [ "${figs[4]}" = 0 ] || echo "WARNING: ${figs[4]} creations answered non-2xx (see $OUT/wrk-$tag-create.txt)"
  stop_server
  echo "# visit took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}') s"
}

# The sizes in the order of round $1: 10k, 1M, 100k (smallest, largest, the rest), reversed on even rounds.
order() {
  local sorted; sorted=$(tr ' ' '\n' <<< "$SIZES" | grep . | sort -n)
  local first last middle; first=$(head -n1 <<< "$sorted"); last=$(tail -n1 <<< "$sorted")
  middle=$(sed '1d;$d' <<< "$sorted" | tr '\n' ' ')
  local seq; seq=$(echo "$first $([ "$last" != "$first" ] && echo "$last") $middle" | xargs)
  if [ $(($1 % 2)) = 0 ]; then tr ' ' '\n' <<< "$seq" | tac | xargs; else echo "$seq"; fi
}

main() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  bench_dir_init
  echo "# bench/scale.sh  $(date -u +%FT%TZ)  bin=$BIN  $("$BIN" --version 2>/dev/null || true)"
  echo "# backends=$BACKENDS sizes=$SIZES rounds=$ROUNDS c=$C duration=$DURATION warmup=$WARMUP soak=$SOAK (largest size: $SOAK_LARGEST)" \
    "restart_window=${RESTART_WINDOW}s create: c=$CREATE_C $CREATE_DURATION  pin=$PIN  key cache: $CACHE_NOTE"
  echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)  cpus: $(nproc)"
  local t_all=$SECONDS
  for BACKEND in $BACKENDS; do
    local schema; schema=$(schema_of "$BACKEND")
    for SIZE in $SIZES; do
      CACHE="$BENCH_DIR/$BACKEND-$schema-n$SIZE"; CACHE_DB="latchkey_scale_${schema}_$SIZE"
      build_cache
    done
    [ "$BUILD_ONLY" = 0 ] || continue
    for R in $(seq 1 "$ROUNDS"); do
      for SIZE in $(order "$R"); do
        CACHE="$BENCH_DIR/$BACKEND-$schema-n$SIZE"; CACHE_DB="latchkey_scale_${schema}_$SIZE"; VISIT=$R
        visit
      done
    done
  done
  echo "# whole run: $((SECONDS - t_all)) s  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ "$BUILD_ONLY" = 0 ] || return 0
  python3 scale.py table --figures "$FIGURES" --note "$BIN, $(date -u +%F); soak $SOAK (largest size: $SOAK_LARGEST); c=$C, $DURATION per run; medians of $ROUNDS visits per size; key cache: $CACHE_NOTE" \
    | tee "$OUT.md"
}
main 2>&1 | tee "$OUT.log"
echo "# saved bench/$OUT.log$([ -f "$OUT.md" ] && echo ", bench/$OUT.md") and bench/$OUT/"
