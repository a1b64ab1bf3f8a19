//! Everything openraft: the type configuration, the RocksDB log store, the state machine that
//! runs the deterministic apply, snapshots, and the Proposer that batches writes above Raft.
//!
//! Only this module names openraft or RocksDB types. The rest of the server sees the
//! [`Replica`] facade (propose a Txn, read the state, wait for an index) and implements
//! [`Delivery`] to receive outcomes as entries are applied.

pub mod durable;
pub mod election_gate;
pub mod fault_switch;
pub mod log_store;
pub mod messages;
pub mod network;
pub mod peer;
pub mod peer_server;
pub mod proposer;
mod read_rounds;
pub mod reconfig;
pub mod rocksdb_link;
pub mod role_watch;
pub mod snapshot;
pub mod snapshot_schedule;
pub mod state_machine;
pub mod types;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_group;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use proposer::{ProposeError, Proposer, ProposerConfig};
pub use reconfig::config_version;
pub use state_machine::{SharedState, StateView};
pub use types::{MembershipChange, NodeId, PeerNode, ReconfigError, ReconfigRequest, TypeConfig};

use crate::txn::{Origin, ReplicatedState, Txn, TxnOutcome};
use log_store::LogStore;
use network::{NoPeers, PeerNetwork};
use snapshot::{SnapshotFileError, SnapshotStore};
use state_machine::StateMachine;
use types::Raft;

/// The receiver of apply results: watch triggers and replies for this member's connections.
///
/// `deliver` is called by the state machine for every Txn, in zxid order, right after that
/// Txn is applied and before the next one, while it holds the state's write lock: whatever it
/// queues is ordered after everything a read queued before the write and before everything a
/// read queues after it. It must not block.
pub trait Delivery: Send + Sync + 'static {
    /// One applied Txn, its outcome, and the state just after it (`state.last_zxid` is the
    /// Txn's zxid).
    fn deliver(&self, state: &ReplicatedState, txn: &Txn, outcome: TxnOutcome);

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
    /// The peer link (None for a standalone member).
    network: Option<PeerNetwork>,
    /// Holds this member's elections while it catches up (cluster only).
    gate: Arc<election_gate::ElectionGate>,
    /// A leader without a quorum's acknowledgement for longer than this (twice the election
    /// timeout's upper bound) has lost its quorum (openraft 0.9 has no check-quorum).
    quorum_stale_ms: u64,
    /// One reconfig at a time (another gets ReconfigInProgress, as from ZooKeeper).
    reconfig_lock: Arc<tokio::sync::Mutex<()>>,
    /// Read-index rounds shared by the reads waiting when each begins.
    read_rounds: Arc<read_rounds::ReadRounds>,
    /// Leader changes and when this member began leading.
    pub history: Arc<role_watch::RoleHistory>,
    /// This member's role flags, replication clock and commit index.
    pub member: Arc<crate::telemetry::MemberTelemetry>,
}

/// How far one member is behind the leader (leader only).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerReplication {
    /// The member.
    pub id: NodeId,
    /// Whether it votes (false: an observer).
    pub voter: bool,
    /// The last entry it is known to hold (None: not known yet).
    pub matched: Option<u64>,
    /// Entries the leader holds that it does not.
    pub lag_entries: u64,
    /// Age of the oldest entry it does not hold, ms (0: holds everything).
    pub lag_ms: u64,
    /// Time since it last answered an AppendEntries, ms (None: never).
    pub acked_ms: Option<u64>,
}

impl PeerReplication {
    /// Answered within `window_ms` and holds every entry older than it: ZooKeeper's
    /// "synced" follower or observer.
    pub fn is_synced(&self, window_ms: u64) -> bool {
        self.acked_ms.is_some_and(|ms| ms <= window_ms)
            && self.matched.is_some()
            && self.lag_ms <= window_ms
    }
}

