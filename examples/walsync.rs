//! How long a synced write takes on this disk, through RocksDB (as the Raft log writes) and
//! as a plain append + fdatasync: `cargo run --release --example walsync -- <empty dir>`.
//!
//! Compared with the server's `fsynctime` (append + fsync as openraft's core waits for it), it
//! tells the disk's share of an append from the thread hand-offs around it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;

const WRITES: usize = 3000;

fn percentiles(mut micros: Vec<u128>) -> String {
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() as f64 * q) as usize).min(micros.len() - 1)];
    format!("p50 {} p90 {} p99 {} µs", at(0.5), at(0.9), at(0.99))
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: walsync <empty directory>");
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    let db = rocksdb::DB::open(&options, format!("{dir}/rocksdb")).unwrap();
    let mut synced = rocksdb::WriteOptions::default();
    synced.set_sync(true);
    let mut times = Vec::with_capacity(WRITES);
    for i in 0..WRITES as u64 {
        let mut batch = rocksdb::WriteBatch::default();
        batch.put(i.to_be_bytes(), [7u8; 600]);
        let started = std::time::Instant::now();
        db.write_opt(batch, &synced).unwrap();
        times.push(started.elapsed().as_micros());
    }
    println!("RocksDB synced write of 600 B: {}", percentiles(times));

    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(format!("{dir}/append"))
        .unwrap();
    let mut times = Vec::with_capacity(WRITES);
    for _ in 0..WRITES {
        let started = std::time::Instant::now();
        file.write_all(&[7u8; 600]).unwrap();
        file.sync_data().unwrap();
        times.push(started.elapsed().as_micros());
    }
    println!("append of 600 B + fdatasync: {}", percentiles(times));
}
