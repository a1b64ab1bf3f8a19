//! The tree digest: an order-independent fingerprint of every znode, as ZooKeeper 3.6+ keeps
//! one, so members can prove they hold the same tree.
//!
//! The digest is the wrapping sum of one CRC-32 per node over its path, data, ACL, metadata and
//! kind (not its children's names: every child is a node of its own, and the parent's cversion
//! and pzxid record their changes). A sum can be kept up to date in O(1) per change: subtract
//! the node's old CRC, add its new one. Like ZooKeeper's, a single diverging node changes the
//! digest unless two different nodes' CRCs happen to collide (a chance of 2^-32).
//!
//! [`DIGEST_VERSION`] names this definition; it travels with every stored or logged digest, and
//! digests of different versions are never compared.

use super::{Node, NodeKind};

/// The version of the digest's definition.
pub const DIGEST_VERSION: i32 = 1;

/// The CRC-32 of one node at `path`.
pub fn node_digest(path: &str, node: &Node) -> u64 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&(path.len() as u32).to_be_bytes());
    crc.update(path.as_bytes());
    match &node.data {
        None => crc.update(&(-1i32).to_be_bytes()),
        Some(data) => {
            crc.update(&(data.len() as u32).to_be_bytes());
            crc.update(data);
        }
    }
    crc.update(&(node.acl.len() as u32).to_be_bytes());
    for acl in node.acl.iter() {
        crc.update(&acl.perms.0.to_be_bytes());
        crc.update(&(acl.id.scheme.len() as u32).to_be_bytes());
        crc.update(acl.id.scheme.as_bytes());
        match &acl.id.id {
            None => crc.update(&(-1i32).to_be_bytes()),
            Some(id) => {
                crc.update(&(id.len() as u32).to_be_bytes());
                crc.update(id.as_bytes());
            }
        }
    }
    let meta = &node.meta;
    for long in [meta.czxid, meta.mzxid, meta.ctime, meta.mtime, meta.pzxid] {
        crc.update(&long.to_be_bytes());
    }
    for int in [meta.version, meta.cversion, meta.aversion] {
        crc.update(&int.to_be_bytes());
    }
    let (kind, value) = match node.kind {
        NodeKind::Persistent => (1u8, 0),
        NodeKind::Ephemeral(session) => (2, session),
        NodeKind::Container => (3, 0),
        NodeKind::Ttl(ttl) => (4, ttl),
    };
    crc.update(&[kind]);
    crc.update(&value.to_be_bytes());
    u64::from(crc.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::NodeMeta;
    use jute_codec::{Acl, Perms};
    use std::sync::Arc;

    fn node() -> Node {
        Node::new(
            Some(b"x".to_vec()),
            Arc::from(vec![Acl::world(Perms::ALL)]),
            NodeMeta::default(),
            NodeKind::Persistent,
        )
    }

    #[test]
    fn every_field_counts() {
        let base = node_digest("/a", &node());
        assert_eq!(base, node_digest("/a", &node()), "deterministic");
        assert_ne!(base, node_digest("/b", &node()));
        type Change = Box<dyn Fn(&mut Node)>;
        let changes: Vec<Change> = vec![
            Box::new(|n| n.data = None),
            Box::new(|n| n.data = Some(Vec::new())),
            Box::new(|n| n.acl = Arc::from(vec![Acl::world(Perms::READ)])),
            Box::new(|n| n.meta.czxid = 1),
            Box::new(|n| n.meta.mzxid = 1),
            Box::new(|n| n.meta.ctime = 1),
            Box::new(|n| n.meta.mtime = 1),
            Box::new(|n| n.meta.pzxid = 1),
            Box::new(|n| n.meta.version = 1),
            Box::new(|n| n.meta.cversion = 1),
            Box::new(|n| n.meta.aversion = 1),
            Box::new(|n| n.kind = NodeKind::Ephemeral(0)),
            Box::new(|n| n.kind = NodeKind::Ephemeral(5)),
            Box::new(|n| n.kind = NodeKind::Container),
            Box::new(|n| n.kind = NodeKind::Ttl(0)),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = node();
            change(&mut changed);
            assert_ne!(node_digest("/a", &changed), base, "change {i} is not seen");
        }
        let mut tree = crate::tree::DataTree::new();
        tree.insert("/a", node());
        let before = node_digest("/a", tree.get("/a").unwrap());
        tree.insert("/a/c", node());
        assert_eq!(
            node_digest("/a", tree.get("/a").unwrap()),
            before,
            "children are their own nodes"
        );
    }

    /// The digest of a known node, pinned: a change here is a new digest version.
    #[test]
    fn the_definition_is_pinned() {
        assert_eq!(node_digest("/a", &node()), 0x95af_a52d);
    }
}
