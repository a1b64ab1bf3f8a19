//! ZooKeeper's two throttles, with its keys and metrics.
//!
//! - [`RequestThrottle`] (`RequestThrottler`): while `request_throttle_max_requests` requests
//!   are in process member-wide ([`InProcess`]), the next request waits, and every request
//!   that arrives after it waits behind it, in arrival order (ZooKeeper queues them for one
//!   thread). A waiting request looks again when a request is answered, or after
//!   `request_throttle_stall_time` ms (`request_throttle_wait_count` counts the waits). With
//!   `request_throttle_drop_stale`, a waiting request whose connection has closed is dropped
//!   (`stale_requests_dropped`) and so is the rest of that connection; otherwise it runs
//!   (`stale_requests`). closeSession is never stale. Each throttled request's wait is in
//!   `request_throttle_queue_time_ms`.
//! - [`ConnectionThrottle`] (`BlueThrottle`): a token bucket each handshake draws from; one
//!   the bucket cannot pay for is closed unanswered (`connection_rejected`), and with
//!   `connection_throttle_freeze_time` set, BLUE's random drop chance rises while the bucket
//!   stays empty and falls as it refills.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{ConnectionThrottleSettings, RequestThrottleSettings};
use crate::telemetry;

use super::stats::InProcess;

/// The request throttler; off unless `request_throttle_max_requests` > 0.
#[derive(Debug)]
pub struct RequestThrottle {
    settings: RequestThrottleSettings,
    /// The head of the queue: one waiting request holds it, the rest wait for it in order.
    head: tokio::sync::Mutex<()>,
    /// Requests waiting now (a request that finds none and room in process goes at once).
    waiting: AtomicUsize,
}

/// Where a request waiting at the throttle stands.
pub(crate) enum Wait {
    /// Its turn: run it.
    Go,
    /// Under the limit is not yet reached: wait for an answer or the stall time.
    Stall,
    /// Its connection closed while it waited and stale requests are dropped.
    Drop,
}

impl RequestThrottle {
    pub(crate) fn new(settings: RequestThrottleSettings) -> RequestThrottle {
        RequestThrottle {
            settings,
            head: tokio::sync::Mutex::new(()),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Whether requests are throttled at all.
    pub(crate) fn enabled(&self) -> bool {
        self.settings.enabled()
    }

    fn limit(&self) -> usize {
        usize::try_from(self.settings.max_requests).unwrap_or(usize::MAX)
    }

    /// True when a request may run without queueing: nobody waits and the member is under
    /// the limit (the common case costs two loads).
    pub(crate) fn passes_at_once(&self, in_process: &InProcess) -> bool {
        !self.enabled()
            || (self.waiting.load(Ordering::Relaxed) == 0 && in_process.get() < self.limit())
    }

    /// Joins the queue; the guard is the request's place at its head.
    pub(crate) async fn queue(&self) -> QueuePlace<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting(&self.waiting);
        let head = self.head.lock().await;
        QueuePlace {
            _head: head,
            _waiting: waiting,
            since: Instant::now(),
        }
    }

    /// What the request at the head does now: `stale` when its connection has closed.
    pub(crate) fn at_head(&self, in_process: &InProcess, stale: bool, close_session: bool) -> Wait {
        if stale && self.settings.drop_stale && !close_session {
            telemetry::STALE_REQUESTS_DROPPED.add(1);
            return Wait::Drop;
        }
        if in_process.get() < self.limit() {
            return Wait::Go;
        }
        telemetry::REQUEST_THROTTLE_WAIT_COUNT.add(1);
        Wait::Stall
    }

    /// The longest single stall (None: until a request is answered).
    pub(crate) fn stall(&self) -> Option<Duration> {
        u64::try_from(self.settings.stall_time_ms)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
    }

    /// A request leaves the throttle to run; `stale` when its connection has closed.
    pub(crate) fn passed(&self, place: Option<QueuePlace<'_>>, stale: bool, close_session: bool) {
        let waited = place.map_or(Duration::ZERO, |p| p.since.elapsed());
        telemetry::REQUEST_THROTTLE_QUEUE_TIME.record_ms(waited);
        if stale && !close_session {
            telemetry::STALE_REQUESTS.add(1);
        }
    }
}

/// A request's place at the head of the throttle's queue.
pub(crate) struct QueuePlace<'a> {
    _head: tokio::sync::MutexGuard<'a, ()>,
    _waiting: Waiting<'a>,
    since: Instant,
}

