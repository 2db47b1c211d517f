#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, property and integration
# tests (the integration tests start the real binary on loopback ports).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
