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

# Debian packages the build and tests need (machine.md): libclang for librocksdb-sys's bindgen.
apt_packages=(libclang1-14 libclang-common-14-dev)

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
fi
