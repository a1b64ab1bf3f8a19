#!/usr/bin/env bash
# Run the zkCli.sh / C-client (cli_mt, load_gen) compat suite against the real ZooKeeper
# 3.8.0, raftzk, or both.
#   compat-tests/run-cli.sh [zk|raftzk|both] [extra pytest args...]
# Exits non-zero if any run fails, errors, or collects no test (pytest exit 5).
# raftzk: $RAFTZK_BIN, else $CARGO_TARGET_DIR/release/raftzk, else target/release/raftzk
# (this script never builds it).
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
PY="${PYTHON:-python3}"
target="${1:-zk}"
[ $# -gt 0 ] && shift
case "$target" in
  zk) servers=(zk) ;;
  raftzk) servers=(raftzk) ;;
  both) servers=(zk raftzk) ;;
  *) echo "usage: $0 [zk|raftzk|both] [pytest args...]" >&2; exit 2 ;;
esac

export PYTHONDONTWRITEBYTECODE=1

# Python packages (into the default python3, never Debian's /usr/bin/python3)
if ! "$PY" -c 'import pytest, pytest_timeout' 2>/dev/null; then
  echo "installing pytest pytest-timeout ..."
  "$PY" -m pip install -q --disable-pip-version-check pytest pytest-timeout \
    || { echo "pip install failed" >&2; exit 1; }
fi

# the clients (and the reference server): Debian's ZooKeeper 3.8.0 packages.
# Never zookeeperd, which starts a system service.
need=0
for f in /usr/share/zookeeper/bin/zkCli.sh /usr/lib/zookeeper/bin/cli_mt \
         /usr/lib/zookeeper/bin/load_gen /usr/share/java/zookeeper.jar; do
  [ -e "$f" ] || need=1
done
command -v java >/dev/null 2>&1 || need=1
if [ "$need" = 1 ]; then
  echo "installing zookeeper zookeeper-bin libzookeeper-mt-dev ..."
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(zookeeper zookeeper-bin libzookeeper-mt-dev)
  apt_install() { apt-get install -y -q -o DPkg::Lock::Timeout=600 "${pkgs[@]}" >/dev/null; }
  apt_install || { apt-get update -q >/dev/null && apt_install; } \
    || { echo "apt-get install ${pkgs[*]} failed" >&2; exit 1; }
fi

mkdir -p "$HERE/results"
declare -A summary
failed=0
all_start=$(date +%s)
for s in "${servers[@]}"; do
  log="$HERE/results/cli-$s.log"
  echo "=== zkCli / C-client suite against $s ==="
  start=$(date +%s)
  (cd "$HERE/cli" && "$PY" -m pytest --server "$s" -q "$@") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - start ))
  line=$(grep -E '^=*( |)[0-9]+ (passed|failed|error)|no tests ran|[0-9]+ (passed|failed|errors?|skipped)' "$log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
  if [ "$rc" -eq 0 ]; then
    summary[$s]="PASS  ${line:-?} (${secs}s)"
  else
    failed=1
    if [ "$rc" -eq 5 ]; then
      summary[$s]="FAIL  no tests collected (pytest exit 5) (${secs}s)"
    else
      summary[$s]="FAIL  ${line:-pytest exit $rc} (exit $rc, ${secs}s)"
    fi
  fi
done

echo
echo "=== zkCli / C-client compat summary ($(( $(date +%s) - all_start ))s) ==="
for s in "${servers[@]}"; do
  printf '%-7s %s\n' "$s" "${summary[$s]}"
done
echo "logs: $HERE/results/"
exit $failed
