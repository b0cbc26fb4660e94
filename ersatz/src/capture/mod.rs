//! Capture backend: raw frames in and out through our patched `rawsock`
//! (`vendor/rawsock`) over Npcap's `wpcap.dll` on Windows or libpcap
//! elsewhere, loaded at run time.
//!
//! An [`crate::Interface`] opens two handles on its NIC: one sends, the other
//! captures, in immediate mode (each frame delivered at once, not after the
//! read timeout) with a BPF filter that lets through only ARP and the ICMP to
//! or from our address. The capture handle also sees the frames the sending
//! handle sent: their capture timestamps are the best "sent at" time the
//! platform has. (On Linux a handle does not see its own; Npcap by default
//! delivers what a handle sends to every handle on the adapter, its own
//! included, unless it was opened with `PCAP_OPENFLAG_NOCAPTURE_LOCAL`,
//! which `pcap_create` cannot set. The sending handle's filter keeps those
//! copies out of its buffer.) After each frame the capture
//! thread looks for the next with naps for a while ([`BUSY`]) before it
//! blocks in the library again.
//!
//! What the Interface needs from a capture backend: send a frame, receive the
//! next one with its timestamp, and stop a receive in progress from another
//! thread. The real backend is `pcap` (Npcap / libpcap); tests use
//! an in-memory wire (`memory`).

// Npcap's own frames: https://github.com/nmap/npcap/issues/648 ("default
// behavior for Npcap"), https://github.com/nmap/npcap/issues/289.

#[cfg(test)]
pub(crate) mod memory;
mod pcap;
mod record;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use pcap::open_link;
pub use pcap::{
    describe_data_link, filter_for, library, read_timeout, snaplen, Error, BUSY, IDLE_READ_TIMEOUT,
    NAP_MAX, NAP_MIN, READ_TIMEOUT, STOP_READ_TIMEOUT,
};
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
    pub facts: Facts,
}

/// What the capture library and the capturing handle turned out to do:
/// each `false` is a path sup can run on, but degraded (`sup --diagnose`
/// names it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Facts {
    /// The capture library's path as it was loaded (`wpcap.dll`'s,
    /// `libpcap.so.1`'s), or what stands in for it.
    pub library: String,
    /// The library's version string (`pcap_lib_version`).
    pub version: String,
    /// Immediate mode is on: every frame is handed over as it comes. Off
    /// (Wine's `wpcap.dll`, libpcap before 1.5), frames may wait up to
    /// [`read_timeout`](Facts::read_timeout) in the library's buffer: the
    /// capture timestamps (the RTTs) stay right, answers are seen later.
    pub immediate: bool,
    /// Whether the library has `pcap_set_immediate_mode` at all.
    pub immediate_available: bool,
    /// Capture timestamps have nanosecond precision; otherwise microseconds.
    pub nanosecond_timestamps: bool,
    /// The handles' read timeout.
    pub read_timeout: Duration,
    /// What the library warned about when the capturing handle was
    /// activated, if anything (e.g. promiscuous mode not supported).
    pub warning: Option<String>,
    /// Whether a stop wakes a blocked receive at once (libpcap >= 1.10 on
    /// Linux and Windows) rather than after the read timeout
    /// (`rawsock::Library::breakloop_wakes_reader`; see [`read_timeout`]).
    pub breakloop_wakes_reader: bool,
    /// The time stamp type that was set (`host_hiprec`), or None for the
    /// device's default (Npcap: `host_hiprec_unsynced`, which drifts from
    /// the system clock; Linux: `host`).
    pub timestamp_type: Option<String>,
    /// The time stamp types the device offered (`pcap_list_tstamp_types`).
    pub offered_timestamp_types: Vec<String>,
}
