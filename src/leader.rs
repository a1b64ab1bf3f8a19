//! The leader's duties: expiring silent sessions and reaping empty containers and expired TTL
//! nodes. Both decide from the leader's clock and act only through logged Txns (closeSession,
//! reap), so every member applies the same result.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::raft::Replica;
use crate::session::tracker::SessionTracker;
use crate::tree::NodeKind;
use crate::txn::{Txn, TxnOp};

/// Expires sessions whose deadline passed, checking twice per tick.
pub async fn expire_sessions(replica: Replica, tracker: Arc<SessionTracker>, tick: Duration) {
    let mut interval = tokio::time::interval((tick / 2).max(Duration::from_millis(10)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if !replica.is_leader() {
            continue;
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
                op: TxnOp::CloseSession,
            };
            if replica.proposer.propose(txn).await.is_err() {
                tracker.retry_expiry(session_id);
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
    let now = crate::server::handle::now_ms();
    let never_used = i64::try_from(config.container_max_never_used_interval_ms).unwrap_or(i64::MAX);
    let view = replica.state.read();
    let tree = &view.state.tree;
    let mut out = Vec::new();
    for path in tree.containers() {
        if let Some(node) = tree.get(path) {
            let used = node.meta.cversion > 0;
            let idle = never_used > 0 && now - node.meta.mtime > never_used;
            if node.children.is_empty() && (used || idle) {
                out.push(path.clone());
            }
        }
    }
    for path in tree.ttl_nodes() {
        if let Some(node) = tree.get(path) {
            if let NodeKind::Ttl(ttl) = node.kind {
                if node.children.is_empty() && now - node.meta.mtime > ttl {
                    out.push(path.clone());
                }
            }
        }
    }
    out
}
