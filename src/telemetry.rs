//! Measurements every layer records and the server reports twice: in `mntr` (ZooKeeper's
//! tab-separated keys) and on `/metrics` (Prometheus). A [`Summary`] or [`Count`] is the one
//! place a value lives, so the two views cannot disagree.
//!
//! Prometheus quantiles: summaries recorded about once per log entry (fsync, apply, snapshots,
//! elections) also feed metrics-exporter-prometheus' rolling summaries; per-request ones
//! (`Summary::local`, every [`SummarySet`]) are rendered by raftzk from their own recent
//! samples. Feeding the exporter ~10^5 samples a second made its periodic upkeep hold a
//! runtime thread long enough to cost the leader its heartbeats (2 elections in 30 s of
//! bench/election_load.py, against 0 without).
//!
//! The storage and Raft layers record counts and summaries into the statics below: one
//! member runs per process in production, so a process-wide value is the member's value (the
//! Prometheus recorder is process-wide anyway). Whatever decides behaviour (role flags, peer
//! acknowledgements, the append clock, the commit index) is per member instead, in
//! [`MemberTelemetry`], so members sharing a process in tests keep their own views.
//! Per-server values (requests, connections) live in `server::stats::ServerStats` with the
//! same types.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Samples kept for `mntr`'s percentiles (ZooKeeper keeps a sampled reservoir too).
const RECENT_SAMPLES: usize = 1024;

/// A distribution, reported as ZooKeeper reports its summaries: `mntr` prints
/// `avg_/min_/max_/cnt_/sum_<name>` (plus `p50_/p95_/p99_/p999_` when `percentiles`), and the
/// Prometheus exporter renders it as a summary with quantiles 0.5, 0.9 and 0.99.
#[derive(Debug)]
pub struct Summary {
    /// The name without ZooKeeper's `zk_` prefix.
    pub name: &'static str,
    /// One line for `# HELP`.
    pub help: &'static str,
    /// Whether `mntr` prints percentiles.
    pub percentiles: bool,
    /// Whether metrics-exporter-prometheus renders it (else `/metrics` renders `values()`).
    pub by_exporter: bool,
    state: Mutex<SummaryState>,
    exported: OnceLock<::metrics::Histogram>,
}

#[derive(Debug)]
struct SummaryState {
    total_count: u64,
    total_sum: f64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    recent: Vec<f64>,
    next: usize,
}

/// A [`Summary`]'s values at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SummaryValues {
    /// Samples recorded.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Smallest (0 when none).
    pub min: f64,
    /// Largest (0 when none).
    pub max: f64,
    /// sum / count (0 when none).
    pub avg: f64,
    /// Median of the recent samples.
    pub p50: f64,
    /// 90th percentile of the recent samples.
    pub p90: f64,
    /// 95th percentile of the recent samples.
    pub p95: f64,
    /// 99th percentile of the recent samples.
    pub p99: f64,
    /// 99.9th percentile of the recent samples.
    pub p999: f64,
    /// Samples since start (`srst` does not reset it): Prometheus' `_count`.
    pub total_count: u64,
    /// Their sum: Prometheus' `_sum`.
    pub total_sum: f64,
}

impl SummaryState {
    const fn new() -> SummaryState {
        SummaryState {
            total_count: 0,
            total_sum: 0.0,
            count: 0,
            sum: 0.0,
            min: 0.0,
            max: 0.0,
            recent: Vec::new(),
            next: 0,
        }
    }

    /// `exact` goes to the totals and the recent samples (Prometheus' quantiles; `mntr`
    /// rounds its percentiles), `value` (rounded) to `mntr`'s count, sum, min and max.
    fn record(&mut self, exact: f64, value: f64) {
        self.total_count += 1;
        self.total_sum += exact;
        self.min = if self.count == 0 {
            value
        } else {
            self.min.min(value)
        };
        self.max = if self.count == 0 {
            value
        } else {
            self.max.max(value)
        };
        self.count += 1;
        self.sum += value;
        if self.recent.len() < RECENT_SAMPLES {
            self.recent.push(exact);
        } else {
            let slot = self.next;
            if let Some(old) = self.recent.get_mut(slot) {
                *old = exact;
            }
            self.next = (slot + 1) % RECENT_SAMPLES;
        }
    }