/// A point-in-time reading of openraft's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftStatus {
    /// The current term: it rises by at least one with every election.
    pub term: u64,
    /// The leader this member knows of.
    pub leader: Option<NodeId>,
    /// The last index in this member's log.
    pub last_log_index: u64,
    /// The last index applied to the tree.
    pub applied_index: u64,
    /// The term of the last applied entry.
    pub applied_term: u64,
    /// The index the newest snapshot covers.
    pub snapshot_index: u64,
    /// True while this member holds its elections because it is catching up.
    pub elections_held: bool,
}

/// What a member is doing, as ZooKeeper's `Mode:` line shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The only member.
    Standalone,
    /// Leads the group.
    Leader,
    /// Follows a leader.
    Follower,
    /// A non-voting member.
    Observer,
    /// Knows no leader (an election, or cut off).
    Looking,
}

impl Role {
    /// ZooKeeper's name for it (`srvr`'s `Mode:`, mntr's `zk_server_state`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Observer => "observer",
            Role::Looking => "looking",
        }
    }
}

impl Replica {
    /// The leader this member knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// True while this member leads with a quorum behind it (and so may expire sessions and
    /// reap nodes).
    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        if m.current_leader != Some(self.member_id) {
            return false;
        }
        // A single member is its own quorum; otherwise the last acknowledgement must be fresh.
        self.network.is_none()
            || m.millis_since_quorum_ack
                .is_some_and(|ms| ms <= self.quorum_stale_ms)
    }

    /// This member's role.
    pub fn role(&self) -> Role {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let is_voter = membership.voter_ids().any(|id| id == self.member_id);
        let is_member = membership.get_node(&self.member_id).is_some();
        let quorum_fresh = m
            .millis_since_quorum_ack
            .is_some_and(|ms| ms <= self.quorum_stale_ms);
        match m.current_leader {
            _ if self.network.is_none() => Role::Standalone,
            // Not (or no longer) in the group: waiting to be added by a reconfig.
            _ if !is_member || self.gate.is_removed() => Role::Looking,
            // openraft 0.9 keeps a cut-off leader leading; without a fresh quorum it is not.
            Some(leader) if leader == self.member_id && !quorum_fresh => Role::Looking,
            Some(leader) if leader == self.member_id => Role::Leader,
            // A member that heard nothing from its leader for this long keeps naming it (the
            // pre-vote stops it campaigning, which is what cleared it before): it is cut off.
            // Three quorum windows, so that an ordinary failover (an election within about
            // 0.3 s) never shows it looking and turns reconnecting clients away.
            Some(_)
                if !self
                    .gate
                    .heard_leader_within(Duration::from_millis(self.quorum_stale_ms * 3)) =>
            {
                Role::Looking
            }
            Some(_) if !is_voter => Role::Observer,
            Some(_) => Role::Follower,
            None => Role::Looking,
        }
    }

    /// The current Raft term (read on every write, so without building a whole
    /// [`RaftStatus`]).
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// Raft's view of this member for operators (mntr's `raft_*` lines): the term counts
    /// elections, so an unchanged term across a benchmark proves there was none.
    pub fn raft_status(&self) -> RaftStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        RaftStatus {
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |id| id.index),
            applied_term: m.last_applied.map_or(0, |id| id.leader_id.term),
            snapshot_index: m.snapshot.map_or(0, |id| id.index),
            elections_held: self.gate.is_holding(),
        }
    }

    /// Replication to every other member, as the leader sees it (empty unless leading).
    pub fn replication(&self) -> Vec<PeerReplication> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let Some(replication) = &m.replication else {
            return Vec::new();
        };
        let last = m.last_log_index.unwrap_or(0);
        let membership = m.membership_config.membership();
        replication
            .iter()
            .filter(|(id, _)| **id != self.member_id)
            .map(|(id, matched)| {
                let matched = matched.map(|l| l.index);
                let held = matched.unwrap_or(0);
                PeerReplication {
                    id: *id,
                    voter: membership.voter_ids().any(|v| v == *id),
                    matched,
                    lag_entries: last.saturating_sub(held),
                    lag_ms: self.member.appended.lag_behind(held).as_millis() as u64,
                    acked_ms: self
                        .member
                        .peer_acks
                        .since(*id)
                        .map(|d| d.as_millis() as u64),
                }
            })
            .collect()
    }

    /// Members that are synced now, as ZooKeeper's leader counts them for `synced_followers`
    /// and a reconfig's quorum check: this leader, and every peer that answered within the
    /// quorum window and holds every entry older than it. Empty unless leading.
    pub fn synced_members(&self) -> BTreeSet<NodeId> {
        let peers = self.replication();
        if peers.is_empty() && !self.is_leader() {
            return BTreeSet::new();
        }
        let window = self.synced_within_ms();
        peers
            .iter()
            .filter(|p| p.is_synced(window))
            .map(|p| p.id)
            .chain(std::iter::once(self.member_id))
            .collect()
    }

    /// How long a follower may be behind and still count as synced (ZooKeeper's
    /// `synced_followers`): it holds every entry older than the leader's quorum window.
    pub fn synced_within_ms(&self) -> u64 {
        self.quorum_stale_ms
    }

    /// Number of voters (ZooKeeper's `quorum_size` is the majority of it).
    pub fn voters(&self) -> usize {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .count()
    }

    /// This member's read index: the index every read must wait for to be linearizable.
    /// Leader only.
    pub async fn read_index(&self, timeout: Duration) -> Result<u64, ProposeError> {
        let read_index = tokio::time::timeout(timeout, self.raft.get_read_log_id())
            .await
            .map_err(|_| ProposeError::Timeout(timeout))?
            .map_err(|e| ProposeError::Raft(e.to_string()))?;
        Ok(read_index.0.map_or(0, |id| id.index))
    }

    /// Waits until this member has applied everything committed when the call began (ZooKeeper's
    /// `sync`, and every linearizable read): the read index of a round that began after the
    /// call, then this member's applied index at least that far.
    pub async fn sync(&self, timeout: Duration) -> Result<(), ProposeError> {
        let started = std::time::Instant::now();
        let target = self.shared_read_index(timeout).await?;
        let mut applied = self.state.applied_index();
        tokio::time::timeout(timeout, applied.wait_for(|i| *i >= target))
            .await
            .map_err(|_| ProposeError::Timeout(timeout))?
            .map_err(|_| ProposeError::Closed)?;
        crate::telemetry::RAFT_READ_INDEX_WAIT.record_ms(started.elapsed());
        Ok(())
    }

    /// A read index from a round that begins after this call: shared with every read that is
    /// waiting when it begins (`read_rounds`). On a follower the round asks the leader, whose
    /// answer comes from its own shared rounds.
    pub async fn shared_read_index(&self, timeout: Duration) -> Result<u64, ProposeError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.read_rounds.enqueue(tx) {
            tokio::spawn(self.clone().run_read_rounds(timeout));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(ProposeError::Closed),
            Err(_) => Err(ProposeError::Timeout(timeout)),
        }
    }

    /// Runs rounds while reads wait for one, then ends.
    async fn run_read_rounds(self, timeout: Duration) {
        loop {
            let batch = self.read_rounds.next_batch();
            if batch.is_empty() {
                return;
            }
            let answer = self.read_index_round(timeout).await;
            crate::telemetry::RAFT_READ_INDEX_ROUNDS.bump();
            crate::telemetry::RAFT_READ_INDEX_READS.add(batch.len() as u64);
            for waiter in batch {
                let _ = waiter.send(answer.clone());
            }
        }
    }

    /// One round: the leader's read index, asked over the peer link on a follower.
    async fn read_index_round(&self, timeout: Duration) -> Result<u64, ProposeError> {
        match (self.leader(), &self.network) {
            (Some(leader), Some(network)) if leader != self.member_id => {
                let addr = self.peer_addr(leader).ok_or(ProposeError::NoLeader)?;
                match network
                    .client(leader, &addr)
                    .call(messages::PeerRequest::ReadIndex, timeout)
                    .await
                {
                    Ok(messages::PeerResponse::ReadIndex(Ok(index))) => Ok(index),
                    Ok(messages::PeerResponse::ReadIndex(Err(e))) => {
                        Err(ProposeError::Forward(leader, e))
                    }
                    Ok(_) => Err(ProposeError::Forward(leader, "unexpected answer".into())),
                    Err(e) => Err(ProposeError::Forward(leader, e.to_string())),
                }
            }
            (None, Some(_)) => Err(ProposeError::NoLeader),
            _ => self.read_index(timeout).await,
        }
    }

    /// Stops openraft and waits (bounded) until its tasks have ended, so the log database is
    /// closed before the process exits (RocksDB's background threads must not outlive it).
    pub async fn shutdown(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.raft.shutdown()).await;
    }

    /// Resolves when openraft stops on a fatal error (a failed log write, a full disk): the
    /// member must stop serving, since its state may miss writes it acknowledged.
    ///
    /// It looks every 100 ms rather than on every change of openraft's metrics: those change
    /// with every write, and a waiter woken per write cost a thread wake-up per write.
    pub async fn fatal(&self) -> String {
        let metrics = self.raft.metrics();
        let mut every = tokio::time::interval(Duration::from_millis(100));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = &metrics.borrow().running_state {
                return e.to_string();
            }
            if metrics.has_changed().is_err() {
                return "raft stopped".into();
            }
        }
    }

    /// Reports sessions heard from to the leader (a follower's duty).
    pub async fn send_touches(
        &self,
        sessions: Vec<(i64, i32)>,
        timeout: Duration,
    ) -> Result<(), ProposeError> {
        let (Some(leader), Some(network)) = (self.leader(), &self.network) else {
            return Err(ProposeError::NoLeader);
        };
        let addr = self.peer_addr(leader).ok_or(ProposeError::NoLeader)?;
        network
            .client(leader, &addr)
            .call(messages::PeerRequest::Touch(sessions), timeout)
            .await
            .map(|_| ())
            .map_err(|e| ProposeError::Forward(leader, e.to_string()))
    }

    fn peer_addr(&self, member: NodeId) -> Option<String> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&member)
            .map(|n| n.peer_addr.clone())
    }

    /// The leader's upkeep of the membership, every second: completes a joint configuration a
    /// previous leader left, and adds zoo.cfg's observers missing from the group as learners.
    /// With `reconfigEnabled` the group's membership is the truth once it changed, so
    /// observers are added only to the group as first formed (its membership entry at index
    /// 0); otherwise zoo.cfg is, and a missing observer is always added back.
    pub async fn tend_membership(
        &self,
        observers: &BTreeMap<NodeId, PeerNode>,
        reconfig_enabled: bool,
    ) {
        if !self.is_leader() {
            return;
        }
        let Ok(_one_at_a_time) = self.reconfig_lock.try_lock() else {
            return;
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        if let Err(e) = self.finish_joint(deadline).await {
            tracing::warn!(error = %e, "could not complete the joint membership");
            return;
        }
        let (missing, first_formed) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            let missing: BTreeMap<NodeId, PeerNode> = observers
                .iter()
                .filter(|(id, _)| membership.get_node(id).is_none())
                .map(|(id, n)| (*id, n.clone()))
                .collect();
            let first = m.membership_config.log_id().is_none_or(|id| id.index == 0);
            (missing, first)
        };
        if missing.is_empty() || (reconfig_enabled && !first_formed) {
            return;
        }
        tracing::info!(members = ?missing.keys().collect::<Vec<_>>(), "adding observers as learners");
        let add = openraft::ChangeMembers::AddNodes(missing);
        if let Err(e) = self.change_members(add, true, deadline).await {
            tracing::warn!(error = %e, "could not add observers");
        }
    }
}

