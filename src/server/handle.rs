//! A connection as the rest of the member sees it: a queue of outgoing frames, the session it
//! is bound to, its counters, and the registry of every open connection.
//!
//! Frames are encoded by whoever produces them (a read, the Delivery, a watch) and queued on
//! the connection's [`ReplyQueue`], which only its writer task drains. The queue is bounded
//! in bytes, so a client that does not read its replies cannot grow the member's memory:
//! - past `READ_PAUSE_BYTES` waiting, the connection stops reading requests until the client
//!   has read its replies down to `READ_RESUME_BYTES` (the pipeline waits on `drained`);
//!   requests stay in the kernel's socket buffers and the client's own. While every
//!   connection together holds half of `MAX_QUEUED_BYTES_ALL`, the thresholds drop to
//!   `PRESSED_PAUSE_BYTES` / `PRESSED_RESUME_BYTES`, so many such clients stay bounded too;
//! - replies made without a new request (watch notifications) can still pile up: the
//!   connection is closed as a slow consumer past `MAX_QUEUED_BYTES`, or past
//!   `READ_PAUSE_BYTES` while every connection together has `MAX_QUEUED_BYTES_ALL` waiting.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use jute_codec::{
    encode_frame, xid, ConnectResponse, EncodeFrame, ErrorCode, EventType, KeeperState, Reply,
    ReplyHeader, Response, WatcherEvent,
};
use tokio::sync::{watch, Notify};

use super::stats::{ConnStats, ServerStats};
use super::writes::{PendingWrites, UnknownFate};

/// Outgoing bytes a connection may have waiting before it is closed as a slow consumer.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

/// Outgoing bytes past which a connection stops reading requests. A little above the largest
/// reply a request can make (jute.maxbuffer's default, 1 MiB, of data), so one big read does
/// not pause a client that reads.
pub const READ_PAUSE_BYTES: usize = 2 << 20;

/// Outgoing bytes at or below which a paused connection reads requests again.
pub const READ_RESUME_BYTES: usize = 256 << 10;

/// Outgoing bytes every connection together may have waiting before a connection past
/// `READ_PAUSE_BYTES` is closed as a slow consumer. Past half of it, connections pause and
/// resume at `PRESSED_PAUSE_BYTES` / `PRESSED_RESUME_BYTES` instead.
pub const MAX_QUEUED_BYTES_ALL: usize = 128 << 20;

/// The pause threshold while every connection together has half of `MAX_QUEUED_BYTES_ALL`
/// waiting: many connections that do not read then hold 64 KiB each, not 2 MiB.
pub const PRESSED_PAUSE_BYTES: usize = 64 << 10;

/// The resume threshold that goes with `PRESSED_PAUSE_BYTES`.
pub const PRESSED_RESUME_BYTES: usize = 16 << 10;

/// An encoded frame as bytes that hold no more memory than they need: encoding grows its
/// buffer by doubling, so a reply can keep up to twice its size while it waits, and the
/// queue bounds count only the reply's length.
fn fitted(buf: BytesMut) -> Bytes {
    if buf.len() > 512 && buf.capacity() > buf.len() + buf.len() / 4 {
        Bytes::copy_from_slice(&buf)
    } else {
        buf.freeze()
    }
}

/// What the writer task is asked to do.
#[derive(Debug)]
pub enum Outbound {
    /// Write these bytes (one or more whole frames, or raw 4lw text).
    Bytes(Bytes),
    /// A watch notification, queued at this instant (for the trigger latency).
    Event(Bytes, Instant),
    /// Flush what is queued, then close.
    Close,
}

/// What a connection has queued for its writer task. A locked queue and a wake-up rather than
/// a channel: tokio's unbounded channel allocates a block of 32 slots when it is made (~2 KB
/// for every idle session), this allocates only while replies wait.
#[derive(Debug, Default)]
pub struct ReplyQueue {
    items: Mutex<VecDeque<Outbound>>,
    ready: Notify,
}

impl ReplyQueue {
    fn push(&self, item: Outbound) {
        ConnectionHandle::lock(&self.items).push_back(item);
        // Stores a wake-up if the writer is not waiting yet: none is lost.
        self.ready.notify_one();
    }

    /// The next item, waiting for one.
    pub async fn next(&self) -> Outbound {
        loop {
            if let Some(item) = self.try_next() {
                return item;
            }
            self.ready.notified().await;
        }
    }

