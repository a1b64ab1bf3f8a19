//! The member's measurements as one list: `mntr` prints it in ZooKeeper's format and
//! `/metrics` exports it to Prometheus, so the two cannot disagree. Names are ZooKeeper's
//! (`docs/metrics.md` maps every ZooKeeper key); raftzk's own start with `raft_` or
//! `raftzk_` and follow ZooKeeper's.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ceilings::Ceiling;
use super::stats::CloseCause;
use super::status::java_double;
use super::Server;
use crate::raft::Role;
use crate::telemetry::{self, Summary, SummaryValues};

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (`mntr` only: version, server_state, peer_state).
    Text(String),
    /// A whole-number gauge.
    Int(i64),
    /// A fractional gauge (`mntr` prints it as Java prints a double).
    Float(f64),
    /// A monotonic count.
    Counter(u64),
    /// A distribution; `true` when `mntr` prints its percentiles. Prometheus gets it from the
    /// exporter's own summary, fed by the same records.
    Summary(SummaryValues, bool),
    /// A summary per key (ZooKeeper's summary sets; `mntr`: `avg_<key>_<name>` …;
    /// Prometheus: `<name>{<label>=<key>}`), with percentiles or not, and the label's name.
    SummarySet(Vec<(String, SummaryValues)>, bool, &'static str),
    /// A count per key (ZooKeeper's counter sets; `mntr`: `<key>_<name>`; Prometheus:
    /// `<name>{<label>=<key>}`), with the label's name.
    CountSet(Vec<(String, u64)>, &'static str),
}

/// A named measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// ZooKeeper's key without `zk_`, or raftzk's own name.
    pub name: Cow<'static, str>,
    /// `# HELP` text.
    pub help: &'static str,
    /// Prometheus labels; labelled samples are not printed by `mntr`.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: Value,
    /// True for ZooKeeper's keys (`mntr` prefixes `zk_`).
    pub zookeeper: bool,
    /// A summary metrics-exporter-prometheus renders (fed as it is recorded); otherwise
    /// `/metrics` renders the values here.
    pub by_exporter: bool,
    /// Whether `mntr` and the AdminServer's `monitor` print it.
    pub in_mntr: bool,
}

fn zk(name: &'static str, help: &'static str, value: Value) -> Sample {
    Sample {
        name: Cow::Borrowed(name),
        help,
        labels: Vec::new(),
        value,
        zookeeper: true,
        by_exporter: false,
        in_mntr: true,
    }
}

fn own(name: &'static str, help: &'static str, value: Value) -> Sample {
    Sample {
        zookeeper: false,
        ..zk(name, help, value)
    }
}

/// A summary sample; `mntr` prints percentiles only for ZooKeeper's detailed summaries.
fn summary(s: &Summary, zookeeper: bool) -> Sample {
    Sample {
        name: Cow::Borrowed(s.name),
        help: s.help,
        labels: Vec::new(),
        value: Value::Summary(s.values(), s.percentiles),
        zookeeper,
        by_exporter: s.by_exporter,
        in_mntr: true,
    }
}

fn count(c: &AtomicU64) -> Value {
    Value::Counter(c.load(Ordering::Relaxed))
}

/// What one collection reads once, so that every metric of a scrape sees the same moment.
struct Reading<'a> {
    server: &'a Server,
    /// min, average, max request latency (ms).
    latency: (u64, f64, u64),
    nodes: usize,
    ephemerals: usize,
    data_size: u64,
    sessions: usize,
    watch_count: usize,
    /// last, smallest, largest reply size (-1: none yet).
    response_sizes: (i64, i64, i64),
    role: Role,
    /// Replication to every peer: empty unless leading.
    peers: Vec<crate::raft::PeerReplication>,
    raft: crate::raft::RaftStatus,
    latest_digest: Option<crate::txn::ZxidDigest>,
}

