//! The openraft type configuration.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

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
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

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
