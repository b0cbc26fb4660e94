//! Capture backend: raw frames in and out through our patched `rawsock`
//! (`vendor/rawsock`) over Npcap's `wpcap.dll` on Windows or libpcap
//! elsewhere, loaded at run time; on Linux through packet sockets of its own
//! (`rawsock::linux`), libpcap only compiling a capture filter that adds to
//! the default one (whose BPF is built here) and capturing floods.
//!
//! An [`crate::Interface`] opens two sockets on its NIC: one sends, the other
//! captures, every frame delivered at once (immediate mode, where it is a
//! library handle) through a BPF filter that lets through only ARP and the
//! ICMP to or from our address. The capture also sees the frames the sending
//! socket sent (a socket does not see its own): their capture timestamps
//! are the best "sent at" time the platform has. After each frame the
//! capture thread looks for the next with naps for a while ([`BUSY`]) before
//! it blocks again.
//!
//! Why Linux has its own: libpcap captures there through a memory-mapped
//! ring, and the kernel waits for an RCU grace period (10-16 ms on the lab
//! machine) to set one up, and two more to tear it down and release the
//! socket; a socket without a ring costs one, at close. A one-probe run
//! spends most of its time waiting for them (tests/bench/RESULTS.md). The
//! ring costs less per frame, so a capture that expects many frames a second
//! ([`Opening::bulk`]) still goes through libpcap.
//!
//! What the Interface needs from a capture backend: send a frame, receive the
//! next one with its timestamp, and stop a receive in progress from another
//! thread. The real backend is `pcap` (Npcap / libpcap, and Linux's packet
//! sockets); tests use an in-memory wire (`memory`).

#[cfg(target_os = "linux")]
mod bpf;
#[cfg(test)]
pub(crate) mod memory;
mod pcap;
mod record;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use pcap::open_link;
pub use pcap::{filter_for, library, snaplen, Error, BUSY, NAP_MAX, NAP_MIN, READ_TIMEOUT};
pub use record::Recorder;

/// A capture time: wall-clock time since the UNIX epoch, as the capture
/// library stamps frames (nanoseconds where it offers them, else microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The time since the UNIX epoch.
    pub fn from_unix(since_epoch: Duration) -> Self {
        Timestamp(since_epoch)
    }

    /// Now, by the same clock the capture library uses.
    pub fn now() -> Self {
        Timestamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }

    /// The time since the UNIX epoch.
    pub fn as_unix(&self) -> Duration {
        self.0
    }

    /// How long after `earlier` this was (zero if it was not after).
    pub fn since(&self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// How to open a NIC's capture beyond the defaults (no promiscuous mode;
/// ARP and the ICMP to or from our address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opening {
    /// Capture frames to any MAC, not only ours (a responder answering as
    /// another MAC needs it).
    pub promiscuous: bool,
    /// More for the capture filter to let through: a BPF expression, OR'ed
    /// with the default one (e.g. `tcp and host 10.0.0.9 and port 443`).
    pub filter: Option<String>,
    /// Many frames a second are expected (a flood, a responder): on Linux,
    /// capture through libpcap's memory-mapped ring, which costs less per
    /// frame (no system call while frames keep coming) but some 30-45 ms
    /// more to open and close (the kernel's RCU grace periods, see
    /// [`crate::Interface`]). Elsewhere it changes nothing.
    pub bulk: bool,
}

/// The outcome of one receive.
pub(crate) enum Next<'a> {
    /// A frame and the time it was captured.
    Frame(&'a [u8], Timestamp),
    /// The read timeout passed with nothing to read.
    Timeout,
    /// [`Stop::stop`] was called.
    Stopped,
    /// The capture failed; it will not recover.
    Failed(String),
}

/// The receiving side, owned by the capture thread.
pub(crate) trait Receive: Send + 'static {
    fn next(&mut self) -> Next<'_>;
}

/// The sending side, shared by every thread that sends.
pub(crate) trait Transmit: Send + Sync + 'static {
    fn send(&self, frame: &[u8]) -> Result<(), String>;
}

/// Wakes the capture thread out of a blocking receive.
pub(crate) trait Stop: Send + Sync + 'static {
    fn stop(&self);
}

/// One opened link.
pub(crate) struct Link {
    pub tx: Box<dyn Transmit>,
    pub rx: Box<dyn Receive>,
    pub stop: Box<dyn Stop>,
}
