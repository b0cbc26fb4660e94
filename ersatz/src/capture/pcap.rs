//! The real backend: a NIC's two `rawsock` handles as a [`Link`], and the
//! capture library they come from (see the [module](super) for how they are
//! used).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::{Link, Next, Receive, Stop, Timestamp, Transmit};
use crate::netinfo::NIC;

/// Why the capture library could not be loaded or a NIC not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No packet capture library: on Windows, Npcap is not installed.
    #[error("{}", rawsock::NOT_INSTALLED)]
    NotInstalled(
        /// What was tried, for diagnostics.
        String,
    ),
    /// The OS refused to open the NIC for capture.
    #[error("no permission to capture on {device}: {hint} ({message})")]
    PermissionDenied {
        /// The pcap device.
        device: String,
        /// What the library said.
        message: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// Npcap was installed with "Restrict Npcap driver's access to
    /// Administrators only" and this process is not elevated (Windows).
    #[error("Npcap is installed for administrators only: run sup from an administrator shell")]
    AdminOnly {
        /// The pcap device.
        device: String,
        /// What the library said.
        message: String,
    },
    /// Npcap does not list the NIC among its devices: its filter driver is
    /// not bound to that adapter (Windows).
    #[error("Npcap does not capture on {device}: it is not among Npcap's devices (its driver is not bound to that adapter)")]
    NotBound {
        /// The pcap device.
        device: String,
        /// What the library said.
        message: String,
    },
    /// The NIC is not an Ethernet device for the capture library.
    #[error("{device} is not an Ethernet device for packet capture: {data_link}")]
    NotEthernet {
        /// The pcap device.
        device: String,
        /// Its data link type, in words.
        data_link: String,
    },
    /// Anything else the capture library said.
    #[error("packet capture on {device}: {message}")]
    Library {
        /// The pcap device.
        device: String,
        /// What went wrong.
        message: String,
    },
}

#[cfg(windows)]
const PERMISSION_HINT: &str = "run sup from an administrator shell";
#[cfg(not(windows))]
const PERMISSION_HINT: &str = "run as root, or give the program CAP_NET_RAW";

/// Read timeout of both handles where immediate mode is missing (Wine's
/// wpcap.dll, libpcap < 1.5): it bounds the delay of every captured frame.
pub const READ_TIMEOUT: Duration = Duration::from_millis(2);
/// Read timeout in immediate mode where a stop wakes the reader at once:
/// it only bounds how long an idle capture thread sleeps.
pub const IDLE_READ_TIMEOUT: Duration = Duration::from_millis(250);
/// Read timeout in immediate mode where a stop does not wake the reader:
/// it bounds how long a stop waits.
pub const STOP_READ_TIMEOUT: Duration = Duration::from_millis(20);

/// The read timeout to open a capture handle with.
// Npcap's Packet.dll waits for the adapter's read event for the read
// timeout, then reads whatever is buffered (possibly nothing: then
// `pcap_next_ex` returns 0), and its driver sets that event once more than
// "mintocopy" bytes are buffered, which immediate mode sets to 0
// (`pcap_activate_npf`: https://github.com/nmap/libpcap/blob/master/pcap-npf.c;
// `pcap_setmintocopy`: https://npcap.com/guide/npcap-api.html: "a read from
// the application to return (unless the timeout expires)"). So on Npcap an
// idle capture thread wakes once per read timeout, and in immediate mode
// the timeout delays no frame: a short one only costs wake-ups (500 a
// second at 2 ms). What it still bounds is a stop, where `pcap_breakloop`
// cannot wake the reader (libpcap < 1.10: it sets the read event only
// since 1.10, https://github.com/nmap/npcap/issues/276). On Linux an idle
// receive in immediate mode does not time out at all (measured, see
// vendor/rawsock/PATCHES.md 10), so the value changes nothing there.
pub fn read_timeout(immediate_mode: bool, breakloop_wakes_reader: bool) -> Duration {
    match (immediate_mode, breakloop_wakes_reader) {
        (false, _) => READ_TIMEOUT,
        (true, true) => IDLE_READ_TIMEOUT,
        (true, false) => STOP_READ_TIMEOUT,
    }
}

