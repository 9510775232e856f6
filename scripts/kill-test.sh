#!/usr/bin/env bash
# Crash-safety harness: kills `lookalike index` with SIGKILL at random moments, ROUNDS times
# (default 50), and checks after every kill that the index opens, is consistent, keeps every
# committed batch, and that the next run carries on. The test suite runs a few rounds; this
# runs the full count. Usage: scripts/kill-test.sh [ROUNDS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOKALIKE_KILL_ROUNDS="${1:-50}" LOOKALIKE_KILL_SEED="${2:-$(date +%s)}"
echo "kill -9 harness: $LOOKALIKE_KILL_ROUNDS rounds, seed $LOOKALIKE_KILL_SEED"
cargo test --test safety kill_9 -- --nocapture