    /// The next item if one is waiting. A queue that empties lets go of its slots: an idle
    /// session holds none (kept, the slots of one burst of 10 watch replies cost more than
    /// the 10 watches).
    pub fn try_next(&self) -> Option<Outbound> {
        let mut items = ConnectionHandle::lock(&self.items);
        let item = items.pop_front();
        if items.is_empty() && items.capacity() > 0 {
            *items = VecDeque::new();
        }
        item
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        ConnectionHandle::lock(&self.items).is_empty()
    }
}

/// The session a connection is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The session id.
    pub session_id: i64,
    /// The negotiated timeout, ms.
    pub timeout_ms: i32,
    /// A read-only session (`readonlymode.enabled`, a member without a quorum): reads only,
    /// and the connection is closed once the quorum is back.
    pub read_only: bool,
}

/// One open client connection.
#[derive(Debug)]
pub struct ConnectionHandle {
    /// This member's id for the connection.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// Counters.
    pub stats: ConnStats,
    outbound: ReplyQueue,
    queued: AtomicUsize,
    /// Signalled when the writer brings `queued` down to a resume threshold.
    drained: Notify,
    /// Closed for not reading its replies.
    slow_consumer: std::sync::atomic::AtomicBool,
    /// Its writes from proposal to reply.
    pub writes: PendingWrites,
    closed: watch::Sender<bool>,
    binding: Mutex<Option<Binding>>,
    /// Whether the handshake carried the readOnly byte (the reply must match).
    read_only_byte: Mutex<bool>,
    server_stats: Arc<ServerStats>,
}

impl ConnectionHandle {
    fn new(id: u64, peer: SocketAddr, server_stats: Arc<ServerStats>) -> ConnectionHandle {
        ConnectionHandle {
            id,
            peer,
            stats: ConnStats::new(),
            outbound: ReplyQueue::default(),
            queued: AtomicUsize::new(0),
            drained: Notify::new(),
            slow_consumer: std::sync::atomic::AtomicBool::new(false),
            writes: PendingWrites::counted_in(server_stats.requests_pending.clone()),
            closed: watch::channel(false).0,
            binding: Mutex::new(None),
            read_only_byte: Mutex::new(false),
            server_stats,
        }
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session bound to this connection, once the handshake is done.
    pub fn binding(&self) -> Option<Binding> {
        *Self::lock(&self.binding)
    }

    /// Binds the connection to a session.
    pub fn bind(&self, binding: Binding) {
        *Self::lock(&self.binding) = Some(binding);
    }

    /// Remembers whether the ConnectRequest had the readOnly byte.
    pub fn set_read_only_byte(&self, present: bool) {
        *Self::lock(&self.read_only_byte) = present;
    }

    /// Queues encoded bytes; closes the connection if the client is not reading.
    pub fn send_bytes(&self, bytes: Bytes) {
        self.queue(Outbound::Bytes(bytes));
    }

    fn queue(&self, item: Outbound) {
        if *self.closed.borrow() {
            return;
        }
        let len = match &item {
            Outbound::Bytes(b) | Outbound::Event(b, _) => b.len(),
            Outbound::Close => 0,
        };
        let queued = self.queued.fetch_add(len, Ordering::Relaxed) + len;
        let all = self
            .server_stats
            .queued_reply_bytes
            .fetch_add(len, Ordering::Relaxed)
            + len;
        if queued > MAX_QUEUED_BYTES || (queued > READ_PAUSE_BYTES && all > MAX_QUEUED_BYTES_ALL) {
            tracing::warn!(
                conn = self.id,
                peer = %self.peer,
                queued,
                all_connections = all,
                "client does not read its replies; closing"
            );
            self.slow_consumer.store(true, Ordering::Relaxed);
            // The bytes counted for this item were never queued.
            self.written(len);
            self.close();
            return;
        }
        self.outbound.push(item);
    }

    /// The (pause, resume) thresholds of queued reply bytes for this connection now: lower
    /// while every connection together holds half of `MAX_QUEUED_BYTES_ALL`.
    pub fn read_pause_thresholds(&self) -> (usize, usize) {
        if self.server_stats.queued_reply_bytes.load(Ordering::Relaxed) > MAX_QUEUED_BYTES_ALL / 2 {
            (PRESSED_PAUSE_BYTES, PRESSED_RESUME_BYTES)
        } else {
            (READ_PAUSE_BYTES, READ_RESUME_BYTES)
        }
    }

    /// Waits until the client has read its replies down to `resume_at` bytes (at once if it
    /// has), or the connection closes. True if it may read requests again.
    pub async fn replies_drained(&self, resume_at: usize) -> bool {
        let mut closed = self.closed.subscribe();
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            // Registered before the check: a wake-up between the two is not lost.
            drained.as_mut().enable();
            if *closed.borrow() {
                return false;
            }
            if self.queued_bytes() <= resume_at {
                return true;
            }
            tokio::select! {
                () = &mut drained => {}
                _ = closed.changed() => {}
            }
        }
    }

