#!/usr/bin/env bash
# The fault harness, nightly-style: a 3-member cluster under concurrent clients (acknowledged
# creates, a register read/written/CAS'd, a Curator-style lock with fencing tokens) while each
# round injects a fault (leader/follower kill -9, leader/follower partition, slow leader disk),
# then every history is checked (nothing lost, linearizable register, no two lock holders,
# increasing tokens). scripts/test.sh runs 3 rounds; this runs ROUNDS (default 50) in batches
# of 10, each on a fresh cluster with its own checked history (the linearizability search
# grows with the history), and stops at the first failing batch.
#
# READS picks the register's reads: sync (default: sync then getData), config (no sync, on a
# cluster with raftzk.linearizableReads=true), session (no sync, sessions that sent the auth
# packet raftzk/linearizable), plain (no sync, no option: stale reads are ZooKeeper's contract,
# so each batch reports whether its history is linearizable instead of failing).
#
#   scripts/faults.sh [ROUNDS] [READS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
total="${1:-50}"
[[ "$total" =~ ^[0-9]+$ ]] || { echo "faults.sh: ROUNDS must be a whole number" >&2; exit 2; }
reads="${2:-sync}"
case "$reads" in
  sync|config|session|plain) ;;
  *) echo "faults.sh: READS must be sync, config, session or plain" >&2; exit 2 ;;
esac
done_rounds=0
while (( done_rounds < total )); do
  batch=$(( total - done_rounds < 10 ? total - done_rounds : 10 ))
  echo "== fault rounds $((done_rounds + 1))..$((done_rounds + batch)) of $total"
  RAFTZK_FAULT_ROUNDS="$batch" RAFTZK_FAULT_READS="$reads" timeout 900 cargo test --release --locked --test faults \
    faults_lose_nothing_and_histories_check -- --nocapture
  done_rounds=$(( done_rounds + batch ))
done
echo "== $total fault rounds ($reads reads), every batch's history checked"
