//! Lock-free counters and fixed-bucket histograms, cheap enough for hot paths,
//! rendered in the Prometheus text format by the HTTP layer.

use std::sync::atomic::{AtomicU64, Ordering};

/// A histogram over fixed upper bounds, counted with atomics.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    count: AtomicU64,
}

/// Upper bounds for durations in microseconds: 10 µs .. 10 s.
pub const MICROS_BOUNDS: &[u64] = &[
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 10_000_000,
];

/// Upper bounds for batch sizes.
pub const SIZE_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/// A point-in-time copy of a histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`, ascending; `+Inf` is `count`.
    pub buckets: Vec<(u64, u64)>,
    pub sum: u64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Self {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn record(&self, value: u64) {
        if let Some(index) = self.bounds.iter().position(|&bound| value <= bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(&bound, bucket)| {
                cumulative += bucket.load(Ordering::Relaxed);
                (bound, cumulative)
            })
            .collect();
        HistogramSnapshot { buckets, sum: self.sum.load(Ordering::Relaxed), count: self.count.load(Ordering::Relaxed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_cumulatively() {
        let histogram = Histogram::new(&[10, 100]);
        histogram.record(5);
        histogram.record(50);
        histogram.record(500);
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets, vec![(10, 1), (100, 2)]);
        assert_eq!((snapshot.count, snapshot.sum), (3, 555));
    }
}