/// A data link that is not Ethernet, in words, for [`Error::NotEthernet`].
pub(crate) fn describe_data_link(data_link: rawsock::DataLink) -> String {
    // DLT_ values: https://www.tcpdump.org/linktypes.html
    let what = match data_link.dlt() {
        1 => "Ethernet",
        // Npcap's loopback adapter (\Device\NPF_Loopback, and the legacy
        // "Npcap Loopback Adapter"): a 4-byte header, no Ethernet
        // (https://npcap.com/guide/npcap-devguide.html#npcap-feature-loopback).
        0 => "a loopback adapter (DLT_NULL: no Ethernet header)",
        // pcap-npf.c maps NdisMediumIP (Wintun: wintun.inf *MediaType = 19)
        // and NdisMediumWirelessWan to DLT_RAW.
        12 | 14 => "raw IP without an Ethernet header (a tunnel such as Wintun or WireGuard, or mobile broadband)",
        // Npcap gives 802.11 headers only in monitor mode; otherwise fake
        // Ethernet (https://npcap.com/guide/npcap-devguide.html#npcap-feature-dot11).
        105 | 127 | 192 => "802.11 frames: the Wi-Fi adapter is in monitor mode",
        113 | 276 => "Linux cooked capture (the \"any\" device)",
        _ => "",
    };
    if what.is_empty() {
        format!("data link {data_link}")
    } else {
        format!("{what}, DLT {}", data_link.dlt())
    }
}

/// What a failed open of a NIC means with Npcap.
#[cfg_attr(not(windows), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenFailure {
    /// "Admin-only" Npcap and a process that is not elevated.
    AdminOnly,
    /// Npcap does not list the device.
    NotBound,
    /// Something else: the library's own message.
    Other,
}

/// How the library refused to open a device.
#[cfg_attr(not(windows), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    PermissionDenied,
    NoSuchDevice,
}

/// Decides what an open failure on Windows means, from the refusal, the
/// `AdminOnly` installation option (None when unknown) and whether
/// `pcap_findalldevs` lists the device (None when unknown).
// * `PCAP_ERROR_PERM_DENIED` comes only from `PacketOpenAdapter` failing
//   with `ERROR_ACCESS_DENIED`, i.e. the "Admin-only Mode" driver refused
//   us (`pcap_activate_npf`, https://github.com/nmap/libpcap/blob/master/pcap-npf.c).
// * In admin-only mode a non-elevated process more often gets "no such
//   device": `ERROR_BAD_UNIT` when the UAC prompt is declined
//   (https://github.com/nmap/npcap/issues/587), and only the loopback
//   device is listed to it (https://github.com/nmap/npcap/issues/756).
// * Otherwise "no such device" for an adapter IP Helper lists means
//   Npcap is not bound to it (virtual adapters it skips:
//   https://github.com/nmap/npcap/issues/304,
//   https://github.com/nmap/npcap/issues/854).
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn windows_open_failure(
    refusal: Refusal,
    admin_only: Option<bool>,
    listed: Option<bool>,
) -> OpenFailure {
    match (refusal, admin_only, listed) {
        (Refusal::PermissionDenied, _, _) => OpenFailure::AdminOnly,
        (Refusal::NoSuchDevice, Some(true), _) => OpenFailure::AdminOnly,
        (Refusal::NoSuchDevice, _, Some(false)) => OpenFailure::NotBound,
        _ => OpenFailure::Other,
    }
}

impl Error {
    fn from_rawsock(device: &str, e: rawsock::Error) -> Self {
        #[cfg(windows)]
        let e = match windows_refusal(device, e) {
            Ok(error) => return error,
            Err(e) => e,
        };
        match e {
            rawsock::Error::LibraryNotFound { attempts } => {
                Error::NotInstalled(attempts.join("; "))
            }
            rawsock::Error::PermissionDenied { device, message } => Error::PermissionDenied {
                device,
                message,
                hint: PERMISSION_HINT,
            },
            rawsock::Error::NotEthernet { device, data_link } => Error::NotEthernet {
                device,
                data_link: describe_data_link(data_link),
            },
            other => Error::Library {
                device: device.to_string(),
                message: other.to_string(),
            },
        }
    }
}

