#!/usr/bin/env bash
# The long contract run: scripts/contract.sh with 1000 examples per
# operation and phase (CONTRACT_EXAMPLES), about 40 times the CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTRACT_EXAMPLES="${CONTRACT_EXAMPLES:-1000}" exec scripts/contract.sh
