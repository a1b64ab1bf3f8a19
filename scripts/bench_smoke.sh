#!/usr/bin/env bash
# A ~30-second smoke run of the load generator (raftzk-bench) against a fresh standalone
# raftzk: every workload briefly, each of which must finish without an error, and the lock
# workload without an exclusion or fencing violation. Not a measurement: scripts/bench.sh is.
#
#   scripts/bench_smoke.sh            (builds raftzk and raftzk-bench in release first)
#
# Exit status: 0 every workload ran clean, 1 one did not, 2 setup problem.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release --locked -p raftzk -p raftzk-bench --bins || exit 2
SERVER="$TARGET/release/raftzk"
BENCH="$TARGET/release/raftzk-bench"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$work/zoo.cfg" <<CFG
tickTime=2000
dataDir=$work/data
clientPort=$port
clientPortAddress=127.0.0.1
metricsProvider.httpPort=0
admin.enableServer=false
maxClientCnxns=0
CFG
"$SERVER" --config "$work/zoo.cfg" > "$work/server.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

failed=0
# run's first argument is the workload; the rest are its options.
run() {
  local workload="$1"; shift
  if ! timeout 60 "$BENCH" --servers "127.0.0.1:$port" --server-pid "$pid" --label smoke \
       --json "$work/$workload.json" --warmup 0.5 --workload "$workload" "$@"; then
    echo "bench smoke: $workload FAILED"; failed=1
  fi
}
run create --connections 8 --window 16 --duration 3
run set    --connections 8 --window 16 --duration 3 --keys 500
run get    --connections 8 --window 16 --duration 3 --keys 500
run exists --connections 4 --window 8 --duration 2 --keys 500
run mixed  --connections 8 --window 16 --duration 3 --keys 500 --read-percent 70
run lock   --connections 16 --duration 4
run watch  --watchers 200 --rounds 10
run connect --sessions 1000 --connections 64
if [ "$failed" != 0 ]; then
  echo "bench smoke: server log tail:"; tail -20 "$work/server.log"
  exit 1
fi
echo "bench smoke: every workload ran clean"
