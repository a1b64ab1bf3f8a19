//! What zoo.cfg and the JVM flags say about ZooKeeper's two throttles: the request throttler
//! (`zookeeper.request_throttle_*`) and the connection throttle (`zookeeper.connection_throttle_*`).
//! ZooKeeper reads them as Java system properties (a zoo.cfg key it does not know becomes
//! `zookeeper.<key>`), so their values are read as Java reads them: a whole number Java cannot
//! parse gives the default (`Integer.getInteger`), a flag is true only for `true` in any case
//! (`Boolean.parseBoolean`). Only a bad fraction stops start-up, as it stops ZooKeeper's.

/// The request throttler's settings (`RequestThrottler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestThrottleSettings {
    /// `zookeeper.request_throttle_max_requests`: requests in process member-wide past which
    /// the next one waits (0 or less: off).
    pub max_requests: i64,
    /// `zookeeper.request_throttle_stall_time`: the longest single wait before the throttler
    /// looks again, ms (0 or less: only an answered request wakes it).
    pub stall_time_ms: i64,
    /// `zookeeper.request_throttle_drop_stale`: a waiting request whose connection has closed
    /// is dropped (and nothing after it from that connection runs).
    pub drop_stale: bool,
}

impl Default for RequestThrottleSettings {
    fn default() -> Self {
        RequestThrottleSettings {
            max_requests: 0,
            stall_time_ms: 100,
            drop_stale: true,
        }
    }
}

impl RequestThrottleSettings {
    /// Whether requests are throttled at all.
    pub fn enabled(&self) -> bool {
        self.max_requests > 0
    }
}

/// The connection throttle's settings (`BlueThrottle`): a token bucket new sessions and
/// reconnects draw from, with BLUE's random dropping when `freeze_time_ms` is not -1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionThrottleSettings {
    /// `zookeeper.connection_throttle_tokens`: the bucket's size (0: off).
    pub tokens: i64,
    /// `zookeeper.connection_throttle_fill_time`: ms per refill.
    pub fill_time_ms: i64,
    /// `zookeeper.connection_throttle_fill_count`: tokens per refill.
    pub fill_count: i64,
    /// `zookeeper.connection_throttle_freeze_time`: ms between drop-chance changes (-1: no
    /// random dropping).
    pub freeze_time_ms: i64,
    /// `zookeeper.connection_throttle_drop_increase`: added to the drop chance when the bucket
    /// is found empty.
    pub drop_increase: f64,
    /// `zookeeper.connection_throttle_drop_decrease`: taken off it when the bucket is at most
    /// `decrease_ratio` short.
    pub drop_decrease: f64,
    /// `zookeeper.connection_throttle_decrease_ratio`.
    pub decrease_ratio: f64,
    /// `zookeeper.connection_throttle_weight_enabled`: a new session costs
    /// `global_session_weight` tokens and a reconnect `renew_session_weight` (tokens and fill
    /// count are then multiplied by the global weight); otherwise every handshake costs 1.
    pub weight_enabled: bool,
    /// `zookeeper.connection_throttle_global_session_weight` (3).
    pub global_session_weight: i64,
    /// `zookeeper.connection_throttle_local_session_weight` (1): raftzk has no local
    /// sessions, but the weight bounds the other two as in ZooKeeper.
    pub local_session_weight: i64,
    /// `zookeeper.connection_throttle_renew_session_weight` (2).
    pub renew_session_weight: i64,
}

/// The fractions are never NaN (zoo.cfg's are refused), so equality is an equivalence.
impl Eq for ConnectionThrottleSettings {}

impl Default for ConnectionThrottleSettings {
    fn default() -> Self {
        ConnectionThrottleSettings {
            tokens: 0,
            fill_time_ms: 1,
            fill_count: 1,
            freeze_time_ms: -1,
            drop_increase: 0.02,
            drop_decrease: 0.002,
            decrease_ratio: 0.0,
            weight_enabled: false,
            global_session_weight: 3,
            local_session_weight: 1,
            renew_session_weight: 2,
        }
    }
}

