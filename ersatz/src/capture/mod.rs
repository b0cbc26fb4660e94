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
//! it blocks again. (Npcap, unlike Linux, by default delivers what a handle
//! sends to every handle on the adapter, its own included, unless it was
//! opened with `PCAP_OPENFLAG_NOCAPTURE_LOCAL`, which `pcap_create` cannot
//! set. The sending handle's filter keeps those copies out of its buffer.)
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
//! sockets); tests use an in-memory wire ([`crate::link::Memory`]).

// Npcap's own frames: https://github.com/nmap/npcap/issues/648 ("default
// behavior for Npcap"), https://github.com/nmap/npcap/issues/289.

#[cfg(target_os = "linux")]
mod bpf;
pub(crate) mod memory;
mod pcap;
mod record;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

// These take or give rawsock's types: not for embedders (issue 17: no
// other crate's types in public signatures).
pub use pcap::{
    filter_for, read_timeout, snaplen, Error, BUSY, IDLE_READ_TIMEOUT, NAP_MAX, NAP_MIN,
    READ_TIMEOUT, STOP_READ_TIMEOUT,
};
pub(crate) use pcap::{library, loaded_path, open_link};
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
    pub facts: Facts,
}

/// Whether [`close_without_waiting_at_exit`] starts its keeper process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Keeper {
    /// Where orphans are reaped (`rawsock::linux::orphans_are_reaped`:
    /// PID 1 handles SIGCHLD), so no zombie is left behind.
    #[default]
    Auto,
    /// Always (a PID 1 that reaps by polling shows no sign of it).
    Always,
    /// Never: close as before, waiting for the kernel.
    Never,
}

/// For a program about to exit: lets its Interfaces close, and the process
/// exit, without waiting for the kernel. On Linux, closing the last
/// reference to a packet socket waits for an RCU grace period (10-16 ms in
/// the lab), which was most of a one-probe `sup -n 1`; this forks a small
/// process (`socket-keeper`) that holds this process's packet sockets until
/// this process has exited, then lets them go
/// (`rawsock::linux::hold_packet_sockets_until_exit`: it closes every other
/// descriptor at once, so no pipe waits for it). Call it once, when nothing
/// more will be opened, e.g. right before the last Interface drops.
/// Returns whether a keeper was started; elsewhere than Linux, never.
///
/// # Errors
///
/// The OS error when the keeper cannot be started; the sockets then close
/// as they would have.
pub fn close_without_waiting_at_exit(when: Keeper) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use rawsock::linux::{hold_packet_sockets_until_exit, orphans_are_reaped};
        match when {
            Keeper::Never => Ok(false),
            Keeper::Auto if !orphans_are_reaped() => Ok(false),
            _ => hold_packet_sockets_until_exit().map(|pid| pid.is_some()),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = when;
        Ok(false)
    }
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
    /// The capturing handle's read timeout: how long a receive waits in the
    /// library before it returns empty-handed. None where there is none
    /// (Linux's packet sockets: a receive waits until a frame or a stop).
    pub read_timeout: Option<Duration>,
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

impl Facts {
    /// A capture without a library in between (Linux's packet sockets of
    /// ersatz's own, the in-memory wire): every frame handed over as it
    /// comes, nanosecond time stamps, a stop wakes the reader, no read
    /// timeout, nothing to warn about.
    pub(crate) fn unbuffered(
        library: impl Into<String>,
        version: impl Into<String>,
        offered_timestamp_types: Vec<String>,
    ) -> Self {
        Facts {
            library: library.into(),
            version: version.into(),
            immediate: true,
            immediate_available: true,
            nanosecond_timestamps: true,
            read_timeout: None,
            warning: None,
            breakloop_wakes_reader: true,
            timestamp_type: None,
            offered_timestamp_types,
        }
    }

    /// The time stamp type in effect: the one set, or the device's only one
    /// (Linux: `host`). None when the device's default of several is in
    /// effect (Npcap's is `host_hiprec_unsynced`).
    pub fn timestamp_type_in_use(&self) -> Option<&str> {
        match (
            &self.timestamp_type,
            self.offered_timestamp_types.as_slice(),
        ) {
            (Some(t), _) => Some(t),
            (None, [only]) => Some(only),
            (None, _) => None,
        }
    }
}
