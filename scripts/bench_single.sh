#!/usr/bin/env bash
# Single-client latency/throughput benchmark of the real ZooKeeper 3.8.0 and raftzk (the load
# matrix under many sessions is scripts/bench.sh),
# run the same way (bench/single_client.py), one server after the other, never together.
#
#   scripts/bench_single.sh [options] [zk|raftzk|both]   (default: both)
#     --n N             ops per sequential phase (create, getData, setData; default 5000)
#     --pipeline-n N    ops per pipelined phase (create, getData; default 20000)
#     --window W        requests in flight when pipelined (default 64)
#     --warmup N        warm-up ops per kind (default 5000)
#     --time-limit S    seconds per server run, all phases (default 600)
#     --wait-quiet S    first wait up to S s for an idle machine (default 120; 0: don't)
#     --cfg KEY=VALUE   extra zoo.cfg line for both servers (repeatable), e.g. forceSync=no
#                       (raftzk accepts and ignores forceSync: it always fsyncs)
#     --rounds R        run the servers alternately R times (zk, raftzk, zk, ...; default 1);
#                       the table then shows medians and the min..max of every metric
#     --pin MODE        none (default) | same (client and server on one CPU) | split (client
#                       on CPU 0, server on the others): on a VM, waking a thread on another
#                       idle vCPU costs tens of us per round trip, and unpinned runs vary with it
#     --out DIR         where the JSON results go (default bench/results/<UTC time>)
#
# Prints a side-by-side table: op, metric, zk, raftzk, ratio raftzk/zk.
# Needs python3 (stdlib only), java and Debian's zookeeper (installed if missing); counts the
# servers' fsyncs with perf when it is usable. Never builds raftzk: it uses $RAFTZK_BIN, else
# $CARGO_TARGET_DIR/release/raftzk, else target/release/raftzk, and exits 2 if that is missing.
# Exit status: 0 ok, 1 a run failed, 2 usage or setup problem.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${PYTHON:-python3}"

n=5000; pn=20000; window=64; warmup=5000; tlimit=600; quiet=120; rounds=1; pinmode=none; out=""; target=both
cfg=()
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --n) n="${2:?}"; shift 2 ;;
    --pipeline-n) pn="${2:?}"; shift 2 ;;
    --window) window="${2:?}"; shift 2 ;;
    --warmup) warmup="${2:?}"; shift 2 ;;
    --time-limit) tlimit="${2:?}"; shift 2 ;;
    --wait-quiet) quiet="${2:?}"; shift 2 ;;
    --cfg) cfg+=(--cfg "${2:?}"); shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --rounds) rounds="${2:?}"; shift 2 ;;
    --pin) pinmode="${2:?}"; shift 2 ;;
    zk|raftzk|both) target="$1"; shift ;;
    -h|--help) usage ;;
    *) echo "bench_single.sh: unknown argument $1" >&2; usage ;;
  esac
done
for v in "$n" "$pn" "$window" "$warmup" "$tlimit" "$quiet" "$rounds"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "bench_single.sh: not a whole number: $v" >&2; exit 2; }
done
case "$pinmode" in none|same|split) ;; *) echo "bench_single.sh: --pin none|same|split" >&2; exit 2 ;; esac
case "$target" in
  zk) servers=(zk) ;;
  raftzk) servers=(raftzk) ;;
  both) servers=(zk raftzk) ;;
esac

export PYTHONDONTWRITEBYTECODE=1
command -v "$PY" >/dev/null || { echo "bench_single.sh: $PY not found" >&2; exit 2; }

for s in "${servers[@]}"; do
  if [ "$s" = raftzk ]; then
    bin="$(cd "$REPO/compat-tests" && "$PY" -c 'import servers; print(servers.raftzk_binary())')"
    if [ ! -x "$bin" ]; then
      echo "bench_single.sh: the raftzk binary is missing: $bin" >&2
      echo "  (this script never builds it; build it with cargo build --release, or set RAFTZK_BIN" >&2
      echo "   or CARGO_TARGET_DIR)" >&2
      exit 2
    fi
    # run a private copy, so a rebuild during the benchmark cannot mix two builds
    bindir="$(mktemp -d)"
    trap 'rm -rf "$bindir"' EXIT
    cp "$bin" "$bindir/raftzk" || exit 2
    export RAFTZK_BIN="$bindir/raftzk"
    echo "raftzk binary: $bin (built $(date -u -r "$bin" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$bin" | cut -c1-12)); running a copy"
  fi
  if [ "$s" = zk ] && { [ ! -e /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; }; then
    echo "installing zookeeper zookeeper-bin ..."
    export DEBIAN_FRONTEND=noninteractive
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    apt_install() {
      as_root apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
        zookeeper zookeeper-bin >/dev/null
    }
    apt_install || { as_root apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && apt_install; } \
      || { echo "bench_single.sh: apt-get install zookeeper zookeeper-bin failed" >&2; exit 2; }
  fi
done

if ! command -v perf >/dev/null || ! perf stat -e syscalls:sys_enter_fdatasync -- true >/dev/null 2>&1; then
  echo "note: perf with syscall tracepoints is not usable here; fsync counts will be missing"
  noperf=(--no-perf)
else
  noperf=()
fi

[ -n "$out" ] || out="$REPO/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out" || exit 2
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),$(uptime | sed 's/.*load average/ load average/')"
echo "results: $out"

failed=0
args=()
for ((round = 1; round <= rounds; round++)); do
  for s in "${servers[@]}"; do
    [ "$rounds" -gt 1 ] && echo "-- round $round of $rounds"
    json="$out/$s-$round.json"
    # a hard bound on top of the script's own time limit (start, warm-up, quiet wait, stop)
    timeout --signal=TERM --kill-after=30 $((tlimit + quiet + 120)) \
      "$PY" "$REPO/bench/single_client.py" --server "$s" --n "$n" --pipeline-n "$pn" \
        --window "$window" --warmup "$warmup" --time-limit "$tlimit" --wait-quiet "$quiet" \
        --pin "$pinmode" "${cfg[@]}" "${noperf[@]}" --json-out "$json"
    rc=$?
    if [ "$rc" -ne 0 ]; then
      echo "bench_single.sh: the $s run failed (exit $rc)" >&2
      failed=1
      [ "$rc" -eq 2 ] && exit 2
    fi
    [ -s "$json" ] && args+=("--$s" "$json")
  done
done
echo "after: $(uptime | sed 's/.*load average/load average/')"
echo
[ ${#args[@]} -gt 0 ] && "$PY" "$REPO/bench/table.py" "${args[@]}" | tee "$out/table.txt"
exit "$failed"
