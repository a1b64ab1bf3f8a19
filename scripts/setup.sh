#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test raftzk, quietly and
# idempotently: a second run on a set-up machine returns in well under a second.
#
#   scripts/setup.sh          build prerequisites (libclang for RocksDB's bindgen, RocksDB)
#   scripts/setup.sh --test   plus what the test suites need
#
# RocksDB: where the platform ships a RocksDB 7.x (Debian 12: librocksdb-dev 7.8.3) it is
# installed and linked, so nothing of RocksDB is compiled; elsewhere librocksdb-sys compiles
# its bundled RocksDB 7.9.2 (a 9 min cold release build on 2 cores). The choice goes into .cargo/config.toml
# (git-ignored), so every cargo command in this tree builds the same way, and is printed.
# RAFTZK_ROCKSDB=bundled forces the bundled build, RAFTZK_ROCKSDB=system requires the system one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rocksdb_choice=${RAFTZK_ROCKSDB:-auto}
case "$rocksdb_choice" in
  auto | system | bundled) ;;
  *) echo "setup: RAFTZK_ROCKSDB must be auto, system or bundled, not '$rocksdb_choice'" >&2; exit 2 ;;
esac

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

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_updated=0
apt_update() {
  if ((!apt_updated)); then
    as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    apt_updated=1
  fi
}

# The system RocksDB is wanted only in the 7.x series: the rocksdb crate (0.20) speaks RocksDB
# 7.9's C API, and 7.x reads the format the log store writes (src/raft/rocksdb_link.rs).
rocksdb_note=""
if [[ "$rocksdb_choice" != bundled ]] && command -v apt-get >/dev/null && ! installed librocksdb-dev; then
  candidate() { apt-cache policy librocksdb-dev 2>/dev/null | awk '/Candidate:/ {print $2}'; }
  version=$(candidate)
  if [[ -z "$version" || "$version" == "(none)" ]]; then
    apt_update
    version=$(candidate)
  fi
  case "$version" in
    "" | "(none)") rocksdb_note="the platform has no librocksdb-dev" ;;
    7.*) apt_packages+=(librocksdb-dev) ;;
    *) rocksdb_note="the platform's librocksdb-dev is $version, not 7.x" ;;
  esac
fi

missing=()
for pkg in "${apt_packages[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_update
  as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# Which RocksDB the build links, written where cargo reads it and said once.
rocksdb_lib=""
rocksdb_version=""
if [[ "$rocksdb_choice" != bundled && -r /usr/include/rocksdb/version.h ]]; then
  rocksdb_version=$(awk '/#define ROCKSDB_(MAJOR|MINOR|PATCH) / {v = v (v == "" ? "" : ".") $3} END {print v}' \
    /usr/include/rocksdb/version.h)
  rocksdb_lib=$(dpkg -L librocksdb-dev 2>/dev/null | grep '/librocksdb\.so$' | head -n 1 || true)
  if [[ "$rocksdb_version" != 7.* ]]; then
    rocksdb_note="the system RocksDB is $rocksdb_version, not 7.x"
    rocksdb_lib=""
  elif [[ -z "$rocksdb_lib" ]]; then
    rocksdb_note="librocksdb-dev has no librocksdb.so"
  fi
fi
if [[ "$rocksdb_choice" == bundled ]]; then
  rocksdb_note="RAFTZK_ROCKSDB=bundled"
fi
mkdir -p "$root/.cargo"
if [[ -n "$rocksdb_lib" ]]; then
  rocksdb_config="# Written by scripts/setup.sh: link the system RocksDB $rocksdb_version ($rocksdb_lib).
# RAFTZK_ROCKSDB=bundled scripts/setup.sh switches to the bundled source.
[env]
ROCKSDB_LIB_DIR = \"$(dirname "$rocksdb_lib")\"
ROCKSDB_INCLUDE_DIR = \"/usr/include\"
"
  rocksdb_said="RocksDB $rocksdb_version: the system library $rocksdb_lib (nothing of RocksDB to compile)"
else
  if [[ "$rocksdb_choice" == system ]]; then
    echo "setup: RAFTZK_ROCKSDB=system, but no usable system RocksDB: ${rocksdb_note:-none found}" >&2
    exit 1
  fi
  rocksdb_config="# Written by scripts/setup.sh: compile the RocksDB bundled with librocksdb-sys ($rocksdb_note).
[env]
ROCKSDB_COMPILE = \"1\"
"
  rocksdb_said="RocksDB 7.9.2: the bundled source, compiled with the build (about 9 min cold on 2 cores): $rocksdb_note"
fi
if [[ "$(cat "$root/.cargo/config.toml" 2>/dev/null)"$'\n' != "$rocksdb_config" ]]; then
  printf '%s' "$rocksdb_config" >"$root/.cargo/config.toml"
fi
echo "setup: $rocksdb_said" >&2

if ((want_test)); then
  # The Rust toolchain's own linters; rustup ships them, but a minimal profile may not.
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null
  fi
  # kazoo and pytest for the compat suites, into the default python3 (never Debian's);
  # pure-sasl for kazoo's SASL (the security suite).
  if ! python3 - <<'PY' 2>/dev/null
import importlib.metadata as m
assert m.version("kazoo") == "2.11.0"
assert m.version("pure-sasl") == "0.6.2"
import pytest, pytest_timeout  # noqa: F401
PY
  then
    echo "setup: installing kazoo==2.11.0 pure-sasl==0.6.2 pytest pytest-timeout" >&2
    python3 -m pip install -q --disable-pip-version-check kazoo==2.11.0 pure-sasl==0.6.2 pytest pytest-timeout
  fi
fi
