//! Follows openraft's metrics to tell operators what elections did: one log line per leader
//! change, the election and unavailability times ZooKeeper reports (`election_time`,
//! `unavailable_time`, `leader_unavailable_time`), elections started and won, and when this
//! member began leading (`leader_uptime`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use openraft::ServerState;

use super::{NodeId, Raft};
use crate::telemetry;

/// What the watcher learned, for `mntr` and `/metrics`.
#[derive(Debug, Default)]
pub struct RoleHistory {
    inner: Mutex<HistoryInner>,
}

#[derive(Debug, Default)]
struct HistoryInner {
    leading_since: Option<Instant>,
    leader_changes: u64,
}

impl RoleHistory {
    /// Since when this member leads (None unless it leads).
    pub fn leading_since(&self) -> Option<Instant> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .leading_since
    }

    /// Leader changes seen since start (the first leader counts).
    pub fn leader_changes(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .leader_changes
    }
}

/// Runs until the Raft instance stops. A standalone member (`cluster` false) leads from the
/// start and has no elections to time.
pub async fn run(
    raft: Raft,
    me: NodeId,
    cluster: bool,
    started: Instant,
    history: Arc<RoleHistory>,
    member: Arc<telemetry::MemberTelemetry>,
) {
    // The server metrics change with the role, term and leader only (the full metrics change
    // with every write, which would wake this task per write).
    let mut metrics = raft.server_metrics();
    // Without a leader since the member started.
    let mut leaderless_since: Option<Instant> = Some(started);
    let mut leader: Option<NodeId> = None;
    let mut state = ServerState::Learner;
    let mut campaign_term = 0u64;
    if cluster {
        // A cluster member starts without a leader: its first election.
        telemetry::LOOKING_COUNT.bump();
    }
    loop {
        let (now_leader, now_state, term) = {
            let m = metrics.borrow_and_update();
            (m.current_leader, m.state, m.vote.leader_id().term)
        };
        if now_state == ServerState::Candidate && term > campaign_term {
            campaign_term = term;
            telemetry::RAFT_ELECTIONS_STARTED.bump();
            tracing::info!(member = me, term, "campaigning for leader");
        }
        if now_leader != leader {
            let now = Instant::now();
            match now_leader {
                Some(new) => {
                    if leader.is_some() {
                        // Straight from one leader to the next: an election happened that
                        // this member saw only the end of (ZooKeeper's peers all pass LOOKING).
                        telemetry::LOOKING_COUNT.bump();
                    }
                    let waited = leaderless_since.take().map(|t| now - t);
                    let waited = waited.filter(|_| cluster);
                    if let Some(waited) = waited {
                        telemetry::ELECTION_TIME.record_ms(waited);
                        telemetry::UNAVAILABLE_TIME.record_ms(waited);
                    }
                    {
                        let mut h = history.inner.lock().unwrap_or_else(PoisonError::into_inner);
                        h.leader_changes += 1;
                        h.leading_since = (new == me).then_some(now);
                    }
                    member
                        .leading
                        .store(cluster && new == me, Ordering::Relaxed);
                    member
                        .following
                        .store(cluster && new != me, Ordering::Relaxed);
                    if new == me && cluster {
                        // ZooKeeper starts a leadership's proposal sizes and ack latencies anew.
                        telemetry::PROPOSAL_SIZES.reset();
                        telemetry::ACK_LATENCY.clear();
                        telemetry::RAFT_ELECTIONS_WON.bump();
                        if let Some(waited) = waited {
                            telemetry::LEADER_UNAVAILABLE_TIME.record_ms(waited);
                        }
                    }
                    tracing::info!(
                        member = me,
                        leader = new,
                        previous = leader.map_or(0, |l| l),
                        term,
                        leaderless_ms = waited.map_or(0, |w| w.as_millis() as u64),
                        "leader changed"
                    );
                }
                None => {
                    leaderless_since = Some(now);
                    telemetry::LOOKING_COUNT.bump();
                    member.leading.store(false, Ordering::Relaxed);
                    member.following.store(false, Ordering::Relaxed);
                    history
                        .inner
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .leading_since = None;
                    tracing::info!(
                        member = me,
                        previous = leader.map_or(0, |l| l),
                        term,
                        "no leader"
                    );
                }
            }
            leader = now_leader;
        }
        if now_state != state {
            tracing::debug!(member = me, from = ?state, to = ?now_state, term, "raft state");
            state = now_state;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
