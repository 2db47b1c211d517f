#!/usr/bin/env bash
# Builds latchkey, initializes the data directory on first run (printing the
# admin API key and the dashboard password once), then serves on 127.0.0.1:7420
# (Ctrl-C stops it). Open http://127.0.0.1:7420/ for the dashboard.
#   LATCHKEY_DATA_DIR  data directory        [./latchkey-data]
#   LATCHKEY_LISTEN    listen address        [127.0.0.1:7420]
#   LATCHKEY_ORG       first organization    [My Org]
#   LATCHKEY_EMAIL     its admin's email     [admin@example.com]
set -euo pipefail
cd "$(dirname "$0")/.."
export LATCHKEY_DATA_DIR="${LATCHKEY_DATA_DIR:-./latchkey-data}"
# glibc keeps one malloc arena per thread that ever allocated; two are plenty for latchkey
# and keep the resident set about a quarter smaller (bench/RESULTS.md).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release --locked -p latchkey
BIN=target/release/latchkey
if [ ! -f "$LATCHKEY_DATA_DIR/latchkey.db" ]; then
  "$BIN" init --org "${LATCHKEY_ORG:-My Org}" --email "${LATCHKEY_EMAIL:-admin@example.com}"
  echo
fi
exec "$BIN" serve
