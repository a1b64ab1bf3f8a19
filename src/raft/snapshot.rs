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
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use bytes::BytesMut;

use super::durable;
use super::types::SnapshotMeta;
use crate::durable::Reader;
use crate::txn::{ReplicatedState, SnapshotError};

/// Names of snapshots being received from the leader.
const RECEIVING_PREFIX: &str = "receiving-";
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

/// A snapshot file being written. Synced every few MiB: a log fsync that lands while a large
/// snapshot is being written then waits for at most one chunk of dirty pages, not for the
/// whole file (on ext4 a fsync can drag out other files' dirty data, and a Raft log append
/// that stalls for seconds costs the cluster its leader).
pub struct SnapshotWriter {
    file: File,
    unsynced: usize,
}

impl Write for SnapshotWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(bytes)?;
        self.unsynced += n;
        if self.unsynced >= SYNC_CHUNK {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for SnapshotWriter {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file.seek(to)
    }
}

/// Maps an I/O error on `path` to a [`SnapshotFileError`].
fn io_at(path: &Path) -> impl Fn(std::io::Error) -> SnapshotFileError {
    let path = path.to_path_buf();
    move |source| SnapshotFileError::Io {
        path: path.clone(),
        source,
    }
}

/// A decoded snapshot.
pub struct LoadedSnapshot {
    /// Its Raft metadata.
    pub meta: SnapshotMeta,
    /// The state it holds.
    pub state: ReplicatedState,
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
        // A snapshot a member was receiving when it stopped is of no use: the leader sends
        // it again from the start.
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name();
                if name
                    .to_str()
                    .is_some_and(|n| n.starts_with(RECEIVING_PREFIX))
                {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
            retain: retain.max(1),
        })
    }

    /// A snapshot file's bytes before the state: magic, format, the metadata and its CRC.
    fn file_header(meta: &SnapshotMeta) -> Vec<u8> {
        let mut encoded = BytesMut::new();
        durable::put_snapshot_meta(&mut encoded, meta);
        let meta = encoded;
        let mut out = Vec::with_capacity(meta.len() + 16);
        out.extend_from_slice(MAGIC);
        out.push(FILE_FORMAT);
        out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&crc32fast::hash(&meta).to_be_bytes());
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

    /// Writes a snapshot durably: the file header for `meta`, then the state's bytes as
    /// `write_state` writes them (`ReplicatedState::write_snapshot`, a chunk at a time); then
    /// removes the oldest beyond the retain count. Returns the file's path and length.
    pub fn save(
        &self,
        meta: &SnapshotMeta,
        write_state: impl FnOnce(&mut SnapshotWriter) -> std::io::Result<u64>,
    ) -> Result<(PathBuf, u64), SnapshotFileError> {
        let header = SnapshotStore::file_header(meta);
        self.write_with(meta, |out| {
            out.write_all(&header)?;
            Ok(header.len() as u64 + write_state(out)?)
        })
    }

    /// Writes a whole snapshot file (header included, e.g. one received from the leader)
    /// from consecutive parts, durably, as `meta`'s snapshot.
    pub fn write_file(
        &self,
        meta: &SnapshotMeta,
        parts: &[&[u8]],
    ) -> Result<(PathBuf, u64), SnapshotFileError> {
        self.write_with(meta, |out| {
            let mut length = 0;
            for part in parts {
                out.write_all(part)?;
                length += part.len() as u64;
            }
            Ok(length)
        })
    }

    /// Writes `meta`'s snapshot file through `write`, under a temporary name, then adopts it.
    fn write_with(
        &self,
        meta: &SnapshotMeta,
        write: impl FnOnce(&mut SnapshotWriter) -> std::io::Result<u64>,
    ) -> Result<(PathBuf, u64), SnapshotFileError> {
        let name = SnapshotStore::file_name(meta);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let file = File::create(&tmp).map_err(io_at(&tmp))?;
        let mut out = SnapshotWriter { file, unsynced: 0 };
        let length = write(&mut out).map_err(io_at(&tmp))?;
        drop(out);
        Ok((self.adopt(meta, &tmp)?, length))
    }

    /// A fresh name in this directory for a snapshot being received. Files left under such
    /// names by a member that stopped while receiving are removed by [`SnapshotStore::open`].
    pub fn receiving_path(&self) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        self.dir.join(format!("{RECEIVING_PREFIX}{nanos}.tmp"))
    }

    fn file_name(meta: &SnapshotMeta) -> String {
        let index = meta.last_log_id.map_or(0, |id| id.index);
        let term = meta.last_log_id.map_or(0, |id| id.leader_id.term);
        format!("snap-{index:020}-{term}.rzk")
    }

    /// Makes a whole snapshot file in this directory (one just written, or one received from
    /// the leader) the newest snapshot for `meta`, durably: syncs it, renames it to `meta`'s
    /// snapshot name, syncs the directory, and removes the oldest beyond the retain count.
    pub fn adopt(&self, meta: &SnapshotMeta, tmp: &Path) -> Result<PathBuf, SnapshotFileError> {
        let path = self.dir.join(SnapshotStore::file_name(meta));
        File::options()
            .read(true)
            .write(true)
            .open(tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_at(tmp))?;
        fs::rename(tmp, &path).map_err(io_at(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&self.dir))?;
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
        Ok(Some(LoadedSnapshot { meta, state }))
    }

    /// The newest snapshot's metadata and file, checked (checksums) as a stream but neither
    /// read into memory nor decoded: what a leader streams to a member that needs it, a
    /// chunk at a time. (Holding a million znodes' file, or decoding it only to drop it,
    /// cost the leader gigabytes and seconds.) The file is returned open, so a newer snapshot
    /// that removes it meanwhile cannot cut the stream short.
    pub fn latest_for_sending(&self) -> Result<Option<(SnapshotMeta, File)>, SnapshotFileError> {
        let Some(path) = self.files()?.pop() else {
            return Ok(None);
        };
        let corrupt = |reason| SnapshotFileError::Corrupt {
            path: path.clone(),
            reason,
        };
        let mut file = File::open(&path).map_err(io_at(&path))?;
        let length = file.metadata().map_err(io_at(&path))?.len();
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, &mut file);
        // The header: magic, format, metadata length; then the metadata and its CRC.
        let mut head = [0u8; MAGIC.len() + 1 + 4];
        reader
            .read_exact(&mut head)
            .map_err(|e| corrupt(format!("header: {e}")))?;
        let meta_len = head
            .last_chunk::<4>()
            .map_or(0, |len| u32::from_be_bytes(*len) as usize);
        let header_len = head.len() + meta_len + 4;
        if header_len as u64 > length {
            return Err(corrupt("truncated metadata".into()));
        }
        let mut header = head.to_vec();
        header.resize(header_len, 0);
        reader
            .read_exact(header.get_mut(head.len()..).unwrap_or_default())
            .map_err(|e| corrupt(format!("metadata: {e}")))?;
        let (meta, _) = SnapshotStore::split_meta(&header).map_err(corrupt)?;
        ReplicatedState::check_snapshot_stream(&mut reader, length - header_len as u64)
            .map_err(|e| corrupt(format!("state: {e}")))?;
        drop(reader);
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(io_at(&path))?;
        Ok(Some((meta, file)))
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use openraft::{CommittedLeaderId, LogId, StoredMembership};

    use super::*;

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(LogId::new(CommittedLeaderId::new(2, 1), index)),
            last_membership: StoredMembership::default(),
            snapshot_id: format!("2-{index}-1700000000000"),
        }
    }

    /// A whole snapshot file's bytes, as `save` writes them.
    fn file_bytes(meta: &SnapshotMeta, state: &ReplicatedState) -> Vec<u8> {
        let mut out = SnapshotStore::file_header(meta);
        out.extend_from_slice(&state.encode_snapshot());
        out
    }

    fn state() -> ReplicatedState {
        let mut state = ReplicatedState::new();
        state.last_zxid = 0x2_0000_0007;
        state
    }

    #[test]
    fn a_saved_file_is_streamed_whole_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path(), 2).unwrap();
        let (path, length) = store
            .save(&meta(40), |out| state().write_snapshot(out))
            .unwrap();
        let on_disk = fs::read(&path).unwrap();
        assert_eq!(on_disk.len() as u64, length);
        assert_eq!(on_disk, file_bytes(&meta(40), &state()));

        let (sent_meta, mut file) = store.latest_for_sending().unwrap().unwrap();
        assert_eq!(sent_meta, meta(40));
        let mut streamed = Vec::new();
        file.read_to_end(&mut streamed).unwrap();
        assert_eq!(streamed, on_disk, "the file is sent from its first byte");
        let (decoded_meta, decoded) = SnapshotStore::decode(&streamed).unwrap();
        assert_eq!((decoded_meta, decoded), (meta(40), state()));
    }

    #[test]
    fn a_damaged_newest_file_is_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path(), 2).unwrap();
        let (path, _) = store
            .save(&meta(40), |out| state().write_snapshot(out))
            .unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 6;
        bytes[last] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let err = store.latest_for_sending().unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = store.latest_for_sending().unwrap_err().to_string();
        assert!(err.contains("truncated or padded"), "{err}");
    }

    #[test]
    fn a_received_file_is_adopted_and_leftovers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path(), 1).unwrap();
        let leftover = store.receiving_path();
        fs::write(&leftover, b"half a snapshot").unwrap();
        let store = SnapshotStore::open(dir.path(), 1).unwrap();
        assert!(!leftover.exists(), "a partial receive is removed at open");

        let receiving = store.receiving_path();
        fs::write(&receiving, file_bytes(&meta(7), &state())).unwrap();
        let path = store.adopt(&meta(7), &receiving).unwrap();
        assert!(!receiving.exists());
        let loaded = store.load_latest().unwrap().unwrap();
        assert_eq!(
            (loaded.meta, path),
            (meta(7), store.files().unwrap()[0].clone())
        );

        // The retain count of 1 keeps only the newest.
        store
            .save(&meta(9), |out| state().write_snapshot(out))
            .unwrap();
        assert_eq!(store.files().unwrap().len(), 1);
        assert_eq!(store.load_latest().unwrap().unwrap().meta, meta(9));
    }
}
