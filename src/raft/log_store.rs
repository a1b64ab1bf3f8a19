//! The Raft log and vote, in RocksDB (column families `logs` and `meta`).
//!
//! Rules this store keeps (openraft's storage contract and `style.md` §5), each with a test:
//! - **Flush before the callback.** `append` writes all its entries as one `WriteBatch` with
//!   `sync = true` (one fsync per append: group commit happens above, in the Proposer) and only
//!   then reports the I/O complete. `truncate`, `purge` and `save_vote` are synced too, so log
//!   and vote I/O are durable in call order.
//! - **`save_committed`/`read_committed` are real**, so a restarted member re-applies up to its
//!   old commit point before it serves. They are not synced: a stale value only means less
//!   re-apply at start, never a lost write (the entries themselves are synced).
//! - **`purge` records the purged id**, so `get_log_state` never consults the state machine.
//! - Keys are big-endian u64 indexes, so RocksDB's order is log order.
//! - Every stored entry is in raftzk's durable format (`raft::durable`: a format byte, then the
//!   entry with explicit tags). A log whose first or last entry is in a format newer than this
//!   build reads is refused at open; undecodable bytes are a storage error naming the index,
//!   never a silently skipped entry.

// openraft's storage traits return its 224-byte StorageError; the helpers return it too.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError, Vote};
use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DBCompressionType, Direction, IteratorMode, Options,
    WriteBatch, DB,
};

use super::durable;
use super::rocksdb_link;
use super::types::{LogId, NodeId, StorageError, TypeConfig};
use crate::telemetry;

type Entry = openraft::Entry<TypeConfig>;

/// A log write+fsync slower than this is logged.
const SLOW_FSYNC: std::time::Duration = std::time::Duration::from_millis(100);
const CF_LOGS: &str = "logs";
const CF_META: &str = "meta";
const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_PURGED: &[u8] = b"last_purged";

/// The RocksDB-backed log store. Cheap to clone (shares the database).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    faults: Arc<DiskFaults>,
    /// This member's role flags and append clock.
    member: Arc<telemetry::MemberTelemetry>,
}

/// Test-only disk faults for the fault harness, read from the file named by
/// `disk.faultFile`: `delay=<ms>` makes every synced write that much slower (a slow disk),
/// `full` makes it fail as a full disk does.
#[derive(Debug, Default)]
pub struct DiskFaults {
    delay_ms: std::sync::atomic::AtomicU64,
    full: std::sync::atomic::AtomicBool,
}

