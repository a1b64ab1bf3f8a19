//! The DataTree: every znode with its data, ACL and metadata, plus the indexes apply needs
//! (ephemerals by session, containers, TTL nodes). Plain Rust: no clock, no I/O, no locks; the
//! owner (the state machine) serialises access.
//!
//! Mutations are low-level and unchecked (`insert`, `remove`, field updates through
//! `update`); the rules that decide whether a create or delete is allowed live in `txn`.
//! Iteration order that can be observed (ephemerals of a closing session, snapshot bytes) is
//! always sorted.

pub mod acl;
pub mod digest;
pub mod key;
pub mod path;
pub mod quota;

use imbl::{OrdMap, OrdSet};
use std::ops::Bound;
use std::sync::Arc;

use jute_codec::{Acl, Perms, Stat};
use serde::{Deserialize, Serialize};

/// What kind of node this is; ZooKeeper encodes it in the persisted ephemeralOwner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// A plain node.
    Persistent,
    /// Owned by a session; deleted when it ends.
    Ephemeral(i64),
    /// Reaped by the leader once it has had a child and has none left.
    Container,
    /// Reaped by the leader when childless and unmodified for this many ms.
    Ttl(i64),
}

/// A znode's metadata as stored: `cversion` is the *raw* count of child creates, from which
/// the visible cversion is derived (`protocol.md` §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeMeta {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last setData.
    pub mzxid: i64,
    /// Create time (leader clock, ms).
    pub ctime: i64,
    /// Last setData time.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Raw child-create count; also the next sequential suffix.
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// zxid of the last child create or delete.
    pub pzxid: i64,
}

/// One znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The data; `None` is null data, which ZooKeeper keeps distinct from empty.
    pub data: Option<Vec<u8>>,
    /// The ACL (shared: most nodes carry one of a few lists).
    pub acl: Arc<[Acl]>,
    /// The metadata.
    pub meta: NodeMeta,
    /// The node's kind.
    pub kind: NodeKind,
    /// How many children it has; their names are a range of the tree's map
    /// ([`DataTree::children`]).
    child_count: u32,
}

impl Node {
    /// A childless node.
    pub fn new(data: Option<Vec<u8>>, acl: Arc<[Acl]>, meta: NodeMeta, kind: NodeKind) -> Node {
        Node {
            data,
            acl,
            meta,
            kind,
            child_count: 0,
        }
    }

    /// Whether it has children.
    pub fn has_children(&self) -> bool {
        self.child_count > 0
    }

    /// The Stat clients see: visible cversion = 2 × creates − children, ephemeralOwner only
    /// for session ephemerals (0 for containers and TTL nodes).
    pub fn stat(&self) -> Stat {
        let num_children = i32::try_from(self.child_count).unwrap_or(i32::MAX);
        Stat {
            czxid: self.meta.czxid,
            mzxid: self.meta.mzxid,
            ctime: self.meta.ctime,
            mtime: self.meta.mtime,
            version: self.meta.version,
            cversion: self
                .meta
                .cversion
                .wrapping_mul(2)
                .wrapping_sub(num_children),
            aversion: self.meta.aversion,
            ephemeral_owner: match self.kind {
                NodeKind::Ephemeral(session) => session,
                _ => 0,
            },
            data_length: self
                .data
                .as_ref()
                .map_or(0, |d| i32::try_from(d.len()).unwrap_or(i32::MAX)),
            num_children,
            pzxid: self.meta.pzxid,
        }
    }

    /// The owning session, for session ephemerals.
    pub fn ephemeral_owner(&self) -> Option<i64> {
        match self.kind {
            NodeKind::Ephemeral(session) => Some(session),
            _ => None,
        }
    }

    fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, Vec::len)
    }
}

/// The built-in paths ZooKeeper refuses to delete.
pub const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];
/// Where ZooKeeper publishes the ensemble membership.
pub const CONFIG_PATH: &str = "/zookeeper/config";

