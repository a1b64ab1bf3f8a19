//! openraft's network: [`PeerNetwork`] carries RPCs over the peer link (`peer.rs`);
//! [`NoPeers`] is a standalone member's, where every RPC reports the target unreachable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::fault_switch::FaultSwitch;
use super::messages::{PeerError, PeerRequest, PeerResponse};
use super::peer::PeerClient;
use super::types::{NodeId, PeerNode, TypeConfig};

/// Bytes of entries one AppendEntries may carry. openraft gives every AppendEntries one
/// heartbeat interval to complete (send, follower fsync, reply); a full batch of large entries
/// can be tens of MiB, which never fit, and a follower that fell behind would then never catch
/// up. A new leader also probes each follower's log by binary search, every probe carrying
/// entries the follower already has: at 1 MiB per probe that cost ~200 ms of failover with a
/// long log, at 256 KiB a few ms. The log store reads no more than this for replication
/// (`limited_get_log_entries`); should entries still exceed it, the call asks openraft for
/// fewer (it retries at once).
pub(crate) const APPEND_BYTES_BUDGET: usize = 256 << 10;

/// Entries worth asking about before sending them while probing (see [`PeerLink::probing`]).
const PROBE_CHECK_BYTES: usize = 16 << 10;

/// How many of `entries`, from the first, fit in [`APPEND_BYTES_BUDGET`] (at least one), and
/// their size in bytes.
fn entries_within_budget(entries: &[openraft::Entry<TypeConfig>]) -> (usize, usize) {
    let mut total = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        let size = postcard::serialize_with_flavor(entry, postcard::ser_flavors::Size::default())
            .unwrap_or(0);
        if total.saturating_add(size) > APPEND_BYTES_BUDGET && i > 0 {
            return (i, total);
        }
        total = total.saturating_add(size);
    }
    (entries.len(), total)
}

/// The network of a single-member group.
#[derive(Debug, Clone, Default)]
pub struct NoPeers;

/// A client for a peer that cannot be reached.
#[derive(Debug, Clone)]
pub struct NoPeer {
    target: NodeId,
}

fn unreachable<E: std::error::Error>(target: NodeId) -> RPCError<NodeId, PeerNode, E> {
    let reason = std::io::Error::other(format!("member {target}: this member has no peer link"));
    RPCError::Unreachable(Unreachable::new(&reason))
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeer;

    async fn new_client(&mut self, target: NodeId, _node: &PeerNode) -> NoPeer {
        NoPeer { target }
    }
}

impl RaftNetwork<TypeConfig> for NoPeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        Err(unreachable(self.target))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, PeerNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(unreachable(self.target))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        Err(unreachable(self.target))
    }
}

/// The network of a group with peers: one [`PeerClient`] per peer, shared by every openraft
/// stream to it (openraft calls `new_client` often; it must not dial).
#[derive(Clone)]
pub struct PeerNetwork {
    me: NodeId,
    clients: Arc<Mutex<HashMap<NodeId, Arc<PeerClient>>>>,
    faults: Arc<FaultSwitch>,
    tls: Option<Arc<crate::tls::PeerTls>>,
    retry: std::time::Duration,
    member: Arc<crate::telemetry::MemberTelemetry>,
}

impl PeerNetwork {
    /// The network of member `me`; an unreachable peer is retried every `retry` (the
    /// heartbeat interval). With `tls`, peers are dialled as `sslQuorum` says.
    pub fn new(
        me: NodeId,
        faults: Arc<FaultSwitch>,
        tls: Option<Arc<crate::tls::PeerTls>>,
        retry: std::time::Duration,
        member: Arc<crate::telemetry::MemberTelemetry>,
    ) -> PeerNetwork {
        PeerNetwork {
            me,
            clients: Arc::new(Mutex::new(HashMap::new())),
            faults,
            tls,
            retry,
            member,
        }
    }

