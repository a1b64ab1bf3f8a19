//! The digest log: the tree digest after recent entries, to check the digests leaders put in
//! entries against, and the sparse history `hash` prints (ZooKeeper's digest log).
//!
//! ZooKeeper logs the digest at every zxid that is a multiple of 128 and keeps 1024 of them.
//! raftzk's zxids number entries in their high bits (`index << 16 | position`) and a digest
//! is taken after a whole entry, so the history keeps the digest after every entry whose log
//! index is a multiple of [`HISTORY_INTERVAL`], [`HISTORY_LIMIT`] of them.

use std::collections::VecDeque;

use super::ZxidDigest;
use crate::tree::digest::DIGEST_VERSION;

/// Every how many entries the history records a digest.
pub const HISTORY_INTERVAL: u64 = 128;
/// Most digests the history keeps.
pub const HISTORY_LIMIT: usize = 1024;
/// Most recent entries whose digest can be checked: a leader's entry names a zxid it had
/// applied when it built the entry, at most the entries in flight behind the one applied.
const RECENT_LIMIT: usize = 4096;

/// What comparing a leader's digest with this member's found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestCheck {
    /// Same tree at that zxid.
    Match,
    /// A different tree at that zxid: this member's digest.
    Mismatch(u64),
    /// Nothing to compare: another digest version, or a zxid this member has no digest for
    /// (before its snapshot, or too old).
    Unknown,
}

/// Recent digests by zxid, and the sparse history.
#[derive(Debug, Clone, Default)]
pub struct DigestLog {
    recent: VecDeque<ZxidDigest>,
    history: VecDeque<ZxidDigest>,
}

impl DigestLog {
    /// A log that starts from a state's digest (a snapshot's, or a fresh tree's).
    pub fn starting_at(zxid: i64, digest: u64) -> DigestLog {
        let mut log = DigestLog::default();
        log.push_recent(ZxidDigest {
            zxid,
            version: DIGEST_VERSION,
            digest,
        });
        log
    }

    /// Records the digest after the entry at `index`, whose state's last zxid is `zxid`.
    pub fn record(&mut self, index: u64, zxid: i64, digest: u64) {
        let entry = ZxidDigest {
            zxid,
            version: DIGEST_VERSION,
            digest,
        };
        self.push_recent(entry);
        if index % HISTORY_INTERVAL == 0 {
            self.history.push_back(entry);
            if self.history.len() > HISTORY_LIMIT {
                self.history.pop_front();
            }
        }
    }

    fn push_recent(&mut self, entry: ZxidDigest) {
        // Entries without Txns may leave the zxid where it was: the newest digest wins.
        if self
            .recent
            .back()
            .is_some_and(|last| last.zxid == entry.zxid)
        {
            self.recent.pop_back();
        }
        self.recent.push_back(entry);
        if self.recent.len() > RECENT_LIMIT {
            self.recent.pop_front();
        }
    }

    /// The newest digest.
    pub fn latest(&self) -> Option<ZxidDigest> {
        self.recent.back().copied()
    }

    /// Compares a leader's digest with this member's at the same zxid.
    pub fn check(&self, theirs: &ZxidDigest) -> DigestCheck {
        if theirs.version != DIGEST_VERSION {
            return DigestCheck::Unknown;
        }
        // Recent zxids increase: binary search.
        let ours = self
            .recent
            .binary_search_by_key(&theirs.zxid, |d| d.zxid)
            .ok()
            .and_then(|i| self.recent.get(i));
        match ours {
            Some(ours) if ours.digest == theirs.digest => DigestCheck::Match,
            Some(ours) => DigestCheck::Mismatch(ours.digest),
            None => DigestCheck::Unknown,
        }
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &ZxidDigest> {
        self.history.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(zxid: i64, digest: u64) -> ZxidDigest {
        ZxidDigest {
            zxid,
            version: DIGEST_VERSION,
            digest,
        }
    }

    #[test]
    fn checks_find_the_same_zxid() {
        let mut log = DigestLog::starting_at(0, 10);
        log.record(1, 1 << 16, 11);
        log.record(2, 2 << 16 | 3, 12);
        assert_eq!(log.check(&digest(1 << 16, 11)), DigestCheck::Match);
        assert_eq!(
            log.check(&digest(2 << 16 | 3, 99)),
            DigestCheck::Mismatch(12)
        );
        assert_eq!(log.check(&digest(0, 10)), DigestCheck::Match);
        assert_eq!(log.check(&digest(5 << 16, 10)), DigestCheck::Unknown);
        let other_version = ZxidDigest {
            version: DIGEST_VERSION + 1,
            ..digest(1 << 16, 0)
        };
        assert_eq!(log.check(&other_version), DigestCheck::Unknown);
        assert_eq!(log.latest(), Some(digest(2 << 16 | 3, 12)));
    }

    #[test]
    fn an_entry_that_keeps_the_zxid_replaces_its_digest() {
        let mut log = DigestLog::starting_at(1 << 16, 1);
        log.record(2, 1 << 16, 2);
        assert_eq!(log.check(&digest(1 << 16, 2)), DigestCheck::Match);
    }

    #[test]
    fn the_history_is_sparse_and_bounded() {
        let mut log = DigestLog::default();
        for index in 1..=(HISTORY_INTERVAL * (HISTORY_LIMIT as u64 + 5)) {
            log.record(index, (index as i64) << 16, index);
        }
        let history: Vec<_> = log.history().collect();
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert!(history
            .iter()
            .all(|d| (d.zxid >> 16) as u64 % HISTORY_INTERVAL == 0));
        assert_eq!(history[0].digest, HISTORY_INTERVAL * 6);
        assert_eq!(log.recent.len(), RECENT_LIMIT);
    }
}
