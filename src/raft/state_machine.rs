//! The openraft state machine: the in-memory [`ReplicatedState`] behind one lock, the
//! deterministic apply, and snapshots.
//!
//! Locking: `SharedState::inner` is a std `RwLock`, never held across an `.await`. Apply takes
//! it for writing, one entry at a time, and hands each outcome to the [`Delivery`] *under the
//! lock*; reads take it for reading and queue their reply under it too. So every connection's
//! queue sees replies and watch events in the order the state changed (`style.md` §4: watch
//! events may not overtake their write's reply, nor a reply overtake an earlier event).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, Snapshot, StorageIOError};
use tokio::io::AsyncWriteExt;
use tokio::sync::{watch, Notify};

use super::snapshot::{LoadedSnapshot, SnapshotStore};
use super::types::{
    EntryApplied, LogId, SnapshotFile, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use super::Delivery;
use crate::telemetry;
use crate::txn::{apply_entry_each, DigestCheck, DigestLog, ReplicatedState, ZxidDigest};

type Entry = openraft::Entry<TypeConfig>;

/// What readers see: the state and how far it has been applied.
#[derive(Debug, Default)]
pub struct StateInner {
    /// Tree, sessions, last zxid.
    pub state: ReplicatedState,
    /// The last applied log id.
    pub last_applied: Option<LogId>,
    /// The last applied membership.
    pub membership: StoredMembership,
    /// The tree digest after recent entries, and the history `hash` prints.
    pub digests: DigestLog,
}

/// A read view of the applied state (a read-lock guard: keep it short, never across `.await`).
pub type StateView<'a> = RwLockReadGuard<'a, StateInner>;

/// The applied state shared between the state machine and readers.
#[derive(Debug)]
pub struct SharedState {
    inner: RwLock<StateInner>,
    applied: watch::Sender<u64>,
    digest: watch::Sender<Option<ZxidDigest>>,
    /// Transactions applied since this process started (replayed ones included).
    txns_applied: AtomicU64,
    /// `txns_applied` as it was in the state the newest snapshot holds: the difference is
    /// what ZooKeeper's snapCount counts (snapshot_schedule.rs waits on it).
    txns_at_snapshot: watch::Sender<u64>,
    /// The `txns_applied` at which apply wakes the snapshot schedule (`u64::MAX`: never), so
    /// that it is woken once a snapshot is due rather than after every entry.
    wake_at_txns: AtomicU64,
    snapshot_due: Notify,
}

impl SharedState {
    /// A shared state starting from `inner`.
    pub fn new(inner: StateInner) -> SharedState {
        let index = inner.last_applied.map_or(0, |id| id.index);
        let digest = inner.digests.latest();
        SharedState {
            inner: RwLock::new(inner),
            applied: watch::channel(index).0,
            digest: watch::channel(digest).0,
            txns_applied: AtomicU64::new(0),
            txns_at_snapshot: watch::channel(0).0,
            wake_at_txns: AtomicU64::new(u64::MAX),
            snapshot_due: Notify::new(),
        }
    }

    /// Transactions applied (since start) up to the state the newest snapshot holds, as a
    /// channel: it changes when a snapshot is written or installed.
    pub fn txns_at_snapshot(&self) -> watch::Receiver<u64> {
        self.txns_at_snapshot.subscribe()
    }

    /// Makes apply wake [`SharedState::txns_reached`] once `total` transactions have been
    /// applied since start (`u64::MAX`: never).
    pub fn wake_at_txns(&self, total: u64) {
        self.wake_at_txns.store(total, Ordering::Relaxed);
    }

    /// Waits for the wake-up [`SharedState::wake_at_txns`] asked for (one stored if it came
    /// before this waits).
    pub async fn txns_reached(&self) {
        self.snapshot_due.notified().await;
    }

    /// Transactions applied since start (replayed ones included).
    pub fn txns_applied(&self) -> u64 {
        self.txns_applied.load(Ordering::Relaxed)
    }

    /// Transactions applied since the state the newest snapshot holds (or since start).
    pub fn txns_since_snapshot(&self) -> u64 {
        let at_snapshot = *self.txns_at_snapshot.borrow();
        self.txns_applied
            .load(Ordering::Relaxed)
            .saturating_sub(at_snapshot)
    }

    /// Locks the state for reading.
    pub fn read(&self) -> StateView<'_> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, StateInner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The last applied log index, as a channel to wait on.
    pub fn applied_index(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// The tree digest after the last applied entry: what a leader puts in the next entry.
    pub fn latest_digest(&self) -> watch::Receiver<Option<ZxidDigest>> {
        self.digest.subscribe()
    }
}

/// The openraft state machine.
pub struct StateMachine {
    shared: Arc<SharedState>,
    delivery: Arc<dyn Delivery>,
    snapshots: SnapshotStore,
    /// Test only: the log index whose entry this member applies differently (see
    /// [`DIVERGE_AT_ENV`]), to prove digests catch a diverged member.
    diverge_at: Option<u64>,
    /// When a digest mismatch was last logged (they are counted every time, logged at most
    /// once a second).
    mismatch_logged: Option<std::time::Instant>,
    /// This member's role flags (which metrics an applied entry feeds).
    member: Arc<telemetry::MemberTelemetry>,
    /// Where the snapshot being received from the leader is written.
    receiving: Option<PathBuf>,
}

/// Test only: `RAFTZK_TEST_DIVERGE_AT=<log index>` makes this member flip its root's mtime
/// after applying that entry, as a bug in apply would leave a member's tree different.
pub const DIVERGE_AT_ENV: &str = "RAFTZK_TEST_DIVERGE_AT";

impl StateMachine {
    /// A state machine over `shared`, delivering outcomes to `delivery`, keeping snapshots in
    /// `snapshots`.
    pub fn new(
        shared: Arc<SharedState>,
        delivery: Arc<dyn Delivery>,
        snapshots: SnapshotStore,
        member: Arc<telemetry::MemberTelemetry>,
    ) -> StateMachine {
        let diverge_at = std::env::var(DIVERGE_AT_ENV)
            .ok()
            .and_then(|v| v.parse().ok());
        if let Some(index) = diverge_at {
            tracing::warn!(
                index,
                "{DIVERGE_AT_ENV} is set: this member will apply entry {index} differently"
            );
        }
        StateMachine {
            shared,
            delivery,
            snapshots,
            diverge_at,
            mismatch_logged: None,
            member,
            receiving: None,
        }
    }

    /// The starting state for a member: the newest snapshot, or a fresh tree.
    pub fn initial_state(loaded: Option<&LoadedSnapshot>) -> StateInner {
        match loaded {
            Some(snap) => StateInner {
                digests: DigestLog::starting_at(snap.state.last_zxid, snap.state.tree.digest()),
                state: snap.state.clone(),
                last_applied: snap.meta.last_log_id,
                membership: snap.meta.last_membership.clone(),
            },
            None => {
                let state = ReplicatedState::new();
                StateInner {
                    digests: DigestLog::starting_at(state.last_zxid, state.tree.digest()),
                    state,
                    ..StateInner::default()
                }
            }
        }
    }

    fn apply_one(&mut self, entry: Entry) -> EntryApplied {
        let shared = self.shared.clone();
        let mut inner = shared.write();
        let index = entry.log_id.index;
        match entry.payload {
            EntryPayload::Normal(log_entry) => {
                if let Some(theirs) = &log_entry.digest {
                    if let DigestCheck::Mismatch(ours) = inner.digests.check(theirs) {
                        self.digest_mismatch(index, theirs, ours);
                    }
                }
                // Each Txn's outcome is delivered right after it applies, with the state as
                // it then is (reads queued behind a write are answered there).
                let delivery = &self.delivery;
                apply_entry_each(
                    &mut inner.state,
                    index,
                    &log_entry,
                    |state, txn, outcome| delivery.deliver(state, txn, outcome),
                );
                if self.diverge_at == Some(index) {
                    inner.state.tree.update("/", |root| root.meta.mtime ^= 1);
                }
                if self.member.is_serving() {
                    telemetry::PROPAGATION_LATENCY.record(telemetry::ms_since(log_entry.time_ms));
                }
                let count = log_entry.txns.len() as u64;
                let applied = self.shared.txns_applied.fetch_add(count, Ordering::Relaxed) + count;
                if applied >= self.shared.wake_at_txns.load(Ordering::Relaxed) {
                    self.shared.snapshot_due.notify_one();
                }
                if self.member.is_leading() {
                    telemetry::COMMIT_COUNT.add(log_entry.txns.len() as u64);
                } else if self.member.is_following() {
                    telemetry::LEARNER_COMMIT_RECEIVED.add(log_entry.txns.len() as u64);
                    telemetry::COMMIT_PROPAGATION_LATENCY
                        .record(telemetry::ms_since(log_entry.time_ms));
                }
            }
            EntryPayload::Blank => inner.state.note_index(index),
            EntryPayload::Membership(membership) => {
                inner.state.note_index(index);
                // A group with peer addresses publishes itself in /zookeeper/config; a
                // standalone member leaves it empty, as standalone ZooKeeper does. A joint
                // configuration is a step inside one reconfig: only uniform ones are shown.
                let voters: Vec<_> = membership.voter_ids().collect();
                let lines: Vec<String> = membership
                    .nodes()
                    .filter(|(_, node)| !node.peer_addr.is_empty())
                    .map(|(id, node)| node.config_line(*id, voters.contains(id)))
                    .collect();
                if !lines.is_empty() && membership.get_joint_config().len() == 1 {
                    inner
                        .state
                        .set_ensemble_config(&lines, super::reconfig::config_version(index));
                }
                inner.membership = StoredMembership::new(Some(entry.log_id), membership);
            }
        }
        inner.last_applied = Some(entry.log_id);
        let (zxid, digest) = (inner.state.last_zxid, inner.state.tree.digest());
        inner.digests.record(index, zxid, digest);
        let latest = inner.digests.latest();
        let applied = EntryApplied { last_zxid: zxid };
        drop(inner);
        shared.applied.send_replace(index);
        shared.digest.send_replace(latest);
        applied
    }

    /// Counts a digest mismatch and logs it (at most once a second: a diverged member
    /// mismatches on every entry after).
    fn digest_mismatch(&mut self, index: u64, leaders: &ZxidDigest, ours: u64) {
        telemetry::DIGEST_MISMATCHES.bump();
        let now = std::time::Instant::now();
        if self
            .mismatch_logged
            .is_some_and(|at| now.duration_since(at) < std::time::Duration::from_secs(1))
        {
            return;
        }
        self.mismatch_logged = Some(now);
        tracing::error!(
            zxid = format_args!("{:#x}", leaders.zxid),
            leader_digest = leaders.digest,
            our_digest = ours,
            entry = index,
            mismatches = telemetry::DIGEST_MISMATCHES.get(),
            "tree digest mismatch: this member's tree differs from the leader's at the same zxid"
        );
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let inner = self.shared.read();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<EntryApplied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        // One result per entry, Blank and Membership included (openraft asserts the count).
        let started = std::time::Instant::now();
        let applied: Vec<EntryApplied> = entries.into_iter().map(|e| self.apply_one(e)).collect();
        telemetry::RAFT_APPLY_TIME.record_ms(started.elapsed());
        Ok(applied)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    /// The leader's chunks are written straight into a file of the snapshot directory, which
    /// becomes the member's snapshot once whole: nothing of it is held in memory until the
    /// install decodes it.
    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotFile>, StorageError> {
        let path = self.snapshots.receiving_path();
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        if let Some(earlier) = self.receiving.replace(path) {
            // A transfer the leader started over: its partial file is of no use.
            let _ = tokio::fs::remove_file(earlier).await;
        }
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut snapshot: Box<SnapshotFile>,
    ) -> Result<(), StorageError> {
        let write_error = |e: std::io::Error| -> StorageError {
            StorageIOError::write_snapshot(Some(meta.signature()), &e).into()
        };
        // tokio writes a file in the background: every chunk must have reached the file
        // before it is read back.
        snapshot.flush().await.map_err(write_error)?;
        let file = snapshot.into_std().await;
        let receiving = self.receiving.take();
        // Decoding and keeping the file are CPU and disk work of seconds at a million
        // znodes: a blocking thread does them so the runtime openraft shares keeps ticking.
        let started = std::time::Instant::now();
        let snapshots = self.snapshots.clone();
        let meta_for_file = meta.clone();
        let decoded = tokio::task::spawn_blocking(move || {
            let bytes = read_whole(&file).map_err(|e| (false, e))?;
            let size = bytes.len();
            // The received file must reach the disk before it is kept: that disk work runs
            // while this thread decodes (keeping it then finds it synced already).
            let decoded = std::thread::scope(|scope| {
                let syncing = scope.spawn(|| file.sync_data());
                let decoded = SnapshotStore::decode(&bytes);
                let _ = syncing.join();
                decoded
            });
            let (file_meta, state) =
                decoded.map_err(|reason| (false, std::io::Error::other(reason)))?;
            // The file received into becomes the snapshot; data handed over any other way
            // (openraft's storage suite swaps the handle) is written out.
            let kept = match receiving {
                Some(path) if same_file(&file, &path) => {
                    drop(bytes);
                    snapshots.adopt(&meta_for_file, &path).map(drop)
                }
                other => {
                    if let Some(path) = other {
                        let _ = std::fs::remove_file(path);
                    }
                    snapshots.write_file(&meta_for_file, &[&bytes]).map(drop)
                }
            };
            kept.map_err(|e| (true, std::io::Error::other(e.to_string())))?;
            Ok::<_, (bool, std::io::Error)>((file_meta, state, size))
        })
        .await;
        let (file_meta, state, size) = match decoded {
            Ok(Ok(done)) => done,
            Ok(Err((false, e))) => {
                return Err(StorageIOError::read_snapshot(Some(meta.signature()), &e).into())
            }
            Ok(Err((true, e))) => {
                return Err(StorageIOError::write_snapshot(Some(meta.signature()), &e).into())
            }
            Err(e) => return Err(StorageIOError::write_snapshot(Some(meta.signature()), &e).into()),
        };
        let mut inner = self.shared.write();
        let applied = self.shared.txns_applied.load(Ordering::Relaxed);
        self.shared.txns_at_snapshot.send_replace(applied);
        inner.digests = DigestLog::starting_at(state.last_zxid, state.tree.digest());
        let latest = inner.digests.latest();
        let replaced = std::mem::replace(&mut inner.state, state);
        inner.last_applied = meta.last_log_id.or(file_meta.last_log_id);
        inner.membership = meta.last_membership.clone();
        let index = inner.last_applied.map_or(0, |id| id.index);
        drop(inner);
        self.shared.digest.send_replace(latest);
        // Freeing a large old tree takes a while too; not under the lock.
        drop(tokio::task::spawn_blocking(move || drop(replaced)));
        let took = started.elapsed();
        telemetry::RAFT_SNAPSHOT_INSTALL_TIME.record_ms(took);
        telemetry::RAFT_SNAPSHOT_INSTALL_BYTES.record(size as f64);
        tracing::info!(
            index,
            bytes = size,
            ms = took.as_millis() as u64,
            "snapshot installed from the leader"
        );
        self.shared.applied.send_replace(index);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let snapshots = self.snapshots.clone();
        let found = tokio::task::spawn_blocking(move || snapshots.latest_for_sending())
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(found.map(|(meta, file)| Snapshot {
            meta,
            snapshot: Box::new(SnapshotFile::from_std(file)),
        }))
    }
}

/// Builds a snapshot of the applied state as it is when the build starts.
pub struct SnapshotBuilder {
    shared: Arc<SharedState>,
    snapshots: SnapshotStore,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let build_started = std::time::Instant::now();
        let shared = self.shared.clone();
        let snapshots = self.snapshots.clone();
        // The state's collections are persistent, so cloning it under the read lock is O(1)
        // and the encoding runs with the lock released: applies and reads never wait for it
        // (holding the lock while encoding stalled every worker thread for seconds at 100k
        // znodes, long enough for elections). Metadata and state are read under the same lock,
        // so the data can never be newer than `last_log_id` (openraft pitfall §6.5).
        let (state, last, membership, txns_applied) = {
            let inner = shared.read();
            (
                inner.state.clone(),
                inner.last_applied,
                inner.membership.clone(),
                shared.txns_applied.load(Ordering::Relaxed),
            )
        };
        // A thread of its own at a lower CPU priority: on a busy machine the encoding takes
        // whatever the Raft core, the applies and the clients leave over.
        let (done, built) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                lower_this_threads_priority();
                let _ = done.send(encode_and_save(state, last, membership, &snapshots));
            });
        if let Err(e) = spawned {
            return Err(StorageIOError::write_snapshot(None, &e).into());
        }
        let built = built.await;
        let (meta, path, size, took) = match built {
            Ok(Ok(done)) => done,
            Ok(Err(reason)) => {
                return Err(
                    StorageIOError::write_snapshot(None, &std::io::Error::other(reason)).into(),
                )
            }
            Err(e) => return Err(StorageIOError::write_snapshot(None, &e).into()),
        };
        shared.txns_at_snapshot.send_if_modified(|at| {
            let newer = txns_applied > *at;
            *at = (*at).max(txns_applied);
            newer
        });
        telemetry::RAFT_SNAPSHOTS_WRITTEN.bump();
        telemetry::SNAPSHOT_TIME.record_ms(took);
        telemetry::RAFT_SNAPSHOT_BYTES.record(size as f64);
        telemetry::RAFT_SNAPSHOT_BUILD_TIME.record_ms(build_started.elapsed());
        tracing::info!(
            index = meta.last_log_id.map_or(0, |id| id.index),
            bytes = size,
            ms = took.as_millis() as u64,
            "snapshot written"
        );
        let file = SnapshotFile::open(&path)
            .await
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}

/// The whole content of `file`, from its first byte.
fn read_whole(mut file: &std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let length = file.metadata()?.len();
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether the open `file` is the file at `path` (same device and inode).
fn same_file(file: &std::fs::File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Encodes a point-in-time state and saves it: (metadata, file, its length, time taken).
/// The state is encoded straight into the file, a chunk at a time.
fn encode_and_save(
    state: ReplicatedState,
    last: Option<LogId>,
    membership: StoredMembership,
    snapshots: &SnapshotStore,
) -> Result<(SnapshotMeta, PathBuf, u64, std::time::Duration), String> {
    let started = std::time::Instant::now();
    let meta = SnapshotMeta {
        last_log_id: last,
        last_membership: membership,
        snapshot_id: format!(
            "{}-{}-{}",
            last.map_or(0, |id| id.leader_id.term),
            last.map_or(0, |id| id.index),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        ),
    };
    let (path, size) = snapshots
        .save(&meta, |out| state.write_snapshot(out))
        .map_err(|e| e.to_string())?;
    drop(state);
    Ok((meta, path, size, started.elapsed()))
}

/// Background work yields the CPU to the Raft core and the clients (nice 10 for the calling
/// thread only; Linux applies a thread id's priority to that thread).
fn lower_this_threads_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), 10) {
        tracing::debug!(error = %e, "could not lower the snapshot thread's priority");
    }
}
