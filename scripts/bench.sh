#!/usr/bin/env bash
# The side-by-side load matrix (bench/matrix.py): the real ZooKeeper 3.8.0 and raftzk with
# the same zoo.cfg, 1 and 3 members, driven by the Rust load generator raftzk-bench:
# get / exists / set / mixed 90/10 and 70/30 / create at connections 1, 16, 64 x window 1, 32,
# Curator's lock cycle at 1, 16, 64 clients, watch fan-out and a connect storm; alternating
# rounds, medians, ratios raftzk / ZooKeeper, client and server CPU, disturbed runs flagged.
# About 25 minutes on 2 cores with the defaults. BENCHMARKS.md is made from its tables.
#
#   scripts/bench.sh [--no-build] [--scale] [matrix.py or scale.py options]
#     --no-build            use the binaries as they are ($RAFTZK_BIN / $RAFTZK_BENCH_BIN, else
#                           $CARGO_TARGET_DIR/release or target/release)
#     --scale               the scale points instead (bench/scale.py; scripts/bench_scale.sh)
#     matrix.py options     --topologies 1,3  --servers zk,raftzk  --rounds 3  --duration 1.5
#                           --workloads get,exists,set,mixed90,mixed70,lock,watch,connect,create
#                           --connections 1,16,64  --windows 1,32  --lock-clients 1,16,64
#                           --watchers 10000  --sessions 10000  --out DIR  (python3 bench/matrix.py -h)
#
# The single-client benchmark is scripts/bench_single.sh. Installs what it needs (the build
# prerequisites through scripts/setup.sh, Debian's zookeeper package), then builds raftzk and
# raftzk-bench in release, and runs a private copy of both binaries.
# Exit status: 0 ok, 1 a run failed (see the `!` flags), 2 setup problem.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
build=1
runner=bench/matrix.py
while :; do
  case "${1:-}" in
    --no-build) build=0; shift ;;
    --scale) runner=bench/scale.py; shift ;;
    *) break ;;
  esac
done
case "${1:-}" in -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

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
  [ -x "$b" ] || { echo "bench.sh: $b is missing (run without --no-build)" >&2; exit 2; }
done
# private copies, so a rebuild during the benchmark cannot mix two builds
bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT
cp "$server" "$bindir/raftzk" && cp "$bench" "$bindir/raftzk-bench" || exit 2
echo "raftzk binary: $server (built $(date -u -r "$server" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$server" | cut -c1-12))"
RAFTZK_BIN="$bindir/raftzk" RAFTZK_BENCH_BIN="$bindir/raftzk-bench" \
  timeout --signal=TERM --kill-after=60 7200 python3 "$runner" "$@"