/// Serves the peer link (Raft RPCs and raftzk's own requests) on `listener`, over TLS as
/// `tls` says.
pub async fn serve_peers<H: peer_server::PeerHandler>(
    replica: &Replica,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<crate::tls::PeerTls>>,
    handler: Arc<H>,
    faults: Arc<fault_switch::FaultSwitch>,
) {
    peer_server::serve(
        listener,
        tls,
        replica.raft.clone(),
        handler,
        faults,
        replica.gate.clone(),
        replica.member.clone(),
    )
    .await;
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
    /// Transactions between snapshots (`snapCount`; also the bound on Raft entries).
    pub snap_count: u64,
    /// Snapshot files kept (`autopurge.snapRetainCount`).
    pub snapshots_retained: usize,
    /// Heartbeat interval, ms.
    pub heartbeat_ms: u64,
    /// Election timeout range, ms.
    pub election_timeout_ms: (u64, u64),
    /// How the Proposer batches and how long a write may take.
    pub proposer: ProposerConfig,
    /// Every member with its addresses (voters and observers); one or none = standalone.
    pub members: BTreeMap<NodeId, PeerNode>,
    /// The test-only partition switch.
    pub faults: Arc<fault_switch::FaultSwitch>,
    /// TLS on the peer link (`sslQuorum`, `portUnification`); None: plaintext.
    pub peer_tls: Option<Arc<crate::tls::PeerTls>>,
    /// The test-only disk fault file (`disk.faultFile`).
    pub disk_fault_file: Option<PathBuf>,
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
    Config(String),
    /// openraft failed to start (a storage error while reading the log, and the like).
    #[error("raft: {0}")]
    Raft(String),
}

