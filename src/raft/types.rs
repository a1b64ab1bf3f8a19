//! The openraft type configuration.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::ServerSpec;
use crate::txn::LogEntry;

/// A member id: ZooKeeper's `myid` (1 for a standalone member).
pub type NodeId = u64;

/// What the membership records about a member: its `server.N` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    /// `host:peerPort` for member traffic (empty for a standalone member).
    pub peer_addr: String,
    /// ZooKeeper's election port (kept for `/zookeeper/config`; raftzk does not use it).
    pub election_port: u16,
    /// `host:clientPort` clients connect to.
    pub client_addr: String,
    /// An observer: a Raft learner that serves clients and never votes.
    pub observer: bool,
}

impl PeerNode {
    /// A `server.N` spec as the membership records it; without a client address the member
    /// serves clients on its host at `default_client_port`.
    pub fn from_spec(spec: &ServerSpec, default_client_port: u16) -> PeerNode {
        let (client_host, client_port) = match &spec.client {
            Some((host, port)) => (host.clone().unwrap_or_else(|| spec.host.clone()), *port),
            None => (spec.host.clone(), default_client_port),
        };
        PeerNode {
            peer_addr: format!("{}:{}", spec.host, spec.peer_port),
            election_port: spec.election_port,
            client_addr: format!("{client_host}:{client_port}"),
            observer: spec.observer,
        }
    }

    /// The member's line in `/zookeeper/config`, ZooKeeper's format:
    /// `server.N=host:peerPort:electionPort:participant;clientHost:clientPort`; a member that
    /// does not vote is an `observer`.
    pub fn config_line(&self, id: NodeId, voter: bool) -> String {
        let role = if !voter { "observer" } else { "participant" };
        format!(
            "server.{id}={}:{}:{role};{}",
            self.peer_addr, self.election_port, self.client_addr
        )
    }
}

impl std::fmt::Display for PeerNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.peer_addr)
    }
}

/// A requested membership, as ZooKeeper's reconfig states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Incremental: members added (or re-specified) and member ids removed.
    Incremental {
        /// `server.N` specs to add.
        joining: BTreeMap<NodeId, PeerNode>,
        /// Ids to remove.
        leaving: BTreeSet<NodeId>,
    },
    /// Non-incremental: the whole new membership.
    Replace(BTreeMap<NodeId, PeerNode>),
}

/// One reconfig: the change and the configuration version it applies to (ZooKeeper's
/// `curConfigId`; `None` for −1, any version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconfigRequest {
    /// What to change.
    pub change: MembershipChange,
    /// The version the client saw, if it wants it checked.
    pub expected_version: Option<i64>,
    /// The client may write `/zookeeper/config`. ZooKeeper checks that permission after the
    /// request's other checks, so the leader refuses an unauthorized change only once the
    /// version and the plan have passed.
    pub authorized: bool,
}

/// Why a reconfig was refused or did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ReconfigError {
    /// The request names an impossible membership (BadArguments to the client).
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// The client may not write `/zookeeper/config` (NoAuth).
    #[error("not authorized to change the configuration")]
    NoAuth,
    /// The client's configuration version is not the current one (BadVersion).
    #[error("the configuration version is {0:x}")]
    BadVersion(i64),
    /// Another membership change is under way (ReconfigInProgress).
    #[error("a membership change is in progress")]
    InProgress,
    /// A quorum of the new voter set is not up to date (NewConfigNoQuorum).
    #[error("the new configuration has no synced quorum: {0}")]
    NoQuorum(String),
    /// No leader is known, or it changed during the steps: the outcome is unknown.
    #[error("no leader")]
    NoLeader,
    /// The steps did not finish in time: the outcome is unknown.
    #[error("not done within {0} ms")]
    Timeout(u64),
    /// openraft refused a step or the peer link failed: the outcome is unknown.
    #[error("raft: {0}")]
    Raft(String),
}

/// What applying one entry returns to openraft (outcomes themselves go to the Delivery).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryApplied {
    /// The state's last zxid after the entry.
    pub last_zxid: i64,
}

openraft::declare_raft_types!(
    /// raftzk's openraft types.
    pub TypeConfig:
        D = LogEntry,
        R = EntryApplied,
        NodeId = NodeId,
        Node = PeerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = SnapshotFile,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A snapshot as openraft moves it: the file itself, read and written a chunk at a time
/// (a leader streams its newest snapshot file; a member receives into a file of its own).
pub type SnapshotFile = tokio::fs::File;

/// A log id with our types.
pub type LogId = openraft::LogId<NodeId>;
/// A storage error with our types.
pub type StorageError = openraft::StorageError<NodeId>;
/// A stored membership with our types.
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;
/// A snapshot's metadata with our types.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerNode>;
/// The openraft handle with our types.
pub type Raft = openraft::Raft<TypeConfig>;