    /// `srst`: `mntr`'s view starts again; the totals run on.
    fn reset(&mut self) {
        *self = SummaryState {
            total_count: self.total_count,
            total_sum: self.total_sum,
            ..SummaryState::new()
        };
    }

    fn values(&self) -> SummaryValues {
        if self.count == 0 {
            return SummaryValues {
                total_count: self.total_count,
                total_sum: self.total_sum,
                ..SummaryValues::default()
            };
        }
        let mut sorted = self.recent.clone();
        sorted.sort_by(f64::total_cmp);
        let pct = |p: f64| -> f64 {
            let rank = ((p * sorted.len() as f64).ceil() as usize).saturating_sub(1);
            sorted
                .get(rank.min(sorted.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        SummaryValues {
            count: self.count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            avg: self.sum / self.count as f64,
            p50: pct(0.5),
            p90: pct(0.9),
            p95: pct(0.95),
            p99: pct(0.99),
            p999: pct(0.999),
            total_count: self.total_count,
            total_sum: self.total_sum,
        }
    }
}

impl Summary {
    /// A summary named `name` (ZooKeeper's key without `zk_`).
    pub const fn new(name: &'static str, help: &'static str, percentiles: bool) -> Summary {
        Summary {
            name,
            help,
            percentiles,
            by_exporter: true,
            state: Mutex::new(SummaryState::new()),
            exported: OnceLock::new(),
        }
    }

    /// A summary `/metrics` renders from its own recent samples (per-request rates), and one
    /// whose name ends in `_count` (the exporter would not add the `_count` suffix to its
    /// count series: ZooKeeper's `node_*_watch_count`).
    pub const fn local(name: &'static str, help: &'static str, percentiles: bool) -> Summary {
        Summary {
            name,
            help,
            percentiles,
            by_exporter: false,
            state: Mutex::new(SummaryState::new()),
            exported: OnceLock::new(),
        }
    }

    /// Records one sample. `mntr`'s view keeps whole numbers, as ZooKeeper's counters
    /// hold longs (so its min ≤ avg ≤ max); Prometheus gets the exact value.
    pub fn record(&self, exact: f64) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(exact, exact.round());
        if self.by_exporter {
            self.exported
                .get_or_init(|| ::metrics::histogram!(self.name))
                .record(exact);
        }
    }

    /// Registers the summary with the Prometheus exporter before its first sample, so
    /// `/metrics` shows it from start-up (`_count 0`), as Prometheus clients do: a panel or an
    /// `absent()` alert can then tell "nothing happened yet" from a dead target.
    pub fn register(&self) {
        if self.by_exporter {
            self.exported
                .get_or_init(|| ::metrics::histogram!(self.name));
        }
    }

    /// Records a duration in milliseconds (fractions kept).
    pub fn record_ms(&self, elapsed: std::time::Duration) {
        self.record(elapsed.as_secs_f64() * 1000.0);
    }

    /// The current values.
    pub fn values(&self) -> SummaryValues {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
    }

    /// Forgets everything `mntr` shows (`srst`); the Prometheus totals run on.
    pub fn reset(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reset();
    }
}

/// Keys one [`SummarySet`] keeps at most; later keys are not recorded (a client creating
/// top-level znodes without end must not grow the member's memory without end).
pub const SUMMARY_SET_KEYS: usize = 1000;

/// ZooKeeper's summary set: one summary per key (a top-level znode for
/// `read_per_namespace`). `mntr` prints `avg_<key>_<name>` …; `/metrics` renders
/// `<name>{<label>="<key>"}` from these values.
#[derive(Debug)]
pub struct SummarySet {
    /// The name without `zk_`.
    pub name: &'static str,
    /// The Prometheus label naming the key (`key` for ZooKeeper's sets).
    pub label: &'static str,
    /// One line for `# HELP`.
    pub help: &'static str,
    /// Whether `mntr` prints percentiles.
    pub percentiles: bool,
    sets: Mutex<std::collections::BTreeMap<String, SummaryState>>,
}

impl SummarySet {
    /// An empty set.
    pub const fn new(
        name: &'static str,
        label: &'static str,
        help: &'static str,
        percentiles: bool,
    ) -> SummarySet {
        SummarySet {
            name,
            label,
            help,
            percentiles,
            sets: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Records `value` under `key`.
    pub fn record(&self, key: &str, value: f64) {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        let full = sets.len() >= SUMMARY_SET_KEYS;
        match sets.get_mut(key) {
            Some(state) => state.record(value, value.round()),
            None if !full => {
                let mut state = SummaryState::new();
                state.record(value, value.round());
                sets.insert(key.to_string(), state);
            }
            None => {}
        }
    }

    /// Every key's values, by key.
    pub fn values(&self) -> Vec<(String, SummaryValues)> {
        self.sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, s)| (k.clone(), s.values()))
            .collect()
    }

    /// `srst`: every key's `mntr` view starts again (the totals run on).
    pub fn reset(&self) {
        for state in self
            .sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values_mut()
        {
            state.reset();
        }
    }

    /// Forgets every key (a new leadership's `ack_latency`).
    pub fn clear(&self) {
        self.sets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A count per key (ZooKeeper's counter sets, e.g. `quota_exceeded_error_per_namespace`):
/// `mntr` prints `<key>_<name>`; `/metrics` renders `<name>{<label>="<key>"}`.
#[derive(Debug)]
pub struct CountSet {
    /// The name without `zk_`.
    pub name: &'static str,
    /// The Prometheus label naming the key.
    pub label: &'static str,
    /// One line for `# HELP`.
    pub help: &'static str,
    counts: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl CountSet {
    /// An empty set.
    pub const fn new(name: &'static str, label: &'static str, help: &'static str) -> CountSet {
        CountSet {
            name,
            label,
            help,
            counts: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// Adds one under `key`.
    pub fn bump(&self, key: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(key.to_string()).or_default() += 1;
    }

    /// Every key's count, in key order.
    pub fn values(&self) -> Vec<(String, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// A monotonic count.
#[derive(Debug)]
pub struct Count {
    /// The name without ZooKeeper's `zk_` prefix.
    pub name: &'static str,
    /// One line for `# HELP`.
    pub help: &'static str,
    value: AtomicU64,
}

impl Count {
    /// A count named `name`.
    pub const fn new(name: &'static str, help: &'static str) -> Count {
        Count {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    /// Adds one.
    pub fn bump(&self) {
        self.value.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    /// Back to zero (`srst` for the counts ZooKeeper resets).
    pub fn reset(&self) {
        self.value.store(0, Ordering::Relaxed);
    }
}

/// Time to append a batch of entries to the Raft log and fsync it (ZooKeeper: the txn log's
/// fsync), ms.
pub static FSYNC_TIME: Summary = Summary::new(
    "fsynctime",
    "Time to append a batch of entries to the Raft log and fsync it, ms",
    false,
);
/// Time to write a snapshot, ms.
pub static SNAPSHOT_TIME: Summary = Summary::new(
    "snapshottime",
    "Time to write a snapshot of the tree to disk, ms",
    false,
);
/// Full snapshots this leader sent to members that were too far behind for the log.
pub static SNAP_COUNT: Count = Count::new(
    "snap_count",
    "Members this leader brought up to date with a whole snapshot",
);
/// Writes this leader committed (0 elsewhere, as in ZooKeeper).
pub static COMMIT_COUNT: Count =
    Count::new("commit_count", "Writes committed while this member led");
/// Entries whose leader's tree digest differed from this member's at the same zxid.
pub static DIGEST_MISMATCHES: Count = Count::new(
    "digest_mismatches_count",
    "Data tree digest mismatches detected when applying entries",
);
/// Writes this leader proposed (0 elsewhere).
pub static PROPOSAL_COUNT: Count =
    Count::new("proposal_count", "Writes proposed while this member led");
/// Writes a member received from a leader (0 on the leader and standalone).
pub static LEARNER_PROPOSAL_RECEIVED: Count = Count::new(
    "learner_proposal_received_count",
    "Writes this member received from a leader",
);
/// Writes a member applied while following (0 on the leader and standalone).
pub static LEARNER_COMMIT_RECEIVED: Count = Count::new(
    "learner_commit_received_count",
    "Writes this member applied as committed by its leader",
);
/// Sessions this member expired as leader (ZooKeeper counts where its tracker runs).
pub static STALE_SESSIONS_EXPIRED: Count = Count::new(
    "stale_sessions_expired",
    "Sessions expired for timeout by this member as leader",
);
/// Times this member was without a leader (an election).
pub static LOOKING_COUNT: Count = Count::new(
    "looking_count",
    "Times this member was left without a leader",
);
/// Writes per log append and fsync (ZooKeeper: requests per group commit).
pub static SYNC_BATCH_SIZE: Summary = Summary::new(
    "sync_processor_batch_size",
    "Writes made durable by one log append and fsync",
    false,
);
/// Leader: proposal → a quorum holds it (and it is applied here), ms.
pub static QUORUM_ACK_LATENCY: Summary = Summary::new(
    "quorum_ack_latency",
    "Leader: time from proposing a batch to its commit by a quorum, ms",
    true,
);
/// Follower: the leader's proposal time → the entry arriving here, ms.
pub static PROPOSAL_LATENCY: Summary = Summary::new(
    "proposal_latency",
    "Follower: time from the leader proposing a batch to it arriving here, ms",
    true,
);
/// Follower: the leader's proposal time → the entry applied here, ms.
pub static COMMIT_PROPAGATION_LATENCY: Summary = Summary::new(
    "commit_propagation_latency",
    "Follower: time from the leader proposing a batch to it being applied here, ms",
    true,
);
/// Start-up: time to load the newest snapshot, ms.
pub static STARTUP_SNAP_LOAD_TIME: Summary = Summary::new(
    "startup_snap_load_time",
    "Time to load the newest snapshot at start, ms",
    false,
);
/// Start-up: time to re-apply the committed log after the snapshot, ms.
pub static STARTUP_TXNS_LOAD_TIME: Summary = Summary::new(
    "startup_txns_load_time",
    "Time to re-apply the committed log tail at start, ms",
    false,
);
/// Start-up: transactions re-applied from the log.
pub static STARTUP_TXNS_LOADED: Summary = Summary::new(
    "startup_txns_loaded",
    "Transactions re-applied from the log at start",
    false,
);
/// Start-up: snapshot load and log replay, ms.
pub static DB_INIT_TIME: Summary = Summary::new(
    "dbinittime",
    "Time to load the snapshot and re-apply the log at start, ms",
    false,
);
/// Snapshots written (ZooKeeper's snap_count counts something else: snapshot syncs).
pub static RAFT_SNAPSHOTS_WRITTEN: Count =
    Count::new("raft_snapshots_written", "Snapshots this member wrote");
/// Every member: the leader's proposal time → the entry applied here, ms.
pub static PROPAGATION_LATENCY: Summary = Summary::new(
    "propagation_latency",
    "Time from the leader proposing a batch to it being applied here, ms",
    true,
);
/// Follower: the leader's proposal time → the entry durable here (its acknowledgement), ms.
pub static PROPOSAL_ACK_CREATION_LATENCY: Summary = Summary::new(
    "proposal_ack_creation_latency",
    "Follower: time from the leader proposing a batch to it being durable here, ms",
    true,
);

/// Times a request at the head of the request throttler waited (ZooKeeper counts each stall).
pub static REQUEST_THROTTLE_WAIT_COUNT: Count = Count::new(
    "request_throttle_wait_count",
    "Times the request throttler waited because too many requests were in process",
);
/// Requests run although their connection had closed while they waited.
pub static STALE_REQUESTS: Count = Count::new(
    "stale_requests",
    "Requests run although their client connection had closed while they waited",
);
/// Requests the throttler dropped because their connection had closed.
pub static STALE_REQUESTS_DROPPED: Count = Count::new(
    "stale_requests_dropped",
    "Waiting requests dropped because their client connection had closed",
);
/// How long each request waited at the request throttler, ms (recorded while it is on).
pub static REQUEST_THROTTLE_QUEUE_TIME: Summary = Summary::new(
    "request_throttle_queue_time_ms",
    "Time a request waited at the request throttler, ms",
    true,
);
/// The connection throttle's shortfall after each handshake it let through.
pub static CONNECTION_TOKEN_DEFICIT: Summary = Summary::new(
    "connection_token_deficit",
    "Tokens missing from the connection throttle's bucket after each handshake it let through",
    false,
);

/// Last, smallest and largest of some sizes (-1: none yet), as ZooKeeper's `BufferStats`
/// keeps them: replies sent, log entries proposed.
#[derive(Debug)]
pub struct Sizes {
    last: std::sync::atomic::AtomicI64,
    min: std::sync::atomic::AtomicI64,
    max: std::sync::atomic::AtomicI64,
}

impl Default for Sizes {
    fn default() -> Sizes {
        Sizes::new()
    }
}

impl Sizes {
    /// None yet.
    pub const fn new() -> Sizes {
        Sizes {
            last: std::sync::atomic::AtomicI64::new(-1),
            min: std::sync::atomic::AtomicI64::new(-1),
            max: std::sync::atomic::AtomicI64::new(-1),
        }
    }

    /// Notes one of `n` bytes.
    pub fn record(&self, n: usize) {
        let n = n as i64;
        self.last.store(n, Ordering::Relaxed);
        let _ = self
            .min
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m < 0 || n < m).then_some(n)
            });
        self.max.fetch_max(n, Ordering::Relaxed);
    }

    /// (last, min, max).
    pub fn values(&self) -> (i64, i64, i64) {
        (
            self.last.load(Ordering::Relaxed),
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        )
    }

    /// Back to -1 (`srst`).
    pub fn reset(&self) {
        for a in [&self.last, &self.min, &self.max] {
            a.store(-1, Ordering::Relaxed);
        }
    }
}

/// Leader: encoded sizes of the log entries it proposed (a batch of writes each).
pub static PROPOSAL_SIZES: Sizes = Sizes::new();
/// Leader: per follower, the leader's proposal time → that follower's acknowledgement, ms.
pub static ACK_LATENCY: SummarySet = SummarySet::new(
    "ack_latency",
    "key",
    "Leader: time from proposing a batch to each member acknowledging it, ms, by member id",
    true,
);

/// Replies computed for connections that had closed meanwhile.
pub static STALE_REPLIES: Count = Count::new(
    "stale_replies",
    "Write replies whose connection had closed before the write was applied",
);

/// Leader: read-index requests from followers (their `sync`s) being answered.
pub static PENDING_SYNCS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
/// Time from losing a leader to having one again, ms.
pub static ELECTION_TIME: Summary = Summary::new(
    "election_time",
    "Time from losing the leader to having one again, ms",
    false,
);
/// Time this member could not serve writes (no leader known), ms.
pub static UNAVAILABLE_TIME: Summary = Summary::new(
    "unavailable_time",
    "Time this member knew no leader, per episode, ms",
    false,
);
/// On a new leader: time from losing the previous leader to leading, ms.
pub static LEADER_UNAVAILABLE_TIME: Summary = Summary::new(
    "leader_unavailable_time",
    "On a member that became leader: time from losing the previous leader to leading, ms",
    false,
);

/// Entries per log append.
pub static RAFT_APPEND_BATCH: Summary = Summary::new(
    "raft_log_append_batch_entries",
    "Entries per Raft log append (one fsync)",
    true,
);
/// Time to apply one committed batch of entries to the tree, ms.
pub static RAFT_APPLY_TIME: Summary = Summary::new(
    "raft_apply_time",
    "Time to apply one batch of committed entries to the tree, ms",
    true,
);
/// Snapshot build time, ms.
pub static RAFT_SNAPSHOT_BUILD_TIME: Summary = Summary::new(
    "raft_snapshot_build_time",
    "Time to build a snapshot (copy, serialize, write), ms",
    false,
);
/// Snapshot sizes, bytes.
pub static RAFT_SNAPSHOT_BYTES: Summary = Summary::new(
    "raft_snapshot_bytes",
    "Size of each snapshot written, bytes",
    false,
);
/// Snapshot install time (a snapshot received from the leader), ms.
pub static RAFT_SNAPSHOT_INSTALL_TIME: Summary = Summary::new(
    "raft_snapshot_install_time",
    "Time to install a snapshot received from the leader, ms",
    false,
);
/// Installed snapshot sizes, bytes.
pub static RAFT_SNAPSHOT_INSTALL_BYTES: Summary = Summary::new(
    "raft_snapshot_install_bytes",
    "Size of each snapshot received from the leader, bytes",
    false,
);
/// Log purges (entries removed up to a snapshot).
pub static RAFT_LOG_PURGES: Count = Count::new(
    "raft_log_purges",
    "Raft log purges (entries dropped behind a snapshot)",
);
/// Entries purged.
pub static RAFT_LOG_PURGED_ENTRIES: Count = Count::new(
    "raft_log_purged_entries",
    "Raft log entries dropped behind snapshots",
);
/// Elections this member started.
pub static RAFT_ELECTIONS_STARTED: Count = Count::new(
    "raft_elections_started",
    "Elections this member started (campaigns)",
);
/// Elections this member won.
pub static RAFT_ELECTIONS_WON: Count =
    Count::new("raft_elections_won", "Elections this member won");
/// Writes a follower forwarded to the leader.
pub static RAFT_FORWARDED_WRITES: Count = Count::new(
    "raft_forwarded_writes",
    "Writes this member forwarded to the leader",
);
/// Read-index rounds this member ran (each shared by every read waiting when it began).
pub static RAFT_READ_INDEX_ROUNDS: Count = Count::new(
    "raft_read_index_rounds",
    "Read-index rounds run (a heartbeat round on the leader, one request to it on a follower), each shared by every read waiting when it began",
);
/// Reads (syncs, linearizable reads, followers' requests) served by those rounds.
pub static RAFT_READ_INDEX_READS: Count = Count::new(
    "raft_read_index_reads",
    "Syncs, linearizable reads and followers' read-index requests served by read-index rounds",
);
/// Time a read waited for the read index (sync, or a read after a forwarded write), ms.
pub static RAFT_READ_INDEX_WAIT: Summary = Summary::new(
    "raft_read_index_wait",
    "Time to learn the leader's read index and apply up to it, ms",
    true,
);

/// Milliseconds since `time_ms` (a leader's clock in a log entry), never negative.
pub fn ms_since(time_ms: i64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (now - time_ms).max(0) as f64
}

/// Per-peer time of the last successful AppendEntries answer (leader side): a member that
/// answered within the quorum window is connected (ZooKeeper's `learners`).
#[derive(Debug, Default)]
pub struct PeerAcks {
    acks: Mutex<std::collections::BTreeMap<u64, std::time::Instant>>,
}

impl PeerAcks {
    /// `peer` answered an AppendEntries now.
    pub fn acked(&self, peer: u64) {
        self.acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer, std::time::Instant::now());
    }

    /// Time since `peer` last answered (None: never).
    pub fn since(&self, peer: u64) -> Option<std::time::Duration> {
        self.acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer)
            .map(std::time::Instant::elapsed)
    }
}

/// When recent log entries were appended here, so that a leader can tell how far in time a
/// follower is behind: the age of the oldest entry it does not hold yet.
#[derive(Debug, Default)]
pub struct AppendTimes {
    ring: Mutex<std::collections::VecDeque<(u64, std::time::Instant)>>,
}

/// Appends kept (older ones count as appended at the oldest time kept).
const APPEND_TIMES_KEPT: usize = 4096;

impl AppendTimes {
    /// Entries up to `last_index` were appended now.
    pub fn record(&self, last_index: u64) {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        // A truncated-and-rewritten tail: forget the times of the replaced entries.
        while ring.back().is_some_and(|(i, _)| *i >= last_index) {
            ring.pop_back();
        }
        if ring.len() == APPEND_TIMES_KEPT {
            ring.pop_front();
        }
        ring.push_back((last_index, std::time::Instant::now()));
    }

    /// How long ago the first entry after `matched` was appended (zero when `matched` holds
    /// everything appended).
    pub fn lag_behind(&self, matched: u64) -> std::time::Duration {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter()
            .find(|(last, _)| *last > matched)
            .map_or(std::time::Duration::ZERO, |(_, at)| at.elapsed())
    }
}

/// Every process-wide summary, in `mntr` order.
pub static SUMMARIES: &[&Summary] = &[
    &FSYNC_TIME,
    &SNAPSHOT_TIME,
    &ELECTION_TIME,
    &UNAVAILABLE_TIME,
    &LEADER_UNAVAILABLE_TIME,
    &SYNC_BATCH_SIZE,
    &QUORUM_ACK_LATENCY,
    &PROPOSAL_LATENCY,
    &COMMIT_PROPAGATION_LATENCY,
    &PROPAGATION_LATENCY,
    &PROPOSAL_ACK_CREATION_LATENCY,
    &STARTUP_SNAP_LOAD_TIME,
    &STARTUP_TXNS_LOAD_TIME,
    &STARTUP_TXNS_LOADED,
    &DB_INIT_TIME,
    &REQUEST_THROTTLE_QUEUE_TIME,
    &CONNECTION_TOKEN_DEFICIT,
];

/// raftzk's own process-wide summaries (printed after ZooKeeper's keys).
pub static RAFT_SUMMARIES: &[&Summary] = &[
    &RAFT_APPEND_BATCH,
    &RAFT_APPLY_TIME,
    &RAFT_SNAPSHOT_BUILD_TIME,
    &RAFT_SNAPSHOT_BYTES,
    &RAFT_SNAPSHOT_INSTALL_TIME,
    &RAFT_SNAPSHOT_INSTALL_BYTES,
    &RAFT_READ_INDEX_WAIT,
];

/// Every process-wide count with a ZooKeeper name.
pub static COUNTS: &[&Count] = &[
    &SNAP_COUNT,
    &COMMIT_COUNT,
    &PROPOSAL_COUNT,
    &LEARNER_PROPOSAL_RECEIVED,
    &LEARNER_COMMIT_RECEIVED,
    &LOOKING_COUNT,
    &STALE_SESSIONS_EXPIRED,
    &STALE_REPLIES,
    &DIGEST_MISMATCHES,
    &REQUEST_THROTTLE_WAIT_COUNT,
    &STALE_REQUESTS,
    &STALE_REQUESTS_DROPPED,
];

/// raftzk's own process-wide counts.
pub static RAFT_COUNTS: &[&Count] = &[
    &RAFT_SNAPSHOTS_WRITTEN,
    &RAFT_LOG_PURGES,
    &RAFT_LOG_PURGED_ENTRIES,
    &RAFT_ELECTIONS_STARTED,
    &RAFT_ELECTIONS_WON,
    &RAFT_FORWARDED_WRITES,
    &RAFT_READ_INDEX_ROUNDS,
    &RAFT_READ_INDEX_READS,
];

/// The process' Prometheus recorder, installed on first use (one per process: the metrics
/// macros record into a global). Summaries get ZooKeeper's quantiles (0.5, 0.9, 0.99).
pub fn prometheus() -> Result<metrics_exporter_prometheus::PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<metrics_exporter_prometheus::PrometheusHandle, String>> =
        OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_quantiles(&[0.5, 0.9, 0.99])
                .map_err(|e| e.to_string())?
                .build_recorder();
            let handle = recorder.handle();
            ::metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            for summary in SUMMARIES.iter().chain(RAFT_SUMMARIES) {
                summary.register();
            }
            Ok(handle)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_values_and_percentiles() {
        let s = Summary::new("t", "t", true);
        assert_eq!(s.values(), SummaryValues::default());
        for v in 1..=100 {
            s.record(f64::from(v));
        }
        let v = s.values();
        assert_eq!(v.count, 100);
        assert_eq!(v.sum, 5050.0);
        assert_eq!((v.min, v.max, v.avg), (1.0, 100.0, 50.5));
        assert_eq!((v.p50, v.p95, v.p99, v.p999), (50.0, 95.0, 99.0, 100.0));
        s.reset();
        assert_eq!(s.values().count, 0);
    }

    #[test]
    fn lag_is_the_age_of_the_first_entry_not_held() {
        let times = AppendTimes::default();
        times.record(5);
        std::thread::sleep(std::time::Duration::from_millis(20));
        times.record(9);
        assert!(times.lag_behind(9).is_zero());
        assert!(times.lag_behind(5) < std::time::Duration::from_millis(20));
        assert!(times.lag_behind(3) >= std::time::Duration::from_millis(20));
        // A rewritten tail replaces the later times.
        times.record(7);
        assert!(times.lag_behind(7).is_zero());
    }

    #[test]
    fn a_summary_set_keeps_one_summary_per_key_up_to_its_bound() {
        let set = SummarySet::new("t_set", "key", "t", false);
        set.record("a", 10.0);
        set.record("a", 20.0);
        set.record("b", 5.0);
        let v = set.values();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].0.as_str(), v[0].1.count, v[0].1.sum), ("a", 2, 30.0));
        for i in 0..SUMMARY_SET_KEYS + 10 {
            set.record(&format!("k{i}"), 1.0);
        }
        assert_eq!(set.values().len(), SUMMARY_SET_KEYS);
        set.reset();
        assert_eq!(set.values()[0].1.count, 0);
        assert_eq!(set.values()[0].1.total_count, 2);
        set.clear();
        assert!(set.values().is_empty());
    }

    #[test]
    fn percentiles_cover_only_recent_samples() {
        let s = Summary::new("t2", "t", true);
        for _ in 0..RECENT_SAMPLES {
            s.record(1000.0);
        }
        for _ in 0..RECENT_SAMPLES {
            s.record(1.0);
        }
        let v = s.values();
        assert_eq!(v.count, 2 * RECENT_SAMPLES as u64);
        assert_eq!((v.p99, v.max), (1.0, 1000.0));
    }
}

/// One member's replication clock and role, shared by its log store, state machine, peer
/// link and metrics. Per member rather than process-wide, because what it holds decides
/// behaviour (which peers count as synced for a reconfig) and several members may share a
/// process (tests). The counters and summaries above stay process-wide: the Prometheus
/// recorder they feed is global to the process by the `metrics` crate's design.
#[derive(Debug, Default)]
pub struct MemberTelemetry {
    /// Whether this member leads a cluster (commit and proposal counts are the leader's).
    pub leading: std::sync::atomic::AtomicBool,
    /// Whether this member follows a leader (a voter, not leading).
    pub following: std::sync::atomic::AtomicBool,
    /// Set once start-up has re-applied the log: entries applied before are old, not
    /// propagated.
    pub serving: std::sync::atomic::AtomicBool,
    /// The highest commit index this member sent (leader) or received (follower) in an
    /// AppendEntries; openraft 0.9's metrics do not show the commit index.
    pub commit_index: AtomicU64,
    /// This member's view of its peers' answers.
    pub peer_acks: PeerAcks,
    /// This member's log appends.
    pub appended: AppendTimes,
}

impl MemberTelemetry {
    /// Notes a commit index seen on the peer link.
    pub fn note_commit_index(&self, index: u64) {
        self.commit_index.fetch_max(index, Ordering::Relaxed);
    }

    /// Whether this member leads a cluster.
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Relaxed)
    }

    /// Whether this member follows a leader.
    pub fn is_following(&self) -> bool {
        self.following.load(Ordering::Relaxed)
    }

    /// Whether start-up has re-applied the log.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
    }
}
