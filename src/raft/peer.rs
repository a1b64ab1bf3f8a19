//! The peer link: all member-to-member traffic on each member's `peerPort` (the `server.N`
//! line's first port): openraft's RPCs plus raftzk's own — writes forwarded to the leader,
//! session-touch batches, and read-index requests for `sync`.
//!
//! Wire: each message is a `u32` big-endian length then a postcard [`Envelope`]. A member
//! dials each peer once and sends requests on that connection; the peer answers on the same
//! connection with the request's id, in any order. Requests of one connection that must keep
//! their order (forwarded writes) are handled inline, the rest concurrently.
//!
//! Each outgoing call has a deadline; a peer that cannot be reached, or a connection that
//! breaks, fails every call waiting on it, so openraft backs off and retries.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::types::{NodeId, TypeConfig};
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
    Reconfig(super::reconfig::ReconfigRequest),
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
    Reconfigured(Result<u64, super::reconfig::ReconfigError>),
    /// Noted.
    Noted,
    /// To Hello: true if the receiver's group is initialized.
    Hello(bool),
    /// To PreVote: true if the receiver hears no leader.
    PreVote(bool),
}

/// One message on the peer link.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope<T> {
    id: u64,
    from: NodeId,
    body: T,
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

/// Test-only network faults: members whose traffic this member drops, both ways (the fault
/// harness's partition switch, read from the file named by `peer.faultFile`).
#[derive(Debug, Default)]
pub struct FaultSwitch {
    cut: RwLock<HashSet<NodeId>>,
}

