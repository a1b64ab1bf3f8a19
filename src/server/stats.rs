//! Counters the four-letter words report (`srvr`, `stat`, `cons`, `mntr`). All true counts
//! of what this member did since start (or the last `srst`/`crst`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::PoisonError;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::telemetry::{CountSet, Sizes, Summary, SummarySet};

/// Why the server or the client ended a connection (`raftzk_connections_closed{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// The client closed it (EOF, reset, closeSession).
    Client,
    /// A four-letter word was answered.
    FourLetterWord,
    /// No handshake arrived in time.
    HandshakeTimeout,
    /// A frame longer than jute.maxbuffer.
    Oversize,
    /// Bytes that are not ZooKeeper's protocol.
    Garbage,
    /// maxClientCnxns reached for the client's address.
    MaxClientCnxns,
    /// An auth packet with an unknown scheme.
    Auth,
    /// The session asked for is expired or unknown.
    InvalidSession,
    /// This member cannot serve (no leader, behind the client, shutting down).
    NotServing,
    /// The server closed it (session expired elsewhere, write fate unknown, replaced).
    Server,
    /// Its TLS handshake failed, timed out or found too many handshakes under way.
    Tls,
    /// Its replies waited past the reply bound (the client does not read them).
    SlowConsumer,
    /// The connection throttle refused its handshake (`connection_throttle_*`).
    ConnectionThrottle,
}

impl CloseCause {
    /// Every cause, in label order.
    pub const ALL: [CloseCause; 13] = [
        CloseCause::Client,
        CloseCause::FourLetterWord,
        CloseCause::HandshakeTimeout,
        CloseCause::Oversize,
        CloseCause::Garbage,
        CloseCause::MaxClientCnxns,
        CloseCause::Auth,
        CloseCause::InvalidSession,
        CloseCause::NotServing,
        CloseCause::Server,
        CloseCause::Tls,
        CloseCause::SlowConsumer,
        CloseCause::ConnectionThrottle,
    ];

    /// The `reason` label.
    pub fn name(self) -> &'static str {
        match self {
            CloseCause::Client => "client",
            CloseCause::FourLetterWord => "four_letter_word",
            CloseCause::HandshakeTimeout => "handshake_timeout",
            CloseCause::Oversize => "oversize",
            CloseCause::Garbage => "garbage",
            CloseCause::MaxClientCnxns => "max_client_cnxns",
            CloseCause::Auth => "auth",
            CloseCause::InvalidSession => "invalid_session",
            CloseCause::NotServing => "not_serving",
            CloseCause::Server => "server",
            CloseCause::Tls => "tls_handshake",
            CloseCause::SlowConsumer => "slow_consumer",
            CloseCause::ConnectionThrottle => "connection_throttle",
        }
    }

    /// A close an operator may want to hear about (logged at info or above).
    pub fn is_fault(self) -> bool {
        !matches!(self, CloseCause::Client | CloseCause::FourLetterWord)
    }

    fn slot(self) -> usize {
        CloseCause::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// Request latency: min / avg / max in ms, as ZooKeeper's `ServerStats` keeps it.
#[derive(Debug, Default)]
pub struct Latency {
    inner: Mutex<LatencyInner>,
}

#[derive(Debug, Default, Clone, Copy)]
struct LatencyInner {
    min: u64,
    max: u64,
    total: u64,
    count: u64,
}

impl Latency {
    /// Records one request's latency.
    pub fn record(&self, ms: u64) {
        let mut l = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        l.min = if l.count == 0 { ms } else { l.min.min(ms) };
        l.max = l.max.max(ms);
        l.total += ms;
        l.count += 1;
    }

    /// (min, avg, max, count); 0s when nothing was recorded.
    pub fn snapshot(&self) -> (u64, f64, u64, u64) {
        let l = *self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let avg = if l.count == 0 {
            0.0
        } else {
            l.total as f64 / l.count as f64
        };
        (l.min, avg, l.max, l.count)
    }

    /// Forgets everything.
    pub fn reset(&self) {
        *self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = LatencyInner::default();
    }
}

/// The top-level znode of `path` (`/a/b` → `a`); None for `/`.
pub fn namespace(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let top = rest.split('/').next()?;
    (!top.is_empty()).then_some(top)
}

/// The path of the op a quota's hard limit refused in this Txn (`enforceQuota`: a create or
/// setData, alone or in a multi), if one was.
pub fn quota_refused_path<'t>(
    txn: &'t crate::txn::Txn,
    outcome: &crate::txn::TxnOutcome,
) -> Option<&'t str> {
    use jute_codec::{ErrorCode, MultiResult, Request, Response};
    let crate::txn::TxnOp::Client(request) = &txn.op else {
        return None;
    };
    if !txn.rules.enforce_quota {
        return None;
    }
    match (request, &outcome.response) {
        (Request::Multi(m), Response::Multi(results)) => results
            .results
            .iter()
            .position(|r| *r == MultiResult::Error(ErrorCode::QuotaExceeded))
            .and_then(|i| m.ops.get(i))
            .map(|op| op.path()),
        (Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r), _)
            if outcome.err == ErrorCode::QuotaExceeded =>
        {
            Some(&r.path)
        }
        (Request::CreateTtl(r), _) if outcome.err == ErrorCode::QuotaExceeded => Some(&r.path),
        (Request::SetData(r), _) if outcome.err == ErrorCode::QuotaExceeded => Some(&r.path),
        _ => None,
    }
}

