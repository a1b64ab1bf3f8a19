#!/usr/bin/env bash
# Leader-failover measurement of the real ZooKeeper 3.8.0 ensemble and a raftzk cluster, run the
# same way (bench/failover.py), one server after the other, never together.
#
#   scripts/failover.sh [options] [zk|raftzk|both]        (default: both)
#     --runs N          runs per server and client (default 10); every run starts a fresh
#                       3-member ensemble, kills its leader with SIGKILL and times the first
#                       acknowledged create after the kill
#     --client C        raw | kazoo | both (default both): a raw-socket client pinned to a
#                       surviving follower (tight retry, resume first), and/or kazoo 2.11 with
#                       all three members in its connect string
#     --run-timeout S   bound on one failover (default 30)
#     --out DIR         where the JSON results go (default bench/results/failover-<UTC time>)
#
# Prints, per server and client: runs, median / p90 / max failover (ms), spurious elections
# (leaderships beyond the expected 2 per run), sessions resumed, and a few more columns.
# Needs python3, kazoo 2.11 (pip), java and Debian's zookeeper (for zk). Never builds raftzk:
# it uses $RAFTZK_BIN, else $CARGO_TARGET_DIR/release/raftzk, else target/release/raftzk, else
# ~/.cache/raftzk-target/release/raftzk, and runs a private copy of it.
# Exit status: 0 ok, 1 a run failed, 2 usage or setup problem.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
PY="${PYTHON:-python3}"

runs=10; client=both; rtimeout=30; out=""; target=both
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="${2:?}"; shift 2 ;;
    --client) client="${2:?}"; shift 2 ;;
    --run-timeout) rtimeout="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    zk|raftzk|both) target="$1"; shift ;;
    -h|--help) usage ;;
    *) echo "failover.sh: unknown argument $1" >&2; usage ;;
  esac
done
for v in "$runs" "$rtimeout"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "failover.sh: not a whole number: $v" >&2; exit 2; }
done
case "$client" in raw|kazoo|both) ;; *) echo "failover.sh: --client raw|kazoo|both" >&2; exit 2 ;; esac
case "$target" in
  zk) servers=(zk) ;;
  raftzk) servers=(raftzk) ;;
  both) servers=(zk raftzk) ;;
esac

export PYTHONDONTWRITEBYTECODE=1
command -v "$PY" >/dev/null || { echo "failover.sh: $PY not found" >&2; exit 2; }
if [ "$client" != raw ] && ! "$PY" -c 'import kazoo' 2>/dev/null; then
  echo "failover.sh: kazoo is missing (pip install kazoo==2.11.0)" >&2
  exit 2
fi

for s in "${servers[@]}"; do
  if [ "$s" = raftzk ]; then
    bin="$(cd "$REPO/compat-tests" && "$PY" -c 'import servers; print(servers.raftzk_binary())')"
    if [ ! -x "$bin" ] && [ -z "${RAFTZK_BIN:-}" ] && [ -x "$HOME/.cache/raftzk-target/release/raftzk" ]; then
      bin="$HOME/.cache/raftzk-target/release/raftzk"
    fi
    if [ ! -x "$bin" ]; then
      echo "failover.sh: the raftzk binary is missing: $bin" >&2
      echo "  (this script never builds it; build it with cargo build --release, or set RAFTZK_BIN)" >&2
      exit 2
    fi
    # failover.py copies it again into its own directory; this copy pins the build for the
    # whole script even if a rebuild replaces the file in between
    bindir="$(mktemp -d)"
    trap 'rm -rf "$bindir"' EXIT
    cp -p "$bin" "$bindir/raftzk" || exit 2
    export RAFTZK_BIN="$bindir/raftzk"
    echo "raftzk binary: $bin (built $(date -u -r "$bin" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$bin" | cut -c1-12))"
  fi
  if [ "$s" = zk ] && { [ ! -e /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; }; then
    echo "failover.sh: ZooKeeper 3.8.0 is missing (apt-get install zookeeper zookeeper-bin)" >&2
    exit 2
  fi
done

[ -n "$out" ] || out="$REPO/bench/results/failover-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out" || exit 2
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),$(uptime | sed 's/.*load average/ load average/')"
echo "results: $out"

failed=0
jsons=()
for s in "${servers[@]}"; do
  echo "-- $s"
  json="$out/$s.json"
  # a hard bound on top of the per-run bound (start, settle and stop of every ensemble)
  timeout --signal=TERM --kill-after=30 $(( (rtimeout + 150) * runs * 2 + 60 )) \
    "$PY" "$REPO/bench/failover.py" --server "$s" --runs "$runs" --client "$client" \
      --run-timeout "$rtimeout" --json-out "$json" --no-table
  rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "failover.sh: the $s runs failed (exit $rc)" >&2
    failed=1
    [ "$rc" -eq 2 ] && exit 2
  fi
  [ -s "$json" ] && jsons+=("$json")
done
echo "after: $(uptime | sed 's/.*load average/load average/')"
echo
[ ${#jsons[@]} -gt 0 ] && "$PY" "$REPO/bench/failover.py" --table "${jsons[@]}" | tee "$out/table.txt"
exit "$failed"
