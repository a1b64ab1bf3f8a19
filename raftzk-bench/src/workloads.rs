//! The workloads: what each worker sends, and the checks some of them make (mutual exclusion
//! and fencing for the lock, delivery for the watch fan-out).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jute_codec::{
    Acl, CreateMode, CreateRequest, DeleteRequest, ErrorCode, EventType, ExistsRequest,
    GetChildrenRequest, GetDataRequest, Perms, Request, Response, SetDataRequest,
};

use crate::histogram::Histogram;
use crate::session::{Session, SessionError};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Persistent creates of new nodes.
    Create,
    /// setData on existing keys.
    Set,
    /// getData on existing keys.
    Get,
    /// exists on existing keys.
    Exists,
    /// getData and setData mixed by --read-percent.
    Mixed,
    /// Curator's InterProcessMutex cycle on one lock, checking mutual exclusion and fencing.
    Lock,
    /// One write, --watchers sessions watching it: notification latency.
    Watch,
    /// --sessions sessions opened at once: handshake latency, then all held and closed.
    Connect,
    /// --sessions sessions opened and held, each with --watches-per-session data watches on
    /// the keys, for --duration seconds: what sessions and watches cost the server (its RSS,
    /// sampled by the caller at the phases printed on stdout).
    Hold,
}

impl Workload {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Exists => "exists",
            Workload::Mixed => "mixed",
            Workload::Lock => "lock",
            Workload::Watch => "watch",
            Workload::Connect => "connect",
            Workload::Hold => "hold",
        }
    }

    /// Whether it reads and writes prefilled keys.
    pub fn uses_keys(self) -> bool {
        matches!(
            self,
            Workload::Set | Workload::Get | Workload::Exists | Workload::Mixed
        )
    }
}

/// Where a run's nodes live, and the shape of its data.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The run's own parent node.
    pub root: String,
    /// How many keys the key workloads spread over.
    pub count: usize,
    /// Bytes per value.
    pub value: Vec<u8>,
}

impl Keys {
    /// The path of key `i`.
    pub fn key(&self, i: usize) -> String {
        format!("{}/k{i:07}", self.root)
    }
}

/// A request that creates `path` (persistent or as `mode`), open to everyone.
pub fn create(path: String, data: Vec<u8>, mode: CreateMode) -> Request {
    Request::Create(CreateRequest {
        path,
        data: Some(data),
        acl: vec![Acl::world(Perms::ALL)],
        flags: mode,
    })
}

/// Creates `path` unless it exists.
pub async fn ensure(session: &Session, path: &str) -> Result<(), SessionError> {
    let (header, _) = session
        .call(create(path.to_string(), Vec::new(), CreateMode::Persistent))
        .await?;
    match header.err {
        ErrorCode::Ok | ErrorCode::NodeExists => Ok(()),
        other => Err(protocol(session, &format!("create {path}: {other:?}"))),
    }
}

/// A tiny deterministic generator per worker (xorshift), so runs are repeatable and cheap.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for worker `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// The request a key-workload worker sends next.
pub fn next_request(
    workload: Workload,
    keys: &Keys,
    rng: &mut Rng,
    worker: usize,
    n: u64,
    read_percent: usize,
) -> Request {
    match workload {
        Workload::Create => create(
            format!("{}/w{worker}-{n}", keys.root),
            keys.value.clone(),
            CreateMode::Persistent,
        ),
        Workload::Get => Request::GetData(GetDataRequest {
            path: keys.key(rng.below(keys.count)),
            watch: false,
        }),
        Workload::Exists => Request::Exists(ExistsRequest {
            path: keys.key(rng.below(keys.count)),
            watch: false,
        }),
        Workload::Set => Request::SetData(SetDataRequest {
            path: keys.key(rng.below(keys.count)),
            data: Some(keys.value.clone()),
            version: -1,
        }),
        Workload::Mixed if rng.below(100) < read_percent => Request::GetData(GetDataRequest {
            path: keys.key(rng.below(keys.count)),
            watch: false,
        }),
        _ => Request::SetData(SetDataRequest {
            path: keys.key(rng.below(keys.count)),
            data: Some(keys.value.clone()),
            version: -1,
        }),
    }
}

