//! The leader's duties: expiring silent sessions, reaping empty containers and expired TTL
//! nodes, adding observers; and the followers' one: reporting which sessions they heard from.
//! The leader decides from its own clock and acts only through logged Txns (closeSession,
//! reap), so every member applies the same result.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use crate::config::Config;
use crate::raft::{NodeId, PeerNode, Replica};
use crate::session::tracker::SessionTracker;
use crate::tree::NodeKind;
use crate::txn::{Txn, TxnOp};

/// Expires sessions whose deadline passed, checking twice per tick.
pub async fn expire_sessions(replica: Replica, tracker: Arc<SessionTracker>, tick: Duration) {
    let mut interval = tokio::time::interval((tick / 2).max(Duration::from_millis(10)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leading = false;
    loop {
        interval.tick().await;
        if !replica.is_leader() {
            leading = false;
            continue;
        }
        if !leading {
            // A new leader cannot know when followers last heard from each session: every
            // session gets a full fresh timeout before anything is expired.
            tracker.reset_all();
            leading = true;
            tracing::info!(
                member = replica.member_id,
                "leading: session expiry starts with fresh timeouts"
            );
        }
        let live: Vec<(i64, i32)> = {
            let view = replica.state.read();
            view.state
                .sessions
                .iter()
                .map(|(id, info)| (id, info.timeout_ms))
                .collect()
        };
        tracker.sync_with_table(&live);
        for session_id in tracker.take_expired() {
            tracing::debug!(
                session = format_args!("0x{session_id:x}"),
                "expiring session"
            );
            let txn = Txn {
                session_id,
                origin: None,
                auth: Vec::new(),
                rules: Default::default(),
                op: TxnOp::CloseSession,
            };
            if replica.proposer.propose(txn).await.is_err() {
                tracker.retry_expiry(session_id);
            } else {
                crate::telemetry::STALE_SESSIONS_EXPIRED.bump();
            }
        }
    }
}

/// Reaps containers and TTL nodes every `znode.container.checkIntervalMs`, at most
/// `znode.container.maxPerMinute` per minute, as ZooKeeper's ContainerManager does: a
/// container once it has had a child and has none left (or, with `maxNeverUsedIntervalMs`,
/// one never used for that long); a TTL node when childless and unmodified for its TTL.
pub async fn reap_nodes(replica: Replica, config: Arc<Config>) {
    let interval = Duration::from_millis(config.container_check_interval_ms.max(1));
    let gap = Duration::from_millis(60_000 / u64::from(config.container_max_per_minute.max(1)));
    loop {
        tokio::time::sleep(interval).await;
        if !replica.is_leader() {
            continue;
        }
        for path in candidates(&replica, &config) {
            let txn = Txn {
                session_id: 0,
                origin: None,
                auth: Vec::new(),
                rules: Default::default(),
                op: TxnOp::Reap { path },
            };
            if replica.proposer.propose(txn).await.is_err() {
                break;
            }
            tokio::time::sleep(gap).await;
        }
    }
}

fn candidates(replica: &Replica, config: &Config) -> Vec<String> {
    let now = crate::server::stats::now_ms();
    let never_used = i64::try_from(config.container_max_never_used_interval_ms).unwrap_or(i64::MAX);
    let view = replica.state.read();
    let tree = &view.state.tree;
    let mut out = Vec::new();
    for path in tree.containers() {
        if let Some(node) = tree.get(path) {
            let used = node.meta.cversion > 0;
            let idle = never_used > 0 && now - node.meta.mtime > never_used;
            if !node.has_children() && (used || idle) {
                out.push(path.clone());
            }
        }
    }
    for path in tree.ttl_nodes() {
        if let Some(node) = tree.get(path) {
            if let NodeKind::Ttl(ttl) = node.kind {
                if !node.has_children() && now - node.meta.mtime > ttl {
                    out.push(path.clone());
                }
            }
        }
    }
    out
}

/// A follower reports the sessions it heard from to the leader twice per tick, so the
/// leader's tracker sees every session's traffic whichever member it is connected to.
pub async fn report_touches(replica: Replica, tracker: Arc<SessionTracker>, tick: Duration) {
    let period = (tick / 2).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        let touched = tracker.take_touched();
        if touched.is_empty() || replica.leader() == Some(replica.member_id) {
            continue;
        }
        if let Err(e) = replica.send_touches(touched, tick).await {
            tracing::debug!(error = %e, "could not report session touches");
        }
    }
}

/// The leader's membership upkeep ([`Replica::tend_membership`]), every second.
pub async fn tend_membership(
    replica: Replica,
    observers: BTreeMap<NodeId, PeerNode>,
    reconfig_enabled: bool,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        replica.tend_membership(&observers, reconfig_enabled).await;
    }
}

/// Closes connections whose oldest write has waited longer than `timeout`: its fate is
/// unknown (a lost leader, a stalled disk), and the client must learn it by ConnectionLoss
/// rather than wait forever (`design.md`, Unknown outcome).
pub async fn close_unanswered_writes(
    replica: Replica,
    connections: Arc<crate::server::handle::Connections>,
    timeout: Duration,
) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Once an entry of a newer term is applied, every entry before it is settled: a write
        // proposed in an older term and still unanswered was lost with its leader (it was
        // accepted, then the leader died before a quorum had it). Say so now, not after the
        // timeout.
        let applied_term = replica.raft_status().applied_term;
        let now = std::time::Instant::now();
        for conn in connections.all() {
            if let Some(fate) = conn.writes.unknown_fate(applied_term, timeout, now) {
                conn.write_fate_unknown(&fate);
            }
        }
    }
}

/// A member that has known no leader (or, leading, no quorum) for longer than `grace` closes
/// its client connections, as a ZooKeeper server that leaves the quorum does: its clients
/// reconnect to a member that can serve them, instead of reading stale data or waiting on
/// writes that cannot commit.
pub async fn close_when_leaderless(
    replica: Replica,
    connections: Arc<crate::server::handle::Connections>,
    grace: Duration,
) {
    let mut since: Option<std::time::Instant> = None;
    let mut closed = false;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let read_only = |c: &Arc<crate::server::handle::ConnectionHandle>| {
            c.binding().is_some_and(|b| b.read_only)
        };
        if replica.role() != crate::raft::Role::Looking {
            since = None;
            closed = false;
            // Back in a quorum: read-only sessions end, as when ZooKeeper's read-only server
            // shuts down; their clients reconnect read-write.
            let ro: Vec<_> = connections.all().into_iter().filter(read_only).collect();
            if !ro.is_empty() {
                tracing::info!(
                    connections = ro.len(),
                    "quorum is back: closing read-only connections"
                );
                for conn in ro {
                    conn.close();
                }
            }
            continue;
        }
        let start = *since.get_or_insert_with(std::time::Instant::now);
        if !closed && start.elapsed() > grace {
            // Read-only sessions (readonlymode.enabled) are what a member without a quorum
            // serves; every other connection goes, so its client tries another member.
            let rw: Vec<_> = connections
                .all()
                .into_iter()
                .filter(|c| !read_only(c))
                .collect();
            tracing::warn!(
                connections = rw.len(),
                "no leader or no quorum: closing client connections"
            );
            for conn in rw {
                conn.close();
            }
            closed = true;
        }
    }
}