/// The tree of znodes.
///
/// Every collection in it is persistent (structurally shared), so `clone` is O(1) whatever the
/// size of the tree: a snapshot takes a point-in-time copy under the state lock in
/// microseconds and encodes it with the lock released, and applies and reads never wait for
/// an encoding.
///
/// Nodes sit behind an `Arc` in a B-tree keyed by depth and path ([`key`]): the map's slots
/// stay small (an `imbl` HashMap holding nodes inline cost ~830 B per znode in fixed 32-slot
/// chunks), a node written while a snapshot shares the map is copied alone, and a node's
/// children are a contiguous range of keys (`cargo bench --bench tree_memory`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTree {
    nodes: OrdMap<Box<str>, Arc<Node>>,
    ephemerals: OrdMap<i64, OrdSet<String>>,
    containers: OrdSet<String>,
    ttls: OrdSet<String>,
    /// Paths with a quota (a `/zookeeper/quota<path>/zookeeper_limits` node exists).
    quotas: OrdSet<String>,
    /// Σ (path length + data length), ZooKeeper's `approximate_data_size`.
    data_size: u64,
    /// Σ of every node's digest ([`digest`]), kept up to date by every mutation.
    digest: u64,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree with ZooKeeper's built-in nodes: `/`, `/zookeeper`, `/zookeeper/quota` and
    /// `/zookeeper/config` (READ-only for world, aversion −1, as a standalone 3.8 shows it).
    pub fn new() -> DataTree {
        let open: Arc<[Acl]> = Arc::from(vec![Acl::world(Perms::ALL)]);
        let read_only: Arc<[Acl]> = Arc::from(vec![Acl::world(Perms::READ)]);
        let mut tree = DataTree::empty();
        let builtin = |acl: &Arc<[Acl]>, aversion| {
            Node::new(
                Some(Vec::new()),
                acl.clone(),
                NodeMeta {
                    aversion,
                    ..NodeMeta::default()
                },
                NodeKind::Persistent,
            )
        };
        tree.insert_root(builtin(&open, 0));
        tree.insert("/zookeeper", builtin(&open, 0));
        tree.insert("/zookeeper/quota", builtin(&open, 0));
        tree.insert(CONFIG_PATH, builtin(&read_only, -1));
        tree
    }

    fn insert_root(&mut self, node: Node) {
        self.data_size += 1 + node.data_len() as u64;
        self.digest = self.digest.wrapping_add(digest::node_digest("/", &node));
        self.nodes.insert(key::owned("/"), Arc::new(node));
    }

    /// The tree's digest ([`digest`]): equal on every member that applied the same entries.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The node at `path`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes
            .get(key::Lookup::new(path).as_str())
            .map(|node| &**node)
    }

    /// The names of the children of the node at `path`, sorted.
    pub fn children(&self, path: &str) -> impl Iterator<Item = &str> {
        let (low, high, skip) = key::children_range(path);
        self.nodes
            .range::<_, str>((Bound::Included(&*low), Bound::Excluded(&*high)))
            .map(move |(child, _)| child.get(skip..).unwrap_or_default())
    }

    /// Changes the node at `path` in place: its data, ACL or metadata (children through
    /// [`DataTree::insert`] and [`DataTree::remove`], which keep the indexes). Keeps
    /// `approximate_data_size` and the digest right. `None` if there is no such node.
    pub fn update<R>(&mut self, path: &str, change: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let node = Arc::make_mut(self.nodes.get_mut(key::Lookup::new(path).as_str())?);
        let (digest_before, len_before) = (digest::node_digest(path, node), node.data_len());
        let result = change(node);
        let (digest_after, len_after) = (digest::node_digest(path, node), node.data_len());
        self.digest = self
            .digest
            .wrapping_sub(digest_before)
            .wrapping_add(digest_after);
        self.data_size = (self.data_size + len_after as u64).saturating_sub(len_before as u64);
        Some(result)
    }

    /// Replaces a node's data.
    pub fn set_data(&mut self, path: &str, data: Option<Vec<u8>>) {
        self.update(path, |node| node.data = data);
    }

    /// Adds `node` at `path` and links it into its parent's children (which must exist; the
    /// caller checked). Indexes follow the node's kind. The parent's metadata is the caller's.
    pub fn insert(&mut self, path: &str, node: Node) {
        let Some((parent, _)) = path::split_parent(path) else {
            return;
        };
        if let Some(parent) = self.nodes.get_mut(key::Lookup::new(parent).as_str()) {
            let parent = Arc::make_mut(parent);
            parent.child_count = parent.child_count.saturating_add(1);
        }
        self.index(path, &node, true);
        self.nodes.insert(key::owned(path), Arc::new(node));
    }

    fn empty() -> DataTree {
        DataTree {
            nodes: OrdMap::new(),
            ephemerals: OrdMap::new(),
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            quotas: OrdSet::new(),
            data_size: 0,
            digest: 0,
        }
    }

    /// Adds (or removes) a node to (from) the indexes its kind and path put it in, and the
    /// data size.
    fn index(&mut self, path: &str, node: &Node, add: bool) {
        let size = (path.len() + node.data_len()) as u64;
        let node_digest = digest::node_digest(path, node);
        self.digest = if add {
            self.digest.wrapping_add(node_digest)
        } else {
            self.digest.wrapping_sub(node_digest)
        };
        fn set(set: &mut OrdSet<String>, path: &str, add: bool) {
            if add {
                set.insert(path.to_string());
            } else {
                set.remove(path);
            }
        }
        match node.kind {
            NodeKind::Ephemeral(session) => {
                let mut paths = self.ephemerals.remove(&session).unwrap_or_default();
                set(&mut paths, path, add);
                if !paths.is_empty() {
                    self.ephemerals.insert(session, paths);
                }
            }
            NodeKind::Container => set(&mut self.containers, path, add),
            NodeKind::Ttl(_) => set(&mut self.ttls, path, add),
            NodeKind::Persistent => {}
        }
        if let Some(target) = quota::limits_target(path) {
            set(&mut self.quotas, target, add);
        }
        self.data_size = if add {
            self.data_size + size
        } else {
            self.data_size.saturating_sub(size)
        };
    }

    /// Removes the node at `path` and unlinks it from its parent and the indexes.
    pub fn remove(&mut self, path: &str) -> Option<Node> {
        let node = self.nodes.remove(key::Lookup::new(path).as_str())?;
        // The node itself unless a snapshot still shares it.
        let node = Arc::unwrap_or_clone(node);
        if let Some((parent, _)) = path::split_parent(path) {
            if let Some(parent) = self.nodes.get_mut(key::Lookup::new(parent).as_str()) {
                let parent = Arc::make_mut(parent);
                parent.child_count = parent.child_count.saturating_sub(1);
            }
        }
        self.index(path, &node, false);
        Some(node)
    }

    /// The ephemerals a session owns, sorted.
    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &str> {
        self.ephemerals
            .get(&session)
            .into_iter()
            .flat_map(|paths| paths.iter().map(String::as_str))
    }

    /// Every session that owns ephemerals, with its paths (for `dump`).
    pub fn ephemerals_by_session(&self) -> &OrdMap<i64, OrdSet<String>> {
        &self.ephemerals
    }

    /// Container paths, sorted (the reaper's candidates).
    pub fn containers(&self) -> &OrdSet<String> {
        &self.containers
    }

    /// TTL node paths, sorted (the reaper's candidates).
    pub fn ttl_nodes(&self) -> &OrdSet<String> {
        &self.ttls
    }

    /// The longest path with a quota that `path` is at or below (never `/`), as ZooKeeper's
    /// `getMaxPrefixWithQuota`.
    pub fn quota_prefix(&self, path: &str) -> Option<&str> {
        self.quotas
            .iter()
            .filter(|q| q.as_str() != "/" && path::is_at_or_below(path, q))
            .max_by_key(|q| q.len())
            .map(String::as_str)
    }

    /// (nodes, data bytes) of the subtree at `path`, the node included (ZooKeeper's
    /// `getCounts`).
    pub fn subtree_counts(&self, path: &str) -> (i64, i64) {
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack = vec![path.to_string()];
        while let Some(current) = stack.pop() {
            if let Some(node) = self.get(&current) {
                count += 1;
                bytes += node.data_len() as i64;
                stack.extend(self.children(&current).map(|c| path::join(&current, c)));
            }
        }
        (count, bytes)
    }

    /// Number of znodes as ZooKeeper's mntr counts them: the root twice (it is registered
    /// under both "" and "/"), so a fresh tree shows 5.
    pub fn znode_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// Number of ephemeral nodes.
    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(OrdSet::len).sum()
    }

    /// ZooKeeper's `approximate_data_size`.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// All descendants of `path`, not counting the node itself.
    pub fn descendant_count(&self, path: &str) -> Option<usize> {
        let mut count = 0;
        let mut stack = vec![path.to_string()];
        self.get(path)?;
        while let Some(current) = stack.pop() {
            for child in self.children(&current) {
                count += 1;
                stack.push(path::join(&current, child));
            }
        }
        Some(count)
    }

    /// Every (path, node) in the map's order (by depth, then path): the order snapshots are
    /// written in (any order reads back the same tree).
    pub fn sorted_nodes(&self) -> Vec<(&str, &Node)> {
        self.nodes
            .iter()
            .map(|(k, n)| (key::path_of(k), &**n))
            .collect()
    }

    /// Rebuilds a tree from snapshot nodes (any order): child counts, indexes, sizes and the
    /// digest are recomputed from the paths and nodes.
    pub fn from_nodes(nodes: impl IntoIterator<Item = (String, Node)>) -> DataTree {
        let mut tree = DataTree::empty();
        // Child counts by runs of siblings: snapshots list nodes in the map's order, where a
        // node's children are consecutive, so this holds one entry per parent, not per node.
        let mut counts: Vec<(String, u32)> = Vec::new();
        for (path, mut node) in nodes {
            match path::split_parent(&path) {
                Some((parent, _)) if path != "/" => match counts.last_mut() {
                    Some((last, count)) if last == parent => *count += 1,
                    _ => counts.push((parent.to_string(), 1)),
                },
                _ => {}
            }
            node.child_count = 0;
            tree.index(&path, &node, true);
            tree.nodes.insert(key::owned(&path), Arc::new(node));
        }
        for (parent, count) in counts {
            if let Some(parent) = tree.nodes.get_mut(key::Lookup::new(&parent).as_str()) {
                let parent = Arc::make_mut(parent);
                parent.child_count = parent.child_count.saturating_add(count);
            }
        }
        tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: NodeKind) -> Node {
        Node::new(
            Some(b"x".to_vec()),
            Arc::from(vec![Acl::world(Perms::ALL)]),
            NodeMeta::default(),
            kind,
        )
    }

    #[test]
    fn fresh_tree_has_the_builtin_nodes() {
        let tree = DataTree::new();
        for p in SPECIAL_PATHS {
            assert!(tree.get(p).is_some(), "{p}");
        }
        assert_eq!(tree.znode_count(), 5);
        assert_eq!(tree.get(CONFIG_PATH).unwrap().meta.aversion, -1);
        assert_eq!(tree.descendant_count("/"), Some(3));
    }

    #[test]
    fn insert_and_remove_keep_indexes() {
        let mut tree = DataTree::new();
        let before = tree.approximate_data_size();
        tree.insert("/e", node(NodeKind::Ephemeral(7)));
        tree.insert("/c", node(NodeKind::Container));
        tree.insert("/t", node(NodeKind::Ttl(100)));
        assert_eq!(tree.ephemerals_of(7).collect::<Vec<_>>(), vec!["/e"]);
        assert!(tree.containers().contains("/c"));
        assert!(tree.ttl_nodes().contains("/t"));
        assert!(tree.children("/").any(|c| c == "e"));
        assert_eq!(tree.approximate_data_size(), before + 9);
        for p in ["/e", "/c", "/t"] {
            tree.remove(p).unwrap();
        }
        assert_eq!(tree, DataTree::new());
    }

    #[test]
    fn visible_cversion_counts_creates_and_deletes() {
        let mut n = node(NodeKind::Persistent);
        n.meta.cversion = 3;
        n.child_count = 2;
        assert_eq!(n.stat().cversion, 4);
        assert_eq!(n.stat().num_children, 2);
        assert_eq!(n.stat().data_length, 1);
        assert_eq!(node(NodeKind::Container).stat().ephemeral_owner, 0);
        assert_eq!(node(NodeKind::Ephemeral(9)).stat().ephemeral_owner, 9);
    }

    #[test]
    fn child_counts_are_rebuilt_from_nodes_in_any_order() {
        let mut tree = DataTree::new();
        for p in ["/a", "/a/x", "/b", "/a/y", "/b/z", "/a/x/q"] {
            tree.insert(p, node(NodeKind::Persistent));
        }
        let mut nodes: Vec<(String, Node)> = tree
            .sorted_nodes()
            .into_iter()
            .map(|(p, n)| (p.to_string(), n.clone()))
            .collect();
        nodes.reverse();
        nodes.swap(1, 4);
        let rebuilt = DataTree::from_nodes(nodes);
        assert_eq!(rebuilt, tree);
        assert_eq!(rebuilt.get("/a").unwrap().stat().num_children, 2);
        assert_eq!(rebuilt.children("/a").collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn rebuilt_tree_equals_the_original() {
        let mut tree = DataTree::new();
        tree.insert("/e", node(NodeKind::Ephemeral(7)));
        tree.insert("/e2", node(NodeKind::Ttl(5)));
        let rebuilt = DataTree::from_nodes(
            tree.sorted_nodes()
                .into_iter()
                .map(|(p, n)| (p.to_string(), n.clone())),
        );
        assert_eq!(rebuilt, tree);
    }
}
