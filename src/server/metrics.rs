//! The member's measurements as one list: `mntr` prints it in ZooKeeper's format and
//! `/metrics` exports it to Prometheus, so the two cannot disagree. Names are ZooKeeper's
//! (`docs/metrics.md` maps every ZooKeeper key); raftzk's own start with `raft_` or
//! `raftzk_` and follow ZooKeeper's.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Every measurement of this member, ZooKeeper's keys first.
pub fn collect(server: &Server) -> Vec<Sample> {
    let s = &server.stats;
    let (min, avg, max, _) = s.latency.snapshot();
    let (nodes, ephemerals, data_size, sessions) = {
        let view = server.replica.state.read();
        (
            view.state.tree.znode_count(),
            view.state.tree.ephemeral_count(),
            view.state.tree.approximate_data_size(),
            view.state.sessions.len(),
        )
    };
    let watch_count = server.watches().watch_count();
    let role = server.replica.role();
    // Empty unless leading; read once for the quorum keys and the per-peer lag.
    let peers = server.replica.replication();
    let cluster = role != Role::Standalone;
    let (last_size, min_size, max_size) = s.response_sizes.values();
    let mut out = vec![
        zk(
            "version",
            "Server version",
            Value::Text(super::status::version()),
        ),
        zk(
            "server_state",
            "standalone, leader, follower, observer or looking",
            Value::Text(super::status::mode_name(server).into()),
        ),
        zk(
            "avg_latency",
            "Average request latency since start or srst, ms",
            Value::Float(avg),
        ),
        zk(
            "max_latency",
            "Largest request latency since start or srst, ms",
            Value::Int(max as i64),
        ),
        zk(
            "min_latency",
            "Smallest request latency since start or srst, ms",
            Value::Int(min as i64),
        ),
        zk(
            "packets_received",
            "Requests received from clients since start or srst",
            Value::Int(s.packets_received.load(Ordering::Relaxed) as i64),
        ),
        zk(
            "packets_sent",
            "Replies and notifications sent to clients since start or srst",
            Value::Int(s.packets_sent.load(Ordering::Relaxed) as i64),
        ),
        zk(
            "num_alive_connections",
            "Open client connections",
            Value::Int(server.connections.len() as i64),
        ),
        zk(
            "outstanding_requests",
            "Requests received and not yet answered",
            Value::Int(server.connections.outstanding() as i64),
        ),
        zk("uptime", "Time since the member started, ms", {
            Value::Int(s.started.elapsed().as_millis() as i64)
        }),
        zk(
            "znode_count",
            "Znodes in the tree",
            Value::Int(nodes as i64),
        ),
        zk(
            "watch_count",
            "Watches set by this member's clients",
            Value::Int(watch_count as i64),
        ),
        zk(
            "ephemerals_count",
            "Ephemeral znodes in the tree",
            Value::Int(ephemerals as i64),
        ),
        zk(
            "approximate_data_size",
            "Bytes of znode data and paths in the tree",
            Value::Int(data_size as i64),
        ),
        zk(
            "global_sessions",
            "Sessions in the replicated session table",
            Value::Int(sessions as i64),
        ),
        zk(
            "local_sessions",
            "Local sessions (raftzk has none: every session is global)",
            Value::Int(0),
        ),
        zk(
            "open_file_descriptor_count",
            "File descriptors the process has open",
            Value::Int(open_fds() as i64),
        ),
        zk(
            "max_file_descriptor_count",
            "The process' file descriptor limit",
            Value::Int(max_fds() as i64),
        ),
        zk(
            "auth_failed_count",
            "Auth packets refused",
            Value::Int(s.auth_failed.load(Ordering::Relaxed) as i64),
        ),
        zk(
            "last_client_response_size",
            "Bytes of the last reply sent (-1: none yet)",
            Value::Int(last_size),
        ),
        zk(
            "min_client_response_size",
            "Bytes of the smallest reply sent (-1: none yet)",
            Value::Int(min_size),
        ),
        zk(
            "max_client_response_size",
            "Bytes of the largest reply sent (-1: none yet)",
            Value::Int(max_size),
        ),
        zk(
            "response_bytes",
            "Bytes of replies sent to clients (without length prefixes)",
            count(&s.response_bytes),
        ),
        zk(
            "connection_revalidate_count",
            "Reconnects that resumed an existing session on this member",
            count(&s.connection_revalidations),
        ),
        zk(
            "bytes_received_count",
            "Bytes of requests received from clients",
            count(&s.bytes_received),
        ),
        zk(
            "connection_request_count",
            "Session handshakes (ConnectRequests) received",
            count(&s.connection_requests),
        ),
        zk(
            "connection_rejected",
            "Client connections refused (maxClientCnxns)",
            Value::Counter(s.closed_count(CloseCause::MaxClientCnxns)),
        ),
        zk(
            "connection_drop_count",
            "Client connections that ended without closeSession (the client went away)",
            count(&s.connections_dropped),
        ),
        zk(
            "large_requests_rejected",
            "Requests refused for their length (jute.maxbuffer)",
            Value::Counter(s.closed_count(CloseCause::Oversize)),
        ),
        zk(
            "sessionless_connections_expired",
            "Connections closed for never completing a handshake",
            Value::Counter(s.closed_count(CloseCause::HandshakeTimeout)),
        ),
        zk(
            "cnxn_closed_without_zk_server_running",
            "Client connections closed because this member could not serve (no leader, behind)",
            Value::Counter(s.closed_count(CloseCause::NotServing)),
        ),
        zk(
            "watch_bytes",
            "Bytes of watch notifications sent",
            count(&s.watch_bytes),
        ),
    ];
    for c in telemetry::COUNTS {
        out.push(zk(c.name, c.help, Value::Counter(c.get())));
    }
    out.push(summary(&s.read_latency, true));
    out.push(summary(&s.update_latency, true));
    for w in s.watches_fired.all() {
        out.push(summary(w, true));
    }
    for set in [&s.read_per_namespace, &s.write_per_namespace] {
        out.push(zk(
            set.name,
            set.help,
            Value::SummarySet(set.values(), set.percentiles, set.label),
        ));
    }
    for t in telemetry::SUMMARIES {
        out.push(summary(t, true));
    }
    if cluster {
        out.extend(quorum_samples(server, role, &peers));
    }
    // raftzk's own, after ZooKeeper's.
    let raft = server.replica.raft_status();
    let latest_digest = server.replica.state.read().digests.latest();
    let is_leader = role == Role::Leader || role == Role::Standalone;
    out.extend([
        own(
            "raft_term",
            "Current Raft term",
            Value::Int(raft.term as i64),
        ),
        own(
            "raft_leader_id",
            "The leader this member knows of (0: none)",
            Value::Int(raft.leader.unwrap_or(0) as i64),
        ),
        own(
            "raft_is_leader",
            "1 on the leader",
            Value::Int(i64::from(is_leader)),
        ),
        own(
            "raft_last_log_index",
            "Last index in this member's log",
            Value::Int(raft.last_log_index as i64),
        ),
        own(
            "raft_commit_index",
            "Highest commit index sent or received on the peer link (standalone: applied)",
            Value::Int(if cluster {
                telemetry::RAFT_COMMIT_INDEX
                    .load(Ordering::Relaxed)
                    .max(raft.applied_index) as i64
            } else {
                raft.applied_index as i64
            }),
        ),
        own(
            "raft_applied_index",
            "Last index applied to the tree",
            Value::Int(raft.applied_index as i64),
        ),
        own(
            "raft_tree_digest_zxid",
            "The zxid raft_tree_digest was taken at (after the last applied entry)",
            Value::Int(latest_digest.map_or(0, |d| d.zxid)),
        ),
        own(
            "raft_tree_digest",
            "The tree digest after the last applied entry, its low 52 bits (exact as a \
             Prometheus float): equal on members at the same raft_tree_digest_zxid",
            Value::Int(latest_digest.map_or(0, |d| (d.digest & ((1 << 52) - 1)) as i64)),
        ),
        own(
            "raft_snapshot_index",
            "Index the newest snapshot covers",
            Value::Int(raft.snapshot_index as i64),
        ),
        own(
            "raft_catching_up",
            "1 while this member holds its elections to catch up",
            Value::Int(i64::from(raft.elections_held)),
        ),
        own(
            "raft_leader_changes",
            "Leader changes seen since start",
            Value::Counter(server.replica.history.leader_changes()),
        ),
    ]);
    for c in telemetry::RAFT_COUNTS {
        out.push(own(c.name, c.help, Value::Counter(c.get())));
    }
    for t in telemetry::RAFT_SUMMARIES {
        out.push(summary(t, false));
    }
    for peer in &peers {
        let labels = vec![("peer", peer.id.to_string())];
        out.push(Sample {
            labels: labels.clone(),
            ..own(
                "raft_replication_lag_entries",
                "Entries the leader holds that the peer does not",
                Value::Int(peer.lag_entries as i64),
            )
        });
        out.push(Sample {
            labels,
            ..own(
                "raft_replication_lag_ms",
                "Age of the oldest entry the peer does not hold, ms",
                Value::Int(peer.lag_ms as i64),
            )
        });
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
    out.push(own(
        "raftzk_session_outstanding_max",
        "Most requests queued by one session and not yet answered",
        Value::Int(server.connections.max_outstanding() as i64),
    ));
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
