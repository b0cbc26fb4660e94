//! The counts and round-trip times every mode reports.

use std::time::Duration;

use super::histogram::Histogram;

/// The counts and round-trip times of a run of probes, whatever their kind.
///
/// `sent` counts every probe the engine tried to send (an ARP failure
/// counts, as in ping.exe); `received` only answers within their timeout,
/// not duplicates, damaged or late ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statistics {
    /// Probes sent (or attempted: an ARP failure counts).
    pub sent: u32,
    /// Answers received in time (not duplicates, damaged or late ones).
    pub received: u32,
    /// Answers to a probe that was already answered (not counted as received).
    pub duplicates: u32,
    /// Smallest round-trip time.
    pub min: Option<Duration>,
    /// Largest round-trip time.
    pub max: Option<Duration>,
    /// The latest round-trip time.
    pub last: Option<Duration>,
    total: Duration,
    /// Sum of the squared round-trip times, in ns², for the deviation.
    squares: u128,
    /// Every round-trip time, in logarithmic buckets (for percentiles).
    histogram: Histogram,
    /// RFC 3550's interarrival jitter over the round-trip times, in ns.
    jitter: f64,
}

impl Statistics {
    /// Probes without an answer.
    pub fn lost(&self) -> u32 {
        self.sent.saturating_sub(self.received)
    }

    /// Lost probes in percent, rounded down as ping.exe does.
    pub fn loss_percent(&self) -> u32 {
        match self.sent {
            0 => 0,
            sent => (u64::from(self.lost()) * 100 / u64::from(sent)) as u32,
        }
    }

    /// Mean round-trip time.
    pub fn average(&self) -> Option<Duration> {
        (self.received > 0).then(|| self.total / self.received)
    }

    /// The standard deviation of the round-trip times (over every answer,
    /// as mtr's StDev).
    pub fn stdev(&self) -> Option<Duration> {
        if self.received == 0 {
            return None;
        }
        let n = f64::from(self.received);
        let mean = self.total.as_nanos() as f64 / n;
        let variance = (self.squares as f64 / n - mean * mean).max(0.0);
        Some(Duration::from_nanos(variance.sqrt().round() as u64))
    }

    /// The `p`-th percentile of the round-trip times (0 to 100), within
    /// [`super::histogram::ERROR_BOUND`] of the sample of that rank and never
    /// outside the minimum and maximum.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let (min, max) = (self.min?, self.max?);
        match p {
            p if p <= 0.0 => Some(min),
            p if p >= 100.0 => Some(max),
            p => Some(self.histogram.percentile(p)?.clamp(min, max)),
        }
    }

    /// The jitter of the round-trip times as RFC 3550 (6.4.1) defines it
    /// for transit times: a running mean of the absolute difference of
    /// consecutive ones, each new difference weighing 1/16.
    pub fn jitter(&self) -> Option<Duration> {
        (self.received > 1).then(|| Duration::from_nanos(self.jitter.round() as u64))
    }

    /// The round-trip times' histogram.
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }

    /// Counts an answer received in time with round-trip time `rtt` (the
    /// engine does it for its runs; a plan keeping its own figures, such as
    /// a trace's per hop, does it too).
    pub fn add(&mut self, rtt: Duration) {
        if let Some(previous) = self.last {
            let d = rtt.abs_diff(previous).as_nanos() as f64;
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.histogram.add(rtt);
        self.received += 1;
        self.total += rtt;
        self.last = Some(rtt);
        self.squares = self
            .squares
            .saturating_add(rtt.as_nanos().saturating_mul(rtt.as_nanos()));
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        self.max = Some(self.max.map_or(rtt, |m| m.max(rtt)));
    }
}

#[cfg(test)]
mod tests {
    //! Counting like ping.exe is tested where it began, in ping.rs.
    use super::*;

    #[test]
    fn deviation_like_mtr() {
        let mut s = Statistics::default();
        assert_eq!(s.stdev(), None);
        for ms in [2, 4, 4, 4, 5, 5, 7, 9] {
            s.sent += 1;
            s.add(Duration::from_millis(ms));
        }
        // The textbook set: mean 5, standard deviation 2.
        assert_eq!(s.stdev(), Some(Duration::from_millis(2)));
        assert_eq!(s.last, Some(Duration::from_millis(9)));
        let mut one = Statistics::default();
        one.add(Duration::from_micros(41));
        assert_eq!(one.stdev(), Some(Duration::ZERO));
    }

    #[test]
    fn jitter_as_rfc_3550() {
        let mut s = Statistics::default();
        s.add(Duration::from_micros(100));
        assert_eq!(s.jitter(), None);
        s.add(Duration::from_micros(116));
        // |116 - 100| / 16 = 1 us.
        assert_eq!(s.jitter(), Some(Duration::from_micros(1)));
        s.add(Duration::from_micros(100));
        // 1 + (16 - 1) / 16 = 1.9375 us.
        assert_eq!(s.jitter(), Some(Duration::from_nanos(1_938)));
    }

    #[test]
    fn percentiles_stay_within_min_and_max() {
        let mut s = Statistics::default();
        assert_eq!(s.percentile(50.0), None);
        for us in [40, 41, 42, 43, 1000] {
            s.add(Duration::from_micros(us));
        }
        assert_eq!(s.percentile(100.0), Some(Duration::from_micros(1000)));
        assert_eq!(s.percentile(0.0), Some(Duration::from_micros(40)));
        let p50 = s.percentile(50.0).unwrap().as_nanos() as f64;
        assert!((p50 - 42_000.0).abs() / 42_000.0 <= super::super::histogram::ERROR_BOUND);
    }

    #[test]
    fn loss_is_rounded_down_and_never_over_100() {
        let mut s = Statistics {
            sent: 7,
            ..Statistics::default()
        };
        s.add(Duration::from_millis(1));
        // 6 of 7 lost: 85.7% -> 85.
        assert_eq!(s.loss_percent(), 85);
        // More answers than probes cannot be, but must not underflow.
        s.sent = 0;
        assert_eq!((s.lost(), s.loss_percent()), (0, 0));
    }
}
