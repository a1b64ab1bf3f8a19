//! [`PendingWrites`]: every write of one connection, from the moment the pipeline hands it to
//! the Proposer until its reply is queued or its fate is given up as unknown, and the reads
//! that arrived behind those writes.
//!
//! It is the one place that
//! - keeps the writes in proposal order (one Proposer, one log: their outcomes arrive in the
//!   same order, so the oldest pending write is always the one answered next);
//! - keeps a session's reads in order with its writes without stopping the pipeline: a read
//!   that arrives while writes are pending is queued behind them ([`PendingWrites::queue_read`])
//!   and answered by the Notifier right after the write before it applies, against the state
//!   as that write left it (ZooKeeper answers a session's requests in order, and a read sees
//!   the session's earlier writes and none of its later ones). The connection meanwhile goes
//!   on reading, so the writes behind the read join the same entries, as ZooKeeper proposes a
//!   session's writes while its reads wait in the CommitProcessor;
//! - records each write's latency and logs it when slow;
//! - decides when a write's outcome is unknown ([`UnknownFate`]): its entry was lost with its
//!   leader (an entry of a newer term applied first), it took longer than the write timeout,
//!   or the Proposer failed it. The connection then closes, so the client learns it by
//!   ConnectionLoss instead of a guess (`design.md`, Unknown outcome).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use jute_codec::{ErrorCode, Id, OpCode, Request};
use tokio::sync::watch;

use super::stats::{ConnStats, InProcess, ServerStats};
use super::{op_abbreviation, op_label};

/// Most requests (writes and the reads between them) one connection keeps queued; past it the
/// pipeline stops reading until its queue drains, so a client that pipelines without bound
/// holds a bounded amount of this member's memory.
pub const MAX_QUEUED: usize = 4096;

/// One write waiting for its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingWrite {
    /// The request's xid, echoed in its reply.
    pub xid: i32,
    /// The request.
    pub op: OpCode,
    /// When the request arrived.
    pub started: Instant,
    /// The Raft term this member knew when it proposed the write.
    pub term: u64,
}

/// Why a write's outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownFate {
    /// An entry of a newer term was applied before it: its entry was lost with its leader.
    #[error("proposed in term {term}, and an entry of term {applied_term} applied first: lost with its leader")]
    LeaderLost {
        /// The write's term.
        term: u64,
        /// The newer term applied.
        applied_term: u64,
    },
    /// Not applied within the write timeout (a stalled disk, a partition).
    #[error("not applied within {0:?}")]
    TimedOut(Duration),
    /// The Proposer gave it up (no leader, Raft refused it, an earlier write failed).
    #[error("the write path failed it: {0}")]
    Failed(String),
}

/// What the reply to a write is recorded with.
pub struct Answered<'a> {
    /// The zxid the reply carries.
    pub zxid: i64,
    /// The session, for the slow-request line.
    pub session_id: i64,
    /// The client, for the slow-request line.
    pub client: std::net::SocketAddr,
    /// Writes slower than this are logged (zero: never).
    pub slow: Duration,
    /// The member's statistics.
    pub stats: &'a ServerStats,
    /// The connection's statistics (`cons`).
    pub connection: &'a ConnStats,
}

/// A read (or any request answered from the local state) that arrived while writes of its
/// connection were pending. Whoever answers the write before it answers it too.
#[derive(Debug)]
pub struct QueuedRead {
    /// The request's xid.
    pub xid: i32,
    /// The request.
    pub op: OpCode,
    /// The decoded request.
    pub request: Request,
    /// The error code the reply must carry whatever the read finds (a multiRead cut at a
    /// null path answers MarshallingError).
    pub answer: Option<ErrorCode>,
    /// When the request arrived.
    pub started: Instant,
    /// The session.
    pub session_id: i64,
    /// The connection's identities when the request arrived.
    pub auth: Arc<Vec<Id>>,
}

/// Whether a read was queued.
#[derive(Debug)]
pub enum ReadTurn {
    /// Queued behind a pending write: the Notifier answers it.
    Queued,
    /// Nothing is pending: answer it now.
    Now(QueuedRead),
    /// The queue is full: wait until it has drained, then answer it.
    Full(QueuedRead),
}