    /// The client for `target` at `addr` (a new one if the address changed).
    pub fn client(&self, target: NodeId, addr: &str) -> Arc<PeerClient> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&target).filter(|c| c.addr() == addr) {
            return client.clone();
        }
        let client = Arc::new(PeerClient::new(
            self.me,
            target,
            addr.to_string(),
            self.faults.clone(),
            self.tls.clone(),
        ));
        clients.insert(target, client.clone());
        client
    }
}

/// openraft's handle for one peer (one per replication stream: a new leader, a new
/// membership).
pub struct PeerLink {
    me: NodeId,
    client: Arc<PeerClient>,
    retry: std::time::Duration,
    /// True until an AppendEntries carried entries the follower did not have yet. A new
    /// leader does not know how much of its log a follower holds and binary-searches for it
    /// (openraft 0.9), each probe carrying up to [`APPEND_BYTES_BUDGET`] of entries the
    /// follower mostly has: with a long log of large entries (a big tree written in batches)
    /// that added tens of ms to every failover. While probing, a large AppendEntries first asks
    /// whether the follower holds its last entry (an AppendEntries with that entry as
    /// `prev_log_id` and none to append); if it does, Raft's log matching property says it
    /// holds everything before it too, and the request succeeded without sending a byte of
    /// it.
    probing: bool,
    /// The member this link talks to.
    target: NodeId,
    /// This member's peer acknowledgements and commit index.
    member: Arc<crate::telemetry::MemberTelemetry>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerLink {
        PeerLink {
            me: self.me,
            target,
            client: self.client(target, &node.peer_addr),
            retry: self.retry,
            probing: true,
            member: self.member.clone(),
        }
    }
}

impl PeerLink {
    fn fail<E: std::error::Error>(
        &self,
        action: RPCTypes,
        error: PeerError,
    ) -> RPCError<NodeId, PeerNode, E> {
        match error {
            PeerError::Unreachable(..) => RPCError::Unreachable(Unreachable::new(&error)),
            PeerError::Timeout(target, timeout) => RPCError::Timeout(Timeout {
                action,
                id: self.me,
                target,
                timeout,
            }),
            PeerError::Network(..) => RPCError::Network(NetworkError::new(&error)),
        }
    }

    /// One AppendEntries over the peer link.
    async fn send_append(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: &RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        let request = PeerRequest::AppendEntries(rpc);
        let answer = self
            .rpc(request, RPCTypes::AppendEntries, option, |r| match r {
                PeerResponse::AppendEntries(answer) => Some(answer),
                _ => None,
            })
            .await;
        if answer.is_ok() {
            self.member.peer_acks.acked(self.target);
        }
        answer
    }