/// The running Raft side of a member, for shutdown: openraft and every task the Raft side
/// started (the Proposer, the election gate, the role watcher, the disk fault switch).
pub struct RaftRuntime {
    raft: Raft,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RaftRuntime {
    /// Takes a task that must run as long as Raft does, such as the peer listener: a
    /// follower that is shutting down still answers its leader until Raft stops, so that the
    /// writes its clients are waiting for commit and apply here.
    pub fn adopt(&mut self, task: tokio::task::JoinHandle<()>) {
        self.tasks.push(task);
    }

    /// Stops the Raft side's tasks, then openraft (bounded by `limit`), whose storage closes
    /// the log database as it ends.
    pub async fn shutdown(self, limit: Duration) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        match tokio::time::timeout(limit, self.raft.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "raft did not shut down cleanly"),
            Err(_) => tracing::warn!(?limit, "raft did not shut down in time"),
        }
    }
}

/// Asks the other configured members whether their group is initialized; the first that
/// says so is returned. A member with an empty log must then wait to be replicated to: forming
/// a group of its own would start a second history. Unreachable members count as no group
/// (on a cluster's first start nobody is serving yet, and every member forms the same group).
async fn find_existing_group(
    network: &PeerNetwork,
    me: NodeId,
    members: &BTreeMap<NodeId, PeerNode>,
) -> Option<NodeId> {
    // All at once: members that are starting too answer only once started, so asking one
    // after another cost up to 0.5 s per member on a cluster's first start.
    let mut asks = tokio::task::JoinSet::new();
    for (id, node) in members.iter().filter(|(id, _)| **id != me) {
        let client = network.client(*id, &node.peer_addr);
        let id = *id;
        asks.spawn(async move {
            let answer = client
                .call(messages::PeerRequest::Hello, Duration::from_millis(500))
                .await;
            matches!(answer, Ok(messages::PeerResponse::Hello(true))).then_some(id)
        });
    }
    while let Some(answer) = asks.join_next().await {
        if let Ok(Some(id)) = answer {
            return Some(id);
        }
    }
    None
}

