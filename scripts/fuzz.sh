#!/usr/bin/env bash
# Runs every fuzz target under fuzz/ (cargo-fuzz, libFuzzer, nightly
# toolchain) and prints executions and crashes per target.
#
#   scripts/fuzz.sh                 # each target for 20 s (CI runs 10 s: scripts/test.sh)
#   FUZZ_SECONDS=300 scripts/fuzz.sh
#   FUZZ_RUNS=10000000 scripts/fuzz.sh   # a fixed number of executions each
#                                        # (scripts/fuzz-long.sh)
#   scripts/fuzz.sh key_parse names      # only these targets
#
# Each run starts from the committed seeds (fuzz/seeds/<target>) in a
# scratch corpus, so the tree is left as it was. Targets run side by side,
# one per core (FUZZ_JOBS sets how many at once). A crash makes the script
# exit 1 once the runs end; its input is kept in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzzing needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzzing needs cargo-fuzz: cargo install cargo-fuzz --locked" >&2; exit 1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
if [ -n "${FUZZ_RUNS:-}" ]; then
  limit=(-runs="$FUZZ_RUNS")
else
  limit=(-max_total_time="${FUZZ_SECONDS:-20}")
fi

cargo +nightly fuzz build
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# One target's run: its row of the table in $scratch/<target>.row, its
# libFuzzer log's tail on stderr if it found a crash.
run_target() {
  local t="$1" log="$scratch/$1.log" start crashes runs
  mkdir -p "$scratch/$t"
  cp seeds/"$t"/* "$scratch/$t/"
  start=$(date +%s)
  if cargo +nightly fuzz run "$t" "$scratch/$t" -- "${limit[@]}" -print_final_stats=1 >"$log" 2>&1; then
    crashes=0
  else
    crashes=1
    tail -n 40 "$log" >&2
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n1 || true)
  printf '%-16s %14s %8s %8s\n' "$t" "${runs:-?}" "$(( $(date +%s) - start ))" "$crashes" > "$scratch/$t.row"
}

# Targets run side by side, one per core (FUZZ_JOBS): each still gets a
# whole core for its time, and the run takes a fraction of the wall time.
jobs_max="${FUZZ_JOBS:-$(nproc)}"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  run_target "$t" &
done
wait
printf '%-16s %14s %8s %8s\n' target executions seconds crashes
failed=0
for t in "${targets[@]}"; do
  cat "$scratch/$t.row"
  [ "$(awk '{print $4}' "$scratch/$t.row")" = 0 ] || failed=1
done
exit "$failed"