impl DiskFaults {
    /// Follows `path` (polled every 50 ms); a missing or empty file means a healthy disk.
    pub async fn follow_file(self: Arc<Self>, path: std::path::PathBuf) {
        use std::sync::atomic::Ordering;
        let mut last = None;
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if last.as_ref() != Some(&text) {
                let delay = text
                    .trim()
                    .strip_prefix("delay=")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let full = text.trim() == "full";
                tracing::warn!(delay_ms = delay, full, "disk fault switch");
                self.delay_ms.store(delay, Ordering::Relaxed);
                self.full.store(full, Ordering::Relaxed);
                last = Some(text);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Why the log database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// RocksDB refused it (a damaged or foreign directory, permissions, a lock held).
    #[error("cannot open the Raft log in {path} with {linked}{written}: {source}")]
    Rocks {
        /// The log directory.
        path: String,
        /// The linked library, as `rocksdb_link::describe` says it.
        linked: String,
        /// Who wrote the directory last, if it recorded it.
        written: String,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// The directory was written in a format the linked RocksDB cannot read.
    #[error(transparent)]
    Unreadable(#[from] rocksdb_link::Unreadable),
    /// An entry is in a format this build does not read (a newer raftzk wrote it).
    #[error(
        "the Raft log in {path} holds entry {index} in format {format}, newer than this build \
         reads (formats 1 and 2): run the raftzk release that wrote it"
    )]
    NewerFormat {
        /// The log directory.
        path: String,
        /// The entry's index.
        index: u64,
        /// Its format byte.
        format: u8,
    },
    /// Its options file could not be read.
    #[error("cannot read the RocksDB options in {path}: {source}")]
    Options {
        /// The log directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl LogStore {
    /// Opens (creating if needed) the log database in `dir`.
    ///
    /// A directory written in a table format the linked RocksDB cannot read is refused before
    /// RocksDB opens it (`rocksdb_link`).
    pub fn open(dir: &Path) -> Result<LogStore, OpenError> {
        let path = dir.display().to_string();
        let writer = match rocksdb_link::linked() {
            Some(linked) => rocksdb_link::check_readable(dir, linked)
                .map_err(|source| OpenError::Options {
                    path: path.clone(),
                    source,
                })??
                .and_then(|written| written.version),
            None => None,
        };
        let mut options = table_options();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // A torn last record is an append that crashed before its fsync returned (never
        // acknowledged); damage anywhere else fails the open rather than dropping entries.
        options.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
        options.set_paranoid_checks(true);
        let cfs = [CF_LOGS, CF_META].map(|name| ColumnFamilyDescriptor::new(name, table_options()));
        let db =
            DB::open_cf_descriptors(&options, dir, cfs).map_err(|source| OpenError::Rocks {
                path: path.clone(),
                linked: rocksdb_link::describe(),
                written: writer
                    .map_or_else(String::new, |v| format!(" (last written by RocksDB {v})")),
                source,
            })?;
        let store = LogStore {
            db: Arc::new(db),
            faults: Arc::new(DiskFaults::default()),
            member: Arc::default(),
        };
        let formats = store.end_formats().map_err(|source| OpenError::Options {
            path: path.clone(),
            source,
        })?;
        if let Some(&(index, format)) = formats
            .iter()
            .find(|(_, format)| *format > durable::ENTRY_FORMAT)
        {
            return Err(OpenError::NewerFormat {
                path,
                index,
                format,
            });
        }
        tracing::info!(
            dir = %path,
            rocksdb = %rocksdb_link::describe(),
            written_by = %writer.map_or_else(|| "new".to_string(), |v| v.to_string()),
            entry_formats = ?formats.iter().map(|(_, f)| *f).collect::<Vec<_>>(),
            "Raft log opened"
        );
        Ok(store)
    }

    /// (index, format byte) of the first and the last stored entry, one per distinct format: a
    /// log is written in one format at a time, so its ends say which formats it holds.
    fn end_formats(&self) -> Result<Vec<(u64, u8)>, std::io::Error> {
        let cf = self
            .db
            .cf_handle(CF_LOGS)
            .ok_or_else(|| missing_cf(CF_LOGS))?;
        let mut ends = Vec::new();
        for mode in [IteratorMode::Start, IteratorMode::End] {
            if let Some(item) = self.db.iterator_cf(cf, mode).next() {
                let (key, value) = item.map_err(std::io::Error::other)?;
                let index = index_of_key(&key).unwrap_or(0);
                if let Some(&format) = value.first() {
                    if !ends.iter().any(|(_, seen)| *seen == format) {
                        ends.push((index, format));
                    }
                }
            }
        }
        Ok(ends)
    }

    fn logs(&self) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(CF_LOGS)
            .ok_or_else(|| StorageIOError::read_logs(&missing_cf(CF_LOGS)).into())
    }

    fn meta(&self) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(CF_META)
            .ok_or_else(|| StorageIOError::read(&missing_cf(CF_META)).into())
    }

    /// A meta value; undecodable bytes are an error, never "absent".
    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, std::io::Error> {
        let cf = self
            .db
            .cf_handle(CF_META)
            .ok_or_else(|| missing_cf(CF_META))?;
        let Some(bytes) = self.db.get_cf(cf, key).map_err(std::io::Error::other)? else {
            return Ok(None);
        };
        postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| corrupt(format!("meta key {}: {e}", String::from_utf8_lossy(key))))
    }

    /// Writes `batch`, fsynced, on a blocking thread (an fsync must not stall the runtime).
    /// The disk fault switch (test-only; inert unless a fault file is followed).
    pub fn disk_faults(&self) -> Arc<DiskFaults> {
        self.faults.clone()
    }

