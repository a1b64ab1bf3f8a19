//! Counters the four-letter words report (`srvr`, `stat`, `cons`, `mntr`). All true counts
//! of what this member did since start (or the last `srst`/`crst`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Request latency: min / avg / max in ms, as ZooKeeper's `ServerStats` keeps it.
#[derive(Debug, Default)]
pub struct Latency {
    inner: Mutex<LatencyInner>,
}

#[derive(Debug, Default, Clone, Copy)]
struct LatencyInner {
    min: u64,
    max: u64,
    total: u64,
    count: u64,
}

impl Latency {
    /// Records one request's latency.
    pub fn record(&self, ms: u64) {
        let mut l = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        l.min = if l.count == 0 { ms } else { l.min.min(ms) };
        l.max = l.max.max(ms);
        l.total += ms;
        l.count += 1;
    }

    /// (min, avg, max, count); 0s when nothing was recorded.
    pub fn snapshot(&self) -> (u64, f64, u64, u64) {
        let l = *self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let avg = if l.count == 0 {
            0.0
        } else {
            l.total as f64 / l.count as f64
        };
        (l.min, avg, l.max, l.count)
    }

    /// Forgets everything.
    pub fn reset(&self) {
        *self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = LatencyInner::default();
    }
}

/// Member-wide counters.
#[derive(Debug)]
pub struct ServerStats {
    /// When the member started.
    pub started: Instant,
    /// Frames received from clients.
    pub packets_received: AtomicU64,
    /// Frames sent to clients.
    pub packets_sent: AtomicU64,
    /// Bytes received from clients.
    pub bytes_received: AtomicU64,
    /// Requests received and not yet answered.
    pub outstanding: AtomicI64,
    /// Request latency.
    pub latency: Latency,
    /// Connections accepted.
    pub connection_requests: AtomicU64,
    /// Connections refused (maxClientCnxns).
    pub connections_rejected: AtomicU64,
    /// Connections closed by the server for a protocol error.
    pub connections_dropped: AtomicU64,
    /// Auth packets with an unknown scheme.
    pub auth_failed: AtomicU64,
    /// Sessions the leader expired.
    pub sessions_expired: AtomicU64,
    /// Connections closed for never completing a handshake.
    pub sessionless_expired: AtomicU64,
    /// Frames refused for their length.
    pub large_requests_rejected: AtomicU64,
}

impl Default for ServerStats {
    fn default() -> ServerStats {
        ServerStats {
            started: Instant::now(),
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
            latency: Latency::default(),
            connection_requests: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            connections_dropped: AtomicU64::new(0),
            auth_failed: AtomicU64::new(0),
            sessions_expired: AtomicU64::new(0),
            sessionless_expired: AtomicU64::new(0),
            large_requests_rejected: AtomicU64::new(0),
        }
    }
}

impl ServerStats {
    /// `srst`: resets the request counters and latency (as ZooKeeper's `resetAllStats`).
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency.reset();
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