#[derive(Debug)]
enum Pending {
    Write(PendingWrite),
    Read(Box<QueuedRead>),
}

#[derive(Debug, Default)]
struct Queue {
    /// Oldest first; never starts with a read (a read is queued only behind a write, and the
    /// reads after a write leave with it).
    pending: VecDeque<Pending>,
    /// Requests ever queued.
    queued: u64,
}

impl Queue {
    /// The oldest request if it is a write.
    fn pop_write(&mut self) -> Option<PendingWrite> {
        let Some(Pending::Write(write)) = self.pending.front() else {
            return None;
        };
        let write = *write;
        self.pending.pop_front();
        Some(write)
    }

    /// The oldest request if it is a read.
    fn pop_read(&mut self) -> Option<Box<QueuedRead>> {
        match self.pending.pop_front()? {
            Pending::Read(read) => Some(read),
            write => {
                self.pending.push_front(write);
                None
            }
        }
    }
}

/// Every write of one connection that has been proposed and not yet answered, and the reads
/// queued behind them.
#[derive(Debug)]
pub struct PendingWrites {
    queue: Mutex<Queue>,
    /// Requests pending on every connection of the member (`globalOutstandingLimit`, the
    /// request throttler).
    all: Arc<InProcess>,
    /// Requests ever answered (or given up): `settled` compares it with `Queue::queued`.
    answered: watch::Sender<u64>,
}

impl Default for PendingWrites {
    fn default() -> Self {
        PendingWrites::new()
    }
}

impl PendingWrites {
    /// No writes yet, counted on their own.
    pub fn new() -> PendingWrites {
        PendingWrites::counted_in(Arc::default())
    }

