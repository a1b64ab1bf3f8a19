//! Read-index rounds shared by every read waiting when one begins. A linearizable read (a
//! `sync`, a read of a session or member that asks for linearizable reads, a follower's
//! read-index request) needs an index that was the leader's commit index at some moment
//! after the read arrived, confirmed by a quorum: on the leader one heartbeat round, on a
//! follower one request to the leader. One round serves every read queued before it began;
//! reads that arrive while it runs wait for the next one (a round that began before them
//! could miss a write acknowledged before they arrived).

use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

use super::proposer::ProposeError;

/// One read waiting for a round's index.
pub(super) type Waiter = oneshot::Sender<Result<u64, ProposeError>>;

/// The reads waiting for the next round, and whether a task is running rounds.
#[derive(Debug, Default)]
pub(super) struct ReadRounds {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    waiting: Vec<Waiter>,
    running: bool,
}

impl ReadRounds {
    /// Queues a read; true if the caller must start the task that runs rounds.
    pub(super) fn enqueue(&self, waiter: Waiter) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.waiting.push(waiter);
        !std::mem::replace(&mut state.running, true)
    }

    /// The reads the next round serves; empty (and the task must end) when none wait.
    pub(super) fn next_batch(&self) -> Vec<Waiter> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let batch = std::mem::take(&mut state.waiting);
        if batch.is_empty() {
            state.running = false;
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queued_during_a_round_wait_for_the_next() {
        let rounds = ReadRounds::default();
        let (a, _ra) = oneshot::channel();
        let (b, _rb) = oneshot::channel();
        let (c, _rc) = oneshot::channel();
        assert!(rounds.enqueue(a), "the first read starts the task");
        assert!(!rounds.enqueue(b), "one task at a time");
        assert_eq!(rounds.next_batch().len(), 2);
        // Arrived while that round runs: not in it.
        assert!(!rounds.enqueue(c));
        assert_eq!(rounds.next_batch().len(), 1);
        assert!(rounds.next_batch().is_empty(), "no reads: the task ends");
        let (d, _rd) = oneshot::channel();
        assert!(rounds.enqueue(d), "a new read starts a new task");
    }
}
