#!/usr/bin/env bash
# The one test command: installs what the tests need, then formatting, lints, every Rust test
# (unit, property, golden-vector, integration, doc), and checks that the fuzz target builds.
# Exits non-zero on the first failure. Builds one profile (release) so that RocksDB's C++
# is compiled once (machine.md).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
started=$(date +%s)

step "setup"
scripts/setup.sh --test

step "cargo fmt --check"
cargo fmt --all --check

step "module layering: no import cycles, no upward imports (scripts/check_layers.py)"
python3 scripts/check_layers.py --quiet

step "cargo clippy (release, all targets, -D warnings)"
cargo clippy --release --locked --workspace --all-targets -- -D warnings

step "cargo test (release)"
# --show-output prints what passing tests report (e.g. how many vector frames were checked,
# the fault rounds run and the histories checked). tests/faults.rs runs 3 fault rounds here;
# scripts/faults.sh runs 50.
cargo test --release --locked --workspace -- --show-output

step "fuzz target builds (jute-codec/fuzz)"
cargo check --release --locked --manifest-path jute-codec/fuzz/Cargo.toml

# The compat suites run the same client calls against the real ZooKeeper 3.8.0 and against
# the raftzk binary `cargo test --release` just built (target/release/raftzk): kazoo, zkCli and
# the C client, Curator recipes and kazoo recipes, with the 3-member cluster cases (a
# ZooKeeper ensemble, a raftzk cluster).
step "compat: every suite, ZooKeeper 3.8.0 and raftzk (scripts/compat.sh --server both --cluster)"
scripts/compat.sh --server both --cluster

# The same seeded raw request streams (valid, edge-case and malformed: nulls, every opcode,
# multi mixes, watches, ACLs, several sessions) against both servers; every reply and event
# must match after normalising zxids, times and session ids. `--long` runs 400 streams.
step "differential: seeded request streams, ZooKeeper 3.8.0 beside raftzk"
(
  if [ -z "${RAFTZK_BIN:-}" ] && [ -z "${CARGO_TARGET_DIR:-}" ] && [ ! -x target/release/raftzk ] \
     && [ -x "$HOME/.cache/raftzk-target/release/raftzk" ]; then
    export CARGO_TARGET_DIR="$HOME/.cache/raftzk-target"
  fi
  python3 compat-tests/differential/differential.py --seed 7 --streams 40 --requests 40
)

# A 3-member raftzk cluster under a bounded load, scraped by a real Prometheus: every target
# of every panel of grafana/raftzk-dashboard.json must return data. The binary is found as
# scripts/compat.sh finds it.
step "load generator: a ~30-second smoke run of every raftzk-bench workload (scripts/bench_smoke.sh)"
scripts/bench_smoke.sh

step "grafana: every dashboard panel has data in a real Prometheus"
(
  if [ -z "${RAFTZK_BIN:-}" ] && [ -z "${CARGO_TARGET_DIR:-}" ] && [ ! -x target/release/raftzk ] \
     && [ -x "$HOME/.cache/raftzk-target/release/raftzk" ]; then
    export CARGO_TARGET_DIR="$HOME/.cache/raftzk-target"
  fi
  python3 grafana/check_dashboard.py
)

step "done in $(( $(date +%s) - started )) s"