/// The Npcap meaning of a refused open ([`windows_open_failure`]), or the
/// error back when it has none.
#[cfg(windows)]
fn windows_refusal(device: &str, e: rawsock::Error) -> Result<Error, rawsock::Error> {
    let refusal = match &e {
        rawsock::Error::PermissionDenied { .. } => Refusal::PermissionDenied,
        rawsock::Error::NoSuchDevice { .. } => Refusal::NoSuchDevice,
        _ => return Err(e),
    };
    let listed = library()
        .ok()
        .and_then(|lib| lib.all_interfaces().ok())
        .map(|devices| devices.iter().any(|d| d.name.eq_ignore_ascii_case(device)));
    let message = e.to_string();
    let device = device.to_string();
    match windows_open_failure(refusal, rawsock::npcap_admin_only(), listed) {
        OpenFailure::AdminOnly => Ok(Error::AdminOnly { device, message }),
        OpenFailure::NotBound => Ok(Error::NotBound { device, message }),
        OpenFailure::Other => Err(e),
    }
}

static LIBRARY: OnceLock<Result<rawsock::Library, Error>> = OnceLock::new();

/// The capture library, loaded on first use (Windows: `System32\Npcap\wpcap.dll`
/// first, then `wpcap.dll`; Linux: `libpcap.so.1` and its other names).
pub(crate) fn library() -> Result<&'static rawsock::Library, Error> {
    LIBRARY
        .get_or_init(|| rawsock::open_best_library().map_err(|e| Error::from_rawsock("", e)))
        .as_ref()
        .map_err(Clone::clone)
}

/// The file the loader mapped for `library`: the name asked for
/// (`libpcap.so.0.8`, `wpcap.dll`) resolved by the system, so a report says
/// which copy runs. Linux: the mapped file in `/proc/self/maps` whose name
/// starts as the asked one does up to `.so` (`libpcap.so.0.8` is a link to
/// `libpcap.so.1.10.3`); Windows: `GetModuleFileNameW`. The name asked for
/// where neither tells.
pub(crate) fn loaded_path(library: &rawsock::Library) -> String {
    let asked = library.path().to_string();
    resolved_path(&asked).unwrap_or(asked)
}

#[cfg(target_os = "linux")]
fn resolved_path(asked: &str) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    mapped_library(&maps, asked).map(str::to_string)
}

/// The path in a `/proc/self/maps` text of the library asked for as
/// `asked` (a name or a path).
#[cfg(any(target_os = "linux", test))]
fn mapped_library<'a>(maps: &'a str, asked: &str) -> Option<&'a str> {
    let name = asked.rsplit('/').next()?;
    let stem = format!("{}.so", name.split(".so").next()?);
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            path.starts_with('/')
                && path
                    .rsplit('/')
                    .next()
                    .is_some_and(|file| file == name || file.starts_with(&stem))
        })
}

#[cfg(windows)]
fn resolved_path(asked: &str) -> Option<String> {
    rawsock::module_file(asked)
}

#[cfg(not(any(windows, target_os = "linux")))]
fn resolved_path(_asked: &str) -> Option<String> {
    None
}

/// The BPF filter of the capture handle: ARP, and ICMP to or from `nic`
/// (and what `also` lets through too).
pub fn filter_for(nic: &NIC, also: Option<&str>) -> String {
    match also {
        Some(also) => format!("arp or (icmp and host {}) or ({also})", nic.addr),
        None => format!("arp or (icmp and host {})", nic.addr),
    }
}

#[cfg(not(target_os = "linux"))]
struct Sending(rawsock::Interface);

#[cfg(not(target_os = "linux"))]
impl Transmit for Sending {
    fn send(&self, frame: &[u8]) -> Result<(), String> {
        self.0.send(frame).map_err(|e| e.to_string())
    }
}