/// One of the requests counted as waiting (uncounted when it leaves, however it leaves).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection throttle; off unless `connection_throttle_tokens` > 0.
#[derive(Debug)]
pub struct ConnectionThrottle {
    settings: ConnectionThrottleSettings,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    max: i64,
    fill_count: i64,
    tokens: i64,
    last_fill: Instant,
    drop_chance: f64,
    last_freeze: Instant,
    /// splitmix64 state for BLUE's random drops.
    random: u64,
}

impl ConnectionThrottle {
    pub(crate) fn new(settings: ConnectionThrottleSettings) -> ConnectionThrottle {
        let (max, fill_count) = settings.bucket();
        let now = Instant::now();
        let mut seed = [0u8; 8];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed);
        ConnectionThrottle {
            settings,
            bucket: Mutex::new(Bucket {
                max,
                fill_count,
                tokens: max,
                last_fill: now,
                drop_chance: 0.0,
                last_freeze: now,
                random: u64::from_le_bytes(seed),
            }),
        }
    }

    /// Whether a handshake may go on (`reconnect`: it names an existing session). When it
    /// may, the tokens it costs are taken and the bucket's shortfall is returned for
    /// `connection_token_deficit`.
    pub(crate) fn admit(&self, reconnect: bool) -> Result<i64, Refused> {
        self.admit_at(Instant::now(), reconnect)
    }

    fn admit_at(&self, now: Instant, reconnect: bool) -> Result<i64, Refused> {
        if self.settings.bucket().0 <= 0 {
            // Off (ZooKeeper's default): no lock on the handshake path.
            return Ok(0);
        }
        let mut b = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since_fill = now.saturating_duration_since(b.last_fill).as_millis() as i64;
        let fill_time = self.settings.fill_time_ms;
        if since_fill > fill_time {
            // ZooKeeper refills only when more than fill_time has passed, by the whole
            // elapsed share (fill_time 0 or less: Java would divide by zero; full instead).
            let refill = if fill_time > 0 {
                since_fill.saturating_mul(b.fill_count) / fill_time
            } else {
                b.max
            };
            b.tokens = b.tokens.saturating_add(refill).min(b.max);
            b.last_fill = now;
        }
        if self.settings.freeze_time_ms != -1 && !self.blue_passes(&mut b, now) {
            return Err(Refused::RandomDrop);
        }
        let need = self.settings.cost(reconnect);
        if b.tokens < need {
            return Err(Refused::NoTokens);
        }
        b.tokens -= need;
        Ok(b.max - b.tokens)
    }

    /// BLUE: every freeze time, an empty bucket raises the drop chance and a nearly full one
    /// lowers it; then the handshake is dropped with that chance.
    fn blue_passes(&self, b: &mut Bucket, now: Instant) -> bool {
        let s = &self.settings;
        let shortfall = b.max - b.tokens;
        let since_freeze = now.saturating_duration_since(b.last_freeze).as_millis() as i64;
        let threshold = (b.max as f64 * s.decrease_ratio).round() as i64;
        if since_freeze > s.freeze_time_ms {
            if shortfall == b.max && b.drop_chance < 1.0 {
                b.drop_chance = (b.drop_chance + s.drop_increase).min(1.0);
            } else if shortfall <= threshold && b.drop_chance > 0.0 {
                b.drop_chance = (b.drop_chance - s.drop_decrease).max(0.0);
            }
            b.last_freeze = now;
        }
        next_unit(&mut b.random) >= b.drop_chance
    }

    /// The current random drop chance (`connection_drop_probability`).
    pub(crate) fn drop_chance(&self) -> f64 {
        self.bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drop_chance
    }
}

