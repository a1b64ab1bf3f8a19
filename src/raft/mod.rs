//! Everything openraft: the type configuration, the RocksDB log store, the state machine that
//! runs the deterministic apply, snapshots, and the Proposer that batches writes above Raft.
//!
//! Only this module names openraft or RocksDB types. The rest of the server sees the
//! [`Replica`] facade (propose a Txn, read the state, wait for an index) and implements
//! [`Delivery`] to receive outcomes as entries are applied.

pub mod log_store;
pub mod network;
pub mod proposer;
pub mod snapshot;
pub mod state_machine;
pub mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use proposer::{ProposeError, Proposer, ProposerConfig};
pub use state_machine::{SharedState, StateView};
pub use types::{NodeId, PeerNode, TypeConfig};

use crate::txn::{Origin, Txn, TxnOutcome};
use log_store::LogStore;
use network::NoPeers;
use snapshot::{SnapshotFileError, SnapshotStore};
use state_machine::StateMachine;
use types::Raft;

/// The receiver of apply results: watch triggers and replies for this member's connections.
///
/// `deliver` is called by the state machine for every Txn, in zxid order, while it holds the
/// state's write lock: whatever it queues is ordered after everything a read queued before the
/// write and before everything a read queues after it. It must not block.
pub trait Delivery: Send + Sync + 'static {
    /// One applied Txn and its outcome.
    fn deliver(&self, txn: &Txn, outcome: TxnOutcome);

    /// A proposed Txn whose fate is unknown (the write timed out or Raft stopped): its
    /// connection must be closed rather than answered (`design.md`, Unknown outcome).
    fn write_failed(&self, origin: &Origin, reason: &ProposeError);
}

/// What the rest of the server holds: the proposer and the applied state.
#[derive(Clone)]
pub struct Replica {
    /// Where writes go.
    pub proposer: Proposer,
    /// The applied state, for reads.
    pub state: Arc<SharedState>,
    /// This member's id.
    pub member_id: NodeId,
    raft: Raft,
}

impl Replica {
    /// True while this member leads (and may expire sessions and reap nodes).
    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.current_leader == Some(self.member_id)
    }

    /// Waits until this member has applied everything committed when the call began (ZooKeeper's
    /// `sync`), or `timeout` passes.
    pub async fn sync(&self, timeout: Duration) -> Result<(), ProposeError> {
        let read_index = tokio::time::timeout(timeout, self.raft.get_read_log_id())
            .await
            .map_err(|_| ProposeError::Timeout(timeout))?
            .map_err(|e| ProposeError::Raft(e.to_string()))?;
        let target = read_index.0.map_or(0, |id| id.index);
        let mut applied = self.state.applied_index();
        tokio::time::timeout(timeout, applied.wait_for(|i| *i >= target))
            .await
            .map_err(|_| ProposeError::Timeout(timeout))?
            .map_err(|_| ProposeError::Closed)?;
        Ok(())
    }
}

/// Where and how a member keeps its Raft state.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    /// This member's id.
    pub member_id: NodeId,
    /// Snapshot directory.
    pub snapshot_dir: PathBuf,
    /// Log directory (RocksDB).
    pub log_dir: PathBuf,
    /// Entries between snapshots (`snapCount`).
    pub snap_count: u64,
    /// Snapshot files kept (`autopurge.snapRetainCount`).
    pub snapshots_retained: usize,
    /// Heartbeat interval, ms.
    pub heartbeat_ms: u64,
    /// Election timeout range, ms.
    pub election_timeout_ms: (u64, u64),
    /// How the Proposer batches and how long a write may take.
    pub proposer: ProposerConfig,
}

