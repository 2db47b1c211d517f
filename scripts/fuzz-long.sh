#!/usr/bin/env bash
# The long fuzzing run: every target for 10^7 executions (FUZZ_RUNS to
# change it). Hours on two cores; not part of CI, which runs
# scripts/fuzz.sh for 20 s a target.
set -euo pipefail
FUZZ_RUNS="${FUZZ_RUNS:-10000000}" exec "$(dirname "$0")/fuzz.sh" "$@"
