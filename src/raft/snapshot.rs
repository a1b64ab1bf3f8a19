//! Snapshot files: the Raft metadata and the replicated state, written to a temporary name,
//! fsynced, renamed and the directory fsynced, so a snapshot on disk is always whole. Since
//! openraft purges only logs a snapshot covers, snapshot + log tail is the complete durable
//! state of the in-memory machine.
//!
//! File layout: `"RZKRAFT"` · a format byte · `u32 meta length` · meta · `u32 CRC-32 of meta` ·
//! the state snapshot (which carries its own length, format and checksum, `txn::state`).
//! Format 2 (written) encodes the meta in raftzk's durable format (`raft::durable`); format 1
//! (the byte is 0: files written before the byte meant anything) encoded it with postcard and
//! is still read. A newer format is refused with the file's name and the format.
//! Files are named `snap-<last index, 20 digits>-<term>.rzk`; the highest index is current.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::BytesMut;

use super::durable;
use super::types::SnapshotMeta;
use crate::durable::Reader;
use crate::txn::{ReplicatedState, SnapshotError};

/// Bytes written between two syncs of a snapshot file.
const SYNC_CHUNK: usize = 4 << 20;
const MAGIC: &[u8; 7] = b"RZKRAFT";
/// The format byte written after the magic.
const FILE_FORMAT: u8 = 2;
/// The format byte of format-1 files.
const FILE_FORMAT_POSTCARD: u8 = 0;

/// Why a snapshot file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    /// Reading, writing or listing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is damaged: the member must not start from it.
    #[error("{path}: unusable snapshot: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A decoded snapshot.
pub struct LoadedSnapshot {
    /// Its Raft metadata.
    pub meta: SnapshotMeta,
    /// The state it holds.
    pub state: ReplicatedState,
    /// The file's bytes, as streamed to other members.
    pub bytes: Vec<u8>,
}

/// The directory of snapshot files.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    retain: usize,
}