impl Reading<'_> {
    fn take(server: &Server) -> Reading<'_> {
        let (min, avg, max, _) = server.stats.latency.snapshot();
        let view = server.replica.state.read();
        let tree = &view.state.tree;
        let (nodes, ephemerals, data_size) = (
            tree.znode_count(),
            tree.ephemeral_count(),
            tree.approximate_data_size(),
        );
        let sessions = view.state.sessions.len();
        let latest_digest = view.digests.latest();
        drop(view);
        Reading {
            server,
            latency: (min, avg, max),
            nodes,
            ephemerals,
            data_size,
            sessions,
            watch_count: server.watches().watch_count(),
            response_sizes: server.stats.response_sizes.values(),
            role: server.replica.role(),
            peers: server.replica.replication(),
            raft: server.replica.raft_status(),
            latest_digest,
        }
    }

    fn cluster(&self) -> bool {
        self.role != Role::Standalone
    }

    fn stats(&self) -> &super::stats::ServerStats {
        &self.server.stats
    }
}

/// A metric read straight off a [`Reading`]: one row of the tables `collect` walks.
struct Gauge {
    name: &'static str,
    help: &'static str,
    read: fn(&Reading) -> Value,
}

const fn gauge(name: &'static str, help: &'static str, read: fn(&Reading) -> Value) -> Gauge {
    Gauge { name, help, read }
}

fn int(n: impl TryInto<i64>) -> Value {
    Value::Int(n.try_into().unwrap_or(i64::MAX))
}

