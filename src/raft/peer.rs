//! The dialling side of the peer link: one connection per peer, requests sent on it and
//! answered on the same connection by id, in any order (`peer_server` answers, `messages`
//! has the wire format). The link carries openraft's RPCs plus raftzk's own: writes forwarded
//! to the leader, session-touch batches, read-index requests for `sync`, reconfigs, pre-votes.
//!
//! Each outgoing call has a deadline; a peer that cannot be reached, or a connection that
//! breaks, fails every call waiting on it, so openraft backs off and retries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::fault_switch::FaultSwitch;
use super::messages::{read_message, Envelope, PeerError, PeerRequest, PeerResponse};
use super::types::NodeId;
use crate::tls::peer::{PeerStream, PeerTls};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<PeerResponse>>>>;

/// The outgoing side of the link to one peer: one connection, dialled on first use and again
/// after it breaks. Cheap to share.
#[derive(Debug)]
pub struct PeerClient {
    me: NodeId,
    target: NodeId,
    addr: String,
    faults: Arc<FaultSwitch>,
    /// TLS on the link (`sslQuorum`); None: plaintext.
    tls: Option<Arc<PeerTls>>,
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
    /// Its writer and reader. A replaced connection's end by themselves (the writer when its
    /// queue is dropped, the reader on the peer's close, after answering what it can); the
    /// live one's stop when the client is dropped (openraft drops its clients as Raft stops).
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl Drop for PeerClient {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.get_mut().as_ref() {
            for task in &conn.tasks {
                task.abort();
            }
        }
    }
}

impl PeerClient {
    /// A client for member `target` at `addr`.
    pub fn new(
        me: NodeId,
        target: NodeId,
        addr: String,
        faults: Arc<FaultSwitch>,
        tls: Option<Arc<PeerTls>>,
    ) -> PeerClient {
        PeerClient {
            me,
            target,
            addr,
            faults,
            tls,
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
        let stream = match &self.tls {
            Some(tls) => tls
                .dial(stream, &self.addr)
                .await
                .map_err(|e| PeerError::Unreachable(self.target, e))?,
            None => PeerStream::Plain(stream),
        };
        let (mut read, mut write) = stream.into_halves();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if write.write_all(&bytes).await.is_err() {
                    return;
                }
                // TLS holds what it could not send yet until a flush.
                if rx.is_empty() && write.flush().await.is_err() {
                    return;
                }
            }
        });
        let pending = self.pending.clone();
        let faults = self.faults.clone();
        let target = self.target;
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let reader_alive = alive.clone();
        let reader = tokio::spawn(async move {
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
            tasks: [writer, reader],
        });
        Ok(tx)
    }
}