    async fn write_synced(&self, batch: WriteBatch) -> Result<(), std::io::Error> {
        let db = self.db.clone();
        let faults = self.faults.clone();
        let result = tokio::task::spawn_blocking(move || {
            use std::sync::atomic::Ordering;
            let delay = faults.delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                std::thread::sleep(std::time::Duration::from_millis(delay));
            }
            if faults.full.load(Ordering::Relaxed) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device (disk fault switch)",
                ));
            }
            let mut opts = rocksdb::WriteOptions::default();
            opts.set_sync(true);
            let started = std::time::Instant::now();
            let written = db.write_opt(batch, &opts).map_err(std::io::Error::other);
            let took = started.elapsed();
            if took >= SLOW_FSYNC {
                // ZooKeeper warns the same way (fsync.warningthresholdms); a stall this long
                // holds up the Raft core and can cost the leader.
                tracing::warn!(ms = took.as_millis() as u64, "slow Raft log write+fsync");
            }
            written
        })
        .await;
        match result {
            Ok(done) => done,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }

    /// Entries `start..end`; with `byte_limit`, stops after the first entry that reaches it
    /// (at least one entry is always returned).
    fn read_range(
        &self,
        start: u64,
        end: u64,
        byte_limit: Option<usize>,
    ) -> Result<Vec<Entry>, StorageError> {
        let cf = self.logs()?;
        let mut entries = Vec::new();
        let mut bytes = 0usize;
        let from = start.to_be_bytes();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&from, Direction::Forward))
        {
            let (key, value) = item.map_err(|e| StorageIOError::read_logs(&e))?;
            let index = index_of_key(&key).ok_or_else(|| {
                StorageIOError::read_logs(&corrupt(format!("log key of {} bytes", key.len())))
            })?;
            if index >= end || byte_limit.is_some_and(|limit| bytes >= limit) {
                break;
            }
            bytes = bytes.saturating_add(value.len());
            if byte_limit.is_some_and(|limit| bytes > limit) && !entries.is_empty() {
                break;
            }
            entries.push(decode_entry(index, &value)?);
        }
        Ok(entries)
    }

    fn last_entry(&self) -> Result<Option<Entry>, StorageError> {
        let cf = self.logs()?;
        let mut iter = self.db.iterator_cf(cf, IteratorMode::End);
        match iter.next() {
            None => Ok(None),
            Some(item) => {
                let (key, value) = item.map_err(|e| StorageIOError::read_logs(&e))?;
                let index = index_of_key(&key).unwrap_or(u64::MAX);
                Ok(Some(decode_entry(index, &value)?))
            }
        }
    }
}

impl LogStore {
    /// Shares `member`'s role flags and append clock with this store (a fresh one otherwise).
    pub fn with_member(mut self, member: Arc<telemetry::MemberTelemetry>) -> LogStore {
        self.member = member;
        self
    }

    /// Refuses a log that ends before the commit point it recorded (entries lost after they
    /// were acknowledged): `covered` is the last index a snapshot holds.
    pub fn check_committed_present(&self, covered: u64) -> Result<(), String> {
        let committed: Option<Option<LogId>> =
            self.get_meta(KEY_COMMITTED).map_err(|e| e.to_string())?;
        let Some(committed) = committed.flatten() else {
            return Ok(());
        };
        let last = self
            .last_entry()
            .map_err(|e| e.to_string())?
            .map_or(0, |e| e.log_id.index);
        let purged: Option<LogId> = self.get_meta(KEY_PURGED).map_err(|e| e.to_string())?;
        let present = last.max(covered).max(purged.map_or(0, |p| p.index));
        if committed.index > present {
            return Err(format!(
                "entries up to index {} were committed but the log ends at {last} and the snapshot at {covered}",
                committed.index
            ));
        }
        Ok(())
    }
}

/// Options every column family and the database share: SST `format_version` 5 and no
/// compression, stated rather than left to the library's defaults, so the directory reads the
/// same with the system RocksDB (built with snappy, whose default would compress) and the
/// bundled one (built without).
fn table_options() -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_format_version(rocksdb_link::WRITTEN_FORMAT_VERSION);
    let mut options = Options::default();
    options.set_block_based_table_factory(&table);
    options.set_compression_type(DBCompressionType::None);
    options.set_bottommost_compression_type(DBCompressionType::None);
    options
}

fn missing_cf(name: &str) -> std::io::Error {
    std::io::Error::other(format!("column family {name} is missing"))
}