/// Starts a member: loads the newest snapshot (refusing a damaged one), opens the log, starts
/// openraft (which re-applies the committed log tail before returning), and forms the group on
/// first start. A standalone member waits until it leads; a cluster member serves at once and
/// answers writes once a leader is elected.
pub async fn start(
    settings: RaftSettings,
    delivery: Arc<dyn Delivery>,
) -> Result<(Replica, RaftRuntime), StartError> {
    let init_started = std::time::Instant::now();
    let snapshots = SnapshotStore::open(&settings.snapshot_dir, settings.snapshots_retained)?;
    let (shared, covered) = load_snapshot(&snapshots, &settings)?;
    let member = Arc::new(crate::telemetry::MemberTelemetry::default());
    let log = LogStore::open(&settings.log_dir)?.with_member(member.clone());
    // Every task of the Raft side, stopped by RaftRuntime::shutdown.
    let mut tasks = Vec::new();
    if let Some(path) = settings.disk_fault_file.clone() {
        tracing::warn!(file = %path.display(), "test-only disk fault switch is on");
        tasks.push(tokio::spawn(log.disk_faults().follow_file(path)));
    }
    log.check_committed_present(covered)
        .map_err(|reason| StartError::LostEntries {
            path: settings.log_dir.display().to_string(),
            reason,
        })?;
    let state_machine =
        StateMachine::new(shared.clone(), delivery.clone(), snapshots, member.clone());
    let me = settings.member_id;
    let cluster = settings.members.len() > 1;
    let network = cluster.then(|| {
        PeerNetwork::new(
            me,
            settings.faults.clone(),
            settings.peer_tls.clone(),
            Duration::from_millis(settings.heartbeat_ms),
            member.clone(),
        )
    });
    let replay_started = std::time::Instant::now();
    let config = Arc::new(openraft_config(&settings)?);
    let raft = match &network {
        Some(network) => Raft::new(me, config, network.clone(), log, state_machine).await,
        None => Raft::new(me, config, NoPeers, log, state_machine).await,
    }
    .map_err(|e| StartError::Raft(e.to_string()))?;
    // openraft re-applies the committed log tail before Raft::new returns: the transactions
    // in it are what ZooKeeper's startup_txns_loaded counts.
    let replayed = shared.txns_since_snapshot();
    crate::telemetry::STARTUP_TXNS_LOAD_TIME.record_ms(replay_started.elapsed());
    crate::telemetry::STARTUP_TXNS_LOADED.record(replayed as f64);
    crate::telemetry::DB_INIT_TIME.record_ms(init_started.elapsed());
    member
        .serving
        .store(true, std::sync::atomic::Ordering::Relaxed);
    form_or_join(&raft, network.as_ref(), &settings).await?;
    let (proposer, proposer_task) = Proposer::start(
        me,
        raft.clone(),
        delivery,
        settings.proposer,
        network.clone(),
        shared.latest_digest(),
    );
    let gate = Arc::new(election_gate::ElectionGate::new(Duration::from_millis(
        settings.election_timeout_ms.0,
    )));
    if let Some(network) = &network {
        tasks.push(tokio::spawn(
            gate.clone().run(raft.clone(), network.clone()),
        ));
    }
    let history = Arc::new(role_watch::RoleHistory::default());
    tasks.push(tokio::spawn(role_watch::run(
        raft.clone(),
        me,
        cluster,
        init_started,
        history.clone(),
        member.clone(),
    )));
    tasks.push(proposer_task);
    tasks.push(tokio::spawn(snapshot_schedule::run(
        raft.clone(),
        shared.clone(),
        settings.snap_count,
        me,
    )));
    let replica = Replica {
        proposer,
        state: shared,
        member_id: me,
        raft: raft.clone(),
        network,
        gate,
        // Followers elect a new leader no sooner than max + min after the last heartbeat; a
        // loaded leader's acknowledgements can lag more than max without any election.
        quorum_stale_ms: settings.election_timeout_ms.1 * 2,
        reconfig_lock: Arc::new(tokio::sync::Mutex::new(())),
        read_rounds: Arc::default(),
        history,
        member,
    };
    Ok((replica, RaftRuntime { raft, tasks }))
}

