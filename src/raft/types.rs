//! The openraft type configuration.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::txn::LogEntry;

/// A member id: ZooKeeper's `myid` (1 for a standalone member).
pub type NodeId = u64;

/// What the membership records about a member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    /// `host:peerPort` for member traffic (empty for a standalone member).
    pub peer_addr: String,
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
