//! The replicated state (tree + sessions + last zxid) and its snapshot encoding.
//!
//! Snapshot layout (all integers big-endian):
//! `"RZKSNAP\0"` · `u32 format version` · `u64 body length` · body · `u32 CRC-32 of body`,
//! where the body is the postcard encoding of [`SnapshotBody`]. A snapshot that is truncated,
//! has trailing bytes, a wrong magic, an unknown version or a bad checksum is refused: a
//! member never serves from state that may be missing acknowledged writes.

use serde::{Deserialize, Serialize};

use super::zxid_of;
use crate::session::table::SessionTable;
use crate::tree::{DataTree, Node};

const MAGIC: &[u8; 8] = b"RZKSNAP\0";
const FORMAT_VERSION: u32 = 1;

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
    #[error("unknown snapshot format version {0}")]
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
    /// The body does not decode.
    #[error("undecodable body: {0}")]
    Body(#[from] postcard::Error),
}

/// The snapshot body.
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    last_zxid: i64,
    sessions: SessionTable,
    nodes: Vec<(String, Node)>,
}

/// [`SnapshotBody`] borrowed from a live state: the same encoding without copying any node.
#[derive(Serialize)]
struct SnapshotBodyRef<'a> {
    last_zxid: i64,
    sessions: &'a SessionTable,
    nodes: Vec<(&'a str, &'a Node)>,
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
        if let Some(node) = self.tree.get_mut(crate::tree::CONFIG_PATH) {
            node.meta.version = node.meta.version.wrapping_add(1);
            node.meta.mzxid = zxid;
        }
    }

    /// The snapshot bytes of this state.
    pub fn encode_snapshot(&self) -> Result<Vec<u8>, postcard::Error> {
        let body = SnapshotBodyRef {
            last_zxid: self.last_zxid,
            sessions: &self.sessions,
            nodes: self.tree.sorted_nodes(),
        };
        let body = postcard::to_stdvec(&body)?;
        let mut out = Vec::with_capacity(body.len() + 24);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        Ok(out)
    }

    /// Checks snapshot bytes (magic, version, length, checksum) without decoding them, and
    /// returns the body: what a leader does before streaming a snapshot file.
    pub fn check_snapshot(bytes: &[u8]) -> Result<&[u8], SnapshotError> {
        let (magic, rest) = bytes.split_at_checked(8).ok_or(SnapshotError::BadMagic)?;
        if magic != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let (version, rest) = take_array::<4>(rest, 0)?;
        let version = u32::from_be_bytes(version);
        if version != FORMAT_VERSION {
            return Err(SnapshotError::UnknownVersion(version));
        }
        let (len, rest) = take_array::<8>(rest, 0)?;
        let len = u64::from_be_bytes(len);
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

    /// Reads snapshot bytes, checking magic, version, length and checksum.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<ReplicatedState, SnapshotError> {
        let body = ReplicatedState::check_snapshot(bytes)?;
        let body: SnapshotBody = postcard::from_bytes(body)?;
        Ok(ReplicatedState {
            tree: DataTree::from_nodes(body.nodes),
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
