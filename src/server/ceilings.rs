//! raftzk's own ceilings on what a member holds (`raftzk.maxZnodes`, `raftzk.maxTreeBytes`,
//! `raftzk.maxWatches`, `raftzk.maxSessions`; none by default).
//! - A write that would add znodes or bytes past a tree ceiling is refused before it is
//!   logged, with QuotaExceeded (−125): the Java client raises it as QuotaExceededException
//!   and kazoo as QuotaExceededError, so callers see "the store is full" rather than a lost
//!   connection. Reads, deletes and writes that do not grow the tree go on, so an operator
//!   can make room.
//! - A read that would set a watch past `raftzk.maxWatches` gets QuotaExceeded too (a watch
//!   silently not set would lose the client an event); the same read without a watch is
//!   served. setWatches after a reconnect is never refused: those watches were set before.
//! - A new session past `raftzk.maxSessions` is refused as a member that cannot serve
//!   refuses it (the connection closes; the client tries again or elsewhere); sessions that
//!   exist resume.
//!
//! The check reads this member's applied tree before proposing, so it is a bound on growth,
//! not an exact count: writes already in flight can take the tree past a ceiling by what they
//! add together. Deciding here rather than in apply keeps the ceilings out of the log: members
//! may be configured differently (a rolling change) without applying entries differently.

use std::sync::atomic::Ordering;

use jute_codec::{MultiOp, Request};

use super::stats::ServerStats;
use crate::tree::DataTree;
use crate::watch::WatchManager;
use jute_codec::WatcherType;

/// The ceilings of one member; 0 is none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ceilings {
    /// `raftzk.maxZnodes`: znodes as `mntr`'s `znode_count` counts them.
    pub max_znodes: u64,
    /// `raftzk.maxTreeBytes`: bytes as `approximate_data_size` counts them (path + data).
    pub max_tree_bytes: u64,
    /// `raftzk.maxWatches`: watches as `mntr`'s `watch_count` counts them.
    pub max_watches: u64,
    /// `raftzk.maxSessions`: live sessions of the ensemble.
    pub max_sessions: u64,
}

/// Which ceiling a write would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceiling {
    /// `raftzk.maxZnodes`.
    Znodes,
    /// `raftzk.maxTreeBytes`.
    TreeBytes,
    /// `raftzk.maxWatches`.
    Watches,
    /// `raftzk.maxSessions`.
    Sessions,
}

impl Ceiling {
    /// Every ceiling, in label order.
    pub const ALL: [Ceiling; 4] = [
        Ceiling::Znodes,
        Ceiling::TreeBytes,
        Ceiling::Watches,
        Ceiling::Sessions,
    ];

    /// Its config key, also the metric's `ceiling` label.
    pub fn key(self) -> &'static str {
        match self {
            Ceiling::Znodes => "raftzk.maxZnodes",
            Ceiling::TreeBytes => "raftzk.maxTreeBytes",
            Ceiling::Watches => "raftzk.maxWatches",
            Ceiling::Sessions => "raftzk.maxSessions",
        }
    }

    /// Counts a refusal at this ceiling and logs it at the 1st, 2nd, 4th, 8th… one.
    pub fn refused(self, stats: &ServerStats) {
        let slot = Ceiling::ALL.iter().position(|c| *c == self).unwrap_or(0);
        let refusals = stats
            .ceiling_refusals
            .get(slot)
            .map_or(1, |n| n.fetch_add(1, Ordering::Relaxed) + 1);
        if refusals.is_power_of_two() {
            tracing::warn!(
                ceiling = self.key(),
                refusals,
                "refused at a ceiling (reads, deletes and existing sessions go on)"
            );
        }
    }
}

impl Ceilings {
    /// The ceilings `config` sets.
    pub fn of(config: &crate::config::Config) -> Ceilings {
        Ceilings {
            max_znodes: config.max_znodes,
            max_tree_bytes: config.max_tree_bytes,
            max_watches: config.max_watches,
            max_sessions: config.max_sessions,
        }
    }

    /// Whether a read of connection `conn` would add a watch past `raftzk.maxWatches` (one it
    /// holds already is set again, never refused). `watches` is asked only with a ceiling set.
    pub fn refuses_watch(
        &self,
        request: &Request,
        conn: u64,
        watches: impl FnOnce() -> std::sync::Arc<std::sync::Mutex<WatchManager>>,
    ) -> bool {
        if self.max_watches == 0 {
            return false;
        }
        let Some((path, kind)) = sets_watch(request) else {
            return false;
        };
        let watches = watches();
        let watches = watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        watches.has_watch(conn, path, kind) != Some(true)
            && watches.watch_count() as u64 >= self.max_watches
    }

    /// Whether a new session would take the live sessions past `raftzk.maxSessions`.
    pub fn refuses_session(&self, live_sessions: usize) -> bool {
        self.max_sessions > 0 && live_sessions as u64 >= self.max_sessions
    }

