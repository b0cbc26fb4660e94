//! Capture backend: raw frames in and out through our patched `rawsock`
//! (`vendor/rawsock`) over Npcap's `wpcap.dll` on Windows or libpcap
//! elsewhere, loaded at run time.
//!
//! An [`crate::Interface`] opens two handles on its NIC: one sends, the other
//! captures, in immediate mode (each frame delivered at once, not after the
//! read timeout) with a BPF filter that lets through only ARP and the ICMP to
//! or from our address. The capture handle also sees the frames the sending
//! handle sent (a handle does not see its own): their capture timestamps are
//! the best "sent at" time the platform has.

use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use crate::interface::link::{Link, Next, Receive, Stop, Transmit};
use crate::interface::Timestamp;
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

/// The BPF filter of the capture handle: ARP, and ICMP to or from `nic`.
pub fn filter_for(nic: &NIC) -> String {
    format!("arp or (icmp and host {})", nic.addr)
}

struct Sending(rawsock::Interface);

impl Transmit for Sending {
    fn send(&self, frame: &[u8]) -> Result<(), String> {
        self.0.send(frame).map_err(|e| e.to_string())
    }
}

struct Capturing(rawsock::Interface);

impl Receive for Capturing {
    fn next(&mut self) -> Next<'_> {
        match self.0.receive() {
            Ok(Some(packet)) => {
                let at = packet
                    .timestamp()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Next::Frame(packet.data(), Timestamp::from_unix(at))
            }
            Ok(None) => Next::Timeout,
            Err(rawsock::Error::Broken) => Next::Stopped,
            Err(e) => Next::Failed(e.to_string()),
        }
    }
}

struct Breaking(rawsock::Breaker);

impl Stop for Breaking {
    fn stop(&self) {
        self.0.break_loop();
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

/// Opens the NIC's two handles.
pub(crate) fn open_link(nic: &NIC) -> Result<Link, Error> {
    let device = nic.device.as_str();
    let wrap = |e| Error::from_rawsock(device, e);
    let library = library()?;
    let config = rawsock::Config::new()
        .snaplen(snaplen(nic.mtu))
        .immediate(true)
        .read_timeout(READ_TIMEOUT)
        .require_ethernet(true);
    let mut rx = library.open_interface_with(device, &config).map_err(wrap)?;
    rx.set_filter(&filter_for(nic)).map_err(wrap)?;
    let mut tx = library.open_interface_with(device, &config).map_err(wrap)?;
    // The sending handle never reads: let nothing pile up in its buffer.
    tx.set_filter("less 1").map_err(wrap)?;
    let stop = Breaking(rx.breaker());
    Ok(Link {
        tx: Box::new(Sending(tx)),
        rx: Box::new(Capturing(rx)),
        stop: Box::new(stop),
    })
}