impl ConnectionThrottleSettings {
    /// The weights as ZooKeeper settles them: a weight of 0 or less falls back to its
    /// default; the global and renew weights are at least the local one.
    pub fn weights(&self) -> SessionWeights {
        let local = if self.local_session_weight <= 0 {
            1
        } else {
            self.local_session_weight
        };
        let global = if self.global_session_weight <= 0 {
            3
        } else {
            self.global_session_weight.max(local)
        };
        let renew = if self.renew_session_weight <= 0 {
            2
        } else {
            self.renew_session_weight.max(local)
        };
        SessionWeights { global, renew }
    }

    /// The bucket's size and refill count: with weights on, both are in units of a new
    /// session (multiplied by its weight), as ZooKeeper's.
    pub fn bucket(&self) -> (i64, i64) {
        if self.weight_enabled {
            let global = self.weights().global;
            (
                self.tokens.saturating_mul(global),
                self.fill_count.saturating_mul(global),
            )
        } else {
            (self.tokens, self.fill_count)
        }
    }

    /// What a handshake costs: 1, or with weights on, a new session's or a reconnect's weight.
    pub fn cost(&self, reconnect: bool) -> i64 {
        if !self.weight_enabled {
            return 1;
        }
        let weights = self.weights();
        if reconnect {
            weights.renew
        } else {
            weights.global
        }
    }
}

/// Tokens a handshake takes from the connection throttle's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWeights {
    /// A new session.
    pub global: i64,
    /// A reconnect naming its session.
    pub renew: i64,
}

/// Java's `Integer.getInteger` (`Integer.decode`: a sign, then `0x`, `0X` or `#` for hex, a
/// leading `0` for octal): the value as an `int`, or `None` where Java gives the default.
pub fn java_int(value: &str) -> Option<i64> {
    let (negative, v) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    let (radix, digits) = if let Some(hex) = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .or_else(|| v.strip_prefix('#'))
    {
        (16, hex)
    } else if v.len() > 1 && v.starts_with('0') {
        (8, &v[1..])
    } else {
        (10, v)
    };
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    let n = if negative { -magnitude } else { magnitude };
    i32::try_from(n).ok().map(i64::from)
}

/// Java's `Boolean.parseBoolean`.
pub fn java_bool(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_reads_numbers_and_flags() {
        assert_eq!(java_int("42"), Some(42));
        assert_eq!(java_int("-1"), Some(-1));
        assert_eq!(java_int("0x10"), Some(16));
        assert_eq!(java_int("010"), Some(8), "octal, as Integer.decode");
        assert_eq!(java_int("-#f"), Some(-15));
        assert_eq!(java_int(" 5"), None, "no spaces");
        assert_eq!(java_int("ten"), None);
        assert_eq!(java_int("4294967296"), None, "beyond an int");
        assert!(java_bool("TRUE"));
        assert!(!java_bool("yes"));
    }

    #[test]
    fn weights_settle_as_zookeeper_settles_them() {
        let mut s = ConnectionThrottleSettings::default();
        assert_eq!(s.cost(false), 1);
        assert_eq!(s.cost(true), 1);
        s.weight_enabled = true;
        s.tokens = 10;
        assert_eq!(s.bucket(), (30, 3));
        assert_eq!((s.cost(false), s.cost(true)), (3, 2));
        s.global_session_weight = 0;
        s.renew_session_weight = -4;
        s.local_session_weight = 5;
        assert_eq!(
            s.weights(),
            SessionWeights {
                global: 3,
                renew: 2
            },
            "defaults replace bad weights"
        );
        s.global_session_weight = 4;
        s.renew_session_weight = 4;
        assert_eq!(
            s.weights(),
            SessionWeights {
                global: 5,
                renew: 5
            },
            "never below the local weight"
        );
    }
}
