#!/usr/bin/env bash
# Scale points of the real ZooKeeper 3.8.0 and raftzk (bench/scale.py), one standalone server
# at a time, same zoo.cfg: RSS (and, for the JVM, the live heap after a full GC) per znode at
# 1 M znodes of 100 B, per session at 10 k sessions, per watch at 100 k watches; restart time
# on that tree; write latency while snapshots are taken. About 4 minutes on 2 cores.
# The leader's memory while it streams a snapshot to a member is bench/catchup.py's
# (`--server zk|raftzk --znodes 1000000 [--wiped]`: leader RSS before, peak and after).
#
#   scripts/bench_scale.sh [--no-build] [scale.py options]
#     --no-build       use the binaries as they are ($RAFTZK_BIN / $RAFTZK_BENCH_BIN, else
#                      $CARGO_TARGET_DIR/release or target/release)
#     scale.py options --servers zk,raftzk  --znodes 1000000  --sessions 10000
#                      --watches-per-session 10  --snap-count 10000  --heap 8g  --out DIR
#
# Installs what it needs (scripts/setup.sh, Debian's zookeeper package), builds raftzk and
# raftzk-bench in release unless --no-build, and runs private copies of both binaries.
# Exit status: 0 ok, 1 a phase failed, 2 setup problem.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
case "${1:-}" in -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

if [ ! -e /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; then
  scripts/setup.sh --test || exit 2
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$build" = 1 ]; then
  scripts/setup.sh || exit 2
  cargo build --release --locked -p raftzk -p raftzk-bench --bins || exit 2
fi
server="${RAFTZK_BIN:-$TARGET/release/raftzk}"
bench="${RAFTZK_BENCH_BIN:-$TARGET/release/raftzk-bench}"
for b in "$server" "$bench"; do
  [ -x "$b" ] || { echo "bench_scale.sh: $b is missing (run without --no-build)" >&2; exit 2; }
done
bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT
cp "$server" "$bindir/raftzk" && cp "$bench" "$bindir/raftzk-bench" || exit 2
echo "raftzk binary: $server (built $(date -u -r "$server" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$server" | cut -c1-12))"
RAFTZK_BIN="$bindir/raftzk" RAFTZK_BENCH_BIN="$bindir/raftzk-bench" \
  timeout --signal=TERM --kill-after=60 3600 python3 bench/scale.py "$@"
