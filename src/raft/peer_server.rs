//! The answering side of the peer link on each member's `peerPort` (the `server.N` line's
//! first port): openraft's RPCs go to openraft, the rest to the member's [`PeerHandler`].
//! Requests of one connection that must keep their order (forwarded writes) are handled
//! inline, the rest concurrently.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::election_gate::ElectionGate;
use super::fault_switch::FaultSwitch;
use super::messages::{read_message, write_message, Envelope, PeerRequest, PeerResponse};
use super::types::{Raft, ReconfigError, ReconfigRequest};
use crate::telemetry::MemberTelemetry;
use crate::tls::peer::{PeerRead, PeerStream, PeerTls, PeerWrite};
use crate::txn::Txn;

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
        request: ReconfigRequest,
    ) -> impl std::future::Future<Output = Result<u64, ReconfigError>> + Send;
}

/// Serves the peer link on `listener` until the task is dropped; with `tls`, connections are
/// set up as `sslQuorum`/`portUnification` say (a failed handshake closes that one).
#[allow(clippy::too_many_arguments)]
pub async fn serve<H: PeerHandler>(
    listener: TcpListener,
    tls: Option<Arc<PeerTls>>,
    raft: Raft,
    handler: Arc<H>,
    faults: Arc<FaultSwitch>,
    gate: Arc<ElectionGate>,
    member: Arc<MemberTelemetry>,
) {
    // Every connection's task belongs to this one: when it stops, they stop.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (tls, raft, handler) = (tls.clone(), raft.clone(), handler.clone());
        let (faults, gate, member) = (faults.clone(), gate.clone(), member.clone());
        connections.spawn(async move {
            let stream = match &tls {
                Some(tls) => match tls.accept(stream, peer).await {
                    Ok(stream) => stream,
                    // Counted and logged by the TLS side.
                    Err(_) => return,
                },
                None => PeerStream::Plain(stream),
            };
            let (read, write) = stream.into_halves();
            serve_connection(read, write, peer, raft, handler, faults, gate, member).await;
        });
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection<H: PeerHandler>(
    mut read: PeerRead,
    mut write: PeerWrite,
    peer: std::net::SocketAddr,
    raft: Raft,
    handler: Arc<H>,
    faults: Arc<FaultSwitch>,
    gate: Arc<ElectionGate>,
    member: Arc<MemberTelemetry>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Envelope<PeerResponse>>();
    // The writer and the requests answered concurrently belong to this connection: they
    // stop with it (and with the listener that owns it).
    let mut requests = tokio::task::JoinSet::new();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if write_message(&mut write, &msg).await.is_err() {
                return;
            }
            // TLS holds what it could not send yet until a flush.
            if rx.is_empty() && write.flush().await.is_err() {
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
                let member = member.clone();
                while requests.try_join_next().is_some() {}
                requests.spawn(async move {
                    let body = match body {
                        PeerRequest::AppendEntries(rpc) => {
                            let commit = rpc.leader_commit.map_or(0, |id| id.index);
                            gate.saw_append(commit);
                            member.note_commit_index(commit);
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