/// Why the connection throttle refused a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The bucket could not pay for it.
    NoTokens,
    /// BLUE dropped it at random.
    RandomDrop,
}

/// A uniform number in [0, 1) from splitmix64.
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(tokens: i64, fill_time_ms: i64, fill_count: i64) -> ConnectionThrottle {
        ConnectionThrottle::new(ConnectionThrottleSettings {
            tokens,
            fill_time_ms,
            fill_count,
            ..ConnectionThrottleSettings::default()
        })
    }

    #[test]
    fn an_empty_bucket_refuses_until_it_refills() {
        let t = bucket(2, 100, 1);
        let start = Instant::now();
        assert_eq!(t.admit_at(start, false), Ok(1));
        assert_eq!(t.admit_at(start, true), Ok(2));
        assert_eq!(t.admit_at(start, false), Err(Refused::NoTokens));
        // Exactly one fill time is not "more than" it.
        let at = start + Duration::from_millis(100);
        assert_eq!(t.admit_at(at, false), Err(Refused::NoTokens));
        let at = start + Duration::from_millis(250);
        assert_eq!(t.admit_at(at, false), Ok(1), "two tokens back, one taken");
        assert_eq!(t.admit_at(at, false), Ok(2));
        assert_eq!(t.admit_at(at, false), Err(Refused::NoTokens));
    }

    #[test]
    fn no_tokens_means_no_throttle() {
        let t = bucket(0, 1, 1);
        for _ in 0..1000 {
            assert_eq!(t.admit(false), Ok(0));
        }
    }

    #[test]
    fn weights_make_new_sessions_dearer_than_reconnects() {
        let t = ConnectionThrottle::new(ConnectionThrottleSettings {
            tokens: 2,
            fill_time_ms: 1_000_000,
            weight_enabled: true,
            ..ConnectionThrottleSettings::default()
        });
        let now = Instant::now();
        // 2 sessions' worth = 6 tokens: a new session (3), a reconnect (2), then 1 is left.
        assert_eq!(t.admit_at(now, false), Ok(3));
        assert_eq!(t.admit_at(now, true), Ok(5));
        assert_eq!(t.admit_at(now, true), Err(Refused::NoTokens));
    }

    #[test]
    fn blue_raises_the_drop_chance_while_the_bucket_stays_empty() {
        let t = ConnectionThrottle::new(ConnectionThrottleSettings {
            tokens: 1,
            fill_time_ms: 1_000_000,
            freeze_time_ms: 10,
            drop_increase: 0.5,
            ..ConnectionThrottleSettings::default()
        });
        let start = Instant::now();
        assert!(t.admit_at(start, false).is_ok());
        let mut at = start;
        for _ in 0..2 {
            at += Duration::from_millis(11);
            let _ = t.admit_at(at, false);
        }
        assert!((t.drop_chance() - 1.0).abs() < 1e-9, "{}", t.drop_chance());
        at += Duration::from_millis(1);
        assert_eq!(t.admit_at(at, false), Err(Refused::RandomDrop));
    }

    #[test]
    fn random_units_stay_in_range() {
        let mut s = 42;
        for _ in 0..10_000 {
            let u = next_unit(&mut s);
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[tokio::test]
    async fn requests_queue_in_order_and_go_when_one_is_answered() {
        let throttle = RequestThrottle::new(RequestThrottleSettings {
            max_requests: 1,
            stall_time_ms: 100,
            drop_stale: true,
        });
        let in_process = InProcess::default();
        assert!(throttle.passes_at_once(&in_process));
        let place = throttle.queue().await;
        assert!(!throttle.passes_at_once(&in_process), "someone waits");
        assert!(matches!(
            throttle.at_head(&in_process, false, false),
            Wait::Go
        ));
        assert!(matches!(
            throttle.at_head(&in_process, true, false),
            Wait::Drop
        ));
        assert!(
            matches!(throttle.at_head(&in_process, true, true), Wait::Go),
            "closeSession is never stale"
        );
        throttle.passed(Some(place), false, false);
        assert!(throttle.passes_at_once(&in_process));
    }
}