/// What the lock workload checks across all its clients.
#[derive(Debug, Default)]
pub struct LockChecks {
    /// The client holding the lock now (0: nobody).
    holder: AtomicI64,
    /// The highest fencing token (the lock node's czxid) a holder has had.
    last_token: AtomicI64,
    /// Two holders at once.
    pub exclusion_violations: AtomicU64,
    /// A holder whose token was not above every earlier holder's.
    pub fencing_violations: AtomicU64,
}

/// One InterProcessMutex cycle as Curator runs it: create an ephemeral-sequential node under
/// `lock`, list the children; the lowest holds the lock, the others watch their predecessor
/// and look again when it goes; the holder checks exclusion and fencing, then deletes its
/// node. Returns the time from the create to holding the lock.
pub async fn lock_cycle(
    session: &Session,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<jute_codec::WatcherEvent>,
    lock: &str,
    client: i64,
    checks: &LockChecks,
    hold: Duration,
) -> Result<Duration, SessionError> {
    let started = Instant::now();
    let created = session
        .call_ok(Request::Create2(CreateRequest {
            path: format!("{lock}/lock-"),
            data: Some(Vec::new()),
            acl: vec![Acl::world(Perms::ALL)],
            flags: CreateMode::EphemeralSequential,
        }))
        .await?;
    let Response::Create2(created) = created else {
        return Err(protocol(session, "create2 without a Stat"));
    };
    let mine = created
        .path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    loop {
        let children = session
            .call_ok(Request::GetChildren(GetChildrenRequest {
                path: lock.to_string(),
                watch: false,
            }))
            .await?;
        let Response::GetChildren(children) = children else {
            return Err(protocol(session, "getChildren without children"));
        };
        let mut children = children.children;
        children.sort_by_key(|c| sequence(c));
        let Some(position) = children.iter().position(|c| *c == mine) else {
            return Err(protocol(session, "own lock node missing"));
        };
        let Some(predecessor) = position.checked_sub(1).and_then(|p| children.get(p)) else {
            break;
        };
        let (header, _) = session
            .call(Request::Exists(ExistsRequest {
                path: format!("{lock}/{predecessor}"),
                watch: true,
            }))
            .await?;
        if header.err == ErrorCode::NoNode {
            continue;
        }
        // Wait for the predecessor's deletion (other events on this session: ignore).
        loop {
            match events.recv().await {
                Some(event) if event.event_type == EventType::NodeDeleted => break,
                Some(_) => continue,
                None => return Err(protocol(session, "session closed while waiting")),
            }
        }
    }
    let acquired = started.elapsed();
    let token = created.stat.czxid;
    if checks
        .holder
        .compare_exchange(0, client, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        checks.exclusion_violations.fetch_add(1, Ordering::SeqCst);
    }
    if checks.last_token.fetch_max(token, Ordering::SeqCst) >= token {
        checks.fencing_violations.fetch_add(1, Ordering::SeqCst);
    }
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
    }
    let _ = checks
        .holder
        .compare_exchange(client, 0, Ordering::SeqCst, Ordering::SeqCst);
    session
        .call_ok(Request::Delete(DeleteRequest {
            path: created.path,
            version: -1,
        }))
        .await?;
    Ok(acquired)
}

fn sequence(name: &str) -> u64 {
    name.rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

fn protocol(session: &Session, what: &str) -> SessionError {
    SessionError::Protocol(session.addr(), what.to_string())
}

/// Latencies recorded by one worker.
#[derive(Debug, Default, Clone)]
pub struct WorkerResult {
    /// Every request's latency (for the lock: acquire time; watch: notification latency).
    pub latency: Histogram,
    /// Requests answered with an error code, or failed.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

impl WorkerResult {
    /// Adds another worker's latencies and failures to these.
    pub fn merge(&mut self, other: WorkerResult) {
        self.latency.merge(&other.latency);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Notes a failure.
    pub fn failed(&mut self, what: impl ToString) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what.to_string());
        }
    }
}
