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
    /// The NIC is not an Ethernet device for the capture library.
    #[error("{device} is not an Ethernet device for packet capture (data link {data_link})")]
    NotEthernet {
        /// The pcap device.
        device: String,
        /// Its data link type.
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

/// Read timeout of both handles: where immediate mode is missing (Wine's
/// wpcap.dll), it bounds the delay of every captured frame.
pub const READ_TIMEOUT: Duration = Duration::from_millis(2);

impl Error {
    fn from_rawsock(device: &str, e: rawsock::Error) -> Self {
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
                data_link: format!("{data_link:?}"),
            },
            other => Error::Library {
                device: device.to_string(),
                message: other.to_string(),
            },
        }
    }
}

static LIBRARY: OnceLock<Result<rawsock::Library, Error>> = OnceLock::new();

/// The capture library, loaded on first use (Windows: `System32\Npcap\wpcap.dll`
/// first, then `wpcap.dll`; Linux: `libpcap.so.1` and its other names).
pub fn library() -> Result<&'static rawsock::Library, Error> {
    LIBRARY
        .get_or_init(|| rawsock::open_best_library().map_err(|e| Error::from_rawsock("", e)))
        .as_ref()
        .map_err(Clone::clone)
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
        let rx = open_handle(library()?, device, &handle_config(nic, how), &filter)?;
        let breaker = rx.breaker();
        return Ok(link(tx, rx, breaker));
    }
    let snaplen = snaplen(nic.mtu);
    let config = rawsock::Config::new()
        .snaplen(snaplen)
        .promisc(how.promiscuous)
        .require_ethernet(true);
    // The default filter needs no compiler, so no library (see `bpf`).
    let rx = match &how.filter {
        None => CaptureSocket::open_with_program(
            device,
            &config,
            &super::bpf::arp_or_icmp_host(nic.addr, snaplen),
        ),
        Some(_) => CaptureSocket::open(library()?, device, &config, &filter),
    }
    .map_err(wrap)?;
    let breaker = rx.breaker();
    Ok(link(tx, rx, breaker))
}

/// Opens the NIC's two handles, the capturing one as `how` says.
#[cfg(not(target_os = "linux"))]
pub(crate) fn open_link(nic: &NIC, how: &super::Opening) -> Result<Link, Error> {
    let device = nic.device.as_str();
    let library = library()?;
    let config = handle_config(nic, how);
    // Both at once: opening a handle may wait for the OS, not for the CPU.
    let (rx, tx) = std::thread::scope(|s| {
        // The sending handle never reads: let nothing pile up in its buffer.
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
    let breaker = rx.breaker();
    Ok(link(Box::new(Sending(tx)), rx, breaker))
}

/// How a library handle on `nic` is opened.
fn handle_config(nic: &NIC, how: &super::Opening) -> rawsock::Config {
    rawsock::Config::new()
        .snaplen(snaplen(nic.mtu))
        .immediate(true)
        .read_timeout(READ_TIMEOUT)
        .promisc(how.promiscuous)
        .require_ethernet(true)
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
fn link<R: Reader>(tx: Box<dyn Transmit>, rx: R, breaker: rawsock::Breaker) -> Link {
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
            look_nonblocking: cfg!(unix),
            nonblocking: false,
            nap: NAP_MIN,
            stop: state,
        }),
        stop: Box::new(stop),
    }
}
