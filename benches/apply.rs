//! Apply cost of the entries a busy member applies most (creates and setData, 1,000 Txns an
//! entry, 100-byte values) and the share of it the tree digest takes: each group also times
//! the digest work alone, node for node as apply does it (a create hashes the new node and its
//! parent before and after; a setData hashes the node before and after). `cargo bench --bench apply`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jute_codec::*;
use raftzk::tree::digest::node_digest;
use raftzk::txn::{apply_entry, LogEntry, ReplicatedState, TxnOp};

mod common;
use common::{entry, session_entry};

const TXNS: usize = 1000;

fn creates(prefix: &str) -> LogEntry {
    entry((0..TXNS).map(|i| {
        Request::Create(CreateRequest {
            path: format!("{prefix}/n{i:05}"),
            data: Some(vec![7; 100]),
            acl: vec![Acl::world(Perms::ALL)],
            flags: CreateMode::Persistent,
        })
    }))
}

fn sets(prefix: &str) -> LogEntry {
    entry((0..TXNS).map(|i| {
        Request::SetData(SetDataRequest {
            path: format!("{prefix}/n{i:05}"),
            data: Some(vec![8; 100]),
            version: -1,
        })
    }))
}

/// A state with a session, `/app` and 100,000 nodes under `/bulk`.
fn base_state() -> ReplicatedState {
    let mut state = ReplicatedState::new();
    apply_entry(&mut state, 1, &session_entry());
    apply_entry(
        &mut state,
        2,
        &entry(["/app", "/bulk"].into_iter().map(|p| {
            Request::Create(CreateRequest {
                path: p.into(),
                data: None,
                acl: vec![Acl::world(Perms::ALL)],
                flags: CreateMode::Persistent,
            })
        })),
    );
    for block in 0..100 {
        let mut e = creates("/bulk");
        for (i, txn) in e.txns.iter_mut().enumerate() {
            if let TxnOp::Client(Request::Create(c)) = &mut txn.op {
                c.path = format!("/bulk/b{block:03}-{i:05}");
            }
        }
        apply_entry(&mut state, 3 + block, &e);
    }
    state
}

/// The nodes the create entry made under `/app`, with their paths.
fn app_nodes(state: &ReplicatedState) -> Vec<(String, raftzk::tree::Node)> {
    (0..TXNS)
        .map(|i| {
            let path = format!("/app/n{i:05}");
            let node = state.tree.get(&path).unwrap().clone();
            (path, node)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let base = base_state();
    let create_entry = creates("/app");
    let mut with_nodes = base.clone();
    apply_entry(&mut with_nodes, 200, &create_entry);
    let set_entry = sets("/app");

    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(TXNS as u64));
    group.bench_function("create_1000", |b| {
        b.iter_batched(
            || base.clone(),
            |mut state| black_box(apply_entry(&mut state, 300, &create_entry)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("create_1000_digest_work", |b| {
        let parent = with_nodes.tree.get("/app").unwrap();
        let nodes = app_nodes(&with_nodes);
        b.iter(|| {
            // The new node, and its parent before and after.
            let sum = nodes.iter().fold(0u64, |sum, (path, node)| {
                sum.wrapping_add(node_digest(path, node))
                    .wrapping_add(node_digest("/app", parent).wrapping_mul(2))
            });
            black_box(sum)
        })
    });
    group.bench_function("set_data_1000", |b| {
        b.iter_batched(
            || with_nodes.clone(),
            |mut state| black_box(apply_entry(&mut state, 300, &set_entry)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("set_data_1000_digest_work", |b| {
        let nodes = app_nodes(&with_nodes);
        b.iter(|| {
            // The node before and after.
            let sum = nodes.iter().fold(0u64, |sum, (path, node)| {
                sum.wrapping_add(node_digest(path, node))
                    .wrapping_add(node_digest(path, node))
            });
            black_box(sum)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