/// Why a member could not start its Raft state.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The snapshot directory or newest snapshot is unusable.
    #[error(transparent)]
    Snapshot(#[from] SnapshotFileError),
    /// The log database could not be opened.
    #[error(transparent)]
    Log(#[from] log_store::OpenError),
    /// The log is missing entries it had committed.
    #[error("{path}: the Raft log is damaged: {reason}")]
    LostEntries {
        /// The log directory.
        path: String,
        /// What is missing.
        reason: String,
    },
    /// The Raft configuration is invalid.
    #[error("raft configuration: {0}")]
    Config(#[from] openraft::ConfigError),
    /// openraft failed to start (a storage error while reading the log, and the like).
    #[error("raft: {0}")]
    Raft(String),
}

/// The running Raft side of a member, for shutdown.
pub struct RaftRuntime {
    raft: Raft,
    proposer_task: tokio::task::JoinHandle<()>,
}

impl RaftRuntime {
    /// Stops the Proposer and openraft.
    pub async fn shutdown(self) {
        self.proposer_task.abort();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
    }
}

/// Starts a standalone member: loads the newest snapshot (refusing a damaged one), opens the
/// log, starts openraft (which re-applies the committed log tail before returning), forms the
/// single-member group on first start, and waits until this member leads.
pub async fn start(
    settings: RaftSettings,
    delivery: Arc<dyn Delivery>,
) -> Result<(Replica, RaftRuntime), StartError> {
    let snapshots = SnapshotStore::open(&settings.snapshot_dir, settings.snapshots_retained)?;
    let loaded = snapshots.load_latest()?;
    if let Some(snap) = &loaded {
        tracing::info!(
            index = snap.meta.last_log_id.map_or(0, |id| id.index),
            znodes = snap.state.tree.znode_count(),
            sessions = snap.state.sessions.len(),
            "loaded snapshot"
        );
    }
    let covered = loaded
        .as_ref()
        .and_then(|s| s.meta.last_log_id)
        .map_or(0, |id| id.index);
    let shared = Arc::new(SharedState::new(StateMachine::initial_state(
        loaded.as_ref(),
    )));
    drop(loaded);
    // A snapshot without its log means the log was deleted: entries after the snapshot may be
    // gone, and starting would silently serve an older state.
    if covered > 0 && !settings.log_dir.join("CURRENT").exists() {
        return Err(StartError::LostEntries {
            path: settings.log_dir.display().to_string(),
            reason: format!("a snapshot up to index {covered} exists but the log is missing"),
        });
    }
    let log = LogStore::open(&settings.log_dir)?;
    log.check_committed_present(covered)
        .map_err(|reason| StartError::LostEntries {
            path: settings.log_dir.display().to_string(),
            reason,
        })?;
    let state_machine = StateMachine::new(shared.clone(), delivery.clone(), snapshots);
    let config = openraft::Config {
        cluster_name: "raftzk".into(),
        heartbeat_interval: settings.heartbeat_ms,
        election_timeout_min: settings.election_timeout_ms.0,
        election_timeout_max: settings.election_timeout_ms.1,
        install_snapshot_timeout: 10_000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(settings.snap_count),
        max_in_snapshot_log_to_keep: 1_000,
        ..openraft::Config::default()
    }
    .validate()?;
    let raft = Raft::new(
        settings.member_id,
        Arc::new(config),
        NoPeers,
        log,
        state_machine,
    )
    .await
    .map_err(|e| StartError::Raft(e.to_string()))?;
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    if !initialized {
        let members = BTreeMap::from([(settings.member_id, PeerNode::default())]);
        raft.initialize(members)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        tracing::info!(
            member = settings.member_id,
            "formed a new single-member group"
        );
    }
    raft.wait(Some(Duration::from_secs(30)))
        .current_leader(settings.member_id, "this member leads")
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    let (proposer, proposer_task) = Proposer::start(raft.clone(), delivery, settings.proposer);
    let replica = Replica {
        proposer,
        state: shared,
        member_id: settings.member_id,
        raft: raft.clone(),
    };
    Ok((
        replica,
        RaftRuntime {
            raft,
            proposer_task,
        },
    ))
}
