//! A latency histogram with < 1% relative error and fixed memory: values below 128 ns are
//! exact, larger ones fall in one of 64 buckets per power of two. Workers keep one each and
//! merge at the end, so recording is a single add without locks.

/// Buckets below 128 are exact; above, 64 per power of two up to 2^63.
const BUCKETS: usize = 64 * 58 + 128;

/// Recorded durations in nanoseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < 128 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros() as usize; // 7..=63
    let shift = e - 6;
    64 * (e - 6) + (v >> shift) as usize
}

/// The middle of bucket `i`'s range.
fn value(i: usize) -> u64 {
    if i < 128 {
        return i as u64;
    }
    let e = i / 64 + 5;
    let mantissa = (i % 64 + 64) as u64;
    let shift = e - 6;
    (mantissa << shift) + ((1u64 << shift) >> 1)
}

impl Histogram {
    /// Records one duration.
    pub fn record(&mut self, elapsed: std::time::Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        if let Some(count) = self.counts.get_mut(index(ns)) {
            *count += 1;
        }
        self.total += 1;
        self.max = self.max.max(ns);
        self.sum += u128::from(ns);
    }

    /// Adds another histogram's records.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The duration at quantile `q` (0..=1), in microseconds; the exact maximum for q = 1.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        if q >= 1.0 {
            return self.max as f64 / 1000.0;
        }
        let rank = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return value(i).min(self.max) as f64 / 1000.0;
            }
        }
        self.max as f64 / 1000.0
    }

    /// The mean, in microseconds.
    pub fn mean_us(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        (self.sum as f64 / self.total as f64) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_are_continuous_and_within_one_percent() {
        let mut last = 0;
        for v in (0..2_000_000u64)
            .step_by(97)
            .chain([u64::MAX / 2, u64::MAX])
        {
            let i = index(v);
            assert!(i >= last, "index falls at {v}");
            assert!(i < BUCKETS, "index {i} out of range at {v}");
            last = i;
            if v > 0 {
                let err = (value(i) as f64 - v as f64).abs() / v as f64;
                assert!(err < 0.01, "{v} → bucket {i} value {} ({err})", value(i));
            }
        }
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile_us(0.5);
        assert!((p50 - 500.0).abs() < 5.0, "p50 {p50}");
        let p99 = h.quantile_us(0.99);
        assert!((p99 - 990.0).abs() < 10.0, "p99 {p99}");
        assert_eq!(h.quantile_us(1.0), 1000.0);
        let mut other = Histogram::default();
        other.record(Duration::from_millis(5));
        h.merge(&other);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.quantile_us(1.0), 5000.0);
    }
}