/// ZooKeeper's plain keys, in its `mntr` order.
const ZOOKEEPER_GAUGES: &[Gauge] = &[
    gauge("version", "Server version", |_| {
        Value::Text(super::status::version())
    }),
    gauge(
        "server_state",
        "standalone, leader, follower, observer or looking",
        |r| Value::Text(super::status::mode_name(r.server).into()),
    ),
    gauge(
        "avg_latency",
        "Average request latency since start or srst, ms",
        |r| Value::Float(r.latency.1),
    ),
    gauge(
        "max_latency",
        "Largest request latency since start or srst, ms",
        |r| int(r.latency.2),
    ),
    gauge(
        "min_latency",
        "Smallest request latency since start or srst, ms",
        |r| int(r.latency.0),
    ),
    gauge(
        "packets_received",
        "Requests received from clients since start or srst",
        |r| int(r.stats().packets_received.load(Ordering::Relaxed)),
    ),
    gauge(
        "packets_sent",
        "Replies and notifications sent to clients since start or srst",
        |r| int(r.stats().packets_sent.load(Ordering::Relaxed)),
    ),
    gauge("num_alive_connections", "Open client connections", |r| {
        int(r.server.connections.len())
    }),
    gauge(
        "outstanding_requests",
        "Requests received and not yet answered",
        |r| int(r.server.connections.outstanding()),
    ),
    gauge("uptime", "Time since the member started, ms", |r| {
        int(r.stats().started.elapsed().as_millis())
    }),
    gauge("znode_count", "Znodes in the tree", |r| int(r.nodes)),
    gauge("watch_count", "Watches set by this member's clients", |r| {
        int(r.watch_count)
    }),
    gauge("ephemerals_count", "Ephemeral znodes in the tree", |r| {
        int(r.ephemerals)
    }),
    gauge(
        "approximate_data_size",
        "Bytes of znode data and paths in the tree",
        |r| int(r.data_size),
    ),
    gauge(
        "global_sessions",
        "Sessions in the replicated session table",
        |r| int(r.sessions),
    ),
    gauge(
        "local_sessions",
        "Local sessions (raftzk has none: every session is global)",
        |_| Value::Int(0),
    ),
    gauge(
        "open_file_descriptor_count",
        "File descriptors the process has open",
        |_| int(open_fds()),
    ),
    gauge(
        "max_file_descriptor_count",
        "The process' file descriptor limit",
        |_| int(max_fds()),
    ),
    gauge("auth_failed_count", "Auth packets refused", |r| {
        int(r.stats().auth_failed.load(Ordering::Relaxed))
    }),
    gauge(
        "last_client_response_size",
        "Bytes of the last reply sent (-1: none yet)",
        |r| Value::Int(r.response_sizes.0),
    ),
    gauge(
        "min_client_response_size",
        "Bytes of the smallest reply sent (-1: none yet)",
        |r| Value::Int(r.response_sizes.1),
    ),
    gauge(
        "max_client_response_size",
        "Bytes of the largest reply sent (-1: none yet)",
        |r| Value::Int(r.response_sizes.2),
    ),
    gauge(
        "response_bytes",
        "Bytes of replies sent to clients (without length prefixes)",
        |r| count(&r.stats().response_bytes),
    ),
    gauge(
        "connection_revalidate_count",
        "Reconnects that resumed an existing session on this member",
        |r| count(&r.stats().connection_revalidations),
    ),
    gauge(
        "bytes_received_count",
        "Bytes of requests received from clients",
        |r| count(&r.stats().bytes_received),
    ),
    gauge(
        "connection_request_count",
        "Session handshakes (ConnectRequests) received",
        |r| count(&r.stats().connection_requests),
    ),
    gauge(
        "connection_rejected",
        "Client connections refused (maxClientCnxns, the connection throttle)",
        |r| {
            Value::Counter(
                r.stats().closed_count(CloseCause::MaxClientCnxns)
                    + r.stats().closed_count(CloseCause::ConnectionThrottle),
            )
        },
    ),
    gauge(
        "connection_drop_probability",
        "The connection throttle's chance of dropping a handshake at random (BLUE)",
        |r| Value::Float(r.server.connection_throttle.drop_chance()),
    ),
    gauge(
        "connection_drop_count",
        "Client connections that ended without closeSession (the client went away)",
        |r| count(&r.stats().connections_dropped),
    ),
    gauge(
        "unsuccessful_handshake",
        "TLS handshakes on the client port that failed or timed out",
        |r| count(&r.stats().tls_handshakes_failed),
    ),
    gauge(
        "outstanding_tls_handshake",
        "TLS handshakes on the client port under way now",
        |r| int(r.stats().tls_handshakes_in_progress.load(Ordering::Relaxed)),
    ),
    gauge(
        "tls_handshake_exceeded",
        "Connections closed: netty.server.outstandingHandshake.limit handshakes were under way",
        |r| count(&r.stats().tls_handshakes_exceeded),
    ),
    gauge(
        "non_mtls_local_conn_count",
        "Plaintext connections from this host on a port that also serves TLS",
        |r| count(&r.stats().non_mtls_local),
    ),
    gauge(
        "non_mtls_remote_conn_count",
        "Plaintext connections from other hosts on a port that also serves TLS",
        |r| count(&r.stats().non_mtls_remote),
    ),
    gauge(
        "large_requests_rejected",
        "Requests refused for their length (jute.maxbuffer)",
        |r| Value::Counter(r.stats().closed_count(CloseCause::Oversize)),
    ),
    gauge(
        "sessionless_connections_expired",
        "Connections closed for never completing a handshake",
        |r| Value::Counter(r.stats().closed_count(CloseCause::HandshakeTimeout)),
    ),
    gauge(
        "cnxn_closed_without_zk_server_running",
        "Client connections closed because this member could not serve (no leader, behind)",
        |r| Value::Counter(r.stats().closed_count(CloseCause::NotServing)),
    ),
    gauge("watch_bytes", "Bytes of watch notifications sent", |r| {
        count(&r.stats().watch_bytes)
    }),
];