    /// True when no tree ceiling is set (nothing for a write to check).
    pub fn is_none(&self) -> bool {
        self.max_znodes == 0 && self.max_tree_bytes == 0
    }

    /// The tree ceiling the write `request` would take `tree` past, if any.
    pub fn passed_by(&self, request: &Request, tree: &DataTree) -> Option<Ceiling> {
        if self.is_none() {
            return None;
        }
        let (znodes, bytes) = growth(request, tree);
        if self.max_znodes > 0 && znodes > 0 && tree.znode_count() as u64 + znodes > self.max_znodes
        {
            return Some(Ceiling::Znodes);
        }
        if self.max_tree_bytes > 0
            && bytes > 0
            && tree.approximate_data_size().saturating_add(bytes as u64) > self.max_tree_bytes
        {
            return Some(Ceiling::TreeBytes);
        }
        None
    }
}

/// The watch a read sets, if any: its path and kind (setWatches re-registers old ones: not
/// counted).
fn sets_watch(request: &Request) -> Option<(&str, WatcherType)> {
    match request {
        Request::GetData(r) if r.watch => Some((&r.path, WatcherType::Data)),
        Request::Exists(r) if r.watch => Some((&r.path, WatcherType::Data)),
        Request::GetChildren(r) if r.watch => Some((&r.path, WatcherType::Children)),
        Request::GetChildren2(r) if r.watch => Some((&r.path, WatcherType::Children)),
        Request::AddWatch(r) => Some((&r.path, WatcherType::Any)),
        _ => None,
    }
}

/// Znodes and bytes a write would add if it succeeded (bytes may be negative: a smaller
/// setData). Deletes count as adding nothing: a ceiling never refuses them.
fn growth(request: &Request, tree: &DataTree) -> (u64, i64) {
    fn data_len(data: &Option<Vec<u8>>) -> i64 {
        data.as_ref().map_or(0, |d| d.len() as i64)
    }
    let created = |path: &str, data: &Option<Vec<u8>>| (1, path.len() as i64 + data_len(data));
    let set = |path: &str, data: &Option<Vec<u8>>| {
        let old = tree.get(path).map_or(0, |n| data_len(&n.data));
        (0, data_len(data) - old)
    };
    match request {
        Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => {
            created(&r.path, &r.data)
        }
        Request::CreateTtl(r) => created(&r.path, &r.data),
        Request::SetData(r) => set(&r.path, &r.data),
        Request::Multi(m) => m.ops.iter().fold((0, 0), |(n, b), op| {
            let (dn, db) = match op {
                MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) => {
                    created(&r.path, &r.data)
                }
                MultiOp::CreateTtl(r) => created(&r.path, &r.data),
                MultiOp::SetData(r) => set(&r.path, &r.data),
                _ => (0, 0),
            };
            (n + dn, b + db)
        }),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jute_codec::{CreateMode, CreateRequest, DeleteRequest, MultiRequest, SetDataRequest};

    fn create(path: &str, data: &[u8]) -> CreateRequest {
        CreateRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: vec![],
            flags: CreateMode::Persistent,
        }
    }

    #[test]
    fn writes_that_grow_past_a_ceiling_are_named_and_others_pass() {
        let tree = DataTree::new();
        let base_nodes = tree.znode_count() as u64;
        let base_bytes = tree.approximate_data_size();
        let one_more = Ceilings {
            max_znodes: base_nodes + 1,
            ..Ceilings::default()
        };
        let a = Request::Create(create("/a", b"xy"));
        assert_eq!(one_more.passed_by(&a, &tree), None);
        let two = Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create(create("/a", b"")),
                MultiOp::Create(create("/b", b"")),
            ],
        });
        assert_eq!(one_more.passed_by(&two, &tree), Some(Ceiling::Znodes));
        let delete = Request::Delete(DeleteRequest {
            path: "/zookeeper".into(),
            version: -1,
        });
        let full = Ceilings {
            max_znodes: 1,
            max_tree_bytes: 1,
            ..Ceilings::default()
        };
        assert_eq!(full.passed_by(&delete, &tree), None, "deletes always pass");
        let bytes = Ceilings {
            max_tree_bytes: base_bytes + 4,
            ..Ceilings::default()
        };
        assert_eq!(bytes.passed_by(&a, &tree), None, "/a + 2 bytes = 4");
        let bigger = Request::Create(create("/a", b"xyz"));
        assert_eq!(bytes.passed_by(&bigger, &tree), Some(Ceiling::TreeBytes));
        let shrink = Request::SetData(SetDataRequest {
            path: "/zookeeper".into(),
            data: Some(vec![]),
            version: -1,
        });
        assert_eq!(
            full.passed_by(&shrink, &tree),
            None,
            "no growth, no refusal"
        );
        assert_eq!(Ceilings::default().passed_by(&bigger, &tree), None);
    }
}
