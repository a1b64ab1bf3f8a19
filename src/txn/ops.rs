//! The single-node operations apply is made of, with ZooKeeper's checks in ZooKeeper's order
//! (`protocol.md` §9.1, §10, §11; `PrepRequestProcessor`). Each records how to undo itself, so
//! a multi can roll back when a later op fails.

use std::sync::Arc;

use jute_codec::{Acl, CreateMode, ErrorCode, EventType, Id, Perms, Stat};

use super::WatchTrigger;
use crate::session::table::SessionTable;
use crate::tree::{acl, path, quota, DataTree, Node, NodeKind, NodeMeta, SPECIAL_PATHS};

/// Everything one Txn's ops work on.
pub(crate) struct Ctx<'a> {
    pub tree: &'a mut DataTree,
    pub sessions: &'a SessionTable,
    pub session_id: i64,
    pub auth: &'a [Id],
    pub rules: super::ApplyRules,
    pub zxid: i64,
    pub time_ms: i64,
    pub triggers: Vec<WatchTrigger>,
    undo: Vec<Undo>,
}

/// How to put back what one op changed.
enum Undo {
    Created {
        path: String,
        parent: String,
        parent_meta: NodeMeta,
    },
    Deleted {
        path: String,
        node: Node,
        parent: String,
        parent_meta: NodeMeta,
    },
    DataSet {
        path: String,
        data: Option<Vec<u8>>,
        meta: NodeMeta,
    },
    AclSet {
        path: String,
        acl: Arc<[Acl]>,
        meta: NodeMeta,
    },
}

/// What kind of node a create makes, decided from the opcode and flags by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreateKind {
    /// Persistent or ephemeral, from the mode.
    Plain,
    /// A container.
    Container,
    /// A TTL node with this TTL in ms.
    Ttl(i64),
}

/// A create request after the opcode/flags checks.
pub(crate) struct CreateSpec<'r> {
    pub path: &'r str,
    pub data: &'r Option<Vec<u8>>,
    pub acl: &'r [Acl],
    pub mode: CreateMode,
    pub kind: CreateKind,
}

/// The largest TTL ZooKeeper accepts: 2^40 − 1 ms.
pub(crate) const MAX_TTL_MS: i64 = (1 << 40) - 1;

