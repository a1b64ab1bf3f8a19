#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test raftzk, quietly and
# idempotently: a second run on a set-up machine returns in well under a second.
#
#   scripts/setup.sh          build prerequisites (libclang for RocksDB's bindgen)
#   scripts/setup.sh --test   plus what the test suites need
set -euo pipefail

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# Debian packages (machine.md): libclang for librocksdb-sys's bindgen; for the tests, the
# real ZooKeeper 3.8.0 (the reference; never `zookeeperd`, which starts a service) with its
# CLI and C client tools, and Prometheus 2.42 for grafana/check_dashboard.py (its service is
# never started: the check runs its own prometheus on a free loopback port).
apt_packages=(libclang1-14 libclang-common-14-dev)
if [[ "${1:-}" == "--test" ]]; then
  apt_packages+=(zookeeper zookeeper-bin prometheus)
fi

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if ((want_test)); then
  # The Rust toolchain's own linters; rustup ships them, but a minimal profile may not.
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null
  fi
  # kazoo and pytest for the compat suites, into the default python3 (never Debian's).
  if ! python3 - <<'PY' 2>/dev/null
import importlib.metadata as m
assert m.version("kazoo") == "2.11.0"
import pytest, pytest_timeout  # noqa: F401
PY
  then
    echo "setup: installing kazoo==2.11.0 pytest pytest-timeout" >&2
    python3 -m pip install -q --disable-pip-version-check kazoo==2.11.0 pytest pytest-timeout
  fi
fi