/// The state the newest snapshot holds (or an empty tree), and the index it covers. A
/// snapshot without its log means the log was deleted: entries after the snapshot may be
/// gone, and starting would silently serve an older state.
fn load_snapshot(
    snapshots: &SnapshotStore,
    settings: &RaftSettings,
) -> Result<(Arc<SharedState>, u64), StartError> {
    let started = std::time::Instant::now();
    let loaded = snapshots.load_latest()?;
    crate::telemetry::STARTUP_SNAP_LOAD_TIME.record_ms(started.elapsed());
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
    if covered > 0 && !settings.log_dir.join("CURRENT").exists() {
        return Err(StartError::LostEntries {
            path: settings.log_dir.display().to_string(),
            reason: format!("a snapshot up to index {covered} exists but the log is missing"),
        });
    }
    Ok((shared, covered))
}

/// openraft's timing, snapshot and replication settings for this member.
fn openraft_config(settings: &RaftSettings) -> Result<openraft::Config, StartError> {
    openraft::Config {
        cluster_name: "raftzk".into(),
        heartbeat_interval: settings.heartbeat_ms,
        election_timeout_min: settings.election_timeout_ms.0,
        election_timeout_max: settings.election_timeout_ms.1,
        install_snapshot_timeout: 10_000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(settings.snap_count),
        // A member that has just installed the previous snapshot must find the entries after
        // it: keeping less than snapCount behind a new snapshot sent it a second whole
        // snapshot (seen at 1 M znodes: 19 s of catch-up instead of 11).
        max_in_snapshot_log_to_keep: settings.snap_count.max(1_000),
        // At most this many entries per AppendEntries, and no more than the byte budget
        // (network.rs, enforced when the log store reads them). A new leader's log search
        // sends each probe's whole range, budget by budget. Failover at 1 M znodes, median of
        // 3 runs: 304 ms with 64, 272 ms with 16, 412 ms with 8 (whose small calls also slowed
        // the fill by a quarter). Entries are batches of writes: a few per call suffice.
        max_payload_entries: 16,
        ..openraft::Config::default()
    }
    .validate()
    .map_err(|e| StartError::Config(e.to_string()))
}