#[cfg(target_os = "linux")]
impl Transmit for rawsock::linux::SendSocket {
    fn send(&self, frame: &[u8]) -> Result<(), String> {
        rawsock::linux::SendSocket::send(self, frame).map_err(|e| e.to_string())
    }
}

/// What the capture thread reads from: a library handle, or on Linux a
/// packet socket of our own (`rawsock::linux`).
trait Reader: Send + 'static {
    fn receive(&mut self) -> Result<Option<rawsock::BorrowedPacket<'_>>, rawsock::Error>;
    /// `Ok(false)` where the reader cannot be nonblocking.
    fn set_nonblocking(&mut self, nonblocking: bool) -> Result<bool, rawsock::Error>;
}

impl Reader for rawsock::Interface {
    fn receive(&mut self) -> Result<Option<rawsock::BorrowedPacket<'_>>, rawsock::Error> {
        rawsock::Interface::receive(self)
    }

    fn set_nonblocking(&mut self, nonblocking: bool) -> Result<bool, rawsock::Error> {
        rawsock::Interface::set_nonblocking(self, nonblocking)
    }
}

#[cfg(target_os = "linux")]
impl Reader for rawsock::linux::CaptureSocket {
    fn receive(&mut self) -> Result<Option<rawsock::BorrowedPacket<'_>>, rawsock::Error> {
        rawsock::linux::CaptureSocket::receive(self)
    }

    fn set_nonblocking(&mut self, nonblocking: bool) -> Result<bool, rawsock::Error> {
        rawsock::linux::CaptureSocket::set_nonblocking(self, nonblocking)
    }
}

struct Capturing<R> {
    rx: R,
    /// Until when to look for frames without blocking in the library.
    busy_until: Option<Instant>,
    /// Whether to look while busy: nonblocking receives (Unix, where the
    /// library has `pcap_setnonblock`) take a frame already in the ring
    /// without a system call. Elsewhere, or once switching failed, the
    /// thread blocks in the library for every frame.
    look_nonblocking: bool,
    /// The handle is in nonblocking mode now.
    nonblocking: bool,
    /// The next nap of a nonblocking look that found nothing.
    nap: Duration,
    stop: Arc<StopState>,
}

/// Shared by the capture thread and [`Breaking`].
#[derive(Default)]
struct StopState {
    stopped: AtomicBool,
    /// Held while the handle switches between blocking and nonblocking mode,
    /// and while a stop is requested. On Linux, libpcap closes the eventfd
    /// that `pcap_breakloop` writes to when a handle goes nonblocking and
    /// opens a new one when it goes back: a break request from another
    /// thread in between could write to a closed (even reused) descriptor,
    /// or be lost and leave the thread blocked in `pcap_next_ex` for good
    /// (an idle receive in immediate mode does not time out).
    switching: Mutex<()>,
}

/// How a mode switch went.
enum Switch {
    Done,
    /// The library has no `pcap_setnonblock`.
    Unsupported,
    /// A stop came first: the handle was left as it was.
    Stopped,
    Failed(String),
}

/// A captured frame as the Interface wants it.
fn frame(packet: rawsock::BorrowedPacket<'_>) -> Next<'_> {
    let at = packet
        .timestamp()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Next::Frame(packet.data(), Timestamp::from_unix(at))
}

impl<R: Reader> Capturing<R> {
    /// Switches the handle to `nonblocking` mode, never while a stop is
    /// being requested, and not at all once one was (see [`StopState`]).
    fn switch(&mut self, nonblocking: bool) -> Switch {
        let _excluded = self
            .stop
            .switching
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if self.stop.stopped.load(Ordering::SeqCst) {
            return Switch::Stopped;
        }
        match self.rx.set_nonblocking(nonblocking) {
            Ok(true) => {
                self.nonblocking = nonblocking;
                Switch::Done
            }
            Ok(false) => Switch::Unsupported,
            Err(e) => Switch::Failed(e.to_string()),
        }
    }

    /// One nonblocking look while busy: a frame, or a nap and `Timeout`
    /// (the caller asks again; after [`BUSY`] without a frame, the next
    /// call blocks).
    fn look(&mut self, until: Instant) -> Next<'_> {
        if !self.nonblocking {
            match self.switch(true) {
                Switch::Done => {}
                Switch::Stopped => return Next::Stopped,
                // Block for every frame from now on.
                Switch::Unsupported | Switch::Failed(_) => {
                    self.look_nonblocking = false;
                    return Next::Timeout;
                }
            }
        }
        match self.rx.receive() {
            Ok(Some(packet)) => {
                self.busy_until = Some(Instant::now() + BUSY);
                self.nap = NAP_MIN;
                frame(packet)
            }
            Ok(None) => {
                if Instant::now() < until {
                    std::thread::sleep(self.nap);
                    self.nap = (self.nap * 2).min(NAP_MAX);
                } else {
                    // Idle: the next call blocks (and leaves nonblocking mode).
                    self.busy_until = None;
                    self.nap = NAP_MIN;
                }
                Next::Timeout
            }
            Err(rawsock::Error::Broken) => Next::Stopped,
            Err(e) => Next::Failed(e.to_string()),
        }
    }
}

