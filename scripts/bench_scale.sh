#!/usr/bin/env bash
# Scale points of the real ZooKeeper 3.8.0 and raftzk (bench/scale.py), one standalone server
# at a time, same zoo.cfg: RSS (and, for the JVM, the live heap after a full GC) per znode at
# 1 M znodes of 100 B, per session at 10 k sessions, per watch at 100 k watches; restart time
# on that tree; write latency while snapshots are taken. About 4 minutes on 2 cores.
# The leader's memory while it streams a snapshot to a member is bench/catchup.py's
# (`--server zk|raftzk --znodes 1000000 [--wiped]`: leader RSS before, peak, after, a trace).
#
#   scripts/bench_scale.sh [--no-build] [scale.py options]
#     --no-build       use the binaries as they are ($RAFTZK_BIN / $RAFTZK_BENCH_BIN, else
#                      $CARGO_TARGET_DIR/release or target/release)
#     scale.py options --servers zk,raftzk  --znodes 1000000  --sessions 10000
#                      --watches-per-session 10  --snap-count 10000  --heap 8g  --out DIR
#
# Installs and builds what it needs as scripts/bench.sh does (it is `bench.sh --scale`).
# Exit status: 0 ok, 1 a phase failed, 2 setup problem.
case "${1:-}" in -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
exec "$(dirname "$0")/bench.sh" --scale "$@"
