//! [`Error`]: the one error type of the crate's high-level API
//! ([`crate::Pinger`], [`crate::interface::Expectation::wait`]).
//!
//! Each layer keeps its own detailed error ([`crate::netinfo::Error`],
//! [`crate::capture::Error`], [`crate::interface::Error`]); every one of them
//! converts into [`Error`] with `?`. An [`Error`] says what kind of failure
//! it was ([`Error::kind`], an [`ErrorKind`] to match on), prints the same
//! sentence as the error it came from, and keeps that error
//! ([`Error::get_ref`], [`Error::downcast_ref`]); its
//! [`source`](std::error::Error::source) is that error's source, as with
//! `std::io::Error`, so a printed chain does not say the sentence twice.

use std::fmt;
use std::time::Duration;

use crate::{capture, interface, netinfo};

/// What kind of failure an [`Error`] is. New kinds may be added in minor
/// releases: match with a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No route, NIC, address or MAC for the target could be found in the
    /// operating system's tables, or the target is this machine's own
    /// address ([`crate::netinfo::Error`]).
    Route,
    /// A system call failed while reading the operating system's network
    /// tables (`netinfo::Error::Os`).
    Os,
    /// This operating system is not supported (`netinfo::Error::Unsupported`).
    Unsupported,
    /// The capture library (Npcap's `wpcap.dll`, libpcap) is missing or
    /// could not open the NIC ([`crate::capture::Error`]).
    Capture,
    /// This process may not capture or send raw frames (not root /
    /// `CAP_NET_RAW`, not an administrator with Npcap restricted to them).
    PermissionDenied,
    /// The next hop (gateway, or the on-link target) answered none of our
    /// ARP requests.
    ArpTimeout,
    /// The packet is larger than the NIC's MTU and Don't Fragment is set.
    NeedsFragmentation,
    /// A packet or frame could not be built (too long, bad options).
    Build,
    /// A packet or frame could not be parsed.
    Parse,
    /// The capture library refused to send the frame, or the capture
    /// thread has stopped.
    Send,
    /// Nothing that answered came within the time waited for it.
    Timeout,
    /// The wait can never end with a value: the listener is gone (the
    /// [`crate::Interface`] was dropped, or a stream ended).
    Disconnected,
    /// The wait was interrupted ([`crate::Interface::interrupt`]).
    Interrupted,
    /// An argument was out of range (a payload too large for one packet).
    InvalidInput,
}

/// The error of ersatz's high-level API: a [`kind`](Error::kind), the
/// sentence of the error it came from, and that error as its source.
///
/// ```
/// use ersatz::{Error, ErrorKind};
/// use std::time::Duration;
///
/// let e = Error::timeout(Duration::from_secs(4));
/// assert_eq!(e.kind(), ErrorKind::Timeout);
/// assert_eq!(e.to_string(), "no answer within 4s");
/// ```
pub struct Error {
    kind: ErrorKind,
    repr: Repr,
}

impl fmt::Debug for Error {
    /// The kind and the sentence (what `main` returning an `Err` prints).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.to_string())
            .finish()
    }
}

#[derive(Debug)]
enum Repr {
    /// Our own sentence.
    Message(String),
    /// The sentence is the source's.
    Source(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// An error of `kind` saying `message`, with no source.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            repr: Repr::Message(message.into()),
        }
    }

    /// An error of `kind` whose sentence and source are `source`'s (for a
    /// wire layer error, or an embedder's own).
    pub fn with_source(
        kind: ErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error {
            kind,
            repr: Repr::Source(Box::new(source)),
        }
    }

    /// Nothing came within `waited`.
    pub fn timeout(waited: Duration) -> Self {
        Error::new(ErrorKind::Timeout, format!("no answer within {waited:?}"))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether this is a [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// The error this came from, if it came from one.
    pub fn get_ref(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.repr {
            Repr::Source(s) => Some(&**s),
            Repr::Message(_) => None,
        }
    }

    /// The error this came from, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.get_ref().and_then(|e| e.downcast_ref())
    }

    /// The [`crate::interface::Error`] this came from, if it did (also for
    /// the netinfo and capture errors it wraps).
    pub fn as_interface_error(&self) -> Option<&interface::Error> {
        self.downcast_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Message(m) => f.write_str(m),
            Repr::Source(s) => fmt::Display::fmt(s, f),
        }
    }
}

impl std::error::Error for Error {
    /// The source of the error this came from (this one already says that
    /// error's sentence; [`Error::get_ref`] gives the error itself).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Source(s) => s.source(),
            Repr::Message(_) => None,
        }
    }
}

fn netinfo_kind(e: &netinfo::Error) -> ErrorKind {
    match e {
        netinfo::Error::Os { .. } => ErrorKind::Os,
        netinfo::Error::Unsupported => ErrorKind::Unsupported,
        _ => ErrorKind::Route,
    }
}

