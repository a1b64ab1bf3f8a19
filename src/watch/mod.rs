//! The WatchManager: this member's watches, per connection, as ZooKeeper 3.8 keeps them
//! (`protocol.md` §8): a data table (getData, exists, and both persistent kinds) and a child
//! table (getChildren and plain persistent watches), each with one entry — one mode — per
//! (connection, path).
//!
//! Plain data: the caller holds it behind a lock and sends the events it returns. Triggering
//! returns at most one event per connection per change.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jute_codec::{EventType, WatcherType};

use crate::tree::path::is_at_or_below;

/// How long a watch lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// Fires once.
    Standard,
    /// Fires on every change of the node, until removed.
    Persistent,
    /// Fires on every change of the node and its descendants (never NodeChildrenChanged).
    PersistentRecursive,
}

/// One table: path → connection → mode, and the reverse index.
#[derive(Debug, Default)]
struct Table {
    by_path: HashMap<String, HashMap<u64, WatchMode>>,
    by_conn: HashMap<u64, BTreeSet<String>>,
}

impl Table {
    fn add(&mut self, conn: u64, path: &str, mode: WatchMode) {
        self.by_path
            .entry(path.to_string())
            .or_default()
            .insert(conn, mode);
        self.by_conn
            .entry(conn)
            .or_default()
            .insert(path.to_string());
    }

    fn remove(&mut self, conn: u64, path: &str) -> bool {
        let removed = match self.by_path.get_mut(path) {
            Some(watchers) => {
                let removed = watchers.remove(&conn).is_some();
                if watchers.is_empty() {
                    self.by_path.remove(path);
                }
                removed
            }
            None => false,
        };
        if let Some(paths) = self.by_conn.get_mut(&conn) {
            paths.remove(path);
            if paths.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        removed
    }

    fn contains(&self, conn: u64, path: &str) -> bool {
        self.by_path
            .get(path)
            .is_some_and(|watchers| watchers.contains_key(&conn))
    }

    fn mode(&self, conn: u64, path: &str) -> Option<WatchMode> {
        self.by_path.get(path)?.get(&conn).copied()
    }

    /// Fires the watches on `path` (and, with `ancestors`, recursive ones above it): returns
    /// the connections, removing one-time entries.
    fn fire(&mut self, path: &str, ancestors: bool, skip_recursive: bool, out: &mut Vec<u64>) {
        let mut hits: Vec<(String, u64, WatchMode)> = Vec::new();
        if let Some(watchers) = self.by_path.get(path) {
            hits.extend(watchers.iter().map(|(c, m)| (path.to_string(), *c, *m)));
        }
        if ancestors {
            let mut current = path;
            while let Some((parent, _)) = crate::tree::path::split_parent(current) {
                if parent == current {
                    break;
                }
                if let Some(watchers) = self.by_path.get(parent) {
                    hits.extend(
                        watchers
                            .iter()
                            .filter(|(_, m)| **m == WatchMode::PersistentRecursive)
                            .map(|(c, m)| (parent.to_string(), *c, *m)),
                    );
                }
                if parent == "/" {
                    break;
                }
                current = parent;
            }
        }
        for (at, conn, mode) in hits {
            if skip_recursive && mode == WatchMode::PersistentRecursive {
                continue;
            }
            if mode == WatchMode::Standard {
                self.remove(conn, &at);
            }
            out.push(conn);
        }
    }

    fn drop_connection(&mut self, conn: u64) {
        if let Some(paths) = self.by_conn.remove(&conn) {
            for path in paths {
                if let Some(watchers) = self.by_path.get_mut(&path) {
                    watchers.remove(&conn);
                    if watchers.is_empty() {
                        self.by_path.remove(&path);
                    }
                }
            }
        }
    }

    fn count(&self) -> usize {
        self.by_path.values().map(HashMap::len).sum()
    }
}

/// Every watch on this member.
#[derive(Debug, Default)]
pub struct WatchManager {
    data: Table,
    child: Table,
    recursive: usize,
}

impl WatchManager {
    /// A one-time data watch (getData, exists). Resets a persistent entry on the same path to
    /// one-time, as 3.8 does.
    pub fn add_data_watch(&mut self, conn: u64, path: &str) {
        self.set_mode(true, conn, path, WatchMode::Standard);
    }

