//! The fault harness: a 3-member cluster of real processes under concurrent clients while a
//! fault is injected each round — kill -9 of the leader or a follower (restarted later), a
//! partition of the leader or a follower (healed later), a slow disk on the leader — and the
//! recorded histories are checked:
//! - every acknowledged create is present on every member after the cluster heals;
//! - a register (one znode: read, write, compare-and-set on the version) has a linearizable
//!   history (`common/history.rs`, a Wing–Gong/Lowe checker). Its reads call `sync` first
//!   (ZooKeeper's remedy for stale reads), or skip it on a cluster with
//!   `raftzk.linearizableReads=true` or in sessions that asked with the auth packet
//!   `raftzk`/`linearizable` (issue 18): those histories must check as well;
//! - lock holders (Curator-style ephemeral-sequential lock) never overlap, and the fencing
//!   tokens they write (their lock node's czxid) into a checked register strictly increase.
//!
//! `RAFTZK_FAULT_ROUNDS` sets the number of rounds on one cluster (default 3, at most 12: the
//! linearizability search grows with the history, and operations whose fate is unknown stay
//! open to the end; `scripts/faults.sh` runs 50 rounds as batches of 10, each with a fresh
//! cluster and its own checked history). `RAFTZK_FAULT_READS` picks the register's reads for
//! the first test: `sync` (default), `config`, `session`, or `plain` (no sync and no option:
//! ZooKeeper's contract allows stale reads, so the verdict is reported, not asserted).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;
#[path = "common/history.rs"]
mod history;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{wait_until, Client, Cluster};
use history::{linearizable, Entry, RegOp, RegOutcome};
use jute_codec::*;

/// What every worker shares.
struct Shared {
    addrs: Vec<SocketAddr>,
    stop: AtomicBool,
    start: Instant,
    register: Mutex<Vec<Entry>>,
    acked: Mutex<Vec<String>>,
    holds: Mutex<Vec<Hold>>,
    /// The protected resource: accepts a write only with a fencing token above the last.
    fence: Mutex<i64>,
    fence_refused: AtomicU64,
    next_value: AtomicU64,
    reads: Reads,
}

/// How the register's reads are made linearizable (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// `sync` before each getData.
    Sync,
    /// A plain getData on a cluster with `raftzk.linearizableReads=true`.
    Config,
    /// A plain getData in a session that sent the auth packet `raftzk`/`linearizable`.
    Session,
    /// A plain getData and no option: may be stale (reported, not asserted).
    Plain,
}

impl Reads {
    fn from_env() -> Reads {
        match std::env::var("RAFTZK_FAULT_READS").as_deref() {
            Ok("config") => Reads::Config,
            Ok("session") => Reads::Session,
            Ok("plain") => Reads::Plain,
            Ok("sync") | Err(_) => Reads::Sync,
            Ok(other) => panic!("RAFTZK_FAULT_READS={other}: sync, config, session or plain"),
        }
    }

    fn cluster_config(self) -> &'static str {
        match self {
            Reads::Config => "minSessionTimeout=1000\nraftzk.linearizableReads=true",
            _ => "minSessionTimeout=1000",
        }
    }
}

