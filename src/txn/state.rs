//! The replicated state (tree + sessions + last zxid) and its snapshot encoding.
//!
//! Snapshot layout (all integers big-endian):
//! `"RZKSNAP\0"` · `u32 format version` · `u64 body length` · body · `u32 CRC-32 of body`.
//! Format 2's body (written) is in raftzk's durable encoding (`crate::durable`):
//! `long last_zxid` · `int digest version` · `long tree digest` · `int` session count, per
//! session `long id` · `int timeout` · `buffer password` · `int` ACL-list count, per list a
//! `vector<ACL>` · `int` node count, per node in path order `ustring path` · `buffer data` ·
//! `int` ACL-list number · `long czxid, mzxid, ctime, mtime, pzxid` · `int version, cversion,
//! aversion` · `int` kind tag · `long` kind value (owner session or TTL). Children are
//! rebuilt from the paths. Format 1's body (read only) is the postcard encoding of the Rust
//! types. A snapshot that is truncated, has trailing bytes, a wrong magic, an unknown version,
//! a bad checksum or a tree whose digest differs from the one it carries is refused: a member
//! never serves from state that may be missing acknowledged writes.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;
use jute_codec::Acl;
use serde::Deserialize;

use super::zxid_of;
use crate::durable::{put, put_count, put_str, put_u64, take_u64, FormatError, Reader};
use crate::session::table::{SessionInfo, SessionTable};
use crate::tree::digest::DIGEST_VERSION;
use crate::tree::{DataTree, Node, NodeKind, NodeMeta};

const MAGIC: &[u8; 8] = b"RZKSNAP\0";
/// The body format written.
const FORMAT_VERSION: u32 = 2;
/// The body format of releases before format 2, still read.
const FORMAT_VERSION_POSTCARD: u32 = 1;

/// Bytes before a snapshot's body: magic, format version, body length.
const SNAPSHOT_HEAD: usize = 8 + 4 + 8;
/// Bytes read at a time when a snapshot is checked as a stream.
const CHECK_CHUNK: usize = 1 << 20;

/// Encoded bytes held before they go to the writer: a snapshot is written a chunk at a time,
/// never held whole (at a million znodes it is over 200 MB).
const WRITE_CHUNK: usize = 1 << 20;

/// The body of a snapshot on its way to a writer: encoded into a chunk buffer, checksummed and
/// written out whenever the chunk is full.
struct BodyWriter<'w, W: std::io::Write> {
    out: &'w mut W,
    buf: BytesMut,
    crc: crc32fast::Hasher,
    written: u64,
}

