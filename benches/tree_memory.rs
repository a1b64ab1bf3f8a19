//! What the replicated state costs in memory per znode, counted by the allocator rather than
//! guessed from RSS: `cargo bench --bench tree_memory [-- <znodes>]` (default 1,000,000).
//!
//! Creates the znodes through the real apply, 1,000 Txns an entry, as `raftzk-bench
//! --workload create` makes them (100-byte values, world ACL, names `w<worker>-<n>` under one
//! parent); reports the live heap bytes and allocations per znode; then takes a snapshot
//! and decodes it (the state a restarted member holds), timing both. The memory
//! levers of issue 16 are measured here first: a number below is exact and repeatable, an RSS
//! is neither.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

use std::alloc::System;

use jute_codec::{Acl, CreateMode, CreateRequest, Perms, Request};
use raftzk::txn::{apply_entry, ReplicatedState};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

mod common;
use common::{entry, session_entry};

/// The system allocator, counting (stats_alloc) every allocation and byte.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PER_ENTRY: usize = 1000;
const WORKERS: usize = 512;

fn create(path: String, data: Option<Vec<u8>>) -> Request {
    Request::Create(CreateRequest {
        path,
        data,
        acl: vec![Acl::world(Perms::ALL)],
        flags: CreateMode::Persistent,
    })
}

/// Bytes allocated and not yet freed since the program started. (stats_alloc already adds a
/// reallocation's growth to `bytes_allocated` and its shrinking to `bytes_deallocated`;
/// `bytes_reallocated` is the same change again.)
fn live() -> i64 {
    let stats = ALLOCATOR.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

fn main() {
    let znodes: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let parent = "/raftzk-bench/create-1795000000000";
    let mut state = ReplicatedState::new();
    apply_entry(&mut state, 1, &session_entry());
    apply_entry(
        &mut state,
        2,
        &entry(
            ["/raftzk-bench", parent]
                .into_iter()
                .map(|p| create(p.to_string(), None)),
        ),
    );

    let before = live();
    let region = Region::new(ALLOCATOR);
    let mut index = 3;
    let mut made = 0;
    while made < znodes {
        let count = PER_ENTRY.min(znodes - made);
        let e = entry((made..made + count).map(|i| {
            // worker-major names, as the create workload's 16 x 32 workers make them
            let (worker, n) = (i % WORKERS, i / WORKERS);
            create(format!("{parent}/w{worker}-{n}"), Some(vec![b'x'; 100]))
        }));
        apply_entry(&mut state, index, &e);
        drop(e);
        index += 1;
        made += count;
    }
    let grown = live() - before;
    let allocations = region.change().allocations;
    println!(
        "tree_memory: {znodes} znodes of 100 B through apply: {:.0} B live per znode, \
         {:.1} allocations per create",
        grown as f64 / znodes as f64,
        allocations as f64 / znodes as f64
    );

    let started = std::time::Instant::now();
    let bytes = state.encode_snapshot();
    println!(
        "tree_memory: snapshot {:.0} B per znode on disk, encoded in {} ms",
        bytes.len() as f64 / znodes as f64,
        started.elapsed().as_millis()
    );
    drop(state);
    let empty = live() - bytes.capacity() as i64;
    let started = std::time::Instant::now();
    let restored = ReplicatedState::decode_snapshot(&bytes).expect("own snapshot decodes");
    let took = started.elapsed();
    drop(bytes);
    println!(
        "tree_memory: decoded from the snapshot (a restarted member) in {} ms: {:.0} B live \
         per znode",
        took.as_millis(),
        (live() - empty) as f64 / znodes as f64
    );
    drop(restored);
}