impl FaultSwitch {
    /// True if traffic with `peer` is cut.
    pub fn is_cut(&self, peer: NodeId) -> bool {
        self.cut
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&peer)
    }

    /// Replaces the set of cut peers.
    pub fn set(&self, peers: HashSet<NodeId>) {
        *self.cut.write().unwrap_or_else(PoisonError::into_inner) = peers;
    }

    /// Follows a file listing member ids (whitespace or comma separated) to cut; a missing
    /// file cuts nothing. Polled every 50 ms.
    pub async fn follow_file(self: Arc<Self>, path: std::path::PathBuf) {
        let mut last = None;
        loop {
            // A tiny test-only file: reading it synchronously is cheaper than a blocking task.
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if last.as_ref() != Some(&text) {
                let peers: HashSet<NodeId> = text
                    .split(|c: char| c.is_whitespace() || c == ',')
                    .filter_map(|t| t.parse().ok())
                    .collect();
                tracing::warn!(?peers, "peer fault switch: cutting traffic");
                self.set(peers);
                last = Some(text);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn write_message<T: Serialize>(
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

async fn read_message<T: for<'de> Deserialize<'de>>(
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

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<PeerResponse>>>>;

/// The outgoing side of the link to one peer: one connection, dialled on first use and again
/// after it breaks. Cheap to share.
#[derive(Debug)]
pub struct PeerClient {
    me: NodeId,
    target: NodeId,
    addr: String,
    faults: Arc<FaultSwitch>,
    next_id: AtomicU64,
    conn: tokio::sync::Mutex<Option<Conn>>,
    pending: Pending,
}

/// A live connection: its write queue, and whether its reader still runs (a connection the
/// peer closed is dead even while writes into it still succeed).
#[derive(Debug)]
struct Conn {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    alive: Arc<std::sync::atomic::AtomicBool>,
}

impl PeerClient {
    /// A client for member `target` at `addr`.
    pub fn new(me: NodeId, target: NodeId, addr: String, faults: Arc<FaultSwitch>) -> PeerClient {
        PeerClient {
            me,
            target,
            addr,
            faults,
            next_id: AtomicU64::new(1),
            conn: tokio::sync::Mutex::new(None),
            pending: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The peer's id.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// The peer's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends a request and waits (≤ `timeout`) for its answer.
    pub async fn call(
        &self,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, PeerError> {
        if self.faults.is_cut(self.target) {
            return Err(PeerError::Unreachable(
                self.target,
                "cut by the fault switch".into(),
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = {
            let env = Envelope {
                id,
                from: self.me,
                body: request,
            };
            let body = postcard::to_stdvec(&env)
                .map_err(|e| PeerError::Network(self.target, e.to_string()))?;
            let mut out = Vec::with_capacity(body.len() + 4);
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            out.extend_from_slice(&body);
            out
        };
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        let sent = match tokio::time::timeout(timeout, self.sender()).await {
            Ok(Ok(sender)) => sender.send(bytes).is_ok(),
            Ok(Err(e)) => {
                self.forget(id);
                return Err(e);
            }
            Err(_) => false,
        };
        if !sent {
            self.forget(id);
            *self.conn.lock().await = None;
            return Err(PeerError::Network(self.target, "connection closed".into()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(PeerError::Network(self.target, "connection lost".into())),
            Err(_) => {
                self.forget(id);
                Err(PeerError::Timeout(self.target, timeout))
            }
        }
    }

    fn forget(&self, id: u64) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// The live connection's queue, dialling if there is none.
    async fn sender(&self) -> Result<mpsc::UnboundedSender<Vec<u8>>, PeerError> {
        let mut conn = self.conn.lock().await;
        if let Some(live) = conn
            .as_ref()
            .filter(|c| !c.tx.is_closed() && c.alive.load(Ordering::Acquire))
        {
            return Ok(live.tx.clone());
        }
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| PeerError::Unreachable(self.target, e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if write.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let pending = self.pending.clone();
        let faults = self.faults.clone();
        let target = self.target;
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let reader_alive = alive.clone();
        tokio::spawn(async move {
            loop {
                let msg: Envelope<PeerResponse> = match read_message(&mut read).await {
                    Ok(msg) => msg,
                    Err(_) => break,
                };
                if faults.is_cut(target) {
                    break;
                }
                let waiter = pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&msg.id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(msg.body);
                }
            }
            // The connection is gone: every call still waiting on it fails now, and the next
            // call dials again.
            reader_alive.store(false, Ordering::Release);
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        });
        *conn = Some(Conn {
            tx: tx.clone(),
            alive,
        });
        Ok(tx)
    }
}

/// What a member does with the peer requests that are not openraft's.
pub trait PeerHandler: Send + Sync + 'static {
    /// Queues forwarded writes on this member's Proposer, in order.
    fn forward(
        &self,
        txns: Vec<Txn>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
    /// Records session touches.
    fn touch(&self, sessions: Vec<(i64, i32)>);
    /// This member's read index, if it leads.
    fn read_index(&self) -> impl std::future::Future<Output = Result<u64, String>> + Send;
    /// Runs a forwarded reconfig, if this member leads.
    fn reconfig(
        &self,
        request: super::reconfig::ReconfigRequest,
    ) -> impl std::future::Future<Output = Result<u64, super::reconfig::ReconfigError>> + Send;
}

/// Serves the peer link on `listener` until the task is dropped.
pub async fn serve<H: PeerHandler>(
    listener: TcpListener,
    raft: super::types::Raft,
    handler: Arc<H>,
    faults: Arc<FaultSwitch>,
    gate: Arc<super::election_gate::ElectionGate>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            peer,
            raft.clone(),
            handler.clone(),
            faults.clone(),
            gate.clone(),
        ));
    }
}

async fn serve_connection<H: PeerHandler>(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    raft: super::types::Raft,
    handler: Arc<H>,
    faults: Arc<FaultSwitch>,
    gate: Arc<super::election_gate::ElectionGate>,
) {
    let (mut read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Envelope<PeerResponse>>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if write_message(&mut write, &msg).await.is_err() {
                return;
            }
        }
    });
    loop {
        let msg: Envelope<PeerRequest> = match read_message(&mut read).await {
            Ok(msg) => msg,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "peer connection ended");
                break;
            }
        };
        if faults.is_cut(msg.from) {
            // A partition: drop the request and the connection, as a cut cable would.
            break;
        }
        let (id, from) = (msg.id, msg.from);
        let reply = tx.clone();
        match msg.body {
            // Forwarded writes keep their order: queue them before reading the next message.
            PeerRequest::Forward(txns) => {
                let result = handler.forward(txns).await;
                let _ = reply.send(Envelope {
                    id,
                    from,
                    body: PeerResponse::Forwarded(result),
                });
            }
            PeerRequest::Touch(sessions) => {
                handler.touch(sessions);
                let _ = reply.send(Envelope {
                    id,
                    from,
                    body: PeerResponse::Touched,
                });
            }
            body => {
                let raft = raft.clone();
                let handler = handler.clone();
                let gate = gate.clone();
                tokio::spawn(async move {
                    let body = match body {
                        PeerRequest::AppendEntries(rpc) => {
                            let commit = rpc.leader_commit.map_or(0, |id| id.index);
                            gate.saw_append(commit);
                            crate::telemetry::note_commit_index(commit);
                            let mut writes = 0u64;
                            let mut proposed_at = None;
                            for entry in &rpc.entries {
                                if let openraft::EntryPayload::Normal(e) = &entry.payload {
                                    writes += e.txns.len() as u64;
                                    proposed_at = Some(e.time_ms);
                                }
                            }
                            if let Some(time_ms) = proposed_at {
                                crate::telemetry::PROPOSAL_LATENCY
                                    .record(crate::telemetry::ms_since(time_ms));
                            }
                            let answer = raft.append_entries(rpc).await;
                            if matches!(&answer, Ok(r) if r.is_success()) {
                                crate::telemetry::LEARNER_PROPOSAL_RECEIVED.add(writes);
                            }
                            PeerResponse::AppendEntries(answer)
                        }
                        PeerRequest::Vote(rpc) => PeerResponse::Vote(raft.vote(rpc).await),
                        PeerRequest::InstallSnapshot(rpc) => {
                            let done = rpc.done;
                            gate.snapshot_chunk_started(done);
                            let installed = raft.install_snapshot(rpc).await;
                            if done {
                                gate.snapshot_install_finished();
                            }
                            PeerResponse::InstallSnapshot(installed)
                        }
                        PeerRequest::ReadIndex => {
                            use std::sync::atomic::Ordering;
                            crate::telemetry::PENDING_SYNCS.fetch_add(1, Ordering::Relaxed);
                            let answer = handler.read_index().await;
                            crate::telemetry::PENDING_SYNCS.fetch_sub(1, Ordering::Relaxed);
                            PeerResponse::ReadIndex(answer)
                        }
                        PeerRequest::Reconfig(request) => {
                            PeerResponse::Reconfigured(handler.reconfig(request).await)
                        }
                        PeerRequest::Removed => {
                            tracing::warn!(
                                leader = from,
                                "removed from the group by a reconfig: not campaigning"
                            );
                            gate.mark_removed();
                            PeerResponse::Noted
                        }
                        PeerRequest::PreVote => PeerResponse::PreVote(gate.grants_pre_vote(&raft)),
                        PeerRequest::Hello => {
                            PeerResponse::Hello(raft.is_initialized().await.unwrap_or(false))
                        }
                        // Handled inline above.
                        PeerRequest::Forward(_) | PeerRequest::Touch(_) => return,
                    };
                    let _ = reply.send(Envelope { id, from, body });
                });
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}