/// After a frame, how long the capture thread keeps looking for the next
/// one with naps instead of blocking in `pcap_next_ex`.
///
/// A reader blocked in the kernel must be woken for each frame, and the
/// wake-up is paid by whoever delivers the frame: our own send (for the
/// copy of our request) and the softirq bringing the reply, inside the
/// round trip we measure. A napping reader costs them nothing. Measured in
/// the lab (tests/bench/RESULTS.md): a lower median RTT, and a flood with a
/// fifth of the context switches. The naps start at [`NAP_MIN`] after each
/// frame and double up to [`NAP_MAX`]; after `BUSY` without a frame the
/// thread blocks again and uses no CPU.
pub const BUSY: Duration = Duration::from_millis(20);
/// The first nap after a frame (the kernel adds its timer slack, 50 µs by
/// default): frames of a flood are picked up in batches this far apart.
pub const NAP_MIN: Duration = Duration::from_micros(50);
/// The longest nap: bounds the wake-ups of a thread that is busy but sees
/// few frames (`sup --interval 10`: about one per millisecond).
pub const NAP_MAX: Duration = Duration::from_millis(1);

impl<R: Reader> Receive for Capturing<R> {
    fn next(&mut self) -> Next<'_> {
        if let Some(until) = self.busy_until {
            if self.stop.stopped.load(Ordering::SeqCst) {
                return Next::Stopped;
            }
            if self.look_nonblocking {
                return self.look(until);
            }
        }
        if self.nonblocking {
            match self.switch(false) {
                Switch::Done => {}
                Switch::Stopped => return Next::Stopped,
                Switch::Unsupported => return Next::Failed("pcap_setnonblock went missing".into()),
                Switch::Failed(message) => return Next::Failed(message),
            }
        }
        match self.rx.receive() {
            Ok(Some(packet)) => {
                self.busy_until = Some(Instant::now() + BUSY);
                frame(packet)
            }
            Ok(None) => {
                self.busy_until = None;
                Next::Timeout
            }
            Err(rawsock::Error::Broken) => Next::Stopped,
            Err(e) => Next::Failed(e.to_string()),
        }
    }
}

struct Breaking {
    breaker: rawsock::Breaker,
    stop: Arc<StopState>,
}

impl Stop for Breaking {
    fn stop(&self) {
        // Not while the capture thread switches modes (see StopState).
        let _excluded = self
            .stop
            .switching
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.stop.stopped.store(true, Ordering::SeqCst);
        self.breaker.break_loop();
    }
}

/// Bytes captured per frame: the NIC's largest frame (MTU, Ethernet header,
/// a VLAN tag). Not more: in immediate mode libpcap's ring holds buffer size
/// divided by snaplen frames, and with 65,535 that was a few dozen, fewer
/// than the 45 fragments of a 65,500-byte echo reply (measured: 116 of 270
/// frames dropped; none with a snaplen of 1,600).
pub fn snaplen(mtu: u32) -> u32 {
    mtu.clamp(576, 65_535 - 18) + 18
}

