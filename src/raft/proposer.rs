//! The Proposer: group commit above Raft (`design.md`, Batching above Raft).
//!
//! openraft 0.9 appends and fsyncs one `client_write` at a time, so one Txn per entry would
//! cap the member at one write per fsync. The Proposer packs every Txn that arrived while the
//! previous entries were being made durable into one [`LogEntry`], stamps the leader's clock,
//! and keeps at most `max_in_flight` entries in flight. Entries are submitted to openraft from
//! this one task, so a session's writes keep their order.
//!
//! On a follower the batch is forwarded to the leader over the peer link instead, and
//! answered when this member applies the entry (the Notifier sees its own origin).
//!
//! Each entry's completion is awaited with a timeout, since openraft's never expires. A Txn
//! whose entry failed or timed out has an unknown fate: the [`Delivery`] closes its connection
//! instead of answering (`design.md`, Unknown outcome). Later Txns of that connection still
//! queued here are failed too, so a session's writes are never applied out of order after a
//! lost one (ZooKeeper's FIFO client order).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

use super::messages::{PeerRequest, PeerResponse};
use super::network::PeerNetwork;
use super::types::{NodeId, Raft};
use super::Delivery;
use crate::txn::{LogEntry, Origin, Txn, ZxidDigest, MAX_TXNS_PER_ENTRY};

/// How the Proposer batches.
#[derive(Debug, Clone, Copy)]
pub struct ProposerConfig {
    /// Most Txns per entry.
    pub max_txns: usize,
    /// Most approximate bytes per entry.
    pub max_bytes: usize,
    /// Entries submitted but not yet applied.
    pub max_in_flight: usize,
    /// How long an entry may take to apply before its writes are given up as unknown.
    pub write_timeout: Duration,
    /// Txns waiting to be packed; a full queue makes connections wait (backpressure).
    pub queue: usize,
}

impl Default for ProposerConfig {
    fn default() -> ProposerConfig {
        ProposerConfig {
            max_txns: 4096,
            max_bytes: 4 << 20,
            max_in_flight: 2,
            write_timeout: Duration::from_secs(10),
            queue: 16_384,
        }
    }
}

/// Why a write could not be completed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    /// The Proposer or Raft has stopped.
    #[error("the write path is shut down")]
    Closed,
    /// The entry was not applied in time; it may still be applied later.
    #[error("not applied within {0:?}")]
    Timeout(Duration),
    /// openraft refused or lost the entry.
    #[error("raft: {0}")]
    Raft(String),
    /// No leader is known (an election, or this member is cut off).
    #[error("no leader")]
    NoLeader,
    /// The leader could not be reached or refused the forwarded writes.
    #[error("forwarding to member {0}: {1}")]
    Forward(NodeId, String),
    /// An earlier write of the same connection failed.
    #[error("an earlier write of this connection failed")]
    EarlierFailed,
}

/// The handle connections propose through. Cheap to clone.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Txn>,
}

impl Proposer {
    /// Starts the Proposer task of member `me`; `network` reaches the leader when it is
    /// another member (`None` for a standalone member).
    pub fn start(
        me: NodeId,
        raft: Raft,
        delivery: Arc<dyn Delivery>,
        config: ProposerConfig,
        network: Option<PeerNetwork>,
        digest: watch::Receiver<Option<ZxidDigest>>,
    ) -> (Proposer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue);
        let task = tokio::spawn(run(Batcher {
            me,
            rx,
            raft,
            delivery,
            config,
            network,
            digest,
            poisoned: HashMap::new(),
        }));
        (Proposer { tx }, task)
    }

    /// Queues a Txn for the next entry; waits while the queue is full.
    pub async fn propose(&self, txn: Txn) -> Result<(), ProposeError> {
        self.tx.send(txn).await.map_err(|_| ProposeError::Closed)
    }
}

/// The Proposer task's state.
struct Batcher {
    me: NodeId,
    rx: mpsc::Receiver<Txn>,
    raft: Raft,
    delivery: Arc<dyn Delivery>,
    config: ProposerConfig,
    network: Option<PeerNetwork>,
    /// This member's tree digest after its last applied entry, stamped into each entry.
    digest: watch::Receiver<Option<ZxidDigest>>,
    /// Connections of this member whose write failed, and when: their later writes fail too.
    poisoned: HashMap<u64, Instant>,
}