    /// One openraft RPC over the peer link; `answer` takes the matching response apart.
    async fn rpc<T, E: std::error::Error>(
        &self,
        request: PeerRequest,
        action: RPCTypes,
        option: &RPCOption,
        answer: fn(PeerResponse) -> Option<Result<T, E>>,
    ) -> Result<T, RPCError<NodeId, PeerNode, E>> {
        match self.client.call(request, option.hard_ttl()).await {
            Ok(response) => match answer(response) {
                Some(Ok(r)) => Ok(r),
                Some(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(
                    self.client.target(),
                    e,
                ))),
                None => Err(self.unexpected()),
            },
            Err(e) => Err(self.fail(action, e)),
        }
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<NodeId, PeerNode, E> {
        let e = std::io::Error::other("unexpected peer response");
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    /// openraft waits 500 ms after an unreachable peer by default. A restarted member hears
    /// nothing for that long and campaigns, and its higher term then unseats a healthy leader
    /// (0.9 has no pre-vote); retrying every heartbeat reaches it before its election timer.
    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(self.retry))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        self.member
            .note_commit_index(rpc.leader_commit.map_or(0, |id| id.index));
        let (fit, bytes) = entries_within_budget(&rpc.entries);
        if fit < rpc.entries.len() {
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(fit as u64),
            ));
        }
        let last = rpc.entries.last().map(|entry| entry.log_id);
        if let Some(last) = last.filter(|_| self.probing && bytes > PROBE_CHECK_BYTES) {
            let check = AppendEntriesRequest {
                vote: rpc.vote,
                prev_log_id: Some(last),
                leader_commit: rpc.leader_commit,
                entries: Vec::new(),
            };
            match self.send_append(check, &option).await? {
                // It holds `last`, so everything up to it: the request's work is done.
                AppendEntriesResponse::Success => return Ok(AppendEntriesResponse::Success),
                AppendEntriesResponse::Conflict => {}
                // A higher vote (and anything else) answers the request as it stands.
                other => return Ok(other),
            }
        }
        let had_entries = !rpc.entries.is_empty();
        let proposed_at = rpc.entries.iter().rev().find_map(|e| match &e.payload {
            openraft::EntryPayload::Normal(entry) => Some(entry.time_ms),
            _ => None,
        });
        let response = self.send_append(rpc, &option).await?;
        if let (Some(time_ms), AppendEntriesResponse::Success) = (proposed_at, &response) {
            crate::telemetry::ACK_LATENCY.record(
                &self.target.to_string(),
                crate::telemetry::ms_since(time_ms),
            );
        }
        if had_entries && response == AppendEntriesResponse::Success {
            self.probing = false;
        }
        Ok(response)
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, PeerNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let (first, done) = (rpc.offset == 0, rpc.done);
        let index = rpc.meta.last_log_id.map_or(0, |id| id.index);
        if first {
            tracing::debug!(member = self.target, index, "sending a snapshot");
        }
        let request = PeerRequest::InstallSnapshot(rpc);
        let answer = self
            .rpc(request, RPCTypes::InstallSnapshot, &option, |r| match r {
                PeerResponse::InstallSnapshot(answer) => Some(answer),
                _ => None,
            })
            .await;
        if done && answer.is_ok() {
            // A whole snapshot delivered: ZooKeeper's snap_count counts these syncs.
            crate::telemetry::SNAP_COUNT.bump();
            tracing::info!(
                member = self.target,
                index,
                "sent a whole snapshot to a member too far behind for the log"
            );
        }
        answer
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        let request = PeerRequest::Vote(rpc);
        self.rpc(request, RPCTypes::Vote, &option, |r| match r {
            PeerResponse::Vote(answer) => Some(answer),
            _ => None,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::txn::{LogEntry, Txn, TxnOp};

    fn entry(index: u64, password_bytes: usize) -> openraft::Entry<TypeConfig> {
        let txn = Txn {
            session_id: 1,
            origin: None,
            auth: Vec::new(),
            rules: Default::default(),
            op: TxnOp::CreateSession {
                timeout_ms: 10_000,
                password: vec![7; password_bytes],
            },
        };
        openraft::Entry {
            log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: openraft::EntryPayload::Normal(LogEntry {
                time_ms: 0,
                txns: vec![txn],
                digest: None,
            }),
        }
    }

    #[test]
    fn append_entries_are_cut_to_the_byte_budget() {
        let small: Vec<_> = (0..300).map(|i| entry(i, 100)).collect();
        assert_eq!(entries_within_budget(&small).0, 300);
        // 80 KiB entries: three fit in 256 KiB, the fourth would not.
        let large: Vec<_> = (0..300).map(|i| entry(i, 80 << 10)).collect();
        let (fit, bytes) = entries_within_budget(&large);
        assert_eq!(fit, 3);
        assert!(
            bytes > 3 * (80 << 10) && bytes <= APPEND_BYTES_BUDGET,
            "{bytes}"
        );
        // One entry above the budget still goes, alone.
        let huge = vec![entry(0, 1 << 20), entry(1, 10)];
        assert_eq!(entries_within_budget(&huge).0, 1);
        assert_eq!(entries_within_budget(&[]), (0, 0));
    }
}