/// Opens the NIC's two sockets, the capturing one as `how` says.
///
/// Linux: the sending socket is always a packet socket of our own
/// (`rawsock::linux::SendSocket`), without the memory-mapped ring libpcap
/// would set up for it. The capture, unless `how.bulk`, is one too
/// (`rawsock::linux::CaptureSocket`; libpcap only compiles its filter when
/// `how.filter` adds to the default, which is built here, see `bpf`):
/// the kernel waits for an RCU grace period (10-16 ms here) to set up a
/// ring, and for two more to tear it down and release the socket at close;
/// a socket without a ring costs none to open and one to close. With
/// `how.bulk`, the capture is a libpcap handle with its ring, which costs
/// less per frame (no system call while frames keep coming).
#[cfg(target_os = "linux")]
pub(crate) fn open_link(nic: &NIC, how: &super::Opening) -> Result<Link, Error> {
    use rawsock::linux::{CaptureSocket, SendSocket};
    let device = nic.device.as_str();
    let wrap = |e| Error::from_rawsock(device, e);
    let filter = filter_for(nic, how.filter.as_deref());
    // Both quick when there is no ring: one after the other, no thread.
    let tx = Box::new(SendSocket::open(device).map_err(wrap)?);
    if how.bulk {
        let library = library()?;
        let rx = open_handle(library, device, &handle_config(library, nic, how), &filter)?;
        let breaker = rx.breaker();
        let facts = handle_facts(library, &rx);
        return Ok(link(tx, rx, breaker, facts));
    }
    let snaplen = snaplen(nic.mtu);
    let config = rawsock::Config::new()
        .snaplen(snaplen)
        .promisc(how.promiscuous)
        .require_ethernet(true);
    // The default filter needs no compiler, so no library (see `bpf`).
    let (rx, compiler) = match &how.filter {
        None => (
            CaptureSocket::open_with_program(
                device,
                &config,
                &super::bpf::arp_or_icmp_host(nic.addr, snaplen),
            ),
            None,
        ),
        Some(_) => {
            let library = library()?;
            (
                CaptureSocket::open(library, device, &config, &filter),
                Some(library),
            )
        }
    };
    let rx = rx.map_err(wrap)?;
    let breaker = rx.breaker();
    Ok(link(tx, rx, breaker, socket_facts(compiler)))
}

/// What a capture through a packet socket of our own does: each frame is
/// handed over as it comes (there is no library buffer to wait in), with
/// the kernel's nanosecond time stamp (`SO_TIMESTAMPNS`), and a stop wakes
/// the blocked receive at once (an eventfd): there is no read timeout.
/// `compiler`: the library that compiled the capture filter, if one did.
#[cfg(target_os = "linux")]
fn socket_facts(compiler: Option<&rawsock::Library>) -> super::Facts {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let filter = match compiler {
        None => "no libpcap".to_string(),
        Some(l) => format!("filter compiled by {}", l.version()),
    };
    super::Facts::unbuffered(
        "Linux packet sockets",
        format!("kernel {release}, {filter}, no ring"),
        vec!["host".to_string()],
    )
}

/// Opens the NIC's two handles, the capturing one as `how` says.
#[cfg(not(target_os = "linux"))]
pub(crate) fn open_link(nic: &NIC, how: &super::Opening) -> Result<Link, Error> {
    let device = nic.device.as_str();
    let library = library()?;
    let config = handle_config(library, nic, how);
    // Both at once: opening a handle may wait for the OS, not for the CPU.
    let (rx, tx) = std::thread::scope(|s| {
        // The sending handle never reads: let nothing pile up in its buffer
        // (on Npcap it would otherwise receive its own frames, see the
        // module's doc).
        let tx = s.spawn(|| open_handle(library, device, &config, "less 1"));
        let rx = open_handle(
            library,
            device,
            &config,
            &filter_for(nic, how.filter.as_deref()),
        );
        let tx = tx.join().unwrap_or_else(|_| {
            Err(Error::Library {
                device: device.to_string(),
                message: "opening the sending handle panicked".into(),
            })
        });
        (rx, tx)
    });
    let (rx, tx) = (rx?, tx?);
    let facts = handle_facts(library, &rx);
    let breaker = rx.breaker();
    Ok(link(Box::new(Sending(tx)), rx, breaker, facts))
}

