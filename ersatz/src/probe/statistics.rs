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
    total: Duration,
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

    /// Counts an answer received in time.
    pub(crate) fn add(&mut self, rtt: Duration) {
        self.received += 1;
        self.total += rtt;
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        self.max = Some(self.max.map_or(rtt, |m| m.max(rtt)));
    }
}

#[cfg(test)]
mod tests {
    //! Counting like ping.exe is tested where it began, in ping.rs.
    use super::*;

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
