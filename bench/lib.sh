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
