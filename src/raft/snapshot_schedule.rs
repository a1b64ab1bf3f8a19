//! Takes snapshots by ZooKeeper's measure: `snapCount` counts *transactions*, and a member
//! snapshots after a random number of them between snapCount/2 and snapCount, as ZooKeeper's
//! SyncRequestProcessor does (members that started together do not all snapshot at once).
//!
//! openraft's own policy (`LogsSinceLast`) counts Raft entries, and one entry is a batch of
//! writes: a million creates fit in a few thousand entries, so no snapshot was taken and a
//! restart replayed the whole log. Apply counts the transactions and wakes this task once the
//! drawn number is reached (not after every entry); it then asks openraft for a snapshot
//! (`trigger().snapshot()`, a no-op while one is being built);
//! `LogsSinceLast(snapCount)` stays as the bound on log entries.

use std::sync::Arc;
use std::time::Duration;

use super::state_machine::SharedState;
use super::Raft;

/// How long to wait for a requested snapshot before asking again: openraft declines a
/// request while it still counts the previous snapshot as being built (until its core has
/// heard that the build finished), and a build can fail. Doubled on every retry without a
/// snapshot, up to [`RETRY_AT_MOST`], so a failing disk is not asked for a snapshot of the
/// whole tree several times a second.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_AT_MOST: Duration = Duration::from_secs(10);

/// The number of transactions after which the next snapshot is due: in
/// `[snap_count/2, snap_count)`, drawn from `roll`.
fn threshold(snap_count: u64, roll: u64) -> u64 {
    let half = (snap_count / 2).max(1);
    half + roll % half
}

/// A cheap random number (xorshift over the clock and the member id): only spreads the
/// members' snapshots apart, so nothing depends on its quality.
fn next_roll(seed: &mut u64) -> u64 {
    let mut x = *seed;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *seed = x;
    x
}

/// Runs until Raft shuts down (or the task is aborted with the member's other tasks).
pub async fn run(raft: Raft, shared: Arc<SharedState>, snap_count: u64, member_id: u64) {
    let mut snapshots = shared.txns_at_snapshot();
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut seed = (clock ^ member_id.rotate_left(32)) | 1;
    let mut due = threshold(snap_count, next_roll(&mut seed));
    // When a snapshot was last asked for and not yet taken, and the wait before asking again.
    let mut requested: Option<tokio::time::Instant> = None;
    let mut retry_after = RETRY_FIRST;
    loop {
        let due_at = snapshots.borrow_and_update().saturating_add(due);
        let ask = match requested {
            None => {
                // Armed before the count is read: a transaction applied in between wakes us.
                shared.wake_at_txns(due_at);
                true
            }
            Some(at) if at.elapsed() >= retry_after => {
                retry_after = (retry_after * 2).min(RETRY_AT_MOST);
                true
            }
            Some(_) => false,
        };
        let applied = shared.txns_applied();
        if applied >= due_at && ask {
            tracing::debug!(
                transactions = shared.txns_since_snapshot(),
                due,
                "snapshot due"
            );
            // Apply stops waking us until this snapshot is taken or asked for again.
            shared.wake_at_txns(u64::MAX);
            if raft.trigger().snapshot().await.is_err() {
                return; // Raft has shut down.
            }
            requested = Some(tokio::time::Instant::now());
        }
        let retry = tokio::time::sleep(match requested {
            Some(at) => retry_after.saturating_sub(at.elapsed()),
            None => Duration::from_secs(24 * 3600),
        });
        tokio::select! {
            () = shared.txns_reached() => {}
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                // A snapshot was taken: the next one is due after a new draw.
                requested = None;
                retry_after = RETRY_FIRST;
                due = threshold(snap_count, next_roll(&mut seed));
            }
            () = retry => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_fall_between_half_and_whole_snap_count() {
        let mut seed = 12345;
        for _ in 0..1000 {
            let t = threshold(100_000, next_roll(&mut seed));
            assert!((50_000..100_000).contains(&t), "{t}");
        }
        assert_eq!(threshold(1, 7), 1);
        assert_eq!(threshold(2, 7), 1);
        assert!((2..4).contains(&threshold(4, 9)));
    }

    #[test]
    fn rolls_differ() {
        let mut seed = 99;
        let a = next_roll(&mut seed);
        let b = next_roll(&mut seed);
        assert_ne!(a, b);
    }
}