fn corrupt(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn index_of_key(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

fn decode_entry(index: u64, bytes: &[u8]) -> Result<Entry, StorageError> {
    durable::decode_entry(bytes).map_err(|e| {
        StorageIOError::read_log_at_index(index, &corrupt(format!("entry {index}: {e}"))).into()
    })
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i.saturating_add(1),
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = bounds(&range);
        self.read_range(start, end, None)
    }

    /// What replication sends: only as many entries as fit one AppendEntries' byte budget, so
    /// the rest are not read and decoded only to be dropped (each probe of a new leader's log
    /// search reads here).
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_range(start, end, Some(super::network::APPEND_BYTES_BUDGET))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self
            .get_meta(KEY_PURGED)
            .map_err(|e| StorageIOError::read_logs(&e))?;
        let last = self.last_entry()?.map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let bytes = postcard::to_stdvec(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.meta()?, KEY_VOTE, bytes);
        self.write_synced(batch)
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta(KEY_VOTE)
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let bytes = postcard::to_stdvec(&committed).map_err(|e| StorageIOError::write(&e))?;
        self.db
            .put_cf(self.meta()?, KEY_COMMITTED, bytes)
            .map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> = self
            .get_meta(KEY_COMMITTED)
            .map_err(|e| StorageIOError::read(&e))?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let cf = self.logs()?;
        let mut batch = WriteBatch::default();
        let mut count = 0u64;
        let mut writes = 0usize;
        let mut last = None;
        let mut proposed_at = None;
        let leading = self.member.is_leading();
        for entry in entries {
            let bytes = durable::encode_entry(&entry);
            if let openraft::EntryPayload::Normal(e) = &entry.payload {
                writes += e.txns.len();
                proposed_at = Some(e.time_ms);
                if leading {
                    telemetry::PROPOSAL_SIZES.record(bytes.len());
                }
            }
            batch.put_cf(cf, entry.log_id.index.to_be_bytes(), bytes);
            count += 1;
            last = Some(entry.log_id.index);
        }
        // One synced batch: the entries are on disk before openraft hears they are.
        let started = std::time::Instant::now();
        let result = self.write_synced(batch).await;
        if result.is_ok() {
            telemetry::FSYNC_TIME.record_ms(started.elapsed());
            telemetry::RAFT_APPEND_BATCH.record(count as f64);
            if writes > 0 {
                telemetry::SYNC_BATCH_SIZE.record(writes as f64);
            }
            if let Some(last) = last {
                self.member.appended.record(last);
            }
            // A follower acknowledges once the append is durable (ZooKeeper: the ACK).
            if let Some(time_ms) = proposed_at.filter(|_| !leading) {
                if self.member.is_following() {
                    telemetry::PROPOSAL_ACK_CREATION_LATENCY.record(telemetry::ms_since(time_ms));
                }
            }
        }
        let failed = result.as_ref().err().map(StorageIOError::write_logs);
        callback.log_io_completed(result);
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.logs()?,
            log_id.index.to_be_bytes(),
            u64::MAX.to_be_bytes(),
        );
        // delete_range's end is exclusive: remove the very last key too.
        batch.delete_cf(self.logs()?, u64::MAX.to_be_bytes());
        self.write_synced(batch)
            .await
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let bytes = postcard::to_stdvec(&log_id).map_err(|e| StorageIOError::write_logs(&e))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.meta()?, KEY_PURGED, bytes);
        batch.delete_range_cf(
            self.logs()?,
            0u64.to_be_bytes(),
            log_id.index.saturating_add(1).to_be_bytes(),
        );
        let purged_before = self
            .get_meta::<LogId>(KEY_PURGED)
            .ok()
            .flatten()
            .map_or(0, |id| id.index);
        self.write_synced(batch)
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        telemetry::RAFT_LOG_PURGES.bump();
        telemetry::RAFT_LOG_PURGED_ENTRIES.add(log_id.index.saturating_sub(purged_before));
        tracing::debug!(up_to = log_id.index, "raft log purged");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn replication_reads_stop_at_the_byte_budget() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open(&dir.path().join("log")).unwrap();
        let cf = log.logs().unwrap();
        let mut sizes = Vec::new();
        for index in 1..=20u64 {
            let entry = Entry {
                log_id: openraft::testing::log_id(1, 1, index),
                payload: openraft::EntryPayload::Blank,
            };
            let bytes = durable::encode_entry(&entry);
            sizes.push(bytes.len());
            log.db.put_cf(cf, index.to_be_bytes(), bytes).unwrap();
        }
        let limit = sizes[0] * 5 + 1;
        let some = log.read_range(1, 21, Some(limit)).unwrap();
        assert_eq!(some.len(), 5);
        assert_eq!(some[0].log_id.index, 1);
        // Never empty: a first entry over the budget still goes alone.
        assert_eq!(log.read_range(3, 21, Some(1)).unwrap().len(), 1);
        assert_eq!(log.read_range(1, 21, None).unwrap().len(), 20);
    }

    #[test]
    fn a_log_with_an_entry_in_a_newer_format_is_refused_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        {
            let log = LogStore::open(&path).unwrap();
            let cf = log.logs().unwrap();
            log.db.put_cf(cf, 7u64.to_be_bytes(), [9u8, 0, 0]).unwrap();
        }
        match LogStore::open(&path) {
            Err(
                err @ OpenError::NewerFormat {
                    index: 7,
                    format: 9,
                    ..
                },
            ) => {
                let text = err.to_string();
                assert!(text.contains(&path.display().to_string()), "{text}");
            }
            Err(other) => panic!("wrong error: {other}"),
            Ok(_) => panic!("opened a log with a format-9 entry"),
        }
    }
}