    /// A one-time child watch (getChildren).
    pub fn add_child_watch(&mut self, conn: u64, path: &str) {
        self.set_mode(false, conn, path, WatchMode::Standard);
    }

    /// addWatch: persistent watches go into both tables, recursive ones into the data table
    /// (a recursive watch never sees NodeChildrenChanged).
    pub fn add_persistent_watch(&mut self, conn: u64, path: &str, recursive: bool) {
        if recursive {
            self.set_mode(true, conn, path, WatchMode::PersistentRecursive);
        } else {
            self.set_mode(true, conn, path, WatchMode::Persistent);
            self.set_mode(false, conn, path, WatchMode::Persistent);
        }
    }

    fn set_mode(&mut self, data: bool, conn: u64, path: &str, mode: WatchMode) {
        let table = if data {
            &mut self.data
        } else {
            &mut self.child
        };
        if table.mode(conn, path) == Some(WatchMode::PersistentRecursive) {
            self.recursive -= 1;
        }
        let table = if data {
            &mut self.data
        } else {
            &mut self.child
        };
        table.add(conn, path, mode);
        if mode == WatchMode::PersistentRecursive {
            self.recursive += 1;
        }
    }

    /// The connections to notify of `event` on `path`, one each; one-time watches that fired
    /// are gone afterwards.
    pub fn trigger(&mut self, path: &str, event: EventType) -> Vec<u64> {
        let mut conns = Vec::new();
        let ancestors = self.recursive > 0;
        match event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.data.fire(path, ancestors, false, &mut conns);
            }
            EventType::NodeDeleted => {
                self.data.fire(path, ancestors, false, &mut conns);
                self.child.fire(path, false, false, &mut conns);
            }
            EventType::NodeChildrenChanged => {
                self.child.fire(path, false, true, &mut conns);
            }
            _ => {}
        }
        let mut seen = BTreeSet::new();
        conns.retain(|c| seen.insert(*c));
        conns
    }

    /// checkWatches: does `conn` hold a watch of this type on `path`? `None` for a type 3.8
    /// does not know (MarshallingError).
    pub fn has_watch(&self, conn: u64, path: &str, kind: WatcherType) -> Option<bool> {
        let data = self.data.contains(conn, path);
        let child = self.child.contains(conn, path)
            || self.data.mode(conn, path) == Some(WatchMode::PersistentRecursive);
        match kind {
            WatcherType::Data => Some(data),
            WatcherType::Children => Some(child),
            WatcherType::Any => Some(data || child),
            WatcherType::Unknown(_) => None,
        }
    }

    /// removeWatches: removes `conn`'s watches of this type on `path`; `None` for an unknown
    /// type, `Some(false)` when there were none (NoWatcher).
    pub fn remove_watches(&mut self, conn: u64, path: &str, kind: WatcherType) -> Option<bool> {
        let (data, child) = match kind {
            WatcherType::Data => (true, false),
            WatcherType::Children => (false, true),
            WatcherType::Any => (true, true),
            WatcherType::Unknown(_) => return None,
        };
        let mut removed = false;
        if data || (child && self.data.mode(conn, path) == Some(WatchMode::PersistentRecursive)) {
            if self.data.mode(conn, path) == Some(WatchMode::PersistentRecursive) {
                self.recursive -= 1;
            }
            removed |= self.data.remove(conn, path);
        }
        if child {
            removed |= self.child.remove(conn, path);
        }
        Some(removed)
    }

    /// Forgets every watch of a closed connection.
    pub fn remove_connection(&mut self, conn: u64) {
        if let Some(paths) = self.data.by_conn.get(&conn) {
            let recursive = paths
                .iter()
                .filter(|p| self.data.mode(conn, p) == Some(WatchMode::PersistentRecursive))
                .count();
            self.recursive -= recursive;
        }
        self.data.drop_connection(conn);
        self.child.drop_connection(conn);
    }

    /// All watches, both tables (mntr's `watch_count`).
    pub fn watch_count(&self) -> usize {
        self.data.count() + self.child.count()
    }

    /// The data table by connection (`wchc`; 3.8 lists only data/exists watches).
    pub fn data_watches_by_connection(&self) -> BTreeMap<u64, BTreeSet<String>> {
        self.data
            .by_conn
            .iter()
            .map(|(c, paths)| (*c, paths.clone()))
            .collect()
    }

    /// The data table by path (`wchp`).
    pub fn data_watches_by_path(&self) -> BTreeMap<String, BTreeSet<u64>> {
        self.data
            .by_path
            .iter()
            .map(|(p, conns)| (p.clone(), conns.keys().copied().collect()))
            .collect()
    }

    /// `wchs`: (connections, paths, watches) of the data table.
    pub fn data_summary(&self) -> (usize, usize, usize) {
        (
            self.data.by_conn.len(),
            self.data.by_path.len(),
            self.data.count(),
        )
    }

    /// True if some recursive watch of `conn` covers `path` (used by tests and `wchc`).
    pub fn covered_recursively(&self, conn: u64, path: &str) -> bool {
        self.data.by_conn.get(&conn).is_some_and(|paths| {
            paths.iter().any(|p| {
                self.data.mode(conn, p) == Some(WatchMode::PersistentRecursive)
                    && is_at_or_below(path, p)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_time_watches_fire_once() {
        let mut w = WatchManager::default();
        w.add_data_watch(1, "/a");
        w.add_child_watch(1, "/a");
        assert_eq!(w.trigger("/a", EventType::NodeDataChanged), vec![1]);
        assert!(w.trigger("/a", EventType::NodeDataChanged).is_empty());
        assert_eq!(w.trigger("/a", EventType::NodeChildrenChanged), vec![1]);
        assert_eq!(w.watch_count(), 0);
    }

    #[test]
    fn delete_fires_data_and_child_watches_once_per_connection() {
        let mut w = WatchManager::default();
        w.add_data_watch(1, "/a");
        w.add_child_watch(1, "/a");
        w.add_child_watch(2, "/a");
        assert_eq!(w.trigger("/a", EventType::NodeDeleted), vec![1, 2]);
        assert_eq!(w.watch_count(), 0);
    }

    #[test]
    fn persistent_watches_survive_and_recursive_ones_see_descendants() {
        let mut w = WatchManager::default();
        w.add_persistent_watch(1, "/p", false);
        w.add_persistent_watch(2, "/r", true);
        for _ in 0..2 {
            assert_eq!(w.trigger("/p", EventType::NodeDataChanged), vec![1]);
            assert_eq!(w.trigger("/p", EventType::NodeChildrenChanged), vec![1]);
            assert_eq!(w.trigger("/p", EventType::NodeDeleted), vec![1]);
        }
        assert_eq!(w.trigger("/r/x/y", EventType::NodeCreated), vec![2]);
        assert!(w.trigger("/r", EventType::NodeChildrenChanged).is_empty());
        assert!(w.trigger("/rx", EventType::NodeCreated).is_empty());
        assert!(w.covered_recursively(2, "/r/z"));
    }

    #[test]
    fn a_plain_watch_resets_a_persistent_entry_to_one_time() {
        let mut w = WatchManager::default();
        w.add_persistent_watch(1, "/p", false);
        w.add_data_watch(1, "/p");
        assert_eq!(w.trigger("/p", EventType::NodeDataChanged), vec![1]);
        assert!(w.trigger("/p", EventType::NodeDataChanged).is_empty());
    }

    #[test]
    fn check_and_remove() {
        let mut w = WatchManager::default();
        w.add_data_watch(1, "/a");
        assert_eq!(w.has_watch(1, "/a", WatcherType::Data), Some(true));
        assert_eq!(w.has_watch(1, "/a", WatcherType::Children), Some(false));
        assert_eq!(w.has_watch(1, "/a", WatcherType::Unknown(4)), None);
        assert_eq!(
            w.remove_watches(1, "/a", WatcherType::Children),
            Some(false)
        );
        assert_eq!(w.remove_watches(1, "/a", WatcherType::Any), Some(true));
        assert_eq!(w.remove_watches(1, "/a", WatcherType::Any), Some(false));
        w.add_persistent_watch(1, "/r", true);
        w.remove_connection(1);
        assert_eq!(w.watch_count(), 0);
        assert!(w.trigger("/r/x", EventType::NodeCreated).is_empty());
    }
}
