//! The peer link's messages and wire format (`peer` dials, `peer_server` answers).
//!
//! Wire: each message is a `u32` big-endian length then a postcard [`Envelope`]. Both members
//! run the same release (a rolling upgrade changes one member at a time only within one
//! release's peer format).

use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::types::{NodeId, ReconfigError, ReconfigRequest, TypeConfig};
use crate::txn::Txn;

/// Largest peer message accepted (snapshot chunks are sent in smaller pieces).
const MAX_MESSAGE: usize = 64 << 20;

/// A request from one member to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    /// openraft: replicate entries / heartbeat.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// openraft: request a vote.
    Vote(VoteRequest<NodeId>),
    /// openraft: a snapshot chunk.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Writes a follower forwards to the leader's Proposer, in order.
    Forward(Vec<Txn>),
    /// Sessions a member heard from, with their timeouts (ms), for the leader's tracker.
    Touch(Vec<(i64, i32)>),
    /// The leader's read index, for `sync` on a follower.
    ReadIndex,
    /// A reconfig a member forwards to the leader.
    Reconfig(ReconfigRequest),
    /// The leader dropped the receiver from the group: it must stop campaigning.
    Removed,
    /// Pre-vote: may the sender campaign, or does the receiver still hear a leader?
    PreVote,
    /// Whether the receiver belongs to an initialized group (asked by a member starting with
    /// an empty log, which must then join rather than form a group).
    Hello,
}

/// The answer to a [`PeerRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    /// To AppendEntries.
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// To Vote.
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// To InstallSnapshot.
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The forwarded writes were queued on the leader (or why not).
    Forwarded(Result<(), String>),
    /// Touches recorded.
    Touched,
    /// The index every read must wait for (or why there is none).
    ReadIndex(Result<u64, String>),
    /// The reconfig's last membership index (or why it failed).
    Reconfigured(Result<u64, ReconfigError>),
    /// Noted.
    Noted,
    /// To Hello: true if the receiver's group is initialized.
    Hello(bool),
    /// To PreVote: true if the receiver hears no leader.
    PreVote(bool),
}

/// One message on the peer link.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope<T> {
    /// The request's id, echoed by its answer.
    pub id: u64,
    /// The sending member.
    pub from: NodeId,
    /// The request or answer.
    pub body: T,
}

/// Why a peer call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    /// No connection could be made (down, refused, or cut by the fault switch).
    #[error("member {0} unreachable: {1}")]
    Unreachable(NodeId, String),
    /// The connection broke or the message could not be sent.
    #[error("member {0}: {1}")]
    Network(NodeId, String),
    /// No answer within the deadline.
    #[error("member {0} did not answer within {1:?}")]
    Timeout(NodeId, Duration),
}

pub(crate) async fn write_message<T: Serialize>(
    stream: &mut (impl AsyncWriteExt + Unpin),
    msg: &T,
) -> std::io::Result<()> {
    let body = postcard::to_stdvec(msg).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    stream.write_all(&out).await
}

pub(crate) async fn read_message<T: for<'de> Deserialize<'de>>(
    stream: &mut (impl AsyncReadExt + Unpin),
) -> std::io::Result<T> {
    let len = stream.read_u32().await? as usize;
    if len > MAX_MESSAGE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("peer message of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    postcard::from_bytes(&body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