impl SnapshotStore {
    /// Snapshots in `dir` (created if missing), keeping the newest `retain` (at least 1;
    /// ZooKeeper's `autopurge.snapRetainCount`).
    pub fn open(dir: &Path, retain: usize) -> Result<SnapshotStore, SnapshotFileError> {
        fs::create_dir_all(dir).map_err(|source| SnapshotFileError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
            retain: retain.max(1),
        })
    }

    /// Encodes a snapshot file's bytes.
    pub fn encode(meta: &SnapshotMeta, state_bytes: &[u8]) -> Vec<u8> {
        let mut encoded = BytesMut::new();
        durable::put_snapshot_meta(&mut encoded, meta);
        let meta = encoded;
        let mut out = Vec::with_capacity(meta.len() + state_bytes.len() + 16);
        out.extend_from_slice(MAGIC);
        out.push(FILE_FORMAT);
        out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&crc32fast::hash(&meta).to_be_bytes());
        out.extend_from_slice(state_bytes);
        out
    }

    /// Decodes a snapshot file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<(SnapshotMeta, ReplicatedState), String> {
        let (meta, rest) = SnapshotStore::split_meta(bytes)?;
        let state = ReplicatedState::decode_snapshot(rest)
            .map_err(|e: SnapshotError| format!("state: {e}"))?;
        Ok((meta, state))
    }

    /// The metadata of a snapshot file's bytes and the rest (the state's bytes).
    fn split_meta(bytes: &[u8]) -> Result<(SnapshotMeta, &[u8]), String> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| "bad magic".to_string())?;
        let (&format, rest) = rest
            .split_first()
            .ok_or_else(|| "truncated header".to_string())?;
        if format != FILE_FORMAT && format != FILE_FORMAT_POSTCARD {
            return Err(format!(
                "file format {format} is newer than this build reads (formats 1 and 2)"
            ));
        }
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| "truncated header".to_string())?;
        let len = u32::from_be_bytes(*len) as usize;
        let (meta, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| "truncated metadata".to_string())?;
        let (crc, rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| "truncated metadata checksum".to_string())?;
        if u32::from_be_bytes(*crc) != crc32fast::hash(meta) {
            return Err("metadata checksum mismatch".into());
        }
        let meta = if format == FILE_FORMAT {
            let mut reader = Reader::new(meta);
            let decoded = durable::take_snapshot_meta(&mut reader);
            decoded
                .and_then(|meta| reader.finish().map(|()| meta))
                .map_err(|e| format!("undecodable metadata: {e}"))?
        } else {
            postcard::from_bytes(meta).map_err(|e| format!("undecodable metadata: {e}"))?
        };
        Ok((meta, rest))
    }

    /// Writes a snapshot durably, then removes the oldest beyond the retain count. Returns
    /// the file's path.
    pub fn save(&self, meta: &SnapshotMeta, bytes: &[u8]) -> Result<PathBuf, SnapshotFileError> {
        let index = meta.last_log_id.map_or(0, |id| id.index);
        let term = meta.last_log_id.map_or(0, |id| id.leader_id.term);
        let name = format!("snap-{index:020}-{term}.rzk");
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SnapshotFileError::Io { path, source }
        };
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        // Synced a few MiB at a time: a log fsync that lands while a large snapshot is being
        // written then waits for at most one chunk of dirty pages, not for the whole file
        // (on ext4 a fsync can drag out other files' dirty data, and a Raft log append that
        // stalls for seconds costs the cluster its leader).
        for chunk in bytes.chunks(SYNC_CHUNK) {
            file.write_all(chunk).map_err(io(&tmp))?;
            file.sync_data().map_err(io(&tmp))?;
        }
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        let files = self.files()?;
        let surplus = files.len().saturating_sub(self.retain);
        for old in files.into_iter().take(surplus).filter(|p| *p != path) {
            // A leftover old snapshot only costs disk; the new one is already durable.
            let _ = fs::remove_file(old);
        }
        Ok(path)
    }

    /// The newest snapshot, if any. A damaged newest file is an error, not a reason to fall
    /// back: serving an older state could lose acknowledged writes the purged log had.
    pub fn load_latest(&self) -> Result<Option<LoadedSnapshot>, SnapshotFileError> {
        let Some((path, bytes)) = self.read_latest()? else {
            return Ok(None);
        };
        let (meta, state) =
            SnapshotStore::decode(&bytes).map_err(|reason| SnapshotFileError::Corrupt {
                path: path.clone(),
                reason,
            })?;
        Ok(Some(LoadedSnapshot { meta, state, bytes }))
    }

    /// The newest snapshot's metadata and file bytes, checked (checksums) but not decoded:
    /// what a leader streams to a member that needs it. Decoding a million znodes only to
    /// drop them held the transfer back by seconds.
    pub fn latest_for_sending(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, SnapshotFileError> {
        let Some((path, bytes)) = self.read_latest()? else {
            return Ok(None);
        };
        let corrupt = |reason| SnapshotFileError::Corrupt {
            path: path.clone(),
            reason,
        };
        let (meta, rest) = SnapshotStore::split_meta(&bytes).map_err(corrupt)?;
        ReplicatedState::check_snapshot(rest).map_err(|e| corrupt(format!("state: {e}")))?;
        Ok(Some((meta, bytes)))
    }

    /// The newest snapshot file's path and bytes, if there is one.
    fn read_latest(&self) -> Result<Option<(PathBuf, Vec<u8>)>, SnapshotFileError> {
        let Some(path) = self.files()?.pop() else {
            return Ok(None);
        };
        let bytes = fs::read(&path).map_err(|source| SnapshotFileError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Some((path, bytes)))
    }

    /// Snapshot files, oldest first (names sort by index). Temporary files are ignored.
    fn files(&self) -> Result<Vec<PathBuf>, SnapshotFileError> {
        let entries = fs::read_dir(&self.dir).map_err(|source| SnapshotFileError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("snap-") && n.ends_with(".rzk"))
            })
            .collect();
        files.sort();
        Ok(files)
    }
}