/// raftzk's own plain keys, after ZooKeeper's.
const RAFT_GAUGES: &[Gauge] = &[
    gauge("raft_term", "Current Raft term", |r| int(r.raft.term)),
    gauge(
        "raft_leader_id",
        "The leader this member knows of (0: none)",
        |r| int(r.raft.leader.unwrap_or(0)),
    ),
    gauge("raft_is_leader", "1 on the leader", |r| {
        Value::Int(i64::from(matches!(r.role, Role::Leader | Role::Standalone)))
    }),
    gauge(
        "raft_last_log_index",
        "Last index in this member's log",
        |r| int(r.raft.last_log_index),
    ),
    gauge(
        "raft_commit_index",
        "Highest commit index sent or received on the peer link (standalone: applied)",
        |r| {
            let seen = r.server.replica.member.commit_index.load(Ordering::Relaxed);
            int(if r.cluster() {
                seen.max(r.raft.applied_index)
            } else {
                r.raft.applied_index
            })
        },
    ),
    gauge(
        "raft_applied_index",
        "Last index applied to the tree",
        |r| int(r.raft.applied_index),
    ),
    gauge(
        "raft_tree_digest_zxid",
        "The zxid raft_tree_digest was taken at (after the last applied entry)",
        |r| Value::Int(r.latest_digest.map_or(0, |d| d.zxid)),
    ),
    gauge(
        "raft_tree_digest",
        "The tree digest after the last applied entry, its low 52 bits (exact as a \
         Prometheus float): equal on members at the same raft_tree_digest_zxid",
        |r| int(r.latest_digest.map_or(0, |d| d.digest & ((1 << 52) - 1))),
    ),
    gauge(
        "raft_snapshot_index",
        "Index the newest snapshot covers",
        |r| int(r.raft.snapshot_index),
    ),
    gauge(
        "raft_catching_up",
        "1 while this member holds its elections to catch up",
        |r| Value::Int(i64::from(r.raft.elections_held)),
    ),
    gauge(
        "raft_leader_changes",
        "Leader changes seen since start",
        |r| Value::Counter(r.server.replica.history.leader_changes()),
    ),
];

/// Every measurement of this member: ZooKeeper's keys first (its plain keys, counters,
/// summaries, then the quorum keys of a cluster member), then raftzk's own.
pub fn collect(server: &Server) -> Vec<Sample> {
    let r = Reading::take(server);
    let mut out: Vec<Sample> = ZOOKEEPER_GAUGES
        .iter()
        .map(|g| zk(g.name, g.help, (g.read)(&r)))
        .collect();
    out.extend(zookeeper_families(&r));
    if r.cluster() {
        out.extend(quorum_samples(server, r.role, &r.peers));
    }
    out.extend(
        RAFT_GAUGES
            .iter()
            .map(|g| own(g.name, g.help, (g.read)(&r))),
    );
    out.extend(raftzk_families(&r));
    out
}

/// ZooKeeper's counters and summaries (one sample each, or one per key of a set).
fn zookeeper_families(r: &Reading) -> Vec<Sample> {
    let s = r.stats();
    let mut out: Vec<Sample> = telemetry::COUNTS
        .iter()
        .map(|c| zk(c.name, c.help, Value::Counter(c.get())))
        .collect();
    out.push(summary(&s.read_latency, true));
    out.push(summary(&s.update_latency, true));
    out.extend(s.watches_fired.all().into_iter().map(|w| summary(w, true)));
    for set in [&s.read_per_namespace, &s.write_per_namespace] {
        out.push(zk(
            set.name,
            set.help,
            Value::SummarySet(set.values(), set.percentiles, set.label),
        ));
    }
    let quota = &s.quota_exceeded_per_namespace;
    out.push(zk(
        quota.name,
        quota.help,
        Value::CountSet(quota.values(), quota.label),
    ));
    out.extend(telemetry::SUMMARIES.iter().map(|t| summary(t, true)));
    out
}