async fn run(mut b: Batcher) {
    let in_flight = Arc::new(Semaphore::new(b.config.max_in_flight.max(1)));
    let max_txns = b.config.max_txns.clamp(1, MAX_TXNS_PER_ENTRY);
    // The tasks that wait for each entry's commit belong to the Proposer: they stop with it.
    let mut waiters = tokio::task::JoinSet::new();
    loop {
        while waiters.try_join_next().is_some() {}
        // Wait for a free slot first: while entries are in flight, Txns pile up in the
        // queue and the next entry takes them all.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let Some(first) = b.rx.recv().await else {
            break;
        };
        let mut bytes = first.approx_size();
        let mut txns = vec![first];
        while txns.len() < max_txns && bytes < b.config.max_bytes {
            match b.rx.try_recv() {
                Ok(txn) => {
                    bytes += txn.approx_size();
                    txns.push(txn);
                }
                Err(_) => break,
            }
        }
        let txns = b.drop_poisoned(txns);
        if txns.is_empty() {
            continue;
        }
        let origins: Vec<Origin> = txns.iter().filter_map(|t| t.origin).collect();
        let count = txns.len();
        metrics_batch(count, bytes);
        let leader = b.raft.metrics().borrow().current_leader;
        match leader {
            Some(leader) if leader == b.me => {
                let entry = LogEntry {
                    time_ms: now_ms(),
                    txns,
                    digest: *b.digest.borrow(),
                };
                let receiver = match b.raft.client_write_ff(entry).await {
                    Ok(receiver) => receiver,
                    Err(fatal) => {
                        b.fail(&origins, &ProposeError::Raft(fatal.to_string()));
                        break;
                    }
                };
                let delivery = b.delivery.clone();
                let timeout = b.config.write_timeout;
                let proposed = std::time::Instant::now();
                if b.network.is_some() {
                    crate::telemetry::PROPOSAL_COUNT.add(count as u64);
                }
                let cluster = b.network.is_some();
                waiters.spawn(async move {
                    let _permit = permit;
                    let failure = match tokio::time::timeout(timeout, receiver).await {
                        Ok(Ok(Ok(_))) => {
                            if cluster {
                                crate::telemetry::QUORUM_ACK_LATENCY.record_ms(proposed.elapsed());
                            }
                            None
                        }
                        Ok(Ok(Err(e))) => Some(ProposeError::Raft(e.to_string())),
                        Ok(Err(_)) => Some(ProposeError::Closed),
                        Err(_) => Some(ProposeError::Timeout(timeout)),
                    };
                    if let Some(reason) = failure {
                        tracing::warn!(txns = count, %reason, "write fate unknown; closing its connections");
                        fail_all(&*delivery, &origins, &reason);
                    }
                });
            }
            Some(leader) => {
                // Forwarded in order, one batch at a time: the leader queues each batch before
                // it answers, so this member's writes keep their order.
                if let Err(reason) = b.forward(leader, txns).await {
                    tracing::warn!(txns = count, %reason, "forwarding failed; closing their connections");
                    b.fail(&origins, &reason);
                }
                drop(permit);
            }
            None => {
                b.fail(&origins, &ProposeError::NoLeader);
                drop(permit);
            }
        }
    }
    // The Proposer ended by itself (its queue closed, or Raft failed): the entries in flight
    // still get their outcome. Aborted at shutdown instead, it takes its waiters with it.
    waiters.detach_all();
}

impl Batcher {
    /// Fails the Txns of connections that already lost a write; forgets old entries.
    fn drop_poisoned(&mut self, txns: Vec<Txn>) -> Vec<Txn> {
        if self.poisoned.is_empty() {
            return txns;
        }
        let horizon = Duration::from_secs(60);
        self.poisoned.retain(|_, at| at.elapsed() < horizon);
        let me = self.me;
        let poisoned = &self.poisoned;
        let (kept, failed): (Vec<Txn>, Vec<Txn>) = txns.into_iter().partition(|t| {
            t.origin
                .is_none_or(|o| o.member != me || !poisoned.contains_key(&o.connection))
        });
        for txn in &failed {
            if let Some(origin) = &txn.origin {
                self.delivery
                    .write_failed(origin, &ProposeError::EarlierFailed);
            }
        }
        kept
    }

    fn fail(&mut self, origins: &[Origin], reason: &ProposeError) {
        let now = Instant::now();
        for origin in origins.iter().filter(|o| o.member == self.me) {
            self.poisoned.insert(origin.connection, now);
        }
        fail_all(&*self.delivery, origins, reason);
    }

    async fn forward(&self, leader: NodeId, txns: Vec<Txn>) -> Result<(), ProposeError> {
        let Some(network) = &self.network else {
            return Err(ProposeError::NoLeader);
        };
        crate::telemetry::RAFT_FORWARDED_WRITES.add(txns.len() as u64);
        let addr = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            m.membership_config
                .membership()
                .get_node(&leader)
                .map(|node| node.peer_addr.clone())
        };
        let Some(addr) = addr else {
            return Err(ProposeError::Forward(
                leader,
                "not in the membership".into(),
            ));
        };
        let client = network.client(leader, &addr);
        // A leader that hangs (frozen, or behind a link that drops packets) never answers:
        // once another leader is known, these writes' fate is unknown and the next batch
        // must go to the new leader, not wait out the timeout behind them.
        let mut metrics = self.raft.metrics();
        let replaced = metrics.wait_for(|m| m.current_leader.is_some_and(|l| l != leader));
        let answer = tokio::select! {
            answer = client.call(PeerRequest::Forward(txns), self.config.write_timeout) => answer,
            _ = replaced => {
                return Err(ProposeError::Forward(
                    leader,
                    "another leader was elected before it answered".into(),
                ))
            }
        };
        match answer {
            Ok(PeerResponse::Forwarded(Ok(()))) => Ok(()),
            Ok(PeerResponse::Forwarded(Err(e))) => Err(ProposeError::Forward(leader, e)),
            Ok(_) => Err(ProposeError::Forward(leader, "unexpected answer".into())),
            Err(e) => Err(ProposeError::Forward(leader, e.to_string())),
        }
    }
}

fn fail_all(delivery: &dyn Delivery, origins: &[Origin], reason: &ProposeError) {
    for origin in origins {
        delivery.write_failed(origin, reason);
    }
}

fn metrics_batch(txns: usize, bytes: usize) {
    tracing::trace!(txns, bytes, "proposing entry");
}

/// The leader's wall clock in ms: every ctime/mtime of the entry.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
