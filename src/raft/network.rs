//! openraft's network: [`PeerNetwork`] carries RPCs over the peer link (`peer.rs`);
//! [`NoPeers`] is a standalone member's, where every RPC reports the target unreachable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::peer::{FaultSwitch, PeerClient, PeerError, PeerRequest, PeerResponse};
use super::types::{NodeId, PeerNode, TypeConfig};

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
}

impl PeerNetwork {
    /// The network of member `me`.
    pub fn new(me: NodeId, faults: Arc<FaultSwitch>) -> PeerNetwork {
        PeerNetwork {
            me,
            clients: Arc::new(Mutex::new(HashMap::new())),
            faults,
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
        ));
        clients.insert(target, client.clone());
        client
    }
}

/// openraft's handle for one peer.
pub struct PeerLink {
    me: NodeId,
    client: Arc<PeerClient>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerLink {
        PeerLink {
            me: self.me,
            client: self.client(target, &node.peer_addr),
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

    fn unexpected<E: std::error::Error>(&self) -> RPCError<NodeId, PeerNode, E> {
        let e = std::io::Error::other("unexpected peer response");
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        match self
            .client
            .call(PeerRequest::AppendEntries(rpc), option.hard_ttl())
            .await
        {
            Ok(PeerResponse::AppendEntries(Ok(r))) => Ok(r),
            Ok(PeerResponse::AppendEntries(Err(e))) => Err(RPCError::RemoteError(
                RemoteError::new(self.client.target(), e),
            )),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(self.fail(RPCTypes::AppendEntries, e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, PeerNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self
            .client
            .call(PeerRequest::InstallSnapshot(rpc), option.hard_ttl())
            .await
        {
            Ok(PeerResponse::InstallSnapshot(Ok(r))) => Ok(r),
            Ok(PeerResponse::InstallSnapshot(Err(e))) => Err(RPCError::RemoteError(
                RemoteError::new(self.client.target(), e),
            )),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(self.fail(RPCTypes::InstallSnapshot, e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, PeerNode, RaftError<NodeId>>> {
        match self
            .client
            .call(PeerRequest::Vote(rpc), option.hard_ttl())
            .await
        {
            Ok(PeerResponse::Vote(Ok(r))) => Ok(r),
            Ok(PeerResponse::Vote(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(
                self.client.target(),
                e,
            ))),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(self.fail(RPCTypes::Vote, e)),
        }
    }
}
