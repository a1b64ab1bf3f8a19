#!/usr/bin/env bash
# Starts one raftzk node: installs what the build needs, then `cargo run --release`.
# Extra arguments go to raftzk (see `scripts/run.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo run --release --locked --bin raftzk -- "$@"
