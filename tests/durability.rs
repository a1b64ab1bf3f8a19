//! Durability: kill -9 at any moment loses no acknowledged write; sessions and their
//! ephemerals survive a restart within their timeout; snapshots are taken every snapCount
//! transactions and reloaded; damaged snapshots and logs stop start-up with a message naming the
//! file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{four_letter_word, mntr_value, wait_until, Client, Server};
use jute_codec::*;

#[test]
fn kill_9_loses_no_acknowledged_write_and_keeps_live_sessions() {
    let mut server = Server::start_with("snapCount=100");
    let mut owner = Client::connect_with(server.addr(), 30_000, 0, vec![0; 16], 0).unwrap();
    assert_eq!(
        owner.create("/eph", b"e", CreateMode::Ephemeral).0,
        ErrorCode::Ok
    );
    assert_eq!(
        owner.create("/d", b"", CreateMode::Persistent).0,
        ErrorCode::Ok
    );
    let (session, passwd) = (owner.session_id, owner.passwd.clone());

    // A writer creates as fast as it can; every create it saw acknowledged is recorded.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let addr = server.addr();
    let writer = {
        let acked = acked.clone();
        let count = count.clone();
        std::thread::spawn(move || {
            let mut client = Client::connect(addr);
            for i in 0..100_000 {
                let path = format!("/d/n-{i}");
                let request = Request::Create(CreateRequest {
                    path: path.clone(),
                    data: Some(vec![7; 64]),
                    acl: vec![Acl::world(Perms::ALL)],
                    flags: CreateMode::Persistent,
                });
                match client.try_call(request) {
                    Some((h, _)) if h.err == ErrorCode::Ok => {
                        acked.lock().unwrap().push(path);
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
        })
    };
    assert!(wait_until(Duration::from_secs(60), || count
        .load(Ordering::Relaxed)
        >= 400));
    server.kill9();
    writer.join().unwrap();
    drop(owner);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 400);

    server.restart();
    let mut reader = Client::connect(server.addr());
    let children: std::collections::HashSet<String> = reader.children("/d").into_iter().collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|p| !children.contains(p.trim_start_matches("/d/")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged creates lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    println!(
        "{} acknowledged creates, all present after kill -9",
        acked.len()
    );

    // The session lives on: its ephemeral is there and it resumes with its id and password.
    assert!(reader.exists("/eph"));
    let mut resumed = Client::connect_with(server.addr(), 30_000, session, passwd, 0)
        .expect("session resumes after a restart within its timeout");
    assert_eq!(resumed.session_id, session);
    assert!(resumed.exists("/eph"));
    resumed.close();
    assert!(wait_until(Duration::from_secs(10), || !reader.exists("/eph")));
}

#[test]
fn snapshots_are_taken_reloaded_and_checked() {
    let mut server = Server::start_with("snapCount=20");
    let mut client = Client::connect(server.addr());
    client.create("/s", b"", CreateMode::Persistent);
    for i in 0..150 {
        let (err, _) = client.create(
            &format!("/s/n{i:03}"),
            format!("v{i}").as_bytes(),
            CreateMode::Persistent,
        );
        assert_eq!(err, ErrorCode::Ok);
    }
    let before: Vec<_> = (0..150)
        .map(|i| client.get_data(&format!("/s/n{i:03}")).1.unwrap())
        .collect();
    let snap_dir = server.data_dir().join("snapshots");
    // The newest snapshot (names sort by index): the one a restart loads.
    let snapshot = || {
        std::fs::read_dir(&snap_dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rzk"))
            .max()
    };
    assert!(
        wait_until(Duration::from_secs(20), || snapshot().is_some()),
        "no snapshot after 150 writes with snapCount=20"
    );
    drop(client);

    server.restart();
    let mut client = Client::connect(server.addr());
    for (i, (data, stat)) in before.iter().enumerate() {
        let (err, after) = client.get_data(&format!("/s/n{i:03}"));
        assert_eq!(err, ErrorCode::Ok);
        let (data2, stat2) = after.unwrap();
        assert_eq!(
            (&data2, &stat2),
            (data, stat),
            "node {i} changed across the restart"
        );
    }
    drop(client);

    // A damaged snapshot stops start-up, naming the file.
    let path = snapshot().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let (ok, stderr) = server.try_start_expecting_failure();
    assert!(!ok, "raftzk started from a corrupt snapshot");
    assert!(
        stderr.contains(&path.display().to_string()),
        "error does not name the file: {stderr}"
    );
}

/// snapCount counts transactions, as in ZooKeeper: pipelined writes, which the Proposer
/// batches many to a Raft entry, still bring snapshots, so a restart replays at most
/// snapCount of them.
#[test]
fn pipelined_writes_are_snapshotted_by_transaction_count() {
    const SNAP_COUNT: u64 = 200;
    const WRITES: usize = 3000;
    let mut server = Server::start_with(&format!("snapCount={SNAP_COUNT}"));
    let mut client = Client::connect(server.addr());
    client.create("/p", b"", CreateMode::Persistent);
    for window in (0..WRITES).collect::<Vec<_>>().chunks(100) {
        for &i in window {
            client.send(&ClientRequest {
                header: RequestHeader {
                    xid: 1_000_000 + i as i32,
                    op: OpCode::Create,
                },
                request: Request::Create(CreateRequest {
                    path: format!("/p/n{i:05}"),
                    data: Some(vec![b'x'; 20]),
                    acl: vec![Acl::world(Perms::ALL)],
                    flags: CreateMode::Persistent,
                }),
            });
        }
        for _ in window {
            let frame = client.read_frame().expect("a reply");
            let (header, _) = decode_reply(&frame, |_| OpCode::Create).expect("reply");
            assert_eq!(header.err, ErrorCode::Ok);
        }
    }
    let written = || {
        let mntr = four_letter_word(server.addr(), b"mntr").unwrap_or_default();
        let text = String::from_utf8_lossy(&mntr).to_string();
        mntr_value(&text, "raft_snapshots_written").and_then(|v| v.parse::<u64>().ok())
    };
    // 3000 transactions at snapCount 200: a snapshot every 100 to 200 of them, fewer when
    // they come faster than snapshots are written (as in ZooKeeper, a member does not start
    // a snapshot while one is being written). Counting Raft entries (batches of writes)
    // would bring none: the creates fit in fewer than 200 entries.
    assert!(
        wait_until(Duration::from_secs(20), || written().unwrap_or(0) >= 1),
        "no snapshot after {WRITES} pipelined creates with snapCount={SNAP_COUNT}: {}",
        server.log()
    );
    // Let a snapshot still due be written: the count stays the same for a second.
    let mut last = written();
    assert!(wait_until(Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(1000));
        let now = written();
        std::mem::replace(&mut last, now) == now
    }));
    drop(client);
    server.restart();
    let mntr = String::from_utf8(four_letter_word(server.addr(), b"mntr").unwrap()).unwrap();
    let replayed: f64 = mntr_value(&mntr, "zk_max_startup_txns_loaded")
        .and_then(|v| v.parse().ok())
        .expect("startup_txns_loaded in mntr");
    assert!(
        replayed <= SNAP_COUNT as f64,
        "a restart replayed {replayed} transactions with snapCount={SNAP_COUNT}"
    );
    let mut client = Client::connect(server.addr());
    assert_eq!(client.children("/p").len(), WRITES);
}

#[test]
fn a_missing_log_behind_a_snapshot_stops_start_up() {
    let mut server = Server::start_with("snapCount=10");
    let mut client = Client::connect(server.addr());
    for i in 0..40 {
        client.create(&format!("/n{i}"), b"", CreateMode::Persistent);
    }
    let snap_dir = server.data_dir().join("snapshots");
    assert!(wait_until(Duration::from_secs(20), || {
        std::fs::read_dir(&snap_dir)
            .map(|d| d.count() > 0)
            .unwrap_or(false)
    }));
    drop(client);
    server.kill9();
    std::fs::remove_dir_all(server.data_dir().join("raft-log")).unwrap();
    let (ok, stderr) = server.try_start_expecting_failure();
    assert!(!ok, "raftzk started without its log");
    assert!(
        stderr.contains("raft-log") && stderr.contains("log is missing"),
        "{stderr}"
    );
}

/// Copies the Raft log a release linked with RocksDB 11.8.1 wrote (its znodes: the
/// `/written-by-rocksdb-11.8` node holding "old release" and `/n0`…`/n4`, all still in the
/// write-ahead log) into this server's data dir.
fn install_rocksdb_11_log(server: &Server) -> std::path::PathBuf {
    let log_dir = server.data_dir().join("raft-log");
    std::fs::remove_dir_all(&log_dir).unwrap();
    std::fs::create_dir_all(&log_dir).unwrap();
    let fixture = common::repo_dir().join("tests/fixtures/raft-log-rocksdb-11.8.1");
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), log_dir.join(entry.file_name())).unwrap();
    }
    log_dir
}