    /// Whether it was closed for not reading its replies.
    pub fn closed_as_slow_consumer(&self) -> bool {
        self.slow_consumer.load(Ordering::Relaxed)
    }

    /// Encodes and queues one frame.
    pub fn send_frame(&self, frame: &impl EncodeFrame) {
        let mut buf = BytesMut::new();
        if encode_frame(frame, &mut buf, usize::MAX).is_ok() {
            // ZooKeeper's sizes are of the serialized reply, without the length prefix.
            let size = buf.len().saturating_sub(4);
            self.server_stats.response_sizes.record(size);
            self.server_stats
                .response_bytes
                .fetch_add(size as u64, Ordering::Relaxed);
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
            self.server_stats
                .packets_sent
                .fetch_add(1, Ordering::Relaxed);
            self.send_bytes(fitted(buf));
        }
    }

    /// Queues a reply.
    pub fn send_reply(&self, xid: i32, zxid: i64, err: ErrorCode, response: Response) {
        self.send_frame(&Reply {
            header: ReplyHeader { xid, zxid, err },
            response,
        });
    }

    /// Queues a watch notification (xid −1, zxid −1, as 3.8 sends them); its size in bytes.
    pub fn send_event(&self, event_type: EventType, path: &str) -> usize {
        let reply = Reply {
            header: ReplyHeader {
                xid: xid::NOTIFICATION,
                zxid: -1,
                err: ErrorCode::Ok,
            },
            response: Response::Notification(WatcherEvent {
                event_type,
                state: KeeperState::SyncConnected,
                path: path.to_string(),
            }),
        };
        let mut buf = BytesMut::new();
        if encode_frame(&reply, &mut buf, usize::MAX).is_err() {
            return 0;
        }
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        self.server_stats
            .packets_sent
            .fetch_add(1, Ordering::Relaxed);
        let len = buf.len().saturating_sub(4);
        self.queue(Outbound::Event(fitted(buf), Instant::now()));
        len
    }

    /// Member-wide counters (the writer records watch-trigger latency there).
    pub fn server_stats(&self) -> &ServerStats {
        &self.server_stats
    }

    /// Queues a ConnectResponse, with the readOnly byte iff the request had one.
    pub fn send_connect_response(&self, timeout_ms: i32, session_id: i64, passwd: Vec<u8>) {
        self.send_connect_response_mode(timeout_ms, session_id, passwd, false);
    }

    /// Queues a ConnectResponse that says whether the session is read-only (in the readOnly
    /// byte, which goes out iff the request had one).
    pub fn send_connect_response_mode(
        &self,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
        read_only_session: bool,
    ) {
        let read_only = (*Self::lock(&self.read_only_byte)).then_some(read_only_session);
        self.send_frame(&ConnectResponse {
            protocol_version: 0,
            time_out: timeout_ms,
            session_id,
            passwd,
            read_only,
        });
    }

    /// The "invalid session" ConnectResponse (timeout 0, session 0, zero password), then close.
    pub fn refuse_session(&self) {
        self.send_connect_response(0, 0, vec![0; 16]);
        self.close();
    }

