//! The Proposer: group commit above Raft (`design.md`, Batching above Raft).
//!
//! openraft 0.9 appends and fsyncs one `client_write` at a time, so one Txn per entry would
//! cap the member at one write per fsync. The Proposer packs every Txn that arrived while the
//! previous entries were being made durable into one [`LogEntry`], stamps the leader's clock,
//! and keeps at most `max_in_flight` entries in flight. Entries are submitted to openraft from
//! this one task, so a session's writes keep their order.
//!
//! Each entry's completion is awaited with a timeout, since openraft's never expires. A Txn
//! whose entry failed or timed out has an unknown fate: the [`Delivery`] closes its connection
//! instead of answering (`design.md`, Unknown outcome).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::types::Raft;
use super::Delivery;
use crate::txn::{LogEntry, Origin, Txn, MAX_TXNS_PER_ENTRY};

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
}

/// The handle connections propose through. Cheap to clone.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Txn>,
}

impl Proposer {
    /// Starts the Proposer task for `raft`.
    pub fn start(
        raft: Raft,
        delivery: Arc<dyn Delivery>,
        config: ProposerConfig,
    ) -> (Proposer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.queue);
        let task = tokio::spawn(run(rx, raft, delivery, config));
        (Proposer { tx }, task)
    }

    /// Queues a Txn for the next entry; waits while the queue is full.
    pub async fn propose(&self, txn: Txn) -> Result<(), ProposeError> {
        self.tx.send(txn).await.map_err(|_| ProposeError::Closed)
    }
}

async fn run(
    mut rx: mpsc::Receiver<Txn>,
    raft: Raft,
    delivery: Arc<dyn Delivery>,
    config: ProposerConfig,
) {
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let max_txns = config.max_txns.clamp(1, MAX_TXNS_PER_ENTRY);
    loop {
        // Wait for a free slot first: while entries are in flight, Txns pile up in the
        // queue and the next entry takes them all.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut bytes = first.approx_size();
        let mut txns = vec![first];
        while txns.len() < max_txns && bytes < config.max_bytes {
            match rx.try_recv() {
                Ok(txn) => {
                    bytes += txn.approx_size();
                    txns.push(txn);
                }
                Err(_) => break,
            }
        }
        let origins: Vec<Origin> = txns.iter().filter_map(|t| t.origin).collect();
        let count = txns.len();
        let entry = LogEntry {
            time_ms: now_ms(),
            txns,
        };
        metrics_batch(count, bytes);
        let receiver = match raft.client_write_ff(entry).await {
            Ok(receiver) => receiver,
            Err(fatal) => {
                let reason = ProposeError::Raft(fatal.to_string());
                fail_all(&*delivery, &origins, &reason);
                return;
            }
        };
        let delivery = delivery.clone();
        let timeout = config.write_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let failure = match tokio::time::timeout(timeout, receiver).await {
                Ok(Ok(Ok(_))) => None,
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