/// The previous releases linked RocksDB 11.8; their write-ahead log reads in RocksDB 7.x, so
/// a log whose entries are all still in it opens and serves every znode it holds.
#[test]
fn a_log_written_by_rocksdb_11_without_tables_opens_and_serves() {
    let mut server = Server::start();
    server.kill9();
    install_rocksdb_11_log(&server);
    server.restart();
    let mut client = Client::connect(server.addr());
    let (err, data) = client.get_data("/written-by-rocksdb-11.8");
    assert_eq!(err, ErrorCode::Ok);
    assert_eq!(data.unwrap().0.as_deref(), Some(&b"old release"[..]));
    for i in 0..5 {
        assert!(client.exists(&format!("/n{i}")));
    }
    assert_eq!(
        client
            .create("/after-upgrade", b"", CreateMode::Persistent)
            .0,
        ErrorCode::Ok
    );
}

/// A table (SST) in a format the linked RocksDB cannot read (11.8 writes format_version 7,
/// 7.x reads up to 5) is refused before RocksDB opens the directory: one message naming the
/// file and both versions, no panic, and the directory left exactly as it was. The table
/// here is only its footer's last 12 bytes (format_version, then the block-based magic), the
/// part the check reads.
#[test]
fn a_table_in_a_newer_format_is_refused_and_the_log_left_untouched() {
    let mut server = Server::start();
    server.kill9();
    let log_dir = install_rocksdb_11_log(&server);
    let mut table = vec![0u8; 256];
    table.extend_from_slice(&7u32.to_le_bytes());
    table.extend_from_slice(&0x88e2_41b7_85f4_cff7u64.to_le_bytes());
    std::fs::write(log_dir.join("000009.sst"), table).unwrap();
    let listing = || {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&log_dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = listing();
    let (ok, stderr) = server.try_start_expecting_failure();
    assert!(!ok, "raftzk opened a log its RocksDB cannot read");
    assert!(
        stderr.contains("000009.sst")
            && stderr.contains("RocksDB 11.8.1")
            && stderr.contains("format_version 7"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(listing(), before, "the refused directory was changed");
}

/// SIGTERM stops a member in order and quickly: listeners first, then every proposed write is
/// answered and queued replies are written before connections close, then Raft and the log
/// database; exit status 0 within 5 s. Every create acknowledged before the close is there
/// after a restart, and the sessions stay (ZooKeeper does not close them either).
#[test]
fn sigterm_stops_the_member_in_order_within_5_s() {
    let mut server = Server::start();
    let mut client = Client::connect(server.addr());
    let session = client.session_id;
    // 300 creates in flight at once, then SIGTERM while they are being answered.
    for i in 0..300 {
        client.send(&ClientRequest {
            header: RequestHeader {
                xid: 1000 + i,
                op: OpCode::Create,
            },
            request: Request::Create(CreateRequest {
                path: format!("/t{i}"),
                data: Some(b"x".to_vec()),
                acl: vec![Acl::world(Perms::ALL)],
                flags: CreateMode::Persistent,
            }),
        });
    }
    let signalled = std::time::Instant::now();
    server.terminate();
    let mut acknowledged = Vec::new();
    while let Some(frame) = client.read_frame() {
        let (header, _) = decode_reply(&frame, |_| OpCode::Create).unwrap();
        if header.err == ErrorCode::Ok {
            acknowledged.push(header.xid - 1000);
        }
    }
    let status = server.wait_exit(Duration::from_secs(5));
    let took = signalled.elapsed();
    assert!(status.is_some(), "still running 5 s after SIGTERM");
    assert!(status.unwrap().success(), "exit status {status:?}");
    let log = server.log();
    let order = [
        "shutting down: listeners closed",
        "shutting down: connections closed after their queued replies",
        "stopped: Raft and the log database closed",
    ];
    let positions: Vec<Option<usize>> = order.iter().map(|line| log.find(line)).collect();
    assert!(
        positions.iter().all(Option::is_some) && positions.windows(2).all(|w| w[0] < w[1]),
        "shutdown steps missing or out of order:\n{log}"
    );
    eprintln!(
        "SIGTERM: exited 0 after {} ms with {} of 300 creates answered",
        took.as_millis(),
        acknowledged.len()
    );
    server.restart();
    let mut reader = Client::connect(server.addr());
    for i in &acknowledged {
        assert!(reader.exists(&format!("/t{i}")), "acknowledged /t{i} lost");
    }
    let resumed = Client::connect_with(server.addr(), 30_000, session, client.passwd.clone(), 0);
    assert!(
        resumed.is_some_and(|c| c.session_id == session),
        "the session did not survive the shutdown"
    );
}