/// raftzk's own counters, summaries and labelled families (per peer, per close reason).
fn raftzk_families(r: &Reading) -> Vec<Sample> {
    let s = r.stats();
    let mut out: Vec<Sample> = telemetry::RAFT_COUNTS
        .iter()
        .map(|c| own(c.name, c.help, Value::Counter(c.get())))
        .collect();
    out.extend(telemetry::RAFT_SUMMARIES.iter().map(|t| summary(t, false)));
    for peer in &r.peers {
        let labelled = |sample: Sample| Sample {
            labels: vec![("peer", peer.id.to_string())],
            ..sample
        };
        out.push(labelled(own(
            "raft_replication_lag_entries",
            "Entries the leader holds that the peer does not",
            int(peer.lag_entries),
        )));
        out.push(labelled(own(
            "raft_replication_lag_ms",
            "Age of the oldest entry the peer does not hold, ms",
            int(peer.lag_ms),
        )));
    }
    out.push(summary(&s.watch_trigger_latency, false));
    let requests = &s.request_latency;
    out.push(Sample {
        in_mntr: false,
        ..own(
            requests.name,
            requests.help,
            Value::SummarySet(requests.values(), true, requests.label),
        )
    });
    if let Some(tls) = &r.server.tls {
        certificate_samples(
            &mut out,
            (
                "raftzk_tls_certificate_expiry_seconds",
                "Seconds until the client port's certificate expires (negative: expired), by subject",
            ),
            (
                "raftzk_tls_reloads",
                "Times the client port's TLS stores were read again after their files changed",
            ),
            tls.served(),
            tls.reloads(),
        );
    }
    if let Some(tls) = &r.server.peer_tls {
        certificate_samples(
            &mut out,
            (
                "raftzk_peer_tls_certificate_expiry_seconds",
                "Seconds until the peer link's certificate (ssl.quorum.keyStore) expires (negative: expired), by subject",
            ),
            (
                "raftzk_peer_tls_reloads",
                "Times the peer link's TLS stores were read again after their files changed",
            ),
            tls.served(),
            tls.reloads(),
        );
        let c = tls.counters();
        for (side, outcome, count) in [
            ("dial", "ok", &c.dialled),
            ("dial", "failed", &c.dial_failed),
            ("accept", "ok", &c.accepted),
            ("accept", "failed", &c.accept_failed),
            ("accept", "plaintext", &c.plaintext_accepted),
        ] {
            out.push(Sample {
                labels: vec![("side", side.into()), ("outcome", outcome.into())],
                ..own(
                    "raftzk_peer_tls_handshakes",
                    "Peer link connections set up, by side (dial, accept) and outcome (ok, failed; plaintext on a unified port)",
                    Value::Counter(count.load(Ordering::Relaxed)),
                )
            });
        }
    }
    out.push(own(
        "raftzk_tls_handshakes",
        "TLS handshakes completed on the client port",
        Value::Counter(s.tls_handshakes.load(Ordering::Relaxed)),
    ));
    out.push(own(
        "raftzk_queued_reply_bytes",
        "Reply bytes queued on every client connection and not yet written",
        int(s.queued_reply_bytes.load(Ordering::Relaxed)),
    ));
    out.push(own(
        "raftzk_read_pauses",
        "Times a connection stopped reading requests until its client read its replies",
        Value::Counter(s.read_pauses.load(Ordering::Relaxed)),
    ));
    out.push(own(
        "raftzk_outstanding_limit_pauses",
        "Times a connection stopped reading: globalOutstandingLimit requests were pending and one of its own was",
        Value::Counter(s.outstanding_limit_pauses.load(Ordering::Relaxed)),
    ));
    out.push(own(
        "raftzk_session_outstanding_max",
        "Most requests queued by one session and not yet answered",
        int(r.server.connections.max_outstanding()),
    ));
    for (ceiling, refusals) in Ceiling::ALL.iter().zip(&s.ceiling_refusals) {
        out.push(Sample {
            labels: vec![("ceiling", ceiling.key().to_string())],
            ..own(
                "raftzk_ceiling_refusals",
                "Requests refused at a ceiling (raftzk.maxZnodes, maxTreeBytes, maxWatches: QuotaExceeded; maxSessions: new sessions)",
                Value::Counter(refusals.load(Ordering::Relaxed)),
            )
        });
    }
    for cause in CloseCause::ALL {
        out.push(Sample {
            labels: vec![("reason", cause.name().to_string())],
            ..own(
                "raftzk_connections_closed",
                "Client connections closed, by reason",
                Value::Counter(s.closed_count(cause)),
            )
        });
    }
    out
}