    /// The writer finished writing `n` bytes.
    pub fn written(&self, n: usize) {
        let before = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(n))
            })
            .unwrap_or_default();
        let done = n.min(before);
        self.unqueue_member_wide(done);
        // Wakes a paused pipeline at either resume threshold it may be waiting for.
        let after = before - done;
        if (after <= READ_RESUME_BYTES && before > READ_RESUME_BYTES)
            || (after <= PRESSED_RESUME_BYTES && before > PRESSED_RESUME_BYTES)
        {
            self.drained.notify_waiters();
        }
    }

    /// Flushes what is queued and closes. Idempotent.
    pub fn close(&self) {
        if self.closed.send_replace(true) {
            return;
        }
        self.outbound.push(Outbound::Close);
    }

    /// What is queued for the writer task.
    pub fn outbound(&self) -> &ReplyQueue {
        &self.outbound
    }

    /// True once closing.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// A channel that turns true when the connection closes.
    pub fn closed_signal(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// A write's outcome is unknown: says why and closes the connection (the client learns
    /// it by ConnectionLoss; its session stays and may resume).
    pub fn write_fate_unknown(&self, fate: &UnknownFate) {
        tracing::warn!(conn = self.id, %fate, "write fate unknown; closing the connection");
        self.close();
    }

    /// `n` of this connection's queued bytes leave the member-wide count (written, or gone
    /// with the connection).
    fn unqueue_member_wide(&self, n: usize) {
        let _ = self.server_stats.queued_reply_bytes.fetch_update(
            Ordering::Relaxed,
            Ordering::Relaxed,
            |q| Some(q.saturating_sub(n)),
        );
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

impl Drop for ConnectionHandle {
    /// Replies never written leave the member-wide count with the connection.
    fn drop(&mut self) {
        let left = *self.queued.get_mut();
        if left > 0 {
            self.unqueue_member_wide(left);
        }
    }
}

/// Every open connection of this member.
#[derive(Debug)]
pub struct Connections {
    inner: Mutex<Registry>,
    stats: Arc<ServerStats>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    by_id: HashMap<u64, Arc<ConnectionHandle>>,
    by_session: HashMap<i64, u64>,
    per_ip: HashMap<IpAddr, u32>,
}

impl Connections {
    /// An empty registry whose connections count into `stats`.
    pub fn new(stats: Arc<ServerStats>) -> Connections {
        Connections {
            inner: Mutex::new(Registry::default()),
            stats,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection unless its IP already has `max_per_ip` (0 = unlimited).
    pub fn open(&self, peer: SocketAddr, max_per_ip: u32) -> Option<Arc<ConnectionHandle>> {
        let mut reg = self.lock();
        let count = reg.per_ip.entry(peer.ip()).or_insert(0);
        if max_per_ip != 0 && *count >= max_per_ip {
            return None;
        }
        *count += 1;
        reg.next_id += 1;
        let handle = Arc::new(ConnectionHandle::new(reg.next_id, peer, self.stats.clone()));
        reg.by_id.insert(handle.id, handle.clone());
        Some(handle)
    }

    /// Forgets a closed connection.
    pub fn remove(&self, handle: &ConnectionHandle) {
        let mut reg = self.lock();
        if reg.by_id.remove(&handle.id).is_none() {
            return;
        }
        if let Some(count) = reg.per_ip.get_mut(&handle.peer.ip()) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                reg.per_ip.remove(&handle.peer.ip());
            }
        }
        if let Some(binding) = handle.binding() {
            if reg.by_session.get(&binding.session_id) == Some(&handle.id) {
                reg.by_session.remove(&binding.session_id);
            }
        }
    }

    /// Binds `handle` to a session; returns the connection previously bound to it, which the
    /// caller closes (a session has one connection per member, as in ZooKeeper).
    pub fn bind_session(
        &self,
        handle: &Arc<ConnectionHandle>,
        binding: Binding,
    ) -> Option<Arc<ConnectionHandle>> {
        handle.bind(binding);
        let mut reg = self.lock();
        let old = reg.by_session.insert(binding.session_id, handle.id);
        old.filter(|id| *id != handle.id)
            .and_then(|id| reg.by_id.get(&id).cloned())
    }

    /// The connection with this id.
    pub fn get(&self, id: u64) -> Option<Arc<ConnectionHandle>> {
        self.lock().by_id.get(&id).cloned()
    }

    /// The connection bound to a session.
    pub fn by_session(&self, session_id: i64) -> Option<Arc<ConnectionHandle>> {
        let reg = self.lock();
        reg.by_session
            .get(&session_id)
            .and_then(|id| reg.by_id.get(id))
            .cloned()
    }

    /// Every open connection, by id.
    pub fn all(&self) -> Vec<Arc<ConnectionHandle>> {
        let mut all: Vec<_> = self.lock().by_id.values().cloned().collect();
        all.sort_by_key(|h| h.id);
        all
    }

    /// Writes waiting for their outcome, over every open connection (ZooKeeper's
    /// `outstanding_requests`: a closed connection's writes no longer count).
    pub fn outstanding(&self) -> usize {
        self.lock().by_id.values().map(|h| h.writes.len()).sum()
    }

    /// The most writes one connection has waiting for their outcome.
    pub fn max_outstanding(&self) -> usize {
        self.lock()
            .by_id
            .values()
            .map(|h| h.writes.len())
            .max()
            .unwrap_or(0)
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// True if none are open.
    pub fn is_empty(&self) -> bool {
        self.lock().by_id.is_empty()
    }
}