    /// No writes yet; pending requests also counted in `all`, shared by the member's
    /// connections.
    pub fn counted_in(all: Arc<InProcess>) -> PendingWrites {
        PendingWrites {
            queue: Mutex::new(Queue::default()),
            all,
            answered: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a write handed to the Proposer (call it before handing it over: its outcome
    /// may arrive at once).
    pub fn proposed(&self, write: PendingWrite) {
        let mut queue = self.lock();
        queue.pending.push_back(Pending::Write(write));
        queue.queued += 1;
        self.all.add(1);
    }

    /// Queues `read` behind the pending writes, unless none is pending (then it is answered
    /// at once) or the queue is full.
    pub fn queue_read(&self, read: QueuedRead) -> ReadTurn {
        let mut queue = self.lock();
        if queue.pending.is_empty() {
            ReadTurn::Now(read)
        } else if queue.pending.len() >= MAX_QUEUED {
            ReadTurn::Full(read)
        } else {
            queue.pending.push_back(Pending::Read(Box::new(read)));
            queue.queued += 1;
            self.all.add(1);
            ReadTurn::Queued
        }
    }

    /// The oldest write's reply has been queued: forgets it, hands the reads queued right
    /// behind it to `answer_read` (in order, before any later request of the connection can
    /// be answered), records its latency (and logs it if slow). `None` if nothing was pending
    /// (a reply for a write this member did not track).
    pub fn answered(
        &self,
        reply: &Answered<'_>,
        mut answer_read: impl FnMut(QueuedRead),
    ) -> Option<PendingWrite> {
        let write = {
            let mut queue = self.lock();
            let write = queue.pop_write();
            // Answered under the queue's lock: a read the pipeline finds nothing pending for
            // and answers itself cannot overtake them.
            let mut done = u64::from(write.is_some());
            while let Some(read) = queue.pop_read() {
                answer_read(*read);
                done += 1;
            }
            self.answered.send_modify(|n| *n += done);
            self.all.answered(done as usize);
            write
        };
        let write = write?;
        let elapsed = write.started.elapsed();
        let latency = elapsed.as_millis() as u64;
        if !reply.slow.is_zero() && elapsed >= reply.slow {
            tracing::warn!(
                session = format_args!("0x{:x}", reply.session_id),
                client = %reply.client,
                op = op_label(op_abbreviation(write.op)),
                ms = latency,
                "slow request"
            );
        }
        reply.stats.latency.record(latency);
        reply.stats.update_latency.record_ms(elapsed);
        reply
            .stats
            .request_done(op_label(op_abbreviation(write.op)), elapsed);
        reply
            .connection
            .record(op_abbreviation(write.op), write.xid, reply.zxid, latency);
        Some(write)
    }

    /// Resolves once every request queued before the call has been answered: what a request
    /// that cannot be queued (auth, sync, setWatches, close) waits for.
    pub fn settled(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let target = self.lock().queued;
        let mut answered = self.answered.subscribe();
        async move {
            // The sender lives as long as the connection; if it is gone, nothing is pending.
            let _ = answered.wait_for(|n| *n >= target).await;
        }
    }

    /// Requests pending on every connection of the member.
    pub fn member_wide(&self) -> usize {
        self.all.get()
    }

    /// A receiver that changes whenever one of this connection's requests is answered
    /// (subscribe before checking what to wait for: no answer in between is missed).
    pub fn answers(&self) -> watch::Receiver<u64> {
        self.answered.subscribe()
    }

    /// Requests queued and not yet answered (writes, and the reads behind them).
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// True if none is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rule for an unknown outcome, checked against the oldest pending write: an entry of
    /// a newer term than its own has been applied (so its entry, which would have come first,
    /// was lost), or it is older than `timeout`.
    pub fn unknown_fate(
        &self,
        applied_term: u64,
        timeout: Duration,
        now: Instant,
    ) -> Option<UnknownFate> {
        let queue = self.lock();
        let oldest = queue.pending.iter().find_map(|p| match p {
            Pending::Write(write) => Some(write),
            Pending::Read(_) => None,
        })?;
        if oldest.term < applied_term {
            return Some(UnknownFate::LeaderLost {
                term: oldest.term,
                applied_term,
            });
        }
        (now.saturating_duration_since(oldest.started) > timeout)
            .then_some(UnknownFate::TimedOut(timeout))
    }
}

impl Drop for PendingWrites {
    /// A closed connection's requests leave the member-wide count with it.
    fn drop(&mut self) {
        let left = self.lock().pending.len();
        self.all.answered(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(xid: i32, term: u64, started: Instant) -> PendingWrite {
        PendingWrite {
            xid,
            op: OpCode::Create,
            started,
            term,
        }
    }

    fn answer(writes: &PendingWrites, stats: &ServerStats, conn: &ConnStats) -> Option<i32> {
        let reply = Answered {
            zxid: 7,
            session_id: 1,
            client: "127.0.0.1:1".parse().unwrap(),
            slow: Duration::ZERO,
            stats,
            connection: conn,
        };
        writes.answered(&reply, |_| {}).map(|w| w.xid)
    }

    #[test]
    fn replies_come_in_request_order_and_are_recorded() {
        let (stats, conn) = (ServerStats::default(), ConnStats::new());
        let writes = PendingWrites::new();
        let now = Instant::now();
        for xid in 1..=3 {
            writes.proposed(write(xid, 1, now));
        }
        assert_eq!(writes.len(), 3);
        let answered: Vec<_> = (0..3)
            .filter_map(|_| answer(&writes, &stats, &conn))
            .collect();
        assert_eq!(answered, vec![1, 2, 3]);
        assert!(writes.is_empty());
        assert_eq!(stats.latency.snapshot().3, 3, "three latencies recorded");
        assert_eq!(conn.snapshot().last_cxid, Some(3));
    }

    #[tokio::test]
    async fn a_read_after_a_write_waits_for_it() {
        let (stats, conn) = (ServerStats::default(), ConnStats::new());
        let writes = PendingWrites::new();
        // Nothing pending: a read goes at once.
        tokio::time::timeout(Duration::from_millis(100), writes.settled())
            .await
            .unwrap();
        writes.proposed(write(1, 1, Instant::now()));
        let read = writes.settled();
        writes.proposed(write(2, 1, Instant::now()));
        let mut read = Box::pin(read);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut read)
                .await
                .is_err(),
            "the read went before the write it follows"
        );
        answer(&writes, &stats, &conn);
        // Released by the write before it, not held by the one proposed after it.
        tokio::time::timeout(Duration::from_millis(100), read)
            .await
            .unwrap();
    }

    fn queued_read(xid: i32) -> QueuedRead {
        QueuedRead {
            xid,
            op: OpCode::GetData,
            request: Request::Ping,
            answer: None,
            started: Instant::now(),
            session_id: 1,
            auth: Arc::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn reads_behind_a_write_leave_with_it_in_order() {
        let (stats, conn) = (ServerStats::default(), ConnStats::new());
        let writes = PendingWrites::new();
        // Nothing pending: the pipeline answers it itself.
        assert!(matches!(
            writes.queue_read(queued_read(1)),
            ReadTurn::Now(_)
        ));
        writes.proposed(write(2, 1, Instant::now()));
        assert!(matches!(
            writes.queue_read(queued_read(3)),
            ReadTurn::Queued
        ));
        assert!(matches!(
            writes.queue_read(queued_read(4)),
            ReadTurn::Queued
        ));
        writes.proposed(write(5, 1, Instant::now()));
        assert!(matches!(
            writes.queue_read(queued_read(6)),
            ReadTurn::Queued
        ));
        assert_eq!(writes.len(), 5);
        // A request that cannot be queued waits for all of them, reads included.
        let mut settled = Box::pin(writes.settled());
        let reply = Answered {
            zxid: 7,
            session_id: 1,
            client: "127.0.0.1:1".parse().unwrap(),
            slow: Duration::ZERO,
            stats: &stats,
            connection: &conn,
        };
        let mut answered = Vec::new();
        let first = writes.answered(&reply, |r| answered.push(r.xid));
        assert_eq!(first.map(|w| w.xid), Some(2));
        assert_eq!(
            answered,
            vec![3, 4],
            "the reads behind write 2, not the one behind 5"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut settled)
                .await
                .is_err(),
            "settled with write 5 and read 6 pending"
        );
        let second = writes.answered(&reply, |r| answered.push(r.xid));
        assert_eq!(second.map(|w| w.xid), Some(5));
        assert_eq!(answered, vec![3, 4, 6]);
        assert!(writes.is_empty());
        tokio::time::timeout(Duration::from_millis(100), settled)
            .await
            .unwrap();
    }

    #[test]
    fn a_full_queue_makes_the_read_wait() {
        let writes = PendingWrites::new();
        writes.proposed(write(0, 1, Instant::now()));
        for xid in 1..MAX_QUEUED as i32 {
            assert!(matches!(
                writes.queue_read(queued_read(xid)),
                ReadTurn::Queued
            ));
        }
        assert!(matches!(
            writes.queue_read(queued_read(-1)),
            ReadTurn::Full(r) if r.xid == -1
        ));
    }

    #[test]
    fn a_write_of_an_older_term_is_lost_once_a_newer_term_applies() {
        let writes = PendingWrites::new();
        let now = Instant::now();
        writes.proposed(write(1, 3, now));
        let timeout = Duration::from_secs(10);
        assert_eq!(writes.unknown_fate(3, timeout, now), None);
        assert_eq!(
            writes.unknown_fate(4, timeout, now),
            Some(UnknownFate::LeaderLost {
                term: 3,
                applied_term: 4
            })
        );
        assert_eq!(
            writes.unknown_fate(3, timeout, now + Duration::from_secs(11)),
            Some(UnknownFate::TimedOut(timeout))
        );
        let empty = PendingWrites::new();
        assert_eq!(empty.unknown_fate(9, Duration::ZERO, now), None);
    }

    #[test]
    fn an_unknown_fate_closes_the_connection() {
        use super::super::handle::{Connections, Outbound};
        let connections = Connections::new(std::sync::Arc::new(ServerStats::default()));
        let handle = connections.open("127.0.0.1:1".parse().unwrap(), 0).unwrap();
        let now = Instant::now();
        handle.writes.proposed(write(1, 1, now));
        let fate = handle
            .writes
            .unknown_fate(2, Duration::from_secs(10), now)
            .unwrap();
        handle.write_fate_unknown(&fate);
        assert!(handle.is_closed());
        assert!(matches!(
            handle.outbound().try_next(),
            Some(Outbound::Close)
        ));
    }
}
