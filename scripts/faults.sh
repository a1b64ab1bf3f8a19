#!/usr/bin/env bash
# The fault harness, nightly-style: a 3-member cluster under concurrent clients (acknowledged
# creates, a register read/written/CAS'd, a Curator-style lock with fencing tokens) while each
# round injects a fault (leader/follower kill -9, leader/follower partition, slow leader disk),
# then every history is checked (nothing lost, linearizable register, no two lock holders,
# increasing tokens). scripts/test.sh runs 3 rounds; this runs ROUNDS (default 50).
#
#   scripts/faults.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
RAFTZK_FAULT_ROUNDS="${1:-50}" cargo test --release --locked --test faults -- --nocapture