/// ZooKeeper counts a Stat as this many bytes in `read_per_namespace`.
pub const STAT_BYTES: usize = 6 * 8 + 5 * 4;

/// Bytes a successful read counts in `read_per_namespace`, and the path it is counted for.
pub fn read_bytes<'a>(
    request: &'a jute_codec::Request,
    response: &jute_codec::Response,
) -> Option<(&'a str, usize)> {
    use jute_codec::{Request, Response};
    let (path, payload) = match (request, response) {
        (Request::GetData(r), Response::GetData(d)) => {
            (&r.path, d.data.as_ref().map_or(0, Vec::len))
        }
        (Request::Exists(r), Response::Exists(_)) => (&r.path, 0),
        (Request::GetChildren(r), Response::GetChildren(c)) => {
            (&r.path, c.children.iter().map(String::len).sum())
        }
        (Request::GetChildren2(r), Response::GetChildren2(c)) => {
            (&r.path, c.children.iter().map(String::len).sum())
        }
        _ => return None,
    };
    Some((path.as_str(), path.len() + payload + STAT_BYTES))
}

/// What a successful write counts in `write_per_namespace`: (path, path + data bytes) per
/// create, delete and setData, sub-ops of a multi included. Paths come from the outcome's
/// watch triggers, so a sequential create counts the name it got.
pub fn write_bytes(
    txn: &crate::txn::Txn,
    outcome: &crate::txn::TxnOutcome,
) -> Vec<(String, usize)> {
    use crate::txn::TxnOp;
    use jute_codec::{EventType, MultiOp, Request};
    if outcome.err != jute_codec::ErrorCode::Ok {
        return Vec::new();
    }
    // Data bytes of each node-changing op, in the order its trigger comes.
    let data_of_request = |request: &Request| -> Vec<usize> {
        match request {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => {
                vec![r.data.as_ref().map_or(0, Vec::len)]
            }
            Request::CreateTtl(r) => vec![r.data.as_ref().map_or(0, Vec::len)],
            Request::SetData(r) => vec![r.data.as_ref().map_or(0, Vec::len)],
            Request::Delete(_) => vec![0],
            Request::Multi(m) => m
                .ops
                .iter()
                .filter_map(|op| match op {
                    MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
                        Some(r.data.as_ref().map_or(0, Vec::len))
                    }
                    MultiOp::CreateTtl(r) => Some(r.data.as_ref().map_or(0, Vec::len)),
                    MultiOp::SetData(r) => Some(r.data.as_ref().map_or(0, Vec::len)),
                    MultiOp::Delete(_) => Some(0),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let sizes = match &txn.op {
        TxnOp::Client(request) => data_of_request(request),
        TxnOp::Reap { .. } => vec![0],
        // The session's ephemerals, each a delete (path bytes only).
        TxnOp::CloseSession => vec![0; outcome.triggers.len()],
        _ => Vec::new(),
    };
    outcome
        .triggers
        .iter()
        .filter(|t| {
            matches!(
                t.event,
                EventType::NodeCreated | EventType::NodeDeleted | EventType::NodeDataChanged
            )
        })
        .zip(sizes)
        .map(|(t, data)| (t.path.clone(), t.path.len() + data))
        .collect()
}

/// Member-wide counters.
#[derive(Debug)]
pub struct ServerStats {
    /// When the member started.
    pub started: Instant,
    /// Frames received from clients.
    pub packets_received: AtomicU64,
    /// Frames sent to clients.
    pub packets_sent: AtomicU64,
    /// Bytes received from clients.
    pub bytes_received: AtomicU64,
    /// Request latency.
    pub latency: Latency,
    /// Session handshakes (ConnectRequests) received.
    pub connection_requests: AtomicU64,
    /// Connections that ended without closeSession (the client went away).
    pub connections_dropped: AtomicU64,
    /// Auth packets with an unknown scheme, and failed TLS handshakes (as ZooKeeper counts).
    pub auth_failed: AtomicU64,
    /// TLS handshakes that failed or timed out (ZooKeeper's `unsuccessful_handshake`).
    pub tls_handshakes_failed: AtomicU64,
    /// Connections closed because `netty.server.outstandingHandshake.limit` handshakes were
    /// under way (`tls_handshake_exceeded`).
    pub tls_handshakes_exceeded: AtomicU64,
    /// TLS handshakes completed.
    pub tls_handshakes: AtomicU64,
    /// TLS handshakes under way now (`outstanding_tls_handshake`).
    pub tls_handshakes_in_progress: AtomicU64,
    /// Plaintext connections on a port that also serves TLS, from this host and from others
    /// (`non_mtls_local_conn_count`, `non_mtls_remote_conn_count`).
    pub non_mtls_local: AtomicU64,
    /// See `non_mtls_local`.
    pub non_mtls_remote: AtomicU64,
    /// Sizes of the replies sent.
    pub response_sizes: Sizes,
    /// Bytes queued to clients.
    pub response_bytes: AtomicU64,
    /// Reconnects that resumed an existing session on this member.
    pub connection_revalidations: AtomicU64,
    /// Read latency, ms (ZooKeeper's `readlatency`).
    pub read_latency: Summary,
    /// Write latency, ms, from receipt to reply (ZooKeeper's `updatelatency`).
    pub update_latency: Summary,
    /// Write applied → notification queued on this member, ms.
    pub watch_trigger_latency: Summary,
    /// Request latency by operation, ms (`raftzk_request_latency{op}`).
    pub request_latency: SummarySet,
    /// Bytes read per top-level znode (ZooKeeper's `read_per_namespace`).
    pub read_per_namespace: SummarySet,
    /// Bytes written per top-level znode, on every member (`write_per_namespace`).
    pub write_per_namespace: SummarySet,
    /// Writes of this member's clients refused at a quota's hard limit (`enforceQuota`), per
    /// top-level znode of the refused op's path.
    pub quota_exceeded_per_namespace: CountSet,
    /// Watches fired per event type (ZooKeeper's `node_*_watch_count` summaries).
    pub watches_fired: WatchesFired,
    /// Bytes of watch notifications queued.
    pub watch_bytes: AtomicU64,
    /// Reply bytes queued on every connection and not yet written (the member-wide bound,
    /// `handle::MAX_QUEUED_BYTES_ALL`, is checked against it).
    pub queued_reply_bytes: AtomicUsize,
    /// Times a connection stopped reading requests until the client read its replies.
    pub read_pauses: AtomicU64,
    /// Requests pending on every connection (writes and the reads queued behind them).
    pub requests_pending: Arc<InProcess>,
    /// Times a connection stopped reading because `globalOutstandingLimit` requests were
    /// pending member-wide and one of its own was.
    pub outstanding_limit_pauses: AtomicU64,
    /// Requests refused at a ceiling (`server::ceilings`), in `Ceiling::ALL` order.
    pub ceiling_refusals: [AtomicU64; 4],
    /// Connections closed, by cause.
    closed: [AtomicU64; CloseCause::ALL.len()],
}

/// Watchers triggered per event, by type (ZooKeeper reports each as a summary).
#[derive(Debug)]
pub struct WatchesFired {
    /// NodeCreated.
    pub created: Summary,
    /// NodeDeleted.
    pub deleted: Summary,
    /// NodeDataChanged.
    pub changed: Summary,
    /// NodeChildrenChanged.
    pub children: Summary,
}

impl WatchesFired {
    /// The summary for one event type (None for events no watch fires on).
    pub fn of(&self, event: jute_codec::EventType) -> Option<&Summary> {
        match event {
            jute_codec::EventType::NodeCreated => Some(&self.created),
            jute_codec::EventType::NodeDeleted => Some(&self.deleted),
            jute_codec::EventType::NodeDataChanged => Some(&self.changed),
            jute_codec::EventType::NodeChildrenChanged => Some(&self.children),
            _ => None,
        }
    }

    /// All four, in `mntr` order.
    pub fn all(&self) -> [&Summary; 4] {
        [&self.changed, &self.children, &self.created, &self.deleted]
    }
}

impl Default for WatchesFired {
    fn default() -> WatchesFired {
        WatchesFired {
            created: Summary::local(
                "node_created_watch_count",
                "Watchers triggered per NodeCreated event",
                false,
            ),
            deleted: Summary::local(
                "node_deleted_watch_count",
                "Watchers triggered per NodeDeleted event",
                false,
            ),
            changed: Summary::local(
                "node_changed_watch_count",
                "Watchers triggered per NodeDataChanged event",
                false,
            ),
            children: Summary::local(
                "node_children_watch_count",
                "Watchers triggered per NodeChildrenChanged event",
                false,
            ),
        }
    }
}

impl Default for ServerStats {
    fn default() -> ServerStats {
        ServerStats {
            started: Instant::now(),
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            latency: Latency::default(),
            connection_requests: AtomicU64::new(0),
            connections_dropped: AtomicU64::new(0),
            auth_failed: AtomicU64::new(0),
            tls_handshakes_failed: AtomicU64::new(0),
            tls_handshakes_exceeded: AtomicU64::new(0),
            tls_handshakes: AtomicU64::new(0),
            tls_handshakes_in_progress: AtomicU64::new(0),
            non_mtls_local: AtomicU64::new(0),
            non_mtls_remote: AtomicU64::new(0),
            response_sizes: Sizes::new(),
            response_bytes: AtomicU64::new(0),
            connection_revalidations: AtomicU64::new(0),
            read_latency: Summary::local("readlatency", "Read request latency, ms", true),
            update_latency: Summary::local("updatelatency", "Write request latency, ms", true),
            watch_trigger_latency: Summary::local(
                "raftzk_watch_trigger_latency",
                "Time from a write being applied (its notification queued in the same step) to the notification being written to the client's socket, ms",
                true,
            ),
            watches_fired: WatchesFired::default(),
            request_latency: SummarySet::new(
                "raftzk_request_latency",
                "op",
                "Request latency by operation, ms (its _count is the request count)",
                true,
            ),
            read_per_namespace: SummarySet::new(
                "read_per_namespace",
                "key",
                "Bytes read (path, data or child names, and a Stat's 68 bytes) per top-level znode",
                false,
            ),
            write_per_namespace: SummarySet::new(
                "write_per_namespace",
                "key",
                "Bytes written (path and data) per top-level znode by creates, deletes and setData",
                false,
            ),
            quota_exceeded_per_namespace: CountSet::new(
                "quota_exceeded_error_per_namespace",
                "key",
                "Writes refused at a quota's hard limit (enforceQuota), per top-level znode",
            ),
            watch_bytes: AtomicU64::new(0),
            queued_reply_bytes: AtomicUsize::new(0),
            read_pauses: AtomicU64::new(0),
            requests_pending: Arc::default(),
            outstanding_limit_pauses: AtomicU64::new(0),
            ceiling_refusals: Default::default(),
            closed: Default::default(),
        }
    }
}

impl ServerStats {
    /// `srst`: resets the request counters and latency (as ZooKeeper's `resetAllStats`).
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency.reset();
        self.read_latency.reset();
        self.response_sizes.reset();
        for summary in self.watches_fired.all() {
            summary.reset();
        }
        self.read_per_namespace.reset();
        self.write_per_namespace.reset();
        crate::telemetry::PROPOSAL_SIZES.reset();
        crate::telemetry::ACK_LATENCY.reset();
        // ZooKeeper's srst also clears its summaries' mntr view (Prometheus keeps totals).
        for summary in crate::telemetry::SUMMARIES {
            summary.reset();
        }
        self.update_latency.reset();
    }

    /// Counts a connection closed for `cause`.
    pub fn closed(&self, cause: CloseCause) {
        if let Some(c) = self.closed.get(cause.slot()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Connections closed for `cause`.
    pub fn closed_count(&self, cause: CloseCause) -> u64 {
        self.closed
            .get(cause.slot())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Records one answered request of kind `op` (ZooKeeper's op names) for
    /// `raftzk_request_latency{op}` (Prometheus only: `mntr` has no labels).
    pub fn request_done(&self, op: &'static str, elapsed: std::time::Duration) {
        self.request_latency
            .record(op, elapsed.as_secs_f64() * 1000.0);
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Per-connection counters for `cons`/`stat`.
#[derive(Debug)]
pub struct ConnStats {
    /// When the connection was accepted (wall clock, ms).
    pub established_ms: i64,
    /// Frames received.
    pub received: AtomicU64,
    /// Frames sent.
    pub sent: AtomicU64,
    inner: Mutex<ConnStatsInner>,
}

/// The mutable part of [`ConnStats`].
#[derive(Debug, Clone, Default)]
pub struct ConnStatsInner {
    /// Last operation, as ZooKeeper abbreviates it (`GETD`, `CREA`, …), `NA` after a reset.
    pub last_op: &'static str,
    /// Last client xid.
    pub last_cxid: Option<i32>,
    /// Last zxid replied.
    pub last_zxid: i64,
    /// When the last reply was sent (wall clock, ms).
    pub last_response_ms: i64,
    /// Latency of the last request, ms.
    pub last_latency: u64,
    /// Min/total/max/count of request latencies, ms.
    pub min: u64,
    /// Sum of latencies.
    pub total: u64,
    /// Largest latency.
    pub max: u64,
    /// Number of latencies.
    pub count: u64,
}

impl ConnStats {
    /// Counters of a connection accepted now.
    #[allow(clippy::new_without_default)] // "now" is not a default
    pub fn new() -> ConnStats {
        ConnStats {
            established_ms: now_ms(),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            inner: Mutex::new(ConnStatsInner {
                last_op: "NA",
                last_zxid: -1,
                ..ConnStatsInner::default()
            }),
        }
    }

    /// A copy of the mutable counters.
    pub fn snapshot(&self) -> ConnStatsInner {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records an answered request.
    pub fn record(&self, op: &'static str, xid: i32, zxid: i64, latency_ms: u64) {
        let mut s = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        s.last_op = op;
        s.last_cxid = Some(xid);
        s.last_zxid = zxid;
        s.last_response_ms = now_ms();
        s.last_latency = latency_ms;
        s.min = if s.count == 0 {
            latency_ms
        } else {
            s.min.min(latency_ms)
        };
        s.max = s.max.max(latency_ms);
        s.total += latency_ms;
        s.count += 1;
    }

    /// `crst`.
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner) = ConnStatsInner {
            last_op: "NA",
            last_zxid: -1,
            ..ConnStatsInner::default()
        };
    }
}

/// Wall clock, ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The requests in process on every connection of a member (writes proposed and not yet
/// answered, and the reads queued behind them): ZooKeeper's `getInProcess`, which
/// `globalOutstandingLimit` and the request throttler compare with their limits (kept by
/// `writes::PendingWrites`). A throttled
/// request waits for [`InProcess::fell`].
#[derive(Debug, Default)]
pub struct InProcess {
    count: AtomicUsize,
    fell: tokio::sync::Notify,
    /// Someone has waited on `fell`: answers wake waiters from then on (otherwise they skip
    /// the wake-up's cost).
    watched: std::sync::atomic::AtomicBool,
}

impl InProcess {
    /// Requests in process now.
    pub fn get(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Requests now pending.
    pub(crate) fn add(&self, n: usize) {
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests answered (or given up with their connection).
    pub(crate) fn answered(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.count.fetch_sub(n, Ordering::Relaxed);
        if self.watched.load(Ordering::Relaxed) {
            self.fell.notify_waiters();
        }
    }

    /// Completes when a request is next answered (create it, then check the count, then
    /// await it: an answer in between still wakes it).
    pub fn fell(&self) -> tokio::sync::futures::Notified<'_> {
        self.watched.store(true, Ordering::Relaxed);
        self.fell.notified()
    }
}
