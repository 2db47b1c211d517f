#!/usr/bin/env bash
# Runs the better-auth peer benchmark (shared/peers/better-auth) from a writable scratch copy,
# so latchkey's numbers can be set beside it (see bench/README.md).
#
#   bench/peer.sh            set up if needed, then run the peer's bench.sh; output -> bench/results/peer-<stamp>.txt
#   bench/peer.sh setup      only copy + set up (npm install, N keys); no timed run
#
# Env knobs (defaults in brackets):
#   PEER_SRC  [/work/shared/peers/better-auth]  the read-only peer (never written to)
#   PEER_DIR  [/tmp/latchkey-peer]              scratch copy; node_modules, peer.db, keys.txt are cached here
#   N         [10000]                           keys created by the peer's setup.sh (only when keys.txt is missing)
#   passed through to the peer's bench.sh: CONCS ["16 64"] DURATION [15s] RUNS [3] PIN [1]
#                                          WARMUP [5s] TARGET [verify|plaintext] RL_MODE SQLITE_JOURNAL PORT [3000]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PEER_SRC="${PEER_SRC:-/work/shared/peers/better-auth}"
PEER_DIR="${PEER_DIR:-/tmp/latchkey-peer}"
export N="${N:-10000}"
export CONCS="${CONCS:-16 64}" DURATION="${DURATION:-15s}" RUNS="${RUNS:-3}" PIN="${PIN:-1}"
MODE="${1:-bench}"
case "$MODE" in bench|setup) ;; *) echo "usage: $0 [bench|setup]" >&2; exit 2 ;; esac
[ -f "$PEER_SRC/bench.sh" ] || { echo "peer not found at $PEER_SRC" >&2; exit 1; }

# 1. Refresh the scratch copy from the source. `cp` keeps the source's read-only modes
#    (r--r--r--, dr-xr-xr-x), so make the copy writable afterwards. The cached artefacts
#    (node_modules, peer.db*, keys.txt, user-id.txt, results/) are not in the source and survive.
mkdir -p "$PEER_DIR"
chmod -R u+w "$PEER_DIR" 2>/dev/null || true
cp -r "$PEER_SRC/." "$PEER_DIR/"
chmod -R u+w "$PEER_DIR"

# 2. Setup (npm install + schema + N keys) only when it has not been done for these sources.
#    The stamp records a hash of the files that decide the install and the key set.
stamp_now() { (cd "$PEER_SRC" && cat package.json package-lock.json auth.mjs setup.mjs | sha256sum | cut -d' ' -f1; echo "N=$N"); }
if [ ! -s "$PEER_DIR/keys.txt" ] || [ ! -d "$PEER_DIR/node_modules" ] \
   || [ "$(cat "$PEER_DIR/.setup-stamp" 2>/dev/null)" != "$(stamp_now)" ]; then
  echo "# peer setup in $PEER_DIR (N=$N) ..."
  T0=$(date +%s)
  (cd "$PEER_DIR" && ./setup.sh)
  T1=$(date +%s)
  stamp_now > "$PEER_DIR/.setup-stamp"
  echo "# peer setup took $((T1 - T0)) s"
else
  echo "# peer setup cached in $PEER_DIR ($(wc -l < "$PEER_DIR/keys.txt") keys)"
fi
[ "$MODE" = setup ] && exit 0

# 3. The timed run: the peer's own bench.sh, unchanged, with its output saved here too.
mkdir -p "$HERE/results"
OUT="$HERE/results/peer-$(date +%Y%m%d-%H%M%S).txt"
{
  echo "# peer: better-auth (copy of $PEER_SRC in $PEER_DIR) $(date -Is)"
  echo "# CONCS=\"$CONCS\" DURATION=$DURATION RUNS=$RUNS PIN=$PIN TARGET=${TARGET:-verify}; raw wrk output in $PEER_DIR/results/"
  (cd "$PEER_DIR" && ./bench.sh)
} 2>&1 | tee "$OUT"
echo "# saved $OUT"