/// What the library and a capturing handle of it do.
fn handle_facts(library: &rawsock::Library, rx: &rawsock::Interface) -> super::Facts {
    super::Facts {
        library: loaded_path(library),
        version: library.version(),
        immediate: rx.immediate_mode(),
        immediate_available: library.supports_immediate_mode(),
        nanosecond_timestamps: rx.nanosecond_timestamps(),
        read_timeout: Some(rx.read_timeout()),
        warning: rx.activation_warning().map(str::to_string),
        breakloop_wakes_reader: library.breakloop_wakes_reader(),
        timestamp_type: rx.timestamp_type().map(|t| t.to_string()),
        offered_timestamp_types: rx
            .offered_timestamp_types()
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// How a library handle on `nic` is opened.
fn handle_config(library: &rawsock::Library, nic: &NIC, how: &super::Opening) -> rawsock::Config {
    rawsock::Config::new()
        .snaplen(snaplen(nic.mtu))
        .immediate(true)
        .read_timeout(read_timeout(
            library.supports_immediate_mode(),
            library.breakloop_wakes_reader(),
        ))
        .promisc(how.promiscuous)
        .require_ethernet(true)
        .precise_host_timestamps(true)
}

/// A library handle on `device` with `filter`.
fn open_handle(
    library: &rawsock::Library,
    device: &str,
    config: &rawsock::Config,
    filter: &str,
) -> Result<rawsock::Interface, Error> {
    let wrap = |e| Error::from_rawsock(device, e);
    let mut handle = library.open_interface_with(device, config).map_err(wrap)?;
    handle.set_filter(filter).map_err(wrap)?;
    Ok(handle)
}

/// The link of a sending side and a reader (with its breaker).
fn link<R: Reader>(
    tx: Box<dyn Transmit>,
    rx: R,
    breaker: rawsock::Breaker,
    facts: super::Facts,
) -> Link {
    let state = Arc::new(StopState::default());
    let stop = Breaking {
        breaker,
        stop: state.clone(),
    };
    Link {
        tx,
        rx: Box::new(Capturing {
            rx,
            busy_until: None,
            // Not on Windows: there Npcap's pcap_setnonblock sets the read
            // timeout to -1, so that Packet.dll skips its wait and reads at
            // once (pcap_setnonblock_npf in
            // https://github.com/nmap/libpcap/blob/master/pcap-npf.c), but
            // every such look is still a ReadFile into the driver, a system
            // call per look, which is what the looks avoid on Linux.
            look_nonblocking: cfg!(unix),
            nonblocking: false,
            nap: NAP_MIN,
            stop: state,
        }),
        stop: Box::new(stop),
        facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rawsock::DataLink;

    #[test]
    fn the_mapped_library_is_found_by_its_stem() {
        let maps = "\
7f1c2a000000-7f1c2a00a000 r--p 00000000 08:01 1234 /usr/lib/x86_64-linux-gnu/libpcap.so.1.10.3
7f1c2a00a000-7f1c2a040000 r-xp 0000a000 08:01 1234 /usr/lib/x86_64-linux-gnu/libpcap.so.1.10.3
7f1c2b000000-7f1c2b020000 r-xp 00000000 08:01 99 /usr/lib/x86_64-linux-gnu/libpcre2-8.so.0
7ffd1000-7ffd2000 rw-p 00000000 00:00 0 [stack]
";
        assert_eq!(
            mapped_library(maps, "libpcap.so.0.8"),
            Some("/usr/lib/x86_64-linux-gnu/libpcap.so.1.10.3")
        );
        assert_eq!(
            mapped_library(maps, "/opt/lib/libpcap.so.1"),
            Some("/usr/lib/x86_64-linux-gnu/libpcap.so.1.10.3")
        );
        assert_eq!(mapped_library(maps, "libpcre.so.3"), None);
        assert_eq!(mapped_library("", "libpcap.so.1"), None);
    }

    #[test]
    fn read_timeout_only_stays_short_without_immediate_mode() {
        // Wine's wpcap.dll, libpcap < 1.5: every frame may wait this long.
        assert_eq!(read_timeout(false, false), READ_TIMEOUT);
        assert_eq!(read_timeout(false, true), READ_TIMEOUT);
        // Npcap >= libpcap 1.10, Linux libpcap 1.10: idle wake-ups only.
        assert_eq!(read_timeout(true, true), IDLE_READ_TIMEOUT);
        // Npcap on libpcap 1.9: a stop waits for the timeout.
        assert_eq!(read_timeout(true, false), STOP_READ_TIMEOUT);
        assert!(READ_TIMEOUT < STOP_READ_TIMEOUT && STOP_READ_TIMEOUT < IDLE_READ_TIMEOUT);
        // 4 idle wake-ups a second instead of 500.
        assert_eq!(
            Duration::from_secs(1).as_millis() / IDLE_READ_TIMEOUT.as_millis(),
            4
        );
    }

    #[test]
    fn data_links_in_words() {
        assert_eq!(
            describe_data_link(DataLink::Other(0)),
            "a loopback adapter (DLT_NULL: no Ethernet header), DLT 0"
        );
        assert!(
            describe_data_link(DataLink::RawIp).starts_with("raw IP without an Ethernet header")
        );
        assert!(describe_data_link(DataLink::Other(127)).contains("monitor mode"));
        assert!(describe_data_link(DataLink::Other(113)).contains("\"any\""));
        assert_eq!(
            describe_data_link(DataLink::Other(999)),
            "data link DLT 999"
        );
        let e = Error::NotEthernet {
            device: r"\Device\NPF_Loopback".into(),
            data_link: describe_data_link(DataLink::Other(0)),
        };
        assert_eq!(
            e.to_string(),
            r"\Device\NPF_Loopback is not an Ethernet device for packet capture: a loopback adapter (DLT_NULL: no Ethernet header), DLT 0"
        );
    }

    #[test]
    fn npcap_open_failures() {
        use OpenFailure::{AdminOnly, NotBound};
        use Refusal::{NoSuchDevice, PermissionDenied};
        // PCAP_ERROR_PERM_DENIED on Npcap is always the admin-only driver.
        assert_eq!(
            windows_open_failure(PermissionDenied, None, None),
            AdminOnly
        );
        assert_eq!(
            windows_open_failure(PermissionDenied, Some(false), Some(true)),
            AdminOnly
        );
        // "No such device" with AdminOnly=1: the UAC prompt or the helper.
        assert_eq!(
            windows_open_failure(NoSuchDevice, Some(true), Some(false)),
            AdminOnly
        );
        assert_eq!(
            windows_open_failure(NoSuchDevice, Some(true), None),
            AdminOnly
        );
        // Not admin-only and not listed: Npcap is not bound to the adapter.
        assert_eq!(
            windows_open_failure(NoSuchDevice, Some(false), Some(false)),
            NotBound
        );
        assert_eq!(
            windows_open_failure(NoSuchDevice, None, Some(false)),
            NotBound
        );
        // Listed, or nothing known: the library's own message.
        assert_eq!(
            windows_open_failure(NoSuchDevice, Some(false), Some(true)),
            OpenFailure::Other
        );
        assert_eq!(
            windows_open_failure(NoSuchDevice, None, None),
            OpenFailure::Other
        );
    }

    #[test]
    fn open_error_sentences() {
        let admin = Error::AdminOnly {
            device: r"\Device\NPF_{4D36E972-E325-11CE-BFC1-08002BE10318}".into(),
            message: "permission denied".into(),
        };
        assert_eq!(
            admin.to_string(),
            "Npcap is installed for administrators only: run sup from an administrator shell"
        );
        let unbound = Error::NotBound {
            device: r"\Device\NPF_{4D36E972-E325-11CE-BFC1-08002BE10318}".into(),
            message: "no such device".into(),
        };
        assert!(unbound.to_string().starts_with(
            r"Npcap does not capture on \Device\NPF_{4D36E972-E325-11CE-BFC1-08002BE10318}: it is not among Npcap's devices"
        ));
    }
}