/// ZooKeeper's quorum keys (a cluster member; the leader's after `peer_state`).
fn quorum_samples(
    server: &Server,
    role: Role,
    peers: &[crate::raft::PeerReplication],
) -> Vec<Sample> {
    let state = match role {
        Role::Leader => "leading - broadcast",
        Role::Follower => "following - broadcast",
        Role::Observer => "observing - broadcast",
        _ => "looking",
    };
    let mut out = vec![
        zk(
            "peer_state",
            "The member's state as ZooKeeper's quorum peer names it",
            Value::Text(state.into()),
        ),
        zk(
            "quorum_size",
            "Voting members in the current configuration",
            Value::Int(server.replica.voters() as i64),
        ),
    ];
    if role == Role::Leader {
        let window = server.replica.synced_within_ms();
        let synced = |voter: bool| {
            peers
                .iter()
                .filter(|p| p.voter == voter && p.is_synced(window))
                .count() as i64
        };
        let uptime = server
            .replica
            .history
            .leading_since()
            .map_or(0, |t| t.elapsed().as_millis() as i64);
        out.extend([
            zk(
                "learners",
                "Members that answered the leader within the quorum window",
                Value::Int(
                    peers
                        .iter()
                        .filter(|p| p.acked_ms.is_some_and(|ms| ms <= window))
                        .count() as i64,
                ),
            ),
            zk(
                "synced_followers",
                "Connected voters holding every entry older than the quorum window",
                Value::Int(synced(true)),
            ),
            zk(
                "synced_non_voting_followers",
                "Non-voting followers in sync (raftzk has none: learners are observers)",
                Value::Int(0),
            ),
            zk(
                "synced_observers",
                "Connected observers holding every entry older than the quorum window",
                Value::Int(synced(false)),
            ),
            zk(
                "pending_syncs",
                "Followers' sync (read-index) requests being answered",
                Value::Int(telemetry::PENDING_SYNCS.load(Ordering::Relaxed).max(0)),
            ),
            zk(
                telemetry::ACK_LATENCY.name,
                telemetry::ACK_LATENCY.help,
                Value::SummarySet(
                    telemetry::ACK_LATENCY.values(),
                    true,
                    telemetry::ACK_LATENCY.label,
                ),
            ),
            zk(
                "leader_uptime",
                "Time since this member became leader, ms",
                Value::Int(uptime),
            ),
        ]);
        let (last, min, max) = telemetry::PROPOSAL_SIZES.values();
        out.extend([
            zk(
                "last_proposal_size",
                "Bytes of the last log entry this leader proposed (a batch of writes; -1: none)",
                Value::Int(last),
            ),
            zk(
                "min_proposal_size",
                "Bytes of the smallest log entry this leader proposed (-1: none)",
                Value::Int(min),
            ),
            zk(
                "max_proposal_size",
                "Bytes of the largest log entry this leader proposed (-1: none)",
                Value::Int(max),
            ),
        ]);
    }
    out
}

/// A number `mntr` prints: ZooKeeper prints summary averages as doubles, the rest whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Printed as Java prints a double (4 decimals at most).
    Double(f64),
    /// Printed as an integer.
    Whole(i64),
}

impl Number {
    /// As `mntr` prints it.
    pub fn mntr(self) -> String {
        match self {
            Number::Double(v) => java_double(v),
            Number::Whole(v) => v.to_string(),
        }
    }
}

