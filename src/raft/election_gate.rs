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
//! * while a pre-vote fails: once this member has heard no leader for the election timeout's
//!   lower bound, it asks the other voters whether they still hear one (Raft's pre-vote,
//!   which openraft 0.9 lacks). If a majority (itself included) do not say "no leader here",
//!   it holds its elections: a member cut off from the others, or whose own link to the
//!   leader broke, would otherwise campaign again and again, and its higher term would unseat
//!   a healthy leader as soon as the partition heals. When the leader really is gone, every
//!   survivor hears nothing, grants, and the election runs on openraft's own timer.
//!
//! Once the leader has been silent for the grace, the catching-up holds open whatever the
//! lag: liveness never depends on them; the pre-vote opens as soon as a majority hears no
//! leader. Safety does not depend on the gate at all: it only ever suppresses campaigns.

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
/// How long a pre-vote waits for each answer.
const PRE_VOTE_TIMEOUT: Duration = Duration::from_millis(50);

/// What the peer server saw of the leader's replication to this member.
#[derive(Debug, Default)]
pub struct ElectionGate {
    /// The election timeout's lower bound: silence that starts a pre-vote, and how recent a
    /// leader's message must be for this member to say it hears one.
    election_min: Duration,
    leader_commit: AtomicU64,
    last_contact: Mutex<Option<Instant>>,
    snapshot_chunk_at: Mutex<Option<Instant>>,
    installing: AtomicBool,
    removed: AtomicBool,
    /// The last pre-vote failed: a majority still hears a leader.
    pre_vote_failed: AtomicBool,
    held: AtomicBool,
}

impl ElectionGate {
    /// A gate for a member whose election timeout starts at `election_min`.
    pub fn new(election_min: Duration) -> ElectionGate {
        ElectionGate {
            election_min,
            ..ElectionGate::default()
        }
    }

    /// A pre-vote's answer: true ("campaign if you like") unless this member heard a leader
    /// within the election timeout's lower bound, or leads with a fresh quorum itself.
    pub fn grants_pre_vote(&self, raft: &Raft) -> bool {
        let metrics = raft.metrics();
        let m = metrics.borrow();
        let leads = m.current_leader == Some(m.id)
            && m.millis_since_quorum_ack
                .is_some_and(|ms| u128::from(ms) < self.election_min.as_millis() * 3);
        !leads && !self.heard_leader_within(self.election_min)
    }

    /// True if a leader's AppendEntries arrived within `window`.
    pub fn heard_leader_within(&self, window: Duration) -> bool {
        self.last_contact
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < window)
    }

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
        if self.pre_vote_failed.load(Ordering::Relaxed) {
            return Some("a majority still hears a leader (pre-vote)");
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
    /// Raft instance stops; runs the pre-vote when the leader has been silent for the
    /// election timeout's lower bound (see the module doc).
    pub async fn run(self: std::sync::Arc<Self>, raft: Raft, network: super::network::PeerNetwork) {
        let mut metrics = raft.metrics();
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let (last_log, stopped, leading, voters) = {
                let m = metrics.borrow_and_update();
                let membership = m.membership_config.membership();
                let voters: Vec<(u64, String)> = membership
                    .voter_ids()
                    .filter(|id| *id != m.id)
                    .filter_map(|id| membership.get_node(&id).map(|n| (id, n.peer_addr.clone())))
                    .collect();
                let is_voter = membership.voter_ids().any(|id| id == m.id);
                (
                    m.last_log_index.unwrap_or(0),
                    m.running_state.is_err(),
                    m.current_leader == Some(m.id) || !is_voter,
                    voters,
                )
            };
            if stopped {
                return;
            }
            let silent = !leading && !self.heard_leader_within(self.election_min);
            let failed = silent && !pre_vote(&network, &voters).await;
            self.pre_vote_failed.store(failed, Ordering::Relaxed);
            let hold = self.should_hold(last_log, Instant::now());
            if hold.is_some() != self.held.load(Ordering::Relaxed) {
                raft.runtime_config().elect(hold.is_none());
                self.held.store(hold.is_some(), Ordering::Relaxed);
                // A pre-vote that fails while the leader is merely between heartbeats is
                // routine: only the catching-up holds are worth an info line.
                match hold {
                    Some(reason) if failed => tracing::debug!(reason, last_log, "not campaigning"),
                    Some(reason) => tracing::info!(reason, last_log, "not campaigning"),
                    None => tracing::debug!(last_log, "may campaign again"),
                }
            }
        }
    }
}

/// Asks the other voters, at once, whether they hear a leader; true if this member and the
/// voters that hear none are a majority of all voters (an unreachable voter counts as one
/// that does).
async fn pre_vote(network: &super::network::PeerNetwork, others: &[(u64, String)]) -> bool {
    let mut asks = tokio::task::JoinSet::new();
    for (id, addr) in others {
        let client = network.client(*id, addr);
        asks.spawn(async move {
            matches!(
                client
                    .call(super::messages::PeerRequest::PreVote, PRE_VOTE_TIMEOUT)
                    .await,
                Ok(super::messages::PeerResponse::PreVote(true))
            )
        });
    }
    let voters = others.len() + 1;
    let mut granted = 1;
    while let Some(answer) = asks.join_next().await {
        if matches!(answer, Ok(true)) {
            granted += 1;
            if granted * 2 > voters {
                asks.abort_all();
                return true;
            }
        }
    }
    granted * 2 > voters
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
    fn a_failed_pre_vote_holds_and_a_leader_heard_is_remembered() {
        let gate = ElectionGate::default();
        assert!(!gate.heard_leader_within(Duration::from_secs(1)));
        gate.saw_append(0);
        assert!(gate.heard_leader_within(Duration::from_secs(1)));
        gate.pre_vote_failed.store(true, Ordering::Relaxed);
        assert!(gate.should_hold(0, Instant::now()).is_some());
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
