use std::fmt::{Display, Formatter, Result as FmtResult};

use crate::DataLink;

/// What to tell a user whose machine has no packet capture library.
#[cfg(windows)]
pub const NOT_INSTALLED: &str = "Npcap is not installed (https://npcap.com)";
/// What to tell a user whose machine has no packet capture library.
#[cfg(any(target_os = "macos", target_os = "ios"))]
pub const NOT_INSTALLED: &str = "libpcap could not be loaded (libpcap.A.dylib ships with macOS)";
/// What to tell a user whose machine has no packet capture library.
#[cfg(not(any(windows, target_os = "macos", target_os = "ios")))]
pub const NOT_INSTALLED: &str = "libpcap is not installed (apt-get install libpcap0.8)";

/// Errors returned by this crate.
///
/// Texts that come from the library (`pcap_geterr`, `pcap_statustostr`, the
/// `errbuf` of `pcap_create`) are carried in `message` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No candidate library could be loaded. Its `Display` starts with
    /// [`NOT_INSTALLED`]; `attempts` says what was tried (`"path: reason"`).
    LibraryNotFound { attempts: Vec<String> },
    /// A library was loaded but lacks a function this crate needs.
    MissingSymbol {
        library: String,
        symbol: &'static str,
    },
    /// An argument cannot be passed to the library (a NUL byte in a string,
    /// an empty or oversized frame).
    InvalidArgument(String),
    /// Opening the device needs privileges the process lacks
    /// (`PCAP_ERROR_PERM_DENIED`, `PCAP_ERROR_PROMISC_PERM_DENIED`): run as
    /// root (or with CAP_NET_RAW) on Linux, as Administrator on Windows.
    PermissionDenied { device: String, message: String },
    /// The device does not exist (`PCAP_ERROR_NO_SUCH_DEVICE`).
    NoSuchDevice { device: String, message: String },
    /// Any other failure to open or activate the device.
    OpeningInterface { device: String, message: String },
    /// The device was opened but does not carry Ethernet frames and
    /// [`crate::Config::require_ethernet`] was set.
    NotEthernet { device: String, data_link: DataLink },
    /// A receive (or loop) was interrupted by [`crate::Breaker::break_loop`]
    /// (`PCAP_ERROR_BREAK`).
    Broken,
    /// `pcap_next_ex` or `pcap_loop` failed.
    ReceivingPacket(String),
    /// `pcap_sendpacket` failed.
    SendingPacket(String),
    /// `pcap_compile` or `pcap_setfilter` failed.
    Filter { filter: String, message: String },
    /// `pcap_findalldevs` failed.
    GettingDeviceList(String),
    /// `pcap_stats` failed.
    Stats(String),
}

impl Display for Error {
    fn fmt(&self, f: &mut Formatter<'_>) -> FmtResult {
        match self {
            Error::LibraryNotFound { attempts } => {
                f.write_str(NOT_INSTALLED)?;
                if !attempts.is_empty() {
                    write!(f, "; tried {}", attempts.join("; "))?;
                }
                Ok(())
            }
            Error::MissingSymbol { library, symbol } => write!(
                f,
                "{library} is not a usable packet capture library: it has no {symbol}"
            ),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::PermissionDenied { device, message } => {
                write!(f, "permission denied opening {device}: {message}")
            }
            Error::NoSuchDevice { device, message } => {
                write!(f, "no such device {device}: {message}")
            }
            Error::OpeningInterface { device, message } => {
                write!(f, "cannot open {device}: {message}")
            }
            Error::NotEthernet { device, data_link } => {
                write!(
                    f,
                    "{device} is not an Ethernet device (data link: {data_link})"
                )
            }
            Error::Broken => f.write_str("receive interrupted by pcap_breakloop"),
            Error::ReceivingPacket(message) => write!(f, "receiving a packet failed: {message}"),
            Error::SendingPacket(message) => write!(f, "sending a packet failed: {message}"),
            Error::Filter { filter, message } => {
                write!(f, "cannot set filter \"{filter}\": {message}")
            }
            Error::GettingDeviceList(message) => {
                write!(f, "cannot list the capture devices: {message}")
            }
            Error::Stats(message) => write!(f, "cannot read capture statistics: {message}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_installed_names_the_package() {
        let e = Error::LibraryNotFound {
            attempts: vec!["libpcap.so.1: cannot open shared object file".into()],
        };
        let text = e.to_string();
        assert!(text.starts_with(NOT_INSTALLED), "{text}");
        assert!(text.ends_with("tried libpcap.so.1: cannot open shared object file"));
        #[cfg(windows)]
        assert_eq!(NOT_INSTALLED, "Npcap is not installed (https://npcap.com)");
        #[cfg(target_os = "linux")]
        assert_eq!(
            NOT_INSTALLED,
            "libpcap is not installed (apt-get install libpcap0.8)"
        );
        assert_eq!(
            Error::LibraryNotFound { attempts: vec![] }.to_string(),
            NOT_INSTALLED
        );
    }

    #[test]
    fn display_texts() {
        let cases = [
            (
                Error::PermissionDenied {
                    device: "eth0".into(),
                    message: "socket: Operation not permitted".into(),
                },
                "permission denied opening eth0: socket: Operation not permitted",
            ),
            (
                Error::NoSuchDevice {
                    device: "nope0".into(),
                    message: "No such device exists".into(),
                },
                "no such device nope0: No such device exists",
            ),
            (
                Error::OpeningInterface {
                    device: "eth0".into(),
                    message: "That device is not up".into(),
                },
                "cannot open eth0: That device is not up",
            ),
            (
                Error::NotEthernet {
                    device: "any".into(),
                    data_link: DataLink::Other(113),
                },
                "any is not an Ethernet device (data link: DLT 113)",
            ),
            (Error::Broken, "receive interrupted by pcap_breakloop"),
            (
                Error::ReceivingPacket("The interface disappeared".into()),
                "receiving a packet failed: The interface disappeared",
            ),
            (
                Error::SendingPacket("send: Network is down".into()),
                "sending a packet failed: send: Network is down",
            ),
            (
                Error::Filter {
                    filter: "bogus".into(),
                    message: "syntax error".into(),
                },
                "cannot set filter \"bogus\": syntax error",
            ),
            (
                Error::MissingSymbol {
                    library: "libc.so.6".into(),
                    symbol: "pcap_open_live",
                },
                "libc.so.6 is not a usable packet capture library: it has no pcap_open_live",
            ),
            (
                Error::InvalidArgument("empty frame".into()),
                "invalid argument: empty frame",
            ),
            (
                Error::GettingDeviceList("x".into()),
                "cannot list the capture devices: x",
            ),
            (
                Error::Stats("x".into()),
                "cannot read capture statistics: x",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
