//! Round-trip times in a fixed-size logarithmic histogram: percentiles over
//! a run of any length (hours of `-t`) without keeping every sample.
//!
//! Each doubling of the time (in nanoseconds) is split into 32 buckets of
//! equal width, as HDR histograms do: a bucket is at most 3.1% wide, so a
//! percentile read at its geometric middle is within 1.6% of the sample of
//! that rank ([`ERROR_BOUND`]). Times up to 2^44 ns (about 4.9 hours) have
//! buckets of their own; longer ones share the last. 1,408 buckets of 4
//! bytes, allocated on the first time added.

use std::time::Duration;

/// Buckets per doubling of the time.
const PER_DOUBLING: u32 = 32;
/// Buckets in all: 44 doublings of nanoseconds.
const BUCKETS: usize = 44 * PER_DOUBLING as usize;

/// The largest relative error of a percentile read from the histogram:
/// half the widest bucket, geometrically: sqrt(33/32) - 1.
pub const ERROR_BOUND: f64 = 0.015_504_800_579_495_9;

/// Counts of round-trip times per logarithmic bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: Option<Box<[u32]>>,
    total: u64,
}

fn bucket(rtt: Duration) -> usize {
    let ns = rtt.as_nanos().clamp(1, u128::from(u64::MAX)) as u64;
    // The doubling from the top bit, the bucket in it from the next 5 bits.
    let top = 63 - ns.leading_zeros();
    let fraction = if top >= 5 {
        (ns >> (top - 5)) & 31
    } else {
        (ns << (5 - top)) & 31
    };
    ((top * PER_DOUBLING) as usize + fraction as usize).min(BUCKETS - 1)
}

/// The lower bound of bucket `i`, in nanoseconds.
fn lower(i: usize) -> f64 {
    let top = (i / PER_DOUBLING as usize) as i32;
    let fraction = (i % PER_DOUBLING as usize) as f64;
    2f64.powi(top) * (1.0 + fraction / f64::from(PER_DOUBLING))
}

impl Histogram {
    /// Counts one time.
    pub fn add(&mut self, rtt: Duration) {
        let counts = self
            .counts
            .get_or_insert_with(|| vec![0; BUCKETS].into_boxed_slice());
        let slot = &mut counts[bucket(rtt)];
        *slot = slot.saturating_add(1);
        self.total += 1;
    }

    /// How many times were counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `p`-th percentile (0 to 100): the middle of the bucket holding
    /// the sample of that rank (nearest-rank), within [`ERROR_BOUND`].
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let counts = self.counts.as_deref()?;
        if self.total == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.total as f64)
            .ceil()
            .max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &n) in counts.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                let middle = (lower(i) * lower(i + 1)).sqrt();
                return Some(Duration::from_nanos(middle.round() as u64));
            }
        }
        None
    }

    /// The non-empty buckets: (lower bound, upper bound, count), in order.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, Duration, u32)> + '_ {
        let counts = self.counts.as_deref().unwrap_or(&[]);
        counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let ns = |v: f64| Duration::from_nanos(v.round() as u64);
                (ns(lower(i)), ns(lower(i + 1)), *n)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_within_the_bound() {
        let mut last = 0;
        for ns in (1..2_000_000u64)
            .step_by(37)
            .chain([u64::MAX / 2, u64::MAX])
        {
            let b = bucket(Duration::from_nanos(ns));
            assert!(b >= last, "{ns}");
            last = b;
            if b < BUCKETS - 1 {
                let (lo, hi) = (lower(b), lower(b + 1));
                assert!(lo <= ns as f64 && (ns as f64) < hi, "{ns}: {lo}..{hi}");
                // A bucket is never wider than 1/32 of a doubling's start.
                assert!(hi / lo <= 1.0 + 1.0 / 32.0 + 1e-9, "{ns}");
            }
        }
    }

    #[test]
    fn percentiles_of_known_samples_are_within_the_bound() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        // 1..=1000 microseconds, once each.
        for us in 1..=1000u64 {
            h.add(Duration::from_micros(us));
        }
        for (p, exact) in [(50.0, 500.0), (90.0, 900.0), (99.0, 990.0), (100.0, 1000.0)] {
            let got = h.percentile(p).unwrap().as_nanos() as f64 / 1e3;
            let error = (got - exact).abs() / exact;
            assert!(error <= ERROR_BOUND, "p{p}: {got} vs {exact}");
        }
        assert_eq!(h.len(), 1000);
        let total: u32 = h.buckets().map(|b| b.2).sum();
        assert_eq!(total, 1000);
    }

    #[test]
    fn one_value_many_times() {
        let mut h = Histogram::default();
        for _ in 0..100_000 {
            h.add(Duration::from_micros(41));
        }
        let p50 = h.percentile(50.0).unwrap().as_nanos() as f64;
        assert!((p50 - 41_000.0).abs() / 41_000.0 <= ERROR_BOUND, "{p50}");
        assert_eq!(h.buckets().count(), 1);
    }
}
