//! The SessionTracker: when each session was last heard from, and expiry.
//!
//! Only the leader expires sessions, and it does so by proposing a closeSession Txn (the
//! expiry is then applied, ephemerals and all, on every member). A session is heard from on
//! every packet its connection sends; a dropped TCP connection does not end it. Sessions the
//! tracker has not seen yet (after a restart, or created elsewhere) get a full fresh timeout
//! from the moment it first sees them (`design.md`, Sessions).
//!
//! Deadlines are rounded up to the next tick, as ZooKeeper's expiry buckets do, so a session
//! ends within (timeout, timeout + tick] of silence.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Expiry bookkeeping for every live session.
#[derive(Debug)]
pub struct SessionTracker {
    tick: Duration,
    start: Instant,
    sessions: Mutex<HashMap<i64, Tracked>>,
    /// Sessions heard from since the last [`SessionTracker::take_touched`], with their
    /// timeouts: what a follower reports to the leader.
    touched: Mutex<HashMap<i64, i32>>,
}

#[derive(Debug, Clone, Copy)]
struct Tracked {
    timeout: Duration,
    deadline: Instant,
    /// A closeSession has been proposed; do not propose another.
    expiring: bool,
}

impl SessionTracker {
    /// A tracker with ZooKeeper's tick.
    pub fn new(tick: Duration) -> SessionTracker {
        SessionTracker {
            tick: tick.max(Duration::from_millis(1)),
            start: Instant::now(),
            sessions: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Tracked>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `now + timeout`, rounded up to the next tick boundary.
    fn deadline(&self, now: Instant, timeout: Duration) -> Instant {
        let since = (now + timeout).saturating_duration_since(self.start);
        let tick = self.tick.as_millis().max(1);
        let ticks = since.as_millis().div_ceil(tick);
        self.start + Duration::from_millis(u64::try_from(ticks * tick).unwrap_or(u64::MAX))
    }

    /// The session was heard from (any packet, or a reconnect with this timeout).
    pub fn touch(&self, session: i64, timeout_ms: i32) {
        self.touched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session, timeout_ms);
        let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
        let deadline = self.deadline(Instant::now(), timeout);
        let mut sessions = self.lock();
        let entry = sessions.entry(session).or_insert(Tracked {
            timeout,
            deadline,
            expiring: false,
        });
        if !entry.expiring {
            entry.timeout = timeout;
            entry.deadline = deadline;
        }
    }

    /// Sessions heard from since the last call, with their timeouts.
    pub fn take_touched(&self) -> Vec<(i64, i32)> {
        let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<(i64, i32)> = touched.drain().collect();
        out.sort_unstable();
        out
    }

    /// A new leader gives every session a full fresh timeout from now, and forgets expiries
    /// it had started as an earlier leader (`design.md`, Sessions).
    pub fn reset_all(&self) {
        let now = Instant::now();
        let mut sessions = self.lock();
        for tracked in sessions.values_mut() {
            tracked.deadline = self.deadline(now, tracked.timeout);
            tracked.expiring = false;
        }
    }

    /// True if the session is known and not being expired.
    pub fn is_live(&self, session: i64) -> bool {
        self.lock().get(&session).is_some_and(|t| !t.expiring)
    }

    /// True if a closeSession for the session has been proposed (it may not resume).
    pub fn is_expiring(&self, session: i64) -> bool {
        self.lock().get(&session).is_some_and(|t| t.expiring)
    }

    /// Brings the tracker in line with the replicated table: sessions it lacks get a full
    /// timeout from now; sessions gone from the table are forgotten. `live` lists
    /// (id, timeout_ms) of every session in the table.
    pub fn sync_with_table(&self, live: &[(i64, i32)]) {
        let now = Instant::now();
        let mut sessions = self.lock();
        let ids: std::collections::HashSet<i64> = live.iter().map(|(id, _)| *id).collect();
        sessions.retain(|id, _| ids.contains(id));
        for (id, timeout_ms) in live {
            sessions.entry(*id).or_insert_with(|| {
                let timeout = Duration::from_millis(u64::try_from(*timeout_ms).unwrap_or(0));
                Tracked {
                    timeout,
                    deadline: self.deadline(now, timeout),
                    expiring: false,
                }
            });
        }
    }

    /// Sessions past their deadline that are not already being expired; they are marked as
    /// expiring, so each is returned once.
    pub fn take_expired(&self) -> Vec<i64> {
        let now = Instant::now();
        let mut expired: Vec<i64> = self
            .lock()
            .iter_mut()
            .filter(|(_, t)| !t.expiring && t.deadline <= now)
            .map(|(id, t)| {
                t.expiring = true;
                *id
            })
            .collect();
        expired.sort_unstable();
        expired
    }

    /// A proposed expiry failed (no quorum, timeout): try again on a later check.
    pub fn retry_expiry(&self, session: i64) {
        if let Some(t) = self.lock().get_mut(&session) {
            t.expiring = false;
        }
    }

    /// Number of tracked sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True if none are tracked.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The timeout the tracker holds for a session, in ms.
    pub fn timeout_ms(&self, session: i64) -> Option<u64> {
        self.lock()
            .get(&session)
            .map(|t| u64::try_from(t.timeout.as_millis()).unwrap_or(u64::MAX))
    }

    /// Milliseconds until the session's deadline (0 when past it).
    pub fn remaining_ms(&self, session: i64) -> Option<u64> {
        let now = Instant::now();
        self.lock().get(&session).map(|t| {
            u64::try_from(t.deadline.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_the_timeout_rounded_to_a_tick() {
        let tracker = SessionTracker::new(Duration::from_millis(10));
        tracker.touch(1, 30);
        assert!(tracker.take_expired().is_empty());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(tracker.take_expired(), vec![1]);
        assert!(tracker.take_expired().is_empty(), "returned once");
        assert!(!tracker.is_live(1));
        tracker.retry_expiry(1);
        assert_eq!(tracker.take_expired(), vec![1]);
    }

    #[test]
    fn sync_adds_fresh_sessions_and_forgets_gone_ones() {
        let tracker = SessionTracker::new(Duration::from_millis(10));
        tracker.touch(1, 10_000);
        tracker.sync_with_table(&[(2, 10_000)]);
        assert!(!tracker.is_live(1));
        assert!(tracker.is_live(2));
        assert!(tracker.remaining_ms(2).unwrap() > 9_000);
    }
}