fn capture_kind(e: &capture::Error) -> ErrorKind {
    match e {
        capture::Error::PermissionDenied { .. } | capture::Error::AdminOnly { .. } => {
            ErrorKind::PermissionDenied
        }
        _ => ErrorKind::Capture,
    }
}

fn interface_kind(e: &interface::Error) -> ErrorKind {
    match e {
        interface::Error::NetInfo(e) => netinfo_kind(e),
        interface::Error::Capture(e) => capture_kind(e),
        interface::Error::ArpTimeout(_) => ErrorKind::ArpTimeout,
        interface::Error::NoGateway { .. } => ErrorKind::Route,
        interface::Error::Build(_) => ErrorKind::Build,
        interface::Error::NeedsFragmentation { .. } => ErrorKind::NeedsFragmentation,
        interface::Error::Send(_) | interface::Error::CaptureStopped(_) => ErrorKind::Send,
        interface::Error::Interrupted => ErrorKind::Interrupted,
    }
}

impl From<interface::Error> for Error {
    fn from(e: interface::Error) -> Self {
        Error::with_source(interface_kind(&e), e)
    }
}

impl From<netinfo::Error> for Error {
    fn from(e: netinfo::Error) -> Self {
        Error::with_source(netinfo_kind(&e), e)
    }
}

impl From<capture::Error> for Error {
    fn from(e: capture::Error) -> Self {
        Error::with_source(capture_kind(&e), e)
    }
}

impl From<crate::parse::Failure> for Error {
    /// A wire format's parse error, kept as the source.
    fn from(e: crate::parse::Failure) -> Self {
        Error::with_source(ErrorKind::Parse, e)
    }
}

impl From<crate::wire::BuildError> for Error {
    /// A frame or packet that cannot be built: [`ErrorKind::Build`].
    fn from(e: crate::wire::BuildError) -> Self {
        Error::with_source(ErrorKind::Build, e)
    }
}

impl From<crate::ipv4::ParseAddrError> for Error {
    /// A string that is not an IPv4 address: [`ErrorKind::InvalidInput`].
    fn from(e: crate::ipv4::ParseAddrError) -> Self {
        Error::with_source(ErrorKind::InvalidInput, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn module_errors_convert_with_their_kind_sentence_and_source() {
        let e: Error = interface::Error::ArpTimeout(crate::ipv4::Addr([10, 0, 0, 1])).into();
        assert_eq!(e.kind(), ErrorKind::ArpTimeout);
        assert!(
            e.to_string().starts_with("no ARP reply from 10.0.0.1"),
            "{e}"
        );
        // The error it came from is kept; the chain does not repeat it.
        assert!(e.get_ref().is_some());
        assert!(e.source().is_none());
        assert!(matches!(
            e.as_interface_error(),
            Some(interface::Error::ArpTimeout(_))
        ));

        // A failed system call: its own kind, and the OS error once as the
        // source of the sentence that already names it.
        let os = netinfo::Error::Os {
            what: "reading /proc/net/route",
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        let e: Error = interface::Error::NetInfo(os).into();
        assert_eq!(e.kind(), ErrorKind::Os);
        assert!(
            e.to_string()
                .starts_with("reading /proc/net/route failed: "),
            "{e}"
        );
        let source = e.source().expect("the io::Error");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert!(source.source().is_none());
        let e: Error = netinfo::Error::Unsupported.into();
        assert_eq!(e.kind(), ErrorKind::Unsupported);

        let e: Error = netinfo::Error::NoRoute(crate::ipv4::Addr([10, 9, 9, 9])).into();
        assert_eq!(e.kind(), ErrorKind::Route);
        assert_eq!(
            e.to_string(),
            netinfo::Error::NoRoute(crate::ipv4::Addr([10, 9, 9, 9])).to_string()
        );

        let denied = capture::Error::PermissionDenied {
            device: "eth0".into(),
            message: "socket: Operation not permitted".into(),
            hint: "run as root",
        };
        let e: Error = interface::Error::Capture(denied.clone()).into();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e: Error = denied.into();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    }

    #[test]
    fn a_bad_address_is_invalid_input_and_debug_says_the_sentence() {
        let e: Error = "10.0.0.256"
            .parse::<crate::ipv4::Addr>()
            .map_err(Error::from)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let debug = format!("{e:?}");
        assert!(
            debug.contains("InvalidInput") && debug.contains("10.0.0.256"),
            "{debug}"
        );
    }

    #[test]
    fn error_is_send_sync_and_static() {
        fn check<T: Send + Sync + 'static + std::error::Error>() {}
        check::<Error>();
    }
}
