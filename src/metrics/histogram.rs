//! A latency histogram kept in relaxed atomics: observing never takes a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds (inclusive), as written in the `le` label, from 1 ms to 10 s.
pub const BOUNDS: [(&str, Duration); 13] = [
    ("0.001", Duration::from_millis(1)),
    ("0.0025", Duration::from_micros(2500)),
    ("0.005", Duration::from_millis(5)),
    ("0.01", Duration::from_millis(10)),
    ("0.025", Duration::from_millis(25)),
    ("0.05", Duration::from_millis(50)),
    ("0.1", Duration::from_millis(100)),
    ("0.25", Duration::from_millis(250)),
    ("0.5", Duration::from_millis(500)),
    ("1", Duration::from_secs(1)),
    ("2.5", Duration::from_millis(2500)),
    ("5", Duration::from_secs(5)),
    ("10", Duration::from_secs(10)),
];

/// Observations per bucket (not cumulative; the last one is above every
/// bound) and their sum.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A histogram as exposed: cumulative bucket counts, the last one `+Inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub cumulative: [u64; BOUNDS.len() + 1],
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// Number of observations (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.cumulative[BOUNDS.len()]
    }
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let index = BOUNDS
            .iter()
            .position(|(_, bound)| elapsed <= *bound)
            .unwrap_or(BOUNDS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts so far. The count is derived from the buckets, so `+Inf`
    /// and `_count` always agree.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = [0; BOUNDS.len() + 1];
        let mut total = 0u64;
        for (slot, bucket) in cumulative.iter_mut().zip(&self.buckets) {
            total = total.saturating_add(bucket.load(Ordering::Relaxed));
            *slot = total;
        }
        HistogramSnapshot {
            cumulative,
            sum_seconds: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_increasing_and_labelled_by_their_value() {
        for pair in BOUNDS.windows(2) {
            assert!(pair[0].1 < pair[1].1);
        }
        for (label, bound) in BOUNDS {
            let seconds: f64 = label.parse().expect("le is a number");
            assert_eq!(Duration::from_secs_f64(seconds), bound, "{label}");
        }
    }

    #[test]
    fn observations_fill_cumulative_buckets() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_millis(1)); // on a bound: counted in it
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.cumulative[0], 1);
        assert_eq!(snapshot.cumulative[1], 1);
        assert_eq!(snapshot.cumulative[2], 2);
        assert_eq!(snapshot.cumulative[BOUNDS.len() - 1], 2);
        assert_eq!(snapshot.count(), 3);
        assert!((snapshot.sum_seconds - 60.004).abs() < 1e-9);
    }
}
