//! The client side: the listener, connections (handshake, four-letter words, framing), the
//! per-session pipeline, reads, and the [`Notifier`] that turns applied outcomes into watch
//! events and replies.
//!
//! A request's path (`design.md`): bytes → `FrameCodec` → `Request` → the connection's
//! pipeline, which answers requests strictly in order: a write goes to the Proposer and is
//! answered by the Notifier when its entry is applied; a read is answered from the local state,
//! by the pipeline when none of the session's writes is pending, else by the Notifier right
//! after the write before it applies.

pub mod admin;
pub mod ceilings;
pub mod connection;
pub mod fourlw;
pub mod framing;
pub mod handle;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod pipeline;
pub mod prometheus;
pub mod reads;
pub mod reconfig;
pub mod stats;
pub mod status;
pub mod throttle;
pub mod transport;
pub mod writes;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jute_codec::{ErrorCode, OpCode, Response};

use crate::config::Config;
use crate::raft::{Delivery, NodeId, ProposeError, Replica};
use crate::session::tracker::SessionTracker;
use crate::txn::{Origin, ReplicatedState, Txn, TxnOp, TxnOutcome};
use crate::watch::WatchManager;
use handle::{Binding, Connections};
use stats::ServerStats;
use writes::{Answered, UnknownFate};

/// Everything connections share.
pub struct Server {
    /// The configuration.
    pub config: Arc<Config>,
    /// Raft: proposals and the applied state.
    pub replica: Replica,
    /// Open connections.
    pub connections: Arc<Connections>,
    /// This member's watches.
    pub watches: Arc<Mutex<WatchManager>>,
    /// Session expiry bookkeeping.
    pub tracker: Arc<SessionTracker>,
    /// Counters.
    pub stats: Arc<ServerStats>,
    /// The next session id.
    pub session_ids: session_ids::SessionIds,
    /// SASL DIGEST-MD5's users (None: no JAAS `Server` section, SASL off).
    pub sasl: Option<crate::sasl::SaslServer>,
    /// The client port's TLS, when served (for its metrics; the listeners hold it too).
    pub tls: Option<Arc<crate::tls::ClientTls>>,
    /// The peer link's TLS, when served (for its metrics; the Raft side holds it too).
    pub peer_tls: Option<Arc<crate::tls::PeerTls>>,
    /// ZooKeeper's request throttler (`request_throttle_*`).
    pub request_throttle: throttle::RequestThrottle,
    /// ZooKeeper's connection throttle (`connection_throttle_*`).
    pub connection_throttle: throttle::ConnectionThrottle,
}

impl Server {
    /// The watch manager, locked.
    pub fn watches(&self) -> MutexGuard<'_, WatchManager> {
        self.watches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This member's id.
    pub fn member_id(&self) -> NodeId {
        self.replica.member_id
    }
}

pub mod session_ids {
    //! Session ids and passwords, chosen before the createSession entry is logged.

    use std::io::Read;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// ZooKeeper's layout: bits 63–56 the member id, 55–16 the low 40 bits of the clock (ms)
    /// when the member started, then +1 per session; ids stay unique across members and
    /// restarts. The container marker `0x8000000000000000` is never issued.
    #[derive(Debug)]
    pub struct SessionIds {
        next: AtomicI64,
    }

    impl SessionIds {
        /// The generator for member `member_id`, seeded from the wall clock.
        pub fn new(member_id: u64) -> SessionIds {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let base = ((now << 24) as u64 >> 8) as i64 | ((member_id as i64 & 0xff) << 56);
            SessionIds {
                next: AtomicI64::new(base),
            }
        }

        /// The next id.
        pub fn next(&self) -> i64 {
            loop {
                let id = self.next.fetch_add(1, Ordering::Relaxed);
                if id != i64::MIN && id != 0 {
                    return id;
                }
            }
        }
    }