impl<W: std::io::Write> BodyWriter<'_, W> {
    /// Writes the chunk out once it is full.
    fn maybe_flush(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= WRITE_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.crc.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Why a snapshot read as a stream is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotStreamError {
    /// The bytes are not a whole, intact snapshot.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Reading them failed (a file shorter than its length is reported here).
    #[error("reading: {0}")]
    Io(#[from] std::io::Error),
}

/// The node kind tags of format 2. Fixed forever: a new kind takes a new number.
mod kind_tag {
    pub const PERSISTENT: i32 = 1;
    pub const EPHEMERAL: i32 = 2;
    pub const CONTAINER: i32 = 3;
    pub const TTL: i32 = 4;
}

/// What every member holds identically after applying the same entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicatedState {
    /// The znodes.
    pub tree: DataTree,
    /// The live sessions.
    pub sessions: SessionTable,
    /// The zxid of the last applied Txn (or `index << 16` of the last entry without Txns):
    /// what reads, pings and reconnect checks report.
    pub last_zxid: i64,
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not a raftzk snapshot.
    #[error("bad magic")]
    BadMagic,
    /// Written by a newer raftzk.
    #[error("snapshot format {0} is newer than this build reads (formats 1 and 2)")]
    UnknownVersion(u32),
    /// Shorter or longer than its header says.
    #[error("truncated or padded: header says {expected} body bytes, found {found}")]
    Length {
        /// From the header.
        expected: u64,
        /// Present.
        found: u64,
    },
    /// The body does not match its checksum.
    #[error("checksum mismatch: stored {stored:08x}, computed {computed:08x}")]
    Checksum {
        /// From the file.
        stored: u32,
        /// Of the bytes read.
        computed: u32,
    },
    /// A format-1 body does not decode.
    #[error("undecodable body: {0}")]
    Body(#[from] postcard::Error),
    /// A format-2 body does not decode.
    #[error("undecodable body: {0}")]
    Format(#[from] FormatError),
    /// The tree read is not the tree that was written.
    #[error("tree digest mismatch at zxid {zxid:#x}: the snapshot says {stored}, its nodes make {computed}")]
    DigestMismatch {
        /// The snapshot's last zxid.
        zxid: i64,
        /// The digest the snapshot carries.
        stored: u64,
        /// The digest of the nodes read.
        computed: u64,
    },
}

/// The format-1 snapshot body.
#[derive(Deserialize)]
struct SnapshotBodyV1 {
    last_zxid: i64,
    sessions: SessionTable,
    nodes: Vec<(String, NodeV1)>,
}

/// A node as format 1 stored it (serde's field order), with the names of its children,
/// which the tree now finds from the paths.
#[derive(Deserialize)]
struct NodeV1 {
    data: Option<Vec<u8>>,
    acl: Arc<[Acl]>,
    meta: NodeMeta,
    kind: NodeKind,
    #[allow(dead_code)]
    children: Vec<String>,
}

impl ReplicatedState {
    /// A fresh state: the built-in nodes, no sessions.
    pub fn new() -> ReplicatedState {
        ReplicatedState {
            tree: DataTree::new(),
            sessions: SessionTable::default(),
            last_zxid: 0,
        }
    }

    /// Records that the entry at `index` was applied (entries without Txns included), so
    /// `last_zxid >> 16` always names the last applied index.
    pub fn note_index(&mut self, index: u64) {
        self.last_zxid = self.last_zxid.max(zxid_of(index, 0));
    }

    /// Publishes the group membership in `/zookeeper/config` (ZooKeeper's text: one
    /// `server.N=…` line per member and `version=<hex zxid>`), as a change at `zxid`.
    pub fn set_ensemble_config(&mut self, lines: &[String], zxid: i64) {
        let mut text = lines.join("\n");
        text.push_str(&format!("\nversion={zxid:x}"));
        self.tree
            .set_data(crate::tree::CONFIG_PATH, Some(text.into_bytes()));
        self.tree.update(crate::tree::CONFIG_PATH, |node| {
            node.meta.version = node.meta.version.wrapping_add(1);
            node.meta.mzxid = zxid;
        });
    }

    /// The snapshot bytes of this state (format 2).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        // Writing into memory cannot fail.
        let _ = self.write_snapshot(&mut out);
        out.into_inner()
    }

    /// Writes the snapshot bytes of this state (format 2) to `out` as they are encoded, a
    /// chunk at a time, and returns how many: at a million znodes the snapshot is hundreds of
    /// MB, and a build must not hold it in memory. The head's body length is filled in at the
    /// end (hence `Seek`); `out` is left positioned after the snapshot.
    pub fn write_snapshot<W: std::io::Write + std::io::Seek>(
        &self,
        out: &mut W,
    ) -> std::io::Result<u64> {
        let start = out.stream_position()?;
        let mut head = [0u8; SNAPSHOT_HEAD];
        head[..8].copy_from_slice(MAGIC);
        head[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
        out.write_all(&head)?;
        let mut body = BodyWriter {
            out,
            buf: BytesMut::with_capacity(WRITE_CHUNK + 64 * 1024),
            crc: crc32fast::Hasher::new(),
            written: 0,
        };
        self.encode_body(&mut body)?;
        body.flush()?;
        let (length, crc) = (body.written, body.crc.finalize());
        out.write_all(&crc.to_be_bytes())?;
        let end = out.stream_position()?;
        out.seek(std::io::SeekFrom::Start(start + 12))?;
        out.write_all(&length.to_be_bytes())?;
        out.seek(std::io::SeekFrom::Start(end))?;
        Ok(end - start)
    }

    fn encode_body<W: std::io::Write>(&self, body: &mut BodyWriter<'_, W>) -> std::io::Result<()> {
        let nodes = self.tree.sorted_nodes();
        put(&mut body.buf, &self.last_zxid);
        put(&mut body.buf, &DIGEST_VERSION);
        put_u64(&mut body.buf, self.tree.digest());
        put_count(&mut body.buf, self.sessions.len());
        for (id, info) in self.sessions.iter() {
            put(&mut body.buf, &id);
            put(&mut body.buf, &info.timeout_ms);
            put(&mut body.buf, &info.password);
            body.maybe_flush()?;
        }
        // Each distinct ACL list once; nodes name it by number (most share a few lists).
        let mut numbers: HashMap<*const Acl, i32> = HashMap::new();
        let mut lists: Vec<&Arc<[Acl]>> = Vec::new();
        let node_lists: Vec<i32> = nodes
            .iter()
            .map(|(_, node)| {
                *numbers.entry(node.acl.as_ptr()).or_insert_with(|| {
                    lists.push(&node.acl);
                    lists.len() as i32 - 1
                })
            })
            .collect();
        put_count(&mut body.buf, lists.len());
        for list in lists {
            put_count(&mut body.buf, list.len());
            for acl in list.iter() {
                put(&mut body.buf, acl);
            }
            body.maybe_flush()?;
        }
        put_count(&mut body.buf, nodes.len());
        for ((path, node), list) in nodes.iter().zip(node_lists) {
            let buf = &mut body.buf;
            put_str(buf, path);
            put(buf, &node.data);
            put(buf, &list);
            let meta = &node.meta;
            for long in [meta.czxid, meta.mzxid, meta.ctime, meta.mtime, meta.pzxid] {
                put(buf, &long);
            }
            for int in [meta.version, meta.cversion, meta.aversion] {
                put(buf, &int);
            }
            let (tag, value) = match node.kind {
                NodeKind::Persistent => (kind_tag::PERSISTENT, 0),
                NodeKind::Ephemeral(session) => (kind_tag::EPHEMERAL, session),
                NodeKind::Container => (kind_tag::CONTAINER, 0),
                NodeKind::Ttl(ttl) => (kind_tag::TTL, ttl),
            };
            put(buf, &tag);
            put(buf, &value);
            body.maybe_flush()?;
        }
        Ok(())
    }

    fn decode_body(body: &[u8]) -> Result<ReplicatedState, SnapshotError> {
        let mut reader = Reader::new(body);
        let last_zxid: i64 = reader.take("last zxid")?;
        let digest_version: i32 = reader.take("digest version")?;
        let digest = take_u64(&mut reader, "digest")?;
        let mut sessions = SessionTable::default();
        for _ in 0..reader.count("session count", 8 + 4 + 4)? {
            let id = reader.take("session id")?;
            let info = SessionInfo {
                timeout_ms: reader.take("session timeout")?,
                password: reader.take("session password")?,
            };
            sessions.insert(id, info);
        }
        let list_count = reader.count("ACL list count", 4)?;
        let mut lists: Vec<Arc<[Acl]>> = Vec::with_capacity(list_count);
        for _ in 0..list_count {
            let count = reader.count("ACL count", 4 + 4 + 4)?;
            let list = (0..count)
                .map(|_| reader.take::<Acl>("ACL"))
                .collect::<Result<Vec<_>, _>>()?;
            lists.push(Arc::from(list));
        }
        let node_count = reader.count("node count", 4 + 4 + 4 + 5 * 8 + 3 * 4 + 4 + 8)?;
        let mut nodes = Vec::with_capacity(node_count);
        for _ in 0..node_count {
            let path: String = reader.take("node path")?;
            let data = reader.take("node data")?;
            let list: i32 = reader.take("node ACL number")?;
            let acl = usize::try_from(list)
                .ok()
                .and_then(|i| lists.get(i))
                .cloned()
                .ok_or(FormatError::UnknownTag {
                    what: "node ACL number",
                    tag: list,
                })?;
            let mut longs = [0i64; 5];
            for long in &mut longs {
                *long = reader.take("node metadata")?;
            }
            let mut ints = [0i32; 3];
            for int in &mut ints {
                *int = reader.take("node metadata")?;
            }
            let [czxid, mzxid, ctime, mtime, pzxid] = longs;
            let [version, cversion, aversion] = ints;
            let meta = NodeMeta {
                czxid,
                mzxid,
                ctime,
                mtime,
                version,
                cversion,
                aversion,
                pzxid,
            };
            let tag: i32 = reader.take("node kind")?;
            let value: i64 = reader.take("node kind value")?;
            let kind = match tag {
                kind_tag::PERSISTENT => NodeKind::Persistent,
                kind_tag::EPHEMERAL => NodeKind::Ephemeral(value),
                kind_tag::CONTAINER => NodeKind::Container,
                kind_tag::TTL => NodeKind::Ttl(value),
                other => {
                    return Err(FormatError::UnknownTag {
                        what: "node kind",
                        tag: other,
                    }
                    .into())
                }
            };
            nodes.push((path, Node::new(data, acl, meta, kind)));
        }
        reader.finish()?;
        let tree = DataTree::from_nodes(nodes);
        if digest_version == DIGEST_VERSION && tree.digest() != digest {
            return Err(SnapshotError::DigestMismatch {
                zxid: last_zxid,
                stored: digest,
                computed: tree.digest(),
            });
        }
        Ok(ReplicatedState {
            tree,
            sessions,
            last_zxid,
        })
    }

    /// Checks snapshot bytes (magic, version, length, checksum) without decoding them, and
    /// returns the body: what a leader does before streaming a snapshot file.
    pub fn check_snapshot(bytes: &[u8]) -> Result<&[u8], SnapshotError> {
        let (len, rest) = ReplicatedState::check_head(bytes)?;
        let found = rest.len().saturating_sub(4) as u64;
        if found != len || rest.len() < 4 {
            return Err(SnapshotError::Length {
                expected: len,
                found,
            });
        }
        let (body, crc) = rest.split_at(rest.len() - 4);
        let (stored, _) = take_array::<4>(crc, len)?;
        let stored = u32::from_be_bytes(stored);
        let computed = crc32fast::hash(body);
        if stored != computed {
            return Err(SnapshotError::Checksum { stored, computed });
        }
        Ok(body)
    }

    /// The head of snapshot bytes checked (magic, a format this build reads): the body length
    /// it states, and the bytes after it.
    fn check_head(bytes: &[u8]) -> Result<(u64, &[u8]), SnapshotError> {
        let (magic, rest) = bytes.split_at_checked(8).ok_or(SnapshotError::BadMagic)?;
        if magic != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let (version, rest) = take_array::<4>(rest, 0)?;
        let version = u32::from_be_bytes(version);
        if version != FORMAT_VERSION && version != FORMAT_VERSION_POSTCARD {
            return Err(SnapshotError::UnknownVersion(version));
        }
        let (len, rest) = take_array::<8>(rest, 0)?;
        Ok((u64::from_be_bytes(len), rest))
    }

    /// [`ReplicatedState::check_snapshot`] for `len` snapshot bytes read from `from` a chunk at
    /// a time: how a leader checks a file it is about to stream without holding it in memory.
    pub fn check_snapshot_stream(
        from: &mut impl std::io::Read,
        len: u64,
    ) -> Result<(), SnapshotStreamError> {
        let mut head = [0u8; SNAPSHOT_HEAD];
        let head_len = usize::try_from(len)
            .unwrap_or(SNAPSHOT_HEAD)
            .min(SNAPSHOT_HEAD);
        let head = head.get_mut(..head_len).unwrap_or_default();
        from.read_exact(head)?;
        let (body_len, _) = ReplicatedState::check_head(head)?;
        let found = len.saturating_sub((SNAPSHOT_HEAD + 4) as u64);
        if found != body_len || len < (SNAPSHOT_HEAD + 4) as u64 {
            return Err(SnapshotError::Length {
                expected: body_len,
                found,
            }
            .into());
        }
        let mut hasher = crc32fast::Hasher::new();
        let mut chunk = vec![0u8; CHECK_CHUNK];
        let mut left = body_len;
        while left > 0 {
            let n = usize::try_from(left)
                .unwrap_or(CHECK_CHUNK)
                .min(CHECK_CHUNK);
            let buf = chunk.get_mut(..n).unwrap_or_default();
            from.read_exact(buf)?;
            hasher.update(buf);
            left -= n as u64;
        }
        let mut crc = [0u8; 4];
        from.read_exact(&mut crc)?;
        let (stored, computed) = (u32::from_be_bytes(crc), hasher.finalize());
        if stored != computed {
            return Err(SnapshotError::Checksum { stored, computed }.into());
        }
        Ok(())
    }

    /// Reads snapshot bytes, checking magic, version, length and checksum.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<ReplicatedState, SnapshotError> {
        let body = ReplicatedState::check_snapshot(bytes)?;
        if bytes.get(8..12) == Some(FORMAT_VERSION.to_be_bytes().as_slice()) {
            return ReplicatedState::decode_body(body);
        }
        let body: SnapshotBodyV1 = postcard::from_bytes(body)?;
        Ok(ReplicatedState {
            tree: DataTree::from_nodes(
                body.nodes
                    .into_iter()
                    .map(|(path, n)| (path, Node::new(n.data, n.acl, n.meta, n.kind))),
            ),
            sessions: body.sessions,
            last_zxid: body.last_zxid,
        })
    }
}

fn take_array<const N: usize>(
    bytes: &[u8],
    expected: u64,
) -> Result<([u8; N], &[u8]), SnapshotError> {
    match bytes.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((*head, rest)),
        None => Err(SnapshotError::Length {
            expected,
            found: bytes.len() as u64,
        }),
    }
}