/// One lock tenure as its holder saw it.
#[derive(Debug, Clone, Copy)]
struct Hold {
    token: i64,
    acquired: u64,
    released: u64,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// A session on some member (members refuse while they have no leader: try the next).
    fn connect(&self, seed: &mut usize, timeout_ms: i32) -> Option<Client> {
        for _ in 0..self.addrs.len() * 20 {
            if self.stopped() {
                return None;
            }
            *seed = (*seed + 1) % self.addrs.len();
            if let Some(c) = Client::connect_with(self.addrs[*seed], timeout_ms, 0, vec![0; 16], 0)
            {
                return Some(c);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

fn create_request(path: &str, flags: CreateMode) -> Request {
    Request::Create2(CreateRequest {
        path: path.into(),
        data: Some(b"v".to_vec()),
        acl: vec![Acl::world(Perms::ALL)],
        flags,
    })
}

/// Acknowledged creates under /acked.
fn creator(shared: Arc<Shared>, id: usize) {
    let mut seed = id;
    let mut n = 0u64;
    while !shared.stopped() {
        let Some(mut c) = shared.connect(&mut seed, 4000) else {
            continue;
        };
        while !shared.stopped() {
            n += 1;
            let path = format!("/acked/c{id}-{n}");
            match c.try_call(create_request(&path, CreateMode::Persistent)) {
                Some((h, _)) if h.err == ErrorCode::Ok => shared.acked.lock().unwrap().push(path),
                Some(_) => {}
                None => break,
            }
        }
    }
}

/// Register operations on /reg, recorded with invocation and completion times.
fn register_client(shared: Arc<Shared>, id: usize) {
    let mut seed = id + 7;
    let mut version_seen = 0;
    let mut k = id as u64;
    while !shared.stopped() {
        let Some(mut c) = shared.connect(&mut seed, 4000) else {
            continue;
        };
        if shared.reads == Reads::Session {
            let asked = c.try_call(Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "raftzk".into(),
                auth: Some(b"linearizable".to_vec()),
            }));
            match asked {
                Some((h, _)) => assert_eq!(h.err, ErrorCode::Ok, "raftzk/linearizable refused"),
                None => continue,
            }
        }
        while !shared.stopped() {
            k = k
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if shared.reads != Reads::Sync && (k >> 40) % 4 == 0 {
                // Three reads pipelined in one write: a round may serve several reads of
                // one session, which must still each be linearizable.
                if !pipelined_reads(&shared, &mut c, &mut version_seen) {
                    break;
                }
                continue;
            }
            let value = shared.next_value.fetch_add(1, Ordering::Relaxed) as i64;
            let op = match (k >> 33) % 3 {
                0 => RegOp::Read,
                1 => RegOp::Write(value),
                _ => RegOp::Cas {
                    expected: version_seen,
                    value,
                },
            };
            let invoked = shared.now();
            let outcome = match op {
                RegOp::Read => {
                    let synced = if shared.reads == Reads::Sync {
                        c.try_call(Request::Sync(SyncRequest {
                            path: Some("/reg".into()),
                        }))
                        .map(|_| ())
                    } else {
                        Some(())
                    };
                    match synced.and_then(|()| {
                        c.try_call(Request::GetData(GetDataRequest {
                            path: "/reg".into(),
                            watch: false,
                        }))
                    }) {
                        Some((h, Response::GetData(d))) if h.err == ErrorCode::Ok => {
                            let value =
                                String::from_utf8_lossy(d.data.as_deref().unwrap_or_default())
                                    .parse()
                                    .unwrap_or(-1);
                            version_seen = d.stat.version;
                            Some(RegOutcome::Read {
                                value,
                                version: d.stat.version,
                            })
                        }
                        Some((h, _)) => panic!("read failed: {}", h.err),
                        None => None,
                    }
                }
                RegOp::Write(v) | RegOp::Cas { value: v, .. } => {
                    let version = if let RegOp::Cas { expected, .. } = op {
                        expected
                    } else {
                        -1
                    };
                    let request = Request::SetData(SetDataRequest {
                        path: "/reg".into(),
                        data: Some(v.to_string().into_bytes()),
                        version,
                    });
                    match c.try_call(request) {
                        Some((h, Response::SetData(s))) if h.err == ErrorCode::Ok => {
                            version_seen = s.stat.version;
                            Some(RegOutcome::Written {
                                version: s.stat.version,
                            })
                        }
                        Some((h, _)) if h.err == ErrorCode::BadVersion => Some(RegOutcome::Refused),
                        Some((h, _)) => panic!("setData failed: {}", h.err),
                        None => None,
                    }
                }
            };
            let entry = match outcome {
                Some(outcome) => Entry {
                    op,
                    invoked,
                    completed: Some(shared.now()),
                    outcome,
                },
                None => Entry {
                    op,
                    invoked,
                    completed: None,
                    outcome: RegOutcome::Unknown,
                },
            };
            shared.register.lock().unwrap().push(entry);
            if entry.completed.is_none() {
                break;
            }
        }
    }
}

/// Three getData of /reg sent in one write; each reply is recorded as a read invoked when
/// the three were sent. False once the connection is lost (reads without a reply constrain
/// nothing, so they are not recorded).
fn pipelined_reads(shared: &Shared, c: &mut Client, version_seen: &mut i32) -> bool {
    let get = || {
        Request::GetData(GetDataRequest {
            path: "/reg".into(),
            watch: false,
        })
    };
    let invoked = shared.now();
    let Some(replies) = c.pipeline(vec![get(), get(), get()]) else {
        return false;
    };
    let mut register = shared.register.lock().unwrap();
    for (h, response, at) in replies {
        let Response::GetData(d) = response else {
            panic!("read failed: {}", h.err);
        };
        let value = String::from_utf8_lossy(d.data.as_deref().unwrap_or_default())
            .parse()
            .unwrap_or(-1);
        *version_seen = d.stat.version;
        register.push(Entry {
            op: RegOp::Read,
            invoked,
            completed: Some(at.duration_since(shared.start).as_micros() as u64),
            outcome: RegOutcome::Read {
                value,
                version: d.stat.version,
            },
        });
    }
    true
}

/// A Curator-style lock on /lock: an ephemeral-sequential node; the lowest holds; the others
/// watch their predecessor. A holder writes its token (its node's czxid) to the fenced
/// resource, holds a moment, and deletes its node. Losing the connection ends the tenure at
/// once (the session may still expire later).
fn locker(shared: Arc<Shared>, id: usize) {
    let mut seed = id + 3;
    while !shared.stopped() {
        let Some(mut c) = shared.connect(&mut seed, 2000) else {
            continue;
        };
        'session: while !shared.stopped() {
            let Some((h, Response::Create2(node))) =
                c.try_call(create_request("/lock/n-", CreateMode::EphemeralSequential))
            else {
                break;
            };
            assert_eq!(h.err, ErrorCode::Ok);
            let name = node.path.trim_start_matches("/lock/").to_string();
            let token = node.stat.czxid;
            loop {
                if shared.stopped() {
                    break 'session;
                }
                let Some((_, Response::GetChildren(children))) =
                    c.try_call(Request::GetChildren(GetChildrenRequest {
                        path: "/lock".into(),
                        watch: false,
                    }))
                else {
                    break 'session;
                };
                let mut sorted = children.children.clone();
                sorted.sort();
                let pos = sorted
                    .iter()
                    .position(|n| *n == name)
                    .expect("own lock node");
                if pos == 0 {
                    break;
                }
                let predecessor = format!("/lock/{}", sorted[pos - 1]);
                let Some((h, _)) = c.try_call(Request::Exists(ExistsRequest {
                    path: predecessor,
                    watch: true,
                })) else {
                    break 'session;
                };
                if h.err == ErrorCode::Ok {
                    // Wait for the predecessor's event (or a lost connection).
                    c.events.clear();
                    let Some(_) = c.try_call(Request::Ping) else {
                        break 'session;
                    };
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while c.events.is_empty() && Instant::now() < deadline && !shared.stopped() {
                        let Some(_) = c.try_call(Request::Ping) else {
                            break 'session;
                        };
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            }
            let acquired = shared.now();
            {
                let mut fence = shared.fence.lock().unwrap();
                if token > *fence {
                    *fence = token;
                } else {
                    shared.fence_refused.fetch_add(1, Ordering::Relaxed);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
            let released = c.try_call(Request::Delete(DeleteRequest {
                path: node.path.clone(),
                version: -1,
            }));
            shared.holds.lock().unwrap().push(Hold {
                token,
                acquired,
                released: shared.now(),
            });
            if released.is_none() {
                break;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    KillLeader,
    KillFollower,
    PartitionLeader,
    PartitionFollower,
    SlowLeaderDisk,
}

const FAULTS: [Fault; 5] = [
    Fault::KillLeader,
    Fault::PartitionLeader,
    Fault::KillFollower,
    Fault::PartitionFollower,
    Fault::SlowLeaderDisk,
];

/// One cluster at a time in this binary: the tests' fault rounds would disturb each other.
static ONE_CLUSTER: Mutex<()> = Mutex::new(());

#[test]
fn faults_lose_nothing_and_histories_check() {
    run_fault_rounds(Reads::from_env());
}

/// Issue 18: register reads without `sync`, linearizable by the cluster's option and by a
/// session's request, check under the same faults.
#[test]
fn unsynced_reads_check_under_faults_with_linearizable_reads() {
    run_fault_rounds(Reads::Config);
    run_fault_rounds(Reads::Session);
}

fn run_fault_rounds(reads: Reads) {
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let rounds: usize = std::env::var("RAFTZK_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    assert!(
        rounds <= 12,
        "RAFTZK_FAULT_ROUNDS={rounds}: at most 12 per cluster (scripts/faults.sh batches more)"
    );
    let mut cluster = Cluster::start(3, reads.cluster_config());
    let mut setup = Client::connect(cluster.members[cluster.leader().unwrap()].addr());
    for path in ["/acked", "/lock"] {
        setup.create(path, b"", CreateMode::Persistent);
    }
    setup.create("/reg", b"0", CreateMode::Persistent);
    drop(setup);
    let shared = Arc::new(Shared {
        addrs: cluster.members.iter().map(|m| m.addr()).collect(),
        stop: AtomicBool::new(false),
        start: Instant::now(),
        register: Mutex::new(Vec::new()),
        acked: Mutex::new(Vec::new()),
        holds: Mutex::new(Vec::new()),
        fence: Mutex::new(0),
        fence_refused: AtomicU64::new(0),
        next_value: AtomicU64::new(1),
        reads,
    });
    let mut workers = Vec::new();
    for id in 0..2 {
        let s = shared.clone();
        workers.push(std::thread::spawn(move || creator(s, id)));
    }
    for id in 0..3 {
        let s = shared.clone();
        workers.push(std::thread::spawn(move || register_client(s, id)));
    }
    for id in 0..3 {
        let s = shared.clone();
        workers.push(std::thread::spawn(move || locker(s, id)));
    }
    let mut log = Vec::new();
    for round in 0..rounds {
        std::thread::sleep(Duration::from_millis(700));
        assert!(
            wait_until(Duration::from_secs(30), || cluster.all_serving()),
            "round {round}: the cluster did not recover"
        );
        let leader = cluster.leader().unwrap();
        let follower = (leader + 1 + round % 2) % 3;
        let fault = FAULTS[round % FAULTS.len()];
        match fault {
            Fault::KillLeader => cluster.members[leader].kill9(),
            Fault::KillFollower => cluster.members[follower].kill9(),
            Fault::PartitionLeader => cluster.partition(leader),
            Fault::PartitionFollower => cluster.partition(follower),
            Fault::SlowLeaderDisk => cluster.set_disk_fault(leader, "delay=150"),
        }
        std::thread::sleep(Duration::from_millis(1500));
        match fault {
            Fault::KillLeader => cluster.restart(leader),
            Fault::KillFollower => cluster.restart(follower),
            Fault::PartitionLeader | Fault::PartitionFollower => cluster.heal(),
            Fault::SlowLeaderDisk => cluster.set_disk_fault(leader, ""),
        }
        log.push(format!("{fault:?}"));
    }
    std::thread::sleep(Duration::from_millis(700));
    shared.stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(wait_until(Duration::from_secs(30), || cluster.all_serving()));

    // 1. Nothing acknowledged is lost, on any member.
    let acked = shared.acked.lock().unwrap().clone();
    for m in &cluster.members {
        let mut reader = Client::connect(m.addr());
        let (h, _) = reader.call(Request::Sync(SyncRequest {
            path: Some("/".into()),
        }));
        assert_eq!(h.err, ErrorCode::Ok);
        let present: HashSet<String> = reader.children("/acked").into_iter().collect();
        let missing: Vec<&String> = acked
            .iter()
            .filter(|p| !present.contains(p.trim_start_matches("/acked/")))
            .collect();
        assert!(
            missing.is_empty(),
            "member {}: {} of {} acknowledged creates lost, e.g. {:?}",
            m.id,
            missing.len(),
            acked.len(),
            missing.first()
        );
    }

    // 1b. Every member holds the same tree: the same digest at the same zxid once quiet, and
    // no member counted a digest mismatch on the way.
    let digests = cluster.settled_digests(Duration::from_secs(30));
    assert!(
        digests.iter().all(|d| d.is_some() && *d == digests[0]),
        "members' tree digests differ: {digests:?}"
    );
    for m in &cluster.members {
        assert_eq!(
            m.digest_mismatches(),
            0,
            "member {} counted digest mismatches",
            m.id
        );
    }

    // 2. The register's history is linearizable.
    let history = shared.register.lock().unwrap().clone();
    let checked = Instant::now();
    let register_ok = linearizable(&history, (0, 0));
    let check_ms = checked.elapsed().as_millis();
    let verdict = if register_ok {
        "linearizable"
    } else {
        "NOT linearizable"
    };
    if !register_ok {
        // Kept for whoever reads the failure: one operation per line, in invocation order.
        let path = std::env::temp_dir().join(format!(
            "raftzk-register-history-{reads:?}-{}.txt",
            std::process::id()
        ));
        let mut sorted = history.clone();
        sorted.sort_by_key(|e| e.invoked);
        let text: String = sorted.iter().map(|e| format!("{e:?}\n")).collect();
        std::fs::write(&path, text).unwrap();
        println!("register history written to {}", path.display());
    }
    assert!(
        register_ok || reads == Reads::Plain,
        "register history of {} operations ({reads:?} reads) is not linearizable",
        history.len()
    );

    // 3. Lock tenures never overlap, and tokens rise with each tenure.
    let mut holds = shared.holds.lock().unwrap().clone();
    holds.sort_by_key(|h| h.acquired);
    for pair in holds.windows(2) {
        assert!(
            pair[0].released <= pair[1].acquired,
            "two lock holders at once: {:?} and {:?}",
            pair[0],
            pair[1]
        );
        assert!(
            pair[0].token < pair[1].token,
            "fencing tokens did not increase: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(
        shared.fence_refused.load(Ordering::Relaxed),
        0,
        "a holder's token was refused by the fenced resource"
    );

    let unknown = history.iter().filter(|e| e.completed.is_none()).count();
    println!(
        "fault rounds: {rounds} ({}); acknowledged creates: {} all present; register history ({reads:?} reads): {} ops ({unknown} unknown) {verdict}, checked in {check_ms} ms; lock tenures: {} without overlap, tokens increasing",
        log.join(", "),
        acked.len(),
        history.len(),
        holds.len()
    );
    assert!(
        history.len() > 50 && holds.len() > 5 && acked.len() > 50,
        "too little work was done to check anything"
    );
}