/// A summary's keys as ZooKeeper expands them: `avg_`, `min_`, `max_`, `cnt_`, `sum_` +
/// `stem`, and `p50_` … `p999_` when `percentiles`.
pub fn summary_keys(stem: &str, v: &SummaryValues, percentiles: bool) -> Vec<(String, Number)> {
    let whole = |x: f64| Number::Whole(x.round() as i64);
    let mut keys = vec![
        (format!("avg_{stem}"), Number::Double(v.avg)),
        (format!("min_{stem}"), whole(v.min)),
        (format!("max_{stem}"), whole(v.max)),
        (format!("cnt_{stem}"), Number::Whole(v.count as i64)),
        (format!("sum_{stem}"), whole(v.sum)),
    ];
    if percentiles {
        keys.extend([
            (format!("p50_{stem}"), whole(v.p50)),
            (format!("p95_{stem}"), whole(v.p95)),
            (format!("p99_{stem}"), whole(v.p99)),
            (format!("p999_{stem}"), whole(v.p999)),
        ]);
    }
    keys
}

/// `mntr`'s text: `zk_<key>\t<value>` lines for ZooKeeper's keys (a summary as its
/// avg/min/max/cnt/sum and percentile keys), then raftzk's unlabelled keys unprefixed.
pub fn mntr_text(samples: &[Sample]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for sample in samples.iter().filter(|s| s.labels.is_empty() && s.in_mntr) {
        let prefix = if sample.zookeeper { "zk_" } else { "" };
        let name = &sample.name;
        let _ = match &sample.value {
            Value::Text(t) => writeln!(out, "{prefix}{name}\t{t}"),
            Value::Int(v) => writeln!(out, "{prefix}{name}\t{v}"),
            Value::Float(v) => writeln!(out, "{prefix}{name}\t{}", java_double(*v)),
            Value::Counter(v) => writeln!(out, "{prefix}{name}\t{v}"),
            Value::CountSet(counts, _) => {
                for (key, v) in counts {
                    let _ = writeln!(out, "{prefix}{key}_{name}\t{v}");
                }
                Ok(())
            }
            Value::SummarySet(sets, percentiles, _) => {
                for (key, v) in sets {
                    for (k, n) in summary_keys(&format!("{key}_{name}"), v, *percentiles) {
                        let _ = writeln!(out, "{prefix}{k}\t{}", n.mntr());
                    }
                }
                Ok(())
            }
            Value::Summary(v, percentiles) => {
                for (k, n) in summary_keys(name, v, *percentiles) {
                    let _ = writeln!(out, "{prefix}{k}\t{}", n.mntr());
                }
                Ok(())
            }
        };
    }
    out
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A served certificate's expiry gauge (labelled with its subject) and its reload counter,
/// each given as (name, help).
fn certificate_samples(
    out: &mut Vec<Sample>,
    (expiry, expiry_help): (&'static str, &'static str),
    (reloads, reloads_help): (&'static str, &'static str),
    served: crate::tls::CertificateSummary,
    reload_count: u64,
) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    out.push(Sample {
        labels: vec![("subject", served.subject)],
        ..own(expiry, expiry_help, int(served.not_after - now))
    });
    out.push(own(reloads, reloads_help, Value::Counter(reload_count)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mntr_prints_zookeeper_keys_prefixed_and_summaries_expanded() {
        let s = Summary::new("readlatency", "h", true);
        s.record(2.0);
        s.record(4.0);
        let samples = vec![
            zk("znode_count", "h", Value::Int(5)),
            zk("avg_latency", "h", Value::Float(3.0)),
            summary(&s, true),
            own("raft_term", "h", Value::Int(7)),
            Sample {
                labels: vec![("peer", "2".into())],
                ..own("raft_replication_lag_entries", "h", Value::Int(1))
            },
        ];
        let text = mntr_text(&samples);
        assert_eq!(
            text,
            "zk_znode_count\t5\nzk_avg_latency\t3.0\nzk_avg_readlatency\t3.0\n\
             zk_min_readlatency\t2\nzk_max_readlatency\t4\nzk_cnt_readlatency\t2\n\
             zk_sum_readlatency\t6\nzk_p50_readlatency\t2\nzk_p95_readlatency\t4\n\
             zk_p99_readlatency\t4\nzk_p999_readlatency\t4\nraft_term\t7\n"
        );
    }
}
