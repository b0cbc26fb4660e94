//! The counts and round-trip times every mode reports.

use std::time::Duration;

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

    /// Counts an answer received in time.
    pub(crate) fn add(&mut self, rtt: Duration) {
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