/// A member with an empty log either joins the group its peers already run, or forms a new
/// one with every configured voter; a standalone member waits until it leads.
async fn form_or_join(
    raft: &Raft,
    network: Option<&PeerNetwork>,
    settings: &RaftSettings,
) -> Result<(), StartError> {
    let me = settings.member_id;
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
    let i_vote = settings.members.get(&me).is_none_or(|n| !n.observer);
    let group_exists = match (network, initialized) {
        (Some(network), false) => find_existing_group(network, me, &settings.members).await,
        _ => None,
    };
    if let Some(member) = group_exists {
        tracing::info!(
            member = me,
            asked = member,
            "a group already exists: joining it (a reconfig adds this member, or the leader \
             replicates to it if it is listed already)"
        );
    } else if !initialized && i_vote {
        // Every voter forms the group with the same voter set: identical initializations
        // agree (openraft's index-0 membership entry), so the order members start in does
        // not matter. Observers join later as learners, added by the leader.
        let voters: BTreeMap<NodeId, PeerNode> = if network.is_some() {
            settings
                .members
                .iter()
                .filter(|(_, n)| !n.observer)
                .map(|(id, n)| (*id, n.clone()))
                .collect()
        } else {
            BTreeMap::from([(me, PeerNode::default())])
        };
        let count = voters.len();
        raft.initialize(voters)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        tracing::info!(member = me, voters = count, "formed a new group");
    }
    if network.is_none() {
        raft.wait(Some(Duration::from_secs(30)))
            .current_leader(me, "this member leads")
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
    }
    Ok(())
}
