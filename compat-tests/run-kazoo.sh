#!/usr/bin/env bash
# Run the kazoo compat suite against the real ZooKeeper 3.8.0, raftzk, or both.
#   compat-tests/run-kazoo.sh [zk|raftzk|both] [extra pytest args...]
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
if ! "$PY" - <<'PYEOF' 2>/dev/null
import importlib.metadata as m
assert m.version("kazoo") == "2.11.0"
import pytest, pytest_timeout  # noqa: F401
PYEOF
then
  echo "installing kazoo==2.11.0 pytest pytest-timeout ..."
  "$PY" -m pip install -q --disable-pip-version-check kazoo==2.11.0 pytest pytest-timeout \
    || { echo "pip install failed" >&2; exit 1; }
fi

# the reference server (Debian's ZooKeeper 3.8.0; never zookeeperd, which starts a service)
needs_zk=0
for s in "${servers[@]}"; do [ "$s" = zk ] && needs_zk=1; done
if [ "$needs_zk" = 1 ] && [ ! -e /usr/share/java/zookeeper.jar ]; then
  echo "installing zookeeper zookeeper-bin ..."
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -q -o DPkg::Lock::Timeout=600 zookeeper zookeeper-bin >/dev/null; }
  apt_install || { apt-get update -q >/dev/null && apt_install; } \
    || { echo "apt-get install zookeeper zookeeper-bin failed" >&2; exit 1; }
fi

mkdir -p "$HERE/results"
declare -A summary
failed=0
for s in "${servers[@]}"; do
  log="$HERE/results/kazoo-$s.log"
  echo "=== kazoo suite against $s ==="
  start=$(date +%s)
  (cd "$HERE/kazoo" && "$PY" -m pytest --server "$s" -q "$@") 2>&1 | tee "$log"
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
echo "=== kazoo compat summary ==="
for s in "${servers[@]}"; do
  printf '%-7s %s\n' "$s" "${summary[$s]}"
done
echo "logs: $HERE/results/"
exit $failed