    /// 16 random bytes for a session password.
    pub fn password() -> Vec<u8> {
        let mut bytes = vec![0u8; 16];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
        if read.is_err() {
            // No urandom: mix the clock and a process-wide counter (still unique per session).
            static COUNTER: AtomicI64 = AtomicI64::new(0);
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ (COUNTER.fetch_add(1, Ordering::Relaxed) as u64).rotate_left(32);
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = (seed.rotate_left((i * 8) as u32) & 0xff) as u8 ^ (i as u8).wrapping_mul(151);
            }
        }
        bytes
    }
}

/// Turns applied outcomes into watch events and replies for this member's connections. It
/// runs under the state's write lock (see `raft::Delivery`), so it only queues frames.
pub struct Notifier {
    /// This member.
    pub member_id: NodeId,
    /// Open connections.
    pub connections: Arc<Connections>,
    /// Watches.
    pub watches: Arc<Mutex<WatchManager>>,
    /// Counters.
    pub stats: Arc<ServerStats>,
    /// A write answered slower than this is logged (`raftzk.slowRequestMs`; zero: never).
    pub slow_request: std::time::Duration,
}

impl Delivery for Notifier {
    fn deliver(&self, state: &ReplicatedState, txn: &Txn, outcome: TxnOutcome) {
        for (path, bytes) in stats::write_bytes(txn, &outcome) {
            if let Some(ns) = stats::namespace(&path) {
                self.stats.write_per_namespace.record(ns, bytes as f64);
            }
        }
        if !outcome.triggers.is_empty() {
            let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
            for trigger in &outcome.triggers {
                let fired = watches.trigger(&trigger.path, trigger.event);
                // As ZooKeeper: an event no watcher waited for is not counted.
                if let Some(summary) = self
                    .stats
                    .watches_fired
                    .of(trigger.event)
                    .filter(|_| !fired.is_empty())
                {
                    summary.record(fired.len() as f64);
                }
                for conn in fired {
                    if let Some(handle) = self.connections.get(conn) {
                        let bytes = handle.send_event(trigger.event, &trigger.path);
                        self.stats
                            .watch_bytes
                            .fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
        if let Some(origin) = txn.origin.filter(|o| o.member == self.member_id) {
            // Counted once, on the member whose client it refuses.
            if let Some(ns) = stats::quota_refused_path(txn, &outcome).and_then(stats::namespace) {
                self.stats.quota_exceeded_per_namespace.bump(ns);
            }
            self.answer(state, origin, txn, &outcome);
        }
        if let Some(session) = outcome.closed_session {
            let connection = self.connections.by_session(session);
            if txn.origin.is_none() {
                // Every member logs it; `client` names the connection if it was this member's.
                tracing::info!(
                    session = format_args!("0x{session:x}"),
                    client = connection
                        .as_ref()
                        .map(|h| h.peer.to_string())
                        .unwrap_or_default(),
                    "session expired"
                );
            }
            if let Some(handle) = connection {
                handle.close();
            }
        }
    }

    fn write_failed(&self, origin: &Origin, reason: &ProposeError) {
        if origin.member != self.member_id {
            return;
        }
        if let Some(handle) = self.connections.get(origin.connection) {
            handle.write_fate_unknown(&UnknownFate::Failed(reason.to_string()));
        }
    }
}

impl Notifier {
    /// The reply to a Txn proposed by one of this member's connections, then to the reads
    /// the connection queued behind it, answered from `state` (just after this Txn).
    fn answer(&self, state: &ReplicatedState, origin: Origin, txn: &Txn, outcome: &TxnOutcome) {
        let Some(handle) = self.connections.get(origin.connection) else {
            crate::telemetry::STALE_REPLIES.bump();
            return;
        };
        match &txn.op {
            TxnOp::CreateSession {
                timeout_ms,
                password,
            } => {
                if outcome.err == ErrorCode::Ok {
                    let binding = Binding {
                        session_id: txn.session_id,
                        timeout_ms: *timeout_ms,
                        read_only: false,
                    };
                    if let Some(old) = self.connections.bind_session(&handle, binding) {
                        old.close();
                    }
                    handle.send_connect_response(*timeout_ms, txn.session_id, password.clone());
                    tracing::info!(
                        session = format_args!("0x{:x}", txn.session_id),
                        client = %handle.peer,
                        timeout_ms,
                        "session established"
                    );
                } else {
                    handle.refuse_session();
                }
            }
            TxnOp::CloseSession => {
                handle.send_reply(origin.xid, outcome.zxid, outcome.err, Response::Empty);
                handle.close();
                tracing::info!(
                    session = format_args!("0x{:x}", txn.session_id),
                    client = %handle.peer,
                    "session closed by the client"
                );
            }
            _ => handle.send_reply(
                origin.xid,
                outcome.zxid,
                outcome.err,
                outcome.response.clone(),
            ),
        }
        let reads = reads::ReadContext {
            watches: &self.watches,
            stats: &self.stats,
            slow: self.slow_request,
        };
        handle.writes.answered(
            &Answered {
                zxid: outcome.zxid,
                session_id: txn.session_id,
                client: handle.peer,
                slow: self.slow_request,
                stats: &self.stats,
                connection: &handle.stats,
            },
            |queued| reads::answer(state, &reads, &handle, &queued),
        );
    }
}

/// The `op` label of `raftzk_request_latency{op}`: ZooKeeper's operation name for a `cons`
/// abbreviation (one name per abbreviation: create2/createContainer/createTTL are "create").
pub fn op_label(abbreviation: &str) -> &'static str {
    match abbreviation {
        "CREA" => "create",
        "DELE" => "delete",
        "EXIS" => "exists",
        "GETD" => "getData",
        "SETD" => "setData",
        "GETA" => "getACL",
        "SETA" => "setACL",
        "GETC" => "getChildren",
        "SYNC" => "sync",
        "PING" => "ping",
        "CHEC" => "check",
        "MULT" => "multi",
        "MLTR" => "multiRead",
        "RECO" => "reconfig",
        "CHKW" => "checkWatches",
        "REMW" => "removeWatches",
        "AUTH" => "auth",
        "SETW" => "setWatches",
        "STW2" => "setWatches2",
        "SASL" => "sasl",
        "GETE" => "getEphemerals",
        "GETACN" => "getAllChildrenNumber",
        "ADDW" => "addWatch",
        "HOMI" => "whoAmI",
        "SESS" => "createSession",
        "CLOS" => "closeSession",
        _ => "unknown",
    }
}

/// ZooKeeper's four-letter abbreviation of an operation, as `cons` shows it (`lop=`).
pub fn op_abbreviation(op: OpCode) -> &'static str {
    match op {
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => "CREA",
        OpCode::Delete | OpCode::DeleteContainer => "DELE",
        OpCode::Exists => "EXIS",
        OpCode::GetData => "GETD",
        OpCode::SetData => "SETD",
        OpCode::GetAcl => "GETA",
        OpCode::SetAcl => "SETA",
        OpCode::GetChildren | OpCode::GetChildren2 => "GETC",
        OpCode::Sync => "SYNC",
        OpCode::Ping => "PING",
        OpCode::Check => "CHEC",
        OpCode::Multi => "MULT",
        OpCode::MultiRead => "MLTR",
        OpCode::Reconfig => "RECO",
        OpCode::CheckWatches => "CHKW",
        OpCode::RemoveWatches => "REMW",
        OpCode::Auth => "AUTH",
        OpCode::SetWatches => "SETW",
        OpCode::SetWatches2 => "STW2",
        OpCode::Sasl => "SASL",
        OpCode::GetEphemerals => "GETE",
        OpCode::GetAllChildrenNumber => "GETACN",
        OpCode::AddWatch => "ADDW",
        OpCode::WhoAmI => "HOMI",
        OpCode::CreateSession => "SESS",
        OpCode::CloseSession => "CLOS",
        OpCode::Notification | OpCode::Error | OpCode::Unknown(_) => "UNKN",
    }
}
