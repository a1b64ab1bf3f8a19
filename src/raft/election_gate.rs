//! Keeps a member that is catching up from campaigning.
//!
//! openraft 0.9 has no pre-vote: a member that hears nothing from the leader for an election
//! timeout raises the term and campaigns, and the leader steps down when it sees the higher
//! term, even though the campaigner cannot win (its log is behind). A member receiving a large
//! snapshot hears nothing while it installs it (seconds at a million znodes), and a member far
//! behind may miss a heartbeat while it appends; each then unseated a healthy leader, and the
//! new leader restarted the snapshot transfer, over and over. The gate turns openraft's
//! elections off while this member knows it is catching up:
//!
//! * while a snapshot from the leader is arriving or being installed (a chunk within the last
//!   [`INSTALL_GRACE`]);
//! * while its log is more than [`BEHIND_ENTRIES`] behind the commit index the leader last sent,
//!   and the leader was heard from within [`BEHIND_GRACE`].
//!
//! * after the leader said a reconfig removed this member (until a leader replicates to it
//!   again, which means it was added back): openraft 0.9 keeps a removed member campaigning
//!   in the last configuration it saw, and its ever higher terms unseat the leader once it
//!   is added back.
//!
//! Once the leader has been silent for the grace, the gate opens whatever the lag: liveness
//! never depends on it. Safety does not either: it only ever suppresses campaigns.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::types::Raft;

/// A snapshot transfer counts as ongoing this long after its last chunk arrived.
pub const INSTALL_GRACE: Duration = Duration::from_secs(30);
/// How far behind the leader's commit index a member must be to hold its elections.
pub const BEHIND_ENTRIES: u64 = 300;
/// A lagging member holds its elections only while the leader was heard this recently.
pub const BEHIND_GRACE: Duration = Duration::from_secs(1);
/// How often the gate looks.
const CHECK_EVERY: Duration = Duration::from_millis(20);

/// What the peer server saw of the leader's replication to this member.
#[derive(Debug, Default)]
pub struct ElectionGate {
    leader_commit: AtomicU64,
    last_contact: Mutex<Option<Instant>>,
    snapshot_chunk_at: Mutex<Option<Instant>>,
    installing: AtomicBool,
    removed: AtomicBool,
    held: AtomicBool,
}

impl ElectionGate {
    /// An AppendEntries from the leader arrived, with its commit index.
    pub fn saw_append(&self, leader_commit: u64) {
        self.removed.store(false, Ordering::Relaxed);
        self.leader_commit
            .fetch_max(leader_commit, Ordering::Relaxed);
        *self
            .last_contact
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// A snapshot chunk arrived (`done`: the last one, which installs it).
    pub fn snapshot_chunk_started(&self, done: bool) {
        let now = Instant::now();
        *self
            .snapshot_chunk_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now);
        *self
            .last_contact
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now);
        if done {
            self.installing.store(true, Ordering::Relaxed);
        }
    }

    /// The last chunk's call returned (installed, or failed).
    pub fn snapshot_install_finished(&self) {
        self.installing.store(false, Ordering::Relaxed);
        *self
            .snapshot_chunk_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// A reconfig removed this member from the group.
    pub fn mark_removed(&self) {
        self.removed.store(true, Ordering::Relaxed);
    }

    /// True once a reconfig removed this member (until it is added back).
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }

    /// True while elections are held.
    pub fn is_holding(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether this member must hold its elections now, given its last log index.
    fn should_hold(&self, last_log_index: u64, now: Instant) -> Option<&'static str> {
        if self.removed.load(Ordering::Relaxed) {
            return Some("removed from the group");
        }
        let age = |at: Option<Instant>| at.map(|t| now.saturating_duration_since(t));
        let chunk_age = age(*self
            .snapshot_chunk_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner));
        if self.installing.load(Ordering::Relaxed) || chunk_age.is_some_and(|a| a < INSTALL_GRACE) {
            return Some("receiving a snapshot from the leader");
        }
        let contact_age = age(*self
            .last_contact
            .lock()
            .unwrap_or_else(PoisonError::into_inner));
        let behind = self
            .leader_commit
            .load(Ordering::Relaxed)
            .saturating_sub(last_log_index);
        if behind > BEHIND_ENTRIES && contact_age.is_some_and(|a| a < BEHIND_GRACE) {
            return Some("far behind the leader's log");
        }
        None
    }

    /// Turns openraft's elections off and on as [`ElectionGate::should_hold`] says, until the
    /// Raft instance stops.
    pub async fn run(self: std::sync::Arc<Self>, raft: Raft) {
        let mut metrics = raft.metrics();
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let (last_log, stopped) = {
                let m = metrics.borrow_and_update();
                (m.last_log_index.unwrap_or(0), m.running_state.is_err())
            };
            if stopped {
                return;
            }
            let hold = self.should_hold(last_log, Instant::now());
            if hold.is_some() != self.held.load(Ordering::Relaxed) {
                raft.runtime_config().elect(hold.is_none());
                self.held.store(hold.is_some(), Ordering::Relaxed);
                match hold {
                    Some(reason) => {
                        tracing::info!(reason, last_log, "catching up: not campaigning")
                    }
                    None => tracing::info!(last_log, "caught up: may campaign again"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn holds_while_a_snapshot_arrives_and_until_it_is_installed() {
        let gate = ElectionGate::default();
        let now = Instant::now();
        assert_eq!(gate.should_hold(0, now), None);
        gate.snapshot_chunk_started(false);
        assert!(gate.should_hold(0, Instant::now()).is_some());
        gate.snapshot_chunk_started(true);
        // Installing takes as long as it takes: held even past the grace.
        assert!(gate
            .should_hold(0, Instant::now() + INSTALL_GRACE * 2)
            .is_some());
        gate.snapshot_install_finished();
        assert_eq!(gate.should_hold(0, Instant::now()), None);
    }

    #[test]
    fn holds_while_far_behind_a_leader_it_hears() {
        let gate = ElectionGate::default();
        gate.saw_append(10_000);
        let now = Instant::now();
        assert!(gate.should_hold(10_000 - BEHIND_ENTRIES - 1, now).is_some());
        // A little behind is normal under load: campaign as usual.
        assert_eq!(gate.should_hold(10_000 - BEHIND_ENTRIES, now), None);
        // The leader went silent: the gate opens whatever the lag.
        assert_eq!(gate.should_hold(0, now + BEHIND_GRACE), None);
    }

    #[test]
    fn a_removed_member_holds_until_a_leader_replicates_to_it_again() {
        let gate = ElectionGate::default();
        gate.mark_removed();
        assert!(gate
            .should_hold(0, Instant::now() + INSTALL_GRACE)
            .is_some());
        gate.saw_append(0);
        assert_eq!(gate.should_hold(0, Instant::now()), None);
    }
}