impl<'a> Ctx<'a> {
    /// The context `txn`'s ops run in: its session, identities and auth providers.
    pub fn for_txn(
        tree: &'a mut DataTree,
        sessions: &'a SessionTable,
        txn: &'a super::Txn,
        zxid: i64,
        time_ms: i64,
    ) -> Ctx<'a> {
        Ctx::new(
            tree,
            sessions,
            txn.session_id,
            &txn.auth,
            txn.rules,
            zxid,
            time_ms,
        )
    }

    pub fn new(
        tree: &'a mut DataTree,
        sessions: &'a SessionTable,
        session_id: i64,
        auth: &'a [Id],
        rules: super::ApplyRules,
        zxid: i64,
        time_ms: i64,
    ) -> Ctx<'a> {
        Ctx {
            tree,
            sessions,
            session_id,
            auth,
            rules,
            zxid,
            time_ms,
            triggers: Vec::new(),
            undo: Vec::new(),
        }
    }

    /// SessionExpired unless the requesting session is live.
    pub fn check_session(&self) -> Result<(), ErrorCode> {
        if self.sessions.contains(self.session_id) {
            Ok(())
        } else {
            Err(ErrorCode::SessionExpired)
        }
    }

    /// Steps 4–12 of ZooKeeper's create checks, then the create itself. Returns the actual
    /// path (with any sequential suffix) and the new node's Stat.
    pub fn create(&mut self, spec: CreateSpec<'_>) -> Result<(String, Stat), ErrorCode> {
        self.check_session()?;
        // Step 5: the prep stage only checks for a '/' somewhere and no NUL.
        let Some((parent_path, _)) = path::split_parent(spec.path) else {
            return Err(ErrorCode::BadArguments);
        };
        if spec.path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let acl = acl::fixup_acl(spec.acl, self.auth, self.rules.providers)?;
        let parent = self.tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&parent.acl, Perms::CREATE, self.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let path = if spec.mode.is_sequential() {
            // The parent's raw child-create count, `%010d` (negative after wrap-around, as Java).
            format!("{}{:010}", spec.path, parent.meta.cversion)
        } else {
            spec.path.to_string()
        };
        path::validate(&path).map_err(|_| ErrorCode::BadArguments)?;
        if self.tree.get(&path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if parent.ephemeral_owner().is_some() {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        self.check_quota(&path, 1, spec.data.as_ref().map_or(0, Vec::len) as i64)?;
        let parent_path = parent_path.to_string();
        let parent_meta = parent.meta;
        // Children mostly carry their parent's ACL: share its list rather than keep a copy per
        // node (~70 B a znode).
        let acl: Arc<[Acl]> = if parent.acl[..] == acl[..] {
            parent.acl.clone()
        } else {
            Arc::from(acl)
        };
        let kind = match spec.kind {
            CreateKind::Container => NodeKind::Container,
            CreateKind::Ttl(ttl) => NodeKind::Ttl(ttl),
            CreateKind::Plain if spec.mode.is_ephemeral() => NodeKind::Ephemeral(self.session_id),
            CreateKind::Plain => NodeKind::Persistent,
        };
        let meta = NodeMeta {
            czxid: self.zxid,
            mzxid: self.zxid,
            ctime: self.time_ms,
            mtime: self.time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            pzxid: self.zxid,
        };
        let node = Node::new(spec.data.clone(), acl, meta, kind);
        let stat = node.stat();
        self.tree.insert(&path, node);
        let zxid = self.zxid;
        self.tree.update(&parent_path, |parent| {
            parent.meta.cversion = parent.meta.cversion.wrapping_add(1);
            parent.meta.pzxid = zxid;
        });
        self.undo.push(Undo::Created {
            path: path.clone(),
            parent: parent_path.clone(),
            parent_meta,
        });
        if let Some(target) = quota::stats_target(&path) {
            let (count, bytes) = self.tree.subtree_counts(target);
            self.rewrite_data(&path, |old| quota::set_counts(old, count, bytes));
        }
        let created_len = spec.data.as_ref().map_or(0, Vec::len) as i64;
        self.quota_update(&path, 1, created_len);
        self.trigger(&path, EventType::NodeCreated);
        self.trigger(&parent_path, EventType::NodeChildrenChanged);
        Ok((path, stat))
    }

    /// delete: special paths and paths without `/` or with NUL are BadArguments; then the
    /// parent must exist and allow DELETE, the node must exist, match the version and have no
    /// children.
    pub fn delete(&mut self, path: &str, version: i32) -> Result<(), ErrorCode> {
        self.check_session()?;
        if path.contains('\0') || SPECIAL_PATHS.contains(&path) {
            return Err(ErrorCode::BadArguments);
        }
        let Some((parent_path, _)) = path::split_parent(path) else {
            return Err(ErrorCode::BadArguments);
        };
        let parent = self.tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&parent.acl, Perms::DELETE, self.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        check_version(node.meta.version, version)?;
        if node.has_children() {
            return Err(ErrorCode::NotEmpty);
        }
        self.remove_node(path);
        Ok(())
    }

    /// The leader's reaping of a container or TTL node (ZooKeeper's deleteContainer): no
    /// session or ACL check; a session ephemeral is BadVersion, a node with children NotEmpty.
    pub fn reap(&mut self, path: &str) -> Result<(), ErrorCode> {
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if node.ephemeral_owner().is_some() {
            return Err(ErrorCode::BadVersion);
        }
        if node.has_children() {
            return Err(ErrorCode::NotEmpty);
        }
        self.remove_node(path);
        Ok(())
    }

    /// Removes a childless node, updating the parent's pzxid and firing NodeDeleted and the
    /// parent's NodeChildrenChanged. Also how a closing session's ephemerals go.
    pub fn remove_node(&mut self, path: &str) {
        let Some((parent_path, _)) = path::split_parent(path) else {
            return;
        };
        let parent_path = parent_path.to_string();
        let Some(parent_meta) = self.tree.get(&parent_path).map(|p| p.meta) else {
            return;
        };
        let Some(node) = self.tree.remove(path) else {
            return;
        };
        let zxid = self.zxid;
        self.tree
            .update(&parent_path, |parent| parent.meta.pzxid = zxid);
        let removed_len = node.data.as_ref().map_or(0, Vec::len) as i64;
        self.undo.push(Undo::Deleted {
            path: path.to_string(),
            node,
            parent: parent_path.clone(),
            parent_meta,
        });
        self.quota_update(path, -1, -removed_len);
        self.trigger(path, EventType::NodeDeleted);
        self.trigger(&parent_path, EventType::NodeChildrenChanged);
    }

    /// setData: full path validation first, then existence, WRITE, version.
    pub fn set_data(
        &mut self,
        path: &str,
        data: &Option<Vec<u8>>,
        version: i32,
    ) -> Result<Stat, ErrorCode> {
        self.check_session()?;
        path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, Perms::WRITE, self.auth) {
            return Err(ErrorCode::NoAuth);
        }
        // ZooKeeper checks the quota before the version.
        let bytes_diff = data.as_ref().map_or(0, Vec::len) as i64
            - node.data.as_ref().map_or(0, Vec::len) as i64;
        self.check_quota(path, 0, bytes_diff)?;
        check_version(node.meta.version, version)?;
        let old_meta = node.meta;
        let old_data = node.data.clone();
        let (zxid, time_ms) = (self.zxid, self.time_ms);
        let stat = self
            .tree
            .update(path, |node| {
                node.data = data.clone();
                node.meta.version = node.meta.version.wrapping_add(1);
                node.meta.mzxid = zxid;
                node.meta.mtime = time_ms;
                node.stat()
            })
            .ok_or(ErrorCode::NoNode)?;
        self.undo.push(Undo::DataSet {
            path: path.to_string(),
            data: old_data,
            meta: old_meta,
        });
        self.quota_update(path, 0, bytes_diff);
        self.trigger(path, EventType::NodeDataChanged);
        Ok(stat)
    }

    /// setACL: path validation, ACL validity, existence, ADMIN, aversion. Fires nothing.
    pub fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        self.check_session()?;
        path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
        let acl = acl::fixup_acl(acl, self.auth, self.rules.providers)?;
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, Perms::ADMIN, self.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.meta.aversion, version)?;
        let undo = Undo::AclSet {
            path: path.to_string(),
            acl: node.acl.clone(),
            meta: node.meta,
        };
        let stat = self
            .tree
            .update(path, |node| {
                node.acl = Arc::from(acl);
                node.meta.aversion = node.meta.aversion.wrapping_add(1);
                node.stat()
            })
            .ok_or(ErrorCode::NoNode)?;
        self.undo.push(undo);
        Ok(stat)
    }

    /// check (multi only): path validation, existence, READ, version.
    pub fn check(&mut self, path: &str, version: i32) -> Result<(), ErrorCode> {
        self.check_session()?;
        path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
        let node = self.tree.get(path).ok_or(ErrorCode::NoNode)?;
        if !acl::check(&node.acl, Perms::READ, self.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.meta.version, version)
    }

    /// Undoes every op of this Txn, newest first, and forgets their triggers.
    pub fn rollback(&mut self) {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Created {
                    path,
                    parent,
                    parent_meta,
                } => {
                    self.tree.remove(&path);
                    self.tree.update(&parent, |p| p.meta = parent_meta);
                }
                Undo::Deleted {
                    path,
                    node,
                    parent,
                    parent_meta,
                } => {
                    self.tree.insert(&path, node);
                    self.tree.update(&parent, |p| p.meta = parent_meta);
                }
                Undo::DataSet { path, data, meta } => {
                    self.tree.update(&path, |n| {
                        n.data = data;
                        n.meta = meta;
                    });
                }
                Undo::AclSet { path, acl, meta } => {
                    self.tree.update(&path, |n| {
                        n.acl = acl;
                        n.meta = meta;
                    });
                }
            }
        }
        self.triggers.clear();
    }

    /// Moves the quota stats of the quota'd path `path` lies under, if any.
    /// `enforceQuota`: QuotaExceeded when the change would take the subtree of the longest
    /// quota'd path above `path` past a hard limit, as ZooKeeper's `checkQuota` decides it
    /// (a count is checked when nodes are added, bytes when the data size changes; a soft
    /// limit is never refused). Unlike ZooKeeper, which checks against the tree as it was
    /// before writes still in flight, this runs in apply: a hard limit is never overshot, and
    /// each op of a multi sees the ones before it.
    fn check_quota(&self, path: &str, count_diff: i64, bytes_diff: i64) -> Result<(), ErrorCode> {
        if !self.rules.enforce_quota {
            return Ok(());
        }
        let Some(target) = self.tree.quota_prefix(path) else {
            return Ok(());
        };
        let Some(limits) = self.tree.get(&quota::limits_path(target)) else {
            return Ok(());
        };
        let limits = limits.data.as_deref();
        let Some(stats) = self.tree.get(&quota::stats_path(target)) else {
            return Ok(());
        };
        let stats = stats.data.as_deref();
        let over = |diff: i64, used: &str, hard: &str| {
            let limit = quota::field(limits, hard);
            diff != 0 && limit > -1 && quota::field(stats, used).saturating_add(diff) > limit
        };
        if over(count_diff, "count", "countHardLimit") || over(bytes_diff, "bytes", "byteHardLimit")
        {
            return Err(ErrorCode::QuotaExceeded);
        }
        Ok(())
    }

    fn quota_update(&mut self, path: &str, count_diff: i64, bytes_diff: i64) {
        let Some(target) = self.tree.quota_prefix(path) else {
            return;
        };
        let stats = quota::stats_path(target);
        self.rewrite_data(&stats, |old| quota::adjust(old, count_diff, bytes_diff));
    }

    /// Replaces a node's data without touching its Stat (quota bookkeeping), undoably.
    fn rewrite_data(&mut self, path: &str, new: impl FnOnce(Option<&[u8]>) -> Vec<u8>) {
        let Some(node) = self.tree.get(path) else {
            return;
        };
        let (old, meta) = (node.data.clone(), node.meta);
        let data = new(old.as_deref());
        self.tree.set_data(path, Some(data));
        self.undo.push(Undo::DataSet {
            path: path.to_string(),
            data: old,
            meta,
        });
    }

    fn trigger(&mut self, path: &str, event: EventType) {
        self.triggers.push(WatchTrigger {
            path: path.to_string(),
            event,
        });
    }
}

/// −1 matches any version; anything else must equal the current one.
fn check_version(current: i32, expected: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == current {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}
