use std::any::Any;
use std::ffi::{c_char, c_int, c_uchar, CString};
use std::fmt::{Debug, Display, Formatter, Result as FmtResult};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::ffi::{
    self, Api, BpfProgram, PcapPkthdr, PcapStat, PcapT, DLT_EN10MB, DLT_RAW, PCAP_ERRBUF_SIZE,
    PCAP_ERROR, PCAP_ERROR_BREAK, PCAP_ERROR_NO_SUCH_DEVICE, PCAP_ERROR_PERM_DENIED,
    PCAP_ERROR_PROMISC_PERM_DENIED, PCAP_NETMASK_UNKNOWN, PCAP_TSTAMP_ADAPTER,
    PCAP_TSTAMP_ADAPTER_UNSYNCED, PCAP_TSTAMP_HOST, PCAP_TSTAMP_HOST_HIPREC,
    PCAP_TSTAMP_HOST_HIPREC_UNSYNCED, PCAP_TSTAMP_HOST_LOWPREC, PCAP_TSTAMP_PRECISION_NANO,
    PCAP_WARNING, PCAP_WARNING_PROMISC_NOTSUP,
};
use crate::packet::timestamp_from_pcap;
use crate::{BorrowedPacket, Error};

/// How to open an interface. The defaults suit a ping: see each field.
///
/// ```
/// use std::time::Duration;
/// let config = rawsock::Config::default()
///     .read_timeout(Duration::from_millis(5))
///     .require_ethernet(true);
/// assert!(config.immediate && !config.promisc);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Bytes captured per frame (`pcap_set_snaplen`). Default 65535.
    pub snaplen: u32,
    /// Promiscuous mode (`pcap_set_promisc`). Default off: many Wi-Fi
    /// drivers refuse it, and frames addressed to us need none.
    pub promisc: bool,
    /// Read timeout (`pcap_set_timeout`), rounded up to whole milliseconds,
    /// at least 1 ms (0 would mean "block forever" on some platforms).
    /// Default 10 ms. Without immediate mode it is how long the library may
    /// hold frames back to deliver them in batches; on platforms where the
    /// timer also runs while no frame arrives (Npcap), it is how long a
    /// [`Interface::receive`] on an idle interface waits before returning
    /// `Ok(None)`; on Linux it does not run then (see there).
    // Npcap: Packet.dll's PacketReceivePacket waits for the adapter's read
    // event for the read timeout (forever for 0, not at all for -1), then
    // reads what is buffered, possibly nothing
    // (https://github.com/nmap/npcap/blob/master/packetWin7/Dll/Packet32.cpp);
    // pcap_setmintocopy: "causes a read from the application to return
    // (unless the timeout expires)" (https://npcap.com/guide/npcap-api.html).
    pub read_timeout: Duration,
    /// Immediate mode (`pcap_set_immediate_mode`): deliver each frame as
    /// soon as it arrives. Default on. Only applied when the library exports
    /// the function (see [`Interface::immediate_mode`]).
    pub immediate: bool,
    /// Refuse devices whose data link is not Ethernet (`DLT_EN10MB`) with
    /// [`Error::NotEthernet`]. Default off.
    pub require_ethernet: bool,
    /// Ask for [`TimestampType::HostHiPrec`] time stamps (precise *and* on
    /// the system clock) when the device offers them; otherwise the
    /// device's default stays. Default on. See [`Interface::timestamp_type`].
    pub precise_host_timestamps: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            snaplen: 65535,
            promisc: false,
            read_timeout: Duration::from_millis(10),
            immediate: true,
            require_ethernet: false,
            precise_host_timestamps: true,
        }
    }
}

impl Config {
    /// Same as [`Config::default`].
    pub fn new() -> Self {
        Config::default()
    }

    /// Sets [`Config::snaplen`].
    pub fn snaplen(mut self, snaplen: u32) -> Self {
        self.snaplen = snaplen;
        self
    }

    /// Sets [`Config::promisc`].
    pub fn promisc(mut self, promisc: bool) -> Self {
        self.promisc = promisc;
        self
    }

    /// Sets [`Config::read_timeout`].
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets [`Config::immediate`].
    pub fn immediate(mut self, immediate: bool) -> Self {
        self.immediate = immediate;
        self
    }

    /// Sets [`Config::require_ethernet`].
    pub fn require_ethernet(mut self, require: bool) -> Self {
        self.require_ethernet = require;
        self
    }

    /// Sets [`Config::precise_host_timestamps`].
    pub fn precise_host_timestamps(mut self, precise: bool) -> Self {
        self.precise_host_timestamps = precise;
        self
    }

    /// The timeout as passed to the library: whole milliseconds, rounded up,
    /// in `1..=i32::MAX`.
    pub(crate) fn timeout_ms(&self) -> c_int {
        let t = self.read_timeout;
        let ms = t.as_millis() + u128::from(t.subsec_nanos() % 1_000_000 != 0);
        c_int::try_from(ms).unwrap_or(c_int::MAX).max(1)
    }

    pub(crate) fn snaplen_c(&self) -> c_int {
        c_int::try_from(self.snaplen).unwrap_or(c_int::MAX)
    }
}

/// The link-layer header type of a device (`pcap_datalink`).
// The link-layer header type of a device (`pcap_datalink`). Npcap maps
// NDIS media to these in `pcap_activate_npf`
// (https://github.com/nmap/libpcap/blob/master/pcap-npf.c): 802.3 and WAN
// to Ethernet, NdisMediumIP (Wintun) and wireless WAN to raw IP, its
// loopback adapter to `DLT_NULL`, Wi-Fi in monitor mode to 802.11 with
// radiotap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataLink {
    /// `DLT_EN10MB`: Ethernet, and what the OS presents as Ethernet (Wi-Fi
    /// outside monitor mode, veth, Linux `lo`; not Npcap's loopback adapter,
    /// which is `DLT_NULL`).
    Ethernet,
    /// `DLT_RAW`: raw IP, no link-layer header.
    RawIp,
    /// Any other `DLT_` value.
    Other(i32),
}

impl DataLink {
    /// From a `DLT_` value.
    pub fn from_dlt(dlt: i32) -> DataLink {
        match dlt {
            DLT_EN10MB => DataLink::Ethernet,
            DLT_RAW => DataLink::RawIp,
            other => DataLink::Other(other),
        }
    }

    /// The `DLT_` value.
    pub fn dlt(self) -> i32 {
        match self {
            DataLink::Ethernet => DLT_EN10MB,
            DataLink::RawIp => DLT_RAW,
            DataLink::Other(dlt) => dlt,
        }
    }
}

impl Display for DataLink {
    fn fmt(&self, f: &mut Formatter<'_>) -> FmtResult {
        match self {
            DataLink::Ethernet => f.write_str("ethernet"),
            DataLink::RawIp => f.write_str("raw IP"),
            DataLink::Other(dlt) => write!(f, "DLT {dlt}"),
        }
    }
}

/// Where a capture time stamp comes from (`PCAP_TSTAMP_*`, pcap-tstamp(7)).
// Where a capture time stamp comes from (`PCAP_TSTAMP_*`, pcap-tstamp(7):
// https://www.tcpdump.org/manpages/pcap-tstamp.7.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// `host`: the host stamps it, nothing promised about how.
    Host,
    /// `host_lowprec`: the host's system clock, cheap and coarse (Npcap:
    /// `KeQuerySystemTime`, a scheduler tick of up to 15.6 ms).
    HostLowPrec,
    /// `host_hiprec`: the host, precise (Npcap: `KeQuerySystemTimePrecise`
    /// for every packet, on the system clock).
    HostHiPrec,
    /// `host_hiprec_unsynced`: the host, precise but not kept on the
    /// system clock (Npcap's default: the system time read once, then the
    /// performance counter).
    HostHiPrecUnsynced,
    /// `adapter`: the network adapter, on the system clock.
    Adapter,
    /// `adapter_unsynced`: the network adapter, on its own clock.
    AdapterUnsynced,
    /// Any other value.
    Other(i32),
}

impl TimestampType {
    /// From a `PCAP_TSTAMP_` value.
    pub fn from_raw(value: i32) -> TimestampType {
        match value {
            PCAP_TSTAMP_HOST => TimestampType::Host,
            PCAP_TSTAMP_HOST_LOWPREC => TimestampType::HostLowPrec,
            PCAP_TSTAMP_HOST_HIPREC => TimestampType::HostHiPrec,
            PCAP_TSTAMP_HOST_HIPREC_UNSYNCED => TimestampType::HostHiPrecUnsynced,
            PCAP_TSTAMP_ADAPTER => TimestampType::Adapter,
            PCAP_TSTAMP_ADAPTER_UNSYNCED => TimestampType::AdapterUnsynced,
            other => TimestampType::Other(other),
        }
    }

    /// The `PCAP_TSTAMP_` value.
    pub fn raw(self) -> i32 {
        match self {
            TimestampType::Host => PCAP_TSTAMP_HOST,
            TimestampType::HostLowPrec => PCAP_TSTAMP_HOST_LOWPREC,
            TimestampType::HostHiPrec => PCAP_TSTAMP_HOST_HIPREC,
            TimestampType::HostHiPrecUnsynced => PCAP_TSTAMP_HOST_HIPREC_UNSYNCED,
            TimestampType::Adapter => PCAP_TSTAMP_ADAPTER,
            TimestampType::AdapterUnsynced => PCAP_TSTAMP_ADAPTER_UNSYNCED,
            TimestampType::Other(value) => value,
        }
    }
}

impl Display for TimestampType {
    /// The name `pcap_tstamp_type_val_to_name` gives (`host_hiprec`).
    fn fmt(&self, f: &mut Formatter<'_>) -> FmtResult {
        match self {
            TimestampType::Host => f.write_str("host"),
            TimestampType::HostLowPrec => f.write_str("host_lowprec"),
            TimestampType::HostHiPrec => f.write_str("host_hiprec"),
            TimestampType::HostHiPrecUnsynced => f.write_str("host_hiprec_unsynced"),
            TimestampType::Adapter => f.write_str("adapter"),
            TimestampType::AdapterUnsynced => f.write_str("adapter_unsynced"),
            TimestampType::Other(value) => write!(f, "time stamp type {value}"),
        }
    }
}

/// The time stamp type to ask for among those a device `offered`, or None
/// to keep its default.
// Only `host_hiprec`, when asked for: it is the one type both precise and
// on the system clock. Npcap's default is `host_hiprec_unsynced` (the
// system time read once when the capture starts, then the performance
// counter), which drifts from the system clock over a long capture, and
// `host_lowprec` is `KeQuerySystemTime`, a scheduler tick of 10-16 ms:
// https://github.com/nmap/npcap/issues/71 (the maintainers on the modes),
// https://github.com/nmap/npcap/issues/767 (per handle, before
// activation; `host` leaves the default). Callers that mix capture time
// stamps with the system clock (ersatz falls back to the time a frame was
// queued when the capture does not show it) need the two on one clock.
// Linux offers `host` (and `adapter*` with hardware time stamping): the
// default stays there.
pub(crate) fn choose_timestamp_type(
    offered: &[TimestampType],
    precise_host: bool,
) -> Option<TimestampType> {
    (precise_host && offered.contains(&TimestampType::HostHiPrec))
        .then_some(TimestampType::HostHiPrec)
}

/// Capture statistics (`pcap_stats`); what is counted differs by platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// `ps_recv`: frames received.
    pub received: u64,
    /// `ps_drop`: frames dropped for lack of buffer space.
    pub dropped: u64,
    /// `ps_ifdrop`: frames dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// An open `pcap_t`, shared by an [`Interface`] and its [`Breaker`]s and
/// [`Sender`]s; closed when the last of them is dropped.
pub(crate) struct Handle {
    api: Arc<Api>,
    pcap: NonNull<PcapT>,
    /// Serialises senders, so that two failing sends never write and read
    /// the handle's error buffer at the same time.
    send_lock: Mutex<()>,
}

// SAFETY: a pcap_t is not tied to the thread that created it. Which of its
// functions may run at the same time is decided by the types holding the
// `Arc<Handle>`: through a shared reference (`Breaker`, `Sender`,
// `&Interface`) only `Handle::break_loop` and `Handle::send` are reachable,
// and both are safe to call while another thread reads (see their SAFETY
// comments); every other call goes through `&mut Interface`, of which there
// is one per handle.
unsafe impl Send for Handle {}
// SAFETY: see `Send` above.
unsafe impl Sync for Handle {}

impl Handle {
    /// Takes ownership of `pcap` (NULL gives None).
    fn new(api: Arc<Api>, pcap: *mut PcapT) -> Option<Handle> {
        Some(Handle {
            api,
            pcap: NonNull::new(pcap)?,
            send_lock: Mutex::new(()),
        })
    }

    fn ptr(&self) -> *mut PcapT {
        self.pcap.as_ptr()
    }

    /// `pcap_geterr`: call only from the thread that owns the `&mut
    /// Interface` or with `send_lock` held, right after a failed call.
    fn geterr(&self) -> String {
        // SAFETY: the handle is open; pcap_geterr returns `p->errbuf`, a
        // char[PCAP_ERRBUF_SIZE] inside it, which errbuf_text reads up to its
        // NUL and never past PCAP_ERRBUF_SIZE bytes.
        unsafe { ffi::errbuf_text((self.api.geterr)(self.ptr())) }
    }

    /// `pcap_breakloop`, from any thread.
    fn break_loop(&self) {
        // SAFETY: the handle is open (we hold it). pcap_breakloop is
        // documented for use from another thread than the one blocked in
        // pcap_next_ex / pcap_loop
        // (https://www.tcpdump.org/manpages/pcap_breakloop.3pcap.html): it
        // sets the handle's break flag and, on Linux (libpcap >= 1.10) and
        // Npcap (based on libpcap >= 1.10), signals an eventfd / the
        // adapter's read event that the blocked thread waits on
        // (pcap_breakloop_npf: SetEvent(PacketGetReadEvent(...)),
        // https://github.com/nmap/libpcap/blob/master/pcap-npf.c;
        // https://github.com/nmap/npcap/issues/276). See
        // `Library::breakloop_wakes_reader`.
        unsafe { (self.api.breakloop)(self.ptr()) }
    }

    /// `pcap_sendpacket`, from any thread, also while another thread receives.
    fn send(&self, frame: &[u8]) -> Result<(), Error> {
        if frame.is_empty() {
            return Err(Error::InvalidArgument("cannot send an empty frame".into()));
        }
        let size = c_int::try_from(frame.len()).map_err(|_| {
            Error::InvalidArgument(format!("frame of {} bytes is too long", frame.len()))
        })?;
        let _guard = self
            .send_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the handle is open and `frame` is `size` readable bytes
        // that the library only reads during the call. Concurrency with a
        // receiving thread: on Linux, pcap_sendpacket -> pcap_inject_linux
        // only reads fields fixed at activation (socket fd, ifindex, cooked
        // flag) and calls send(2) on the packet socket, leaving the ring
        // buffer and all read-side state alone; on Npcap it calls
        // PacketSendPacket, a WriteFile on the adapter's handle with a
        // PACKET on its own stack (pcap_inject_npf,
        // https://github.com/nmap/libpcap/blob/master/pcap-npf.c), which
        // the driver serialises against the reader's ReadFile. The one thing both sides may write is the error
        // text in `p->errbuf`, and only when they fail; `send_lock` keeps
        // senders apart and our reads of it are bounded (`Handle::geterr`),
        // so a simultaneous receive failure can at worst garble a message.
        let rc = unsafe { (self.api.sendpacket)(self.ptr(), frame.as_ptr(), size) };
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::SendingPacket(self.geterr()))
        }
    }

    /// Text for a `pcap_activate` status: the error buffer for the codes
    /// documented to fill it, `pcap_statustostr` otherwise.
    fn status_message(&self, rc: c_int) -> String {
        let uses_errbuf = matches!(
            rc,
            PCAP_ERROR
                | PCAP_ERROR_NO_SUCH_DEVICE
                | PCAP_ERROR_PERM_DENIED
                | PCAP_ERROR_PROMISC_PERM_DENIED
                | PCAP_WARNING
                | PCAP_WARNING_PROMISC_NOTSUP
        );
        if uses_errbuf {
            let text = self.geterr();
            if !text.is_empty() {
                return text;
            }
        }
        self.api.status_text(rc)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle is open and this is its last user: every
        // Interface, Breaker and Sender holding it is gone, so no call on it
        // is running or can start.
        unsafe { (self.api.close)(self.ptr()) }
    }
}

impl Debug for Handle {
    fn fmt(&self, f: &mut Formatter<'_>) -> FmtResult {
        f.debug_struct("Handle")
            .field("pcap", &self.pcap)
            .field("library", &self.api.path)
            .finish()
    }
}

/// Serialises `pcap_compile`, which is not thread-safe in libpcap < 1.8.
pub(crate) static COMPILE_LOCK: Mutex<()> = Mutex::new(());

/// An open capture device.
///
/// Receiving takes `&mut self`: one thread receives. Sending takes `&self`,
/// and [`Interface::sender`] hands out [`Sender`]s for other threads, which
/// may send while this thread is blocked in [`Interface::receive`]. To stop a
/// blocked receive from another thread, use a [`Breaker`]
/// ([`Interface::breaker`]). The device is closed when the interface and all
/// its senders and breakers are dropped.
#[derive(Debug)]
pub struct Interface {
    handle: Arc<Handle>,
    name: String,
    data_link: DataLink,
    immediate: bool,
    nanos: bool,
    timestamp_type: Option<TimestampType>,
    offered_timestamp_types: Vec<TimestampType>,
    read_timeout: Duration,
    warning: Option<String>,
}

/// Stops a [`Interface::receive`] or [`Interface::loop_infinite`] running in
/// another thread (`pcap_breakloop`).
///
/// Cloneable, `Send + Sync`; it keeps the device open, so it never calls
/// into a closed handle.
#[derive(Clone, Debug)]
pub struct Breaker {
    target: BreakTarget,
}

/// What a [`Breaker`] wakes.
#[derive(Clone, Debug)]
pub(crate) enum BreakTarget {
    /// A libpcap handle (`pcap_breakloop`).
    Pcap(Arc<Handle>),
    /// A [`crate::linux::CaptureSocket`].
    #[cfg(target_os = "linux")]
    Socket(Arc<crate::linux::Wake>),
}

impl Breaker {
    pub(crate) fn new(target: BreakTarget) -> Breaker {
        Breaker { target }
    }

    /// Makes the receive running on the interface return
    /// `Err(Error::Broken)` (a loop returns `Ok(())`). If none is running,
    /// the next one returns at once instead: libpcap keeps the request until
    /// a receive sees it.
    ///
    /// Where the library can wake a blocked reader (libpcap >= 1.10 on
    /// Linux, Npcap) this takes effect at once; elsewhere within the read
    /// timeout.
    pub fn break_loop(&self) {
        match &self.target {
            BreakTarget::Pcap(handle) => handle.break_loop(),
            #[cfg(target_os = "linux")]
            BreakTarget::Socket(wake) => wake.request(),
        }
    }
}

/// Sends frames on an interface from any thread (`pcap_sendpacket`), also
/// while another thread receives on it. Cloneable, `Send + Sync`; it keeps
/// the device open.
#[derive(Clone, Debug)]
pub struct Sender {
    handle: Arc<Handle>,
}

impl Sender {
    /// Sends one frame, exactly as given (Ethernet header included).
    pub fn send(&self, frame: &[u8]) -> Result<(), Error> {
        self.handle.send(frame)
    }
}

pub(crate) fn open(api: &Arc<Api>, name: &str, config: &Config) -> Result<Interface, Error> {
    let c_name = CString::new(name)
        .map_err(|_| Error::InvalidArgument(format!("device name {name:?} contains a NUL byte")))?;
    let snaplen = config.snaplen_c();
    let promisc = c_int::from(config.promisc);
    let timeout_ms = config.timeout_ms();
    let mut errbuf = [0 as c_char; PCAP_ERRBUF_SIZE];

    let mut offered_timestamp_types = Vec::new();
    let mut timestamp_type = None;
    let (handle, immediate, mut nanos, warning) = if let Some(create) = &api.create {
        // SAFETY: `c_name` is NUL-terminated, `errbuf` has PCAP_ERRBUF_SIZE bytes.
        let p = unsafe { (create.create)(c_name.as_ptr(), errbuf.as_mut_ptr()) };
        let handle = Handle::new(api.clone(), p)
            .ok_or_else(|| classify(name, ffi::local_errbuf_text(&errbuf)))?;
        // From here on, returning early drops `handle`, which closes it.
        let p = handle.ptr();
        let setting = |what: &str, rc: c_int| -> Result<(), Error> {
            if rc == 0 {
                Ok(())
            } else {
                Err(Error::OpeningInterface {
                    device: name.to_owned(),
                    message: format!("{what}: {}", api.status_text(rc)),
                })
            }
        };
        // SAFETY: `p` is a live handle that is not activated yet; the
        // pcap_set_* setters only record the value in it.
        let rc = unsafe { (create.set_snaplen)(p, snaplen) };
        setting("pcap_set_snaplen", rc)?;
        // SAFETY: as for pcap_set_snaplen.
        let rc = unsafe { (create.set_promisc)(p, promisc) };
        setting("pcap_set_promisc", rc)?;
        // SAFETY: as for pcap_set_snaplen.
        let rc = unsafe { (create.set_timeout)(p, timeout_ms) };
        setting("pcap_set_timeout", rc)?;
        let immediate = match (config.immediate, api.set_immediate_mode) {
            // SAFETY: as for pcap_set_snaplen.
            (true, Some(set)) => unsafe { set(p, 1) == 0 },
            _ => false,
        };
        // Nanosecond time stamps when the library has them; it refuses with
        // PCAP_ERROR_TSTAMP_PRECISION_NOTSUP where it cannot. Npcap does:
        // its pcap-npf.c declares no precision list, so libpcap accepts only
        // microseconds there
        // (https://github.com/nmap/libpcap/blob/master/pcap-npf.c,
        // pcap_set_tstamp_precision in pcap.c); Linux has nanoseconds.
        let nanos = match api.set_tstamp_precision {
            // SAFETY: as for pcap_set_snaplen.
            Some(set) => unsafe { set(p, PCAP_TSTAMP_PRECISION_NANO) == 0 },
            None => false,
        };
        // The time stamp type, chosen from what the device offers (the
        // list is only complete before activation: pcap_list_tstamp_types(3PCAP),
        // https://www.tcpdump.org/manpages/pcap_list_tstamp_types.3pcap.html).
        if let Some(tstamp) = api.tstamp {
            offered_timestamp_types = list_timestamp_types(&tstamp, p);
            if let Some(wanted) =
                choose_timestamp_type(&offered_timestamp_types, config.precise_host_timestamps)
            {
                // SAFETY: as for pcap_set_snaplen.
                let rc = unsafe { (tstamp.set)(p, wanted.raw()) };
                // Anything else (PCAP_WARNING_TSTAMP_TYPE_NOTSUP, or old
                // libraries' PCAP_ERROR_CANTSET_TSTAMP_TYPE) leaves the
                // default in place, which is no reason not to capture.
                if rc == 0 {
                    timestamp_type = Some(wanted);
                }
            }
        }
        // SAFETY: `p` is live and not activated yet.
        let rc = unsafe { (create.activate)(p) };
        if rc < 0 {
            let message = handle.status_message(rc);
            let device = name.to_owned();
            return Err(match rc {
                PCAP_ERROR_PERM_DENIED | PCAP_ERROR_PROMISC_PERM_DENIED => {
                    Error::PermissionDenied { device, message }
                }
                PCAP_ERROR_NO_SUCH_DEVICE => Error::NoSuchDevice { device, message },
                _ => Error::OpeningInterface { device, message },
            });
        }
        let warning = (rc > 0).then(|| handle.status_message(rc));
        (handle, immediate, nanos, warning)
    } else {
        // Old library: no pcap_create, so no immediate mode either; the
        // small read timeout bounds the delay instead.
        // SAFETY: `c_name` is NUL-terminated, `errbuf` has PCAP_ERRBUF_SIZE bytes.
        let p = unsafe {
            (api.open_live)(
                c_name.as_ptr(),
                snaplen,
                promisc,
                timeout_ms,
                errbuf.as_mut_ptr(),
            )
        };
        let text = ffi::local_errbuf_text(&errbuf);
        let handle = Handle::new(api.clone(), p).ok_or_else(|| classify(name, text.clone()))?;
        // On success pcap_open_live leaves a warning in errbuf, if any.
        (handle, false, false, Some(text).filter(|t| !t.is_empty()))
    };

    if nanos {
        if let Some(get) = api.get_tstamp_precision {
            // SAFETY: the handle is live and activated.
            nanos = unsafe { get(handle.ptr()) } == PCAP_TSTAMP_PRECISION_NANO;
        }
    }
    // SAFETY: the handle is live and activated.
    let dlt = unsafe { (api.datalink)(handle.ptr()) };
    if dlt < 0 {
        return Err(Error::OpeningInterface {
            device: name.to_owned(),
            message: format!("pcap_datalink: {}", handle.status_message(dlt)),
        });
    }
    let data_link = DataLink::from_dlt(dlt);
    if config.require_ethernet && data_link != DataLink::Ethernet {
        return Err(Error::NotEthernet {
            device: name.to_owned(),
            data_link,
        });
    }
    Ok(Interface {
        handle: Arc::new(handle),
        name: name.to_owned(),
        data_link,
        immediate,
        nanos,
        timestamp_type,
        offered_timestamp_types,
        read_timeout: Duration::from_millis(timeout_ms.unsigned_abs().into()),
        warning,
    })
}

/// `pcap_list_tstamp_types` on a created, not yet activated handle (an
/// empty list when it fails).
fn list_timestamp_types(api: &crate::ffi::TstampApi, p: *mut PcapT) -> Vec<TimestampType> {
    let mut types: *mut c_int = ptr::null_mut();
    // SAFETY: `p` is a live handle; `types` is a valid out-pointer.
    let n = unsafe { (api.list)(p, &mut types) };
    if types.is_null() {
        return Vec::new();
    }
    let list = match usize::try_from(n) {
        // SAFETY: on success the library points `types` at `n` ints it
        // allocated, valid until pcap_free_tstamp_types below.
        Ok(n) if n > 0 => unsafe { std::slice::from_raw_parts(types, n) }
            .iter()
            .map(|&t| TimestampType::from_raw(t))
            .collect(),
        _ => Vec::new(),
    };
    // SAFETY: `types` came from pcap_list_tstamp_types and is freed once,
    // with the library's own function (its allocator), after the copy.
    unsafe { (api.free)(types) };
    list
}

/// Error for a failed `pcap_create` / `pcap_open_live`, which only give text.
fn classify(device: &str, message: String) -> Error {
    let device = device.to_owned();
    let lower = message.to_ascii_lowercase();
    // Npcap's admin-only refusal reads 'The helper program for "Admin-only
    // Mode" must be allowed to make changes to your device'
    // (pcap_activate_npf, https://github.com/nmap/libpcap/blob/master/pcap-npf.c).
    if lower.contains("permission")
        || lower.contains("not permitted")
        || lower.contains("admin-only")
    {
        Error::PermissionDenied { device, message }
    } else if lower.contains("no such device") {
        Error::NoSuchDevice { device, message }
    } else {
        Error::OpeningInterface { device, message }
    }
}

/// Builds the packet for a header and data pointer from the library.
///
/// # Safety
///
/// `header` must be NULL or point to a `pcap_pkthdr`, and `data` to
/// `caplen` readable bytes, both unchanged for `'a`.
unsafe fn packet_from_raw<'a>(
    header: *const PcapPkthdr,
    data: *const c_uchar,
    nanos: bool,
) -> Option<BorrowedPacket<'a>> {
    if header.is_null() {
        return None;
    }
    // SAFETY: non-NULL, and valid per this function's contract.
    let header = unsafe { &*header };
    let caplen = header.caplen as usize;
    let bytes: &'a [u8] = if caplen == 0 {
        &[]
    } else if data.is_null() {
        return None;
    } else {
        // SAFETY: `data` is non-NULL and readable for `caplen` bytes for 'a.
        unsafe { std::slice::from_raw_parts(data, caplen) }
    };
    // time_t / suseconds_t / long: i64 on 64-bit Unix, i32 on Windows.
    #[allow(clippy::unnecessary_cast)]
    let (secs, frac) = (header.ts.tv_sec as i64, header.ts.tv_usec as i64);
    Some(BorrowedPacket::new(
        bytes,
        header.len,
        timestamp_from_pcap(secs, frac, nanos),
    ))
}

impl Interface {
    /// The device name it was opened with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's link-layer type (`pcap_datalink`).
    pub fn data_link(&self) -> DataLink {
        self.data_link
    }

    /// Whether immediate mode is on: it was asked for and the library has
    /// `pcap_set_immediate_mode` (Wine's wpcap.dll and libpcap < 1.5 do not;
    /// then frames may wait up to the read timeout).
    pub fn immediate_mode(&self) -> bool {
        self.immediate
    }

    /// Whether time stamps have nanosecond precision
    /// (`pcap_set_tstamp_precision` was exported and accepted), rather than
    /// microseconds.
    pub fn nanosecond_timestamps(&self) -> bool {
        self.nanos
    }

    /// The time stamp type that was set ([`Config::precise_host_timestamps`]:
    /// `host_hiprec` where offered), or None where the device's default is
    /// in effect (Npcap's default: `host_hiprec_unsynced`; Linux: `host`).
    pub fn timestamp_type(&self) -> Option<TimestampType> {
        self.timestamp_type
    }

    /// The time stamp types the device offered (`pcap_list_tstamp_types`
    /// before activation); empty where the library cannot tell.
    pub fn offered_timestamp_types(&self) -> &[TimestampType] {
        &self.offered_timestamp_types
    }

    /// The read timeout in effect (whole milliseconds).
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// The warning `pcap_activate` (or `pcap_open_live`) returned, if any,
    /// e.g. that promiscuous mode is not supported.
    pub fn activation_warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// A handle that stops this interface's receive from another thread.
    pub fn breaker(&self) -> Breaker {
        Breaker::new(BreakTarget::Pcap(self.handle.clone()))
    }

    /// A handle that sends on this interface from any thread.
    pub fn sender(&self) -> Sender {
        Sender {
            handle: self.handle.clone(),
        }
    }

    /// Sends one frame, exactly as given (`pcap_sendpacket`; no send queue).
    pub fn send(&self, frame: &[u8]) -> Result<(), Error> {
        self.handle.send(frame)
    }

    /// Receives one frame (`pcap_next_ex`).
    ///
    /// * `Ok(Some(packet))`: a frame, borrowed until the next receive.
    /// * `Ok(None)`: the read timeout expired with no frame. Whether the
    ///   timeout fires on an idle device depends on the platform: on Linux
    ///   (libpcap 1.10, measured) it does not, with or without immediate
    ///   mode, so a receive there blocks until a frame arrives or a
    ///   [`Breaker`] is used; always be ready for both.
    /// * `Err(Error::Broken)`: a [`Breaker`] interrupted it.
    /// * `Err(Error::ReceivingPacket(text))`: the library failed (text from
    ///   `pcap_geterr`), e.g. the device went away.
    pub fn receive(&mut self) -> Result<Option<BorrowedPacket<'_>>, Error> {
        let mut header: *mut PcapPkthdr = ptr::null_mut();
        let mut data: *const c_uchar = ptr::null();
        // SAFETY: the handle is open and activated; `&mut self` makes this
        // the only reading call on it; the out-pointers are valid for writes.
        let rc = unsafe { (self.handle.api.next_ex)(self.handle.ptr(), &mut header, &mut data) };
        match rc {
            1 => {
                // SAFETY: on 1, pcap_next_ex points `header` and `data` at the
                // library's copy of the frame, valid until the next reading
                // call on this handle. The packet borrows `self` mutably, so
                // no such call (receive, loop, set_filter, stats, drop) can
                // happen while it lives; sends and pcap_breakloop from other
                // threads do not touch that buffer.
                match unsafe { packet_from_raw(header, data, self.nanos) } {
                    Some(packet) => Ok(Some(packet)),
                    None => Err(Error::ReceivingPacket(
                        "pcap_next_ex returned a NULL packet".into(),
                    )),
                }
            }
            0 => Ok(None),
            PCAP_ERROR_BREAK => Err(Error::Broken),
            _ => Err(Error::ReceivingPacket(self.handle.geterr())),
        }
    }

    /// Makes [`Interface::receive`] return `Ok(None)` at once when no frame
    /// is ready (`pcap_setnonblock`), or block again. On Linux a
    /// nonblocking receive takes a frame already in the ring without a
    /// system call. `Ok(false)` where the library has no such function.
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> Result<bool, Error> {
        let Some(setnonblock) = self.handle.api.setnonblock else {
            return Ok(false);
        };
        let mut errbuf = [0 as c_char; PCAP_ERRBUF_SIZE];
        // SAFETY: the handle is open and activated; `&mut self` keeps reading
        // calls away; `errbuf` has PCAP_ERRBUF_SIZE bytes for the message.
        let rc = unsafe {
            setnonblock(
                self.handle.ptr(),
                c_int::from(nonblocking),
                errbuf.as_mut_ptr(),
            )
        };
        if rc < 0 {
            return Err(Error::ReceivingPacket(format!(
                "pcap_setnonblock: {}",
                ffi::local_errbuf_text(&errbuf)
            )));
        }
        Ok(true)
    }

    /// Whether a frame is ready to be received, waiting up to `timeout` for
    /// one (`poll` on `pcap_get_selectable_fd`; `Duration::ZERO` only looks).
    /// Lets a reader that expects more frames soon look for them without
    /// sleeping in [`Interface::receive`] (a sleeping reader must be woken
    /// for each frame, which costs the sender too).
    ///
    /// `Ok(None)` where the platform cannot tell (Windows, a library without
    /// `pcap_get_selectable_fd`): then just receive. `Ok(Some(false))` also
    /// when the wait was interrupted by a signal.
    pub fn wait_readable(&mut self, timeout: Duration) -> Result<Option<bool>, Error> {
        #[cfg(unix)]
        {
            let Some(get_fd) = self.handle.api.get_selectable_fd else {
                return Ok(None);
            };
            // SAFETY: the handle is open; pcap_get_selectable_fd only reads
            // the descriptor stored in it (-1 if there is none).
            let fd = unsafe { get_fd(self.handle.ptr()) };
            if fd < 0 {
                return Ok(None);
            }
            let mut pollfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
            // SAFETY: `pollfd` is one valid, writable pollfd for the whole
            // call; `fd` is the handle's descriptor, open while `self` lives.
            let rc = unsafe { libc::poll(&mut pollfd, 1, ms) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    return Ok(Some(false));
                }
                return Err(Error::ReceivingPacket(format!("poll: {e}")));
            }
            Ok(Some(rc > 0 && pollfd.revents != 0))
        }
        #[cfg(not(unix))]
        {
            let _ = timeout;
            Ok(None)
        }
    }

    /// Calls `callback` for every frame (`pcap_loop`) until a [`Breaker`]
    /// stops it (then `Ok(())`) or the library fails. A panic in `callback`
    /// stops the loop and is resumed once the library has returned (it never
    /// unwinds through the C frames).
    pub fn loop_infinite<F>(&mut self, mut callback: F) -> Result<(), Error>
    where
        F: FnMut(&BorrowedPacket<'_>),
    {
        self.loop_infinite_dyn(&mut callback)
    }

    /// [`Interface::loop_infinite`] with a trait object.
    pub fn loop_infinite_dyn(
        &mut self,
        callback: &mut dyn FnMut(&BorrowedPacket<'_>),
    ) -> Result<(), Error> {
        let mut state = LoopState {
            callback,
            handle: &self.handle,
            nanos: self.nanos,
            panic: None,
        };
        let user: *mut LoopState<'_> = &mut state;
        // SAFETY: the handle is open and activated, and `&mut self` makes
        // this the only reading call on it. `user` points to `state`, which
        // outlives the call and is only used through that pointer (by
        // `loop_trampoline`, on this thread) until pcap_loop returns.
        let rc = unsafe {
            (self.handle.api.pcap_loop)(self.handle.ptr(), -1, loop_trampoline, user.cast())
        };
        if let Some(payload) = state.panic.take() {
            panic::resume_unwind(payload);
        }
        match rc {
            0 | PCAP_ERROR_BREAK => Ok(()),
            _ => Err(Error::ReceivingPacket(self.handle.geterr())),
        }
    }

    /// Sets a BPF filter (`pcap_compile` with optimisation and an unknown
    /// netmask, `pcap_setfilter`, `pcap_freecode`). Errors carry
    /// `pcap_geterr`'s text.
    pub fn set_filter(&mut self, filter: &str) -> Result<(), Error> {
        let c_filter = CString::new(filter).map_err(|_| {
            Error::InvalidArgument(format!("filter {filter:?} contains a NUL byte"))
        })?;
        let failed = |message| Error::Filter {
            filter: filter.to_owned(),
            message,
        };
        let mut program = BpfProgram {
            bf_len: 0,
            bf_insns: ptr::null_mut(),
        };
        let p = self.handle.ptr();
        let api = &self.handle.api;
        let rc = {
            let _guard = COMPILE_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
            // SAFETY: the handle is open, `&mut self` excludes other calls
            // but sends (which do not touch filters), `program` is valid for
            // writes, `c_filter` is NUL-terminated, and COMPILE_LOCK keeps
            // old, non-reentrant pcap_compile implementations single-threaded.
            unsafe { (api.compile)(p, &mut program, c_filter.as_ptr(), 1, PCAP_NETMASK_UNKNOWN) }
        };
        if rc != 0 {
            return Err(failed(self.handle.geterr()));
        }
        // SAFETY: `program` was filled in by pcap_compile; pcap_setfilter
        // copies it into the handle.
        let rc = unsafe { (api.setfilter)(p, &mut program) };
        let result = if rc == 0 {
            Ok(())
        } else {
            Err(failed(self.handle.geterr()))
        };
        // SAFETY: `program` came from a successful pcap_compile and is freed once.
        unsafe { (api.freecode)(&mut program) };
        result
    }

    /// Capture statistics (`pcap_stats`).
    pub fn stats(&mut self) -> Result<Stats, Error> {
        let mut stats = PcapStat::default();
        // SAFETY: the handle is open, `&mut self` excludes other calls but
        // sends, and `stats` is larger than any platform's struct pcap_stat.
        let rc = unsafe { (self.handle.api.stats)(self.handle.ptr(), &mut stats) };
        if rc != 0 {
            return Err(Error::Stats(self.handle.geterr()));
        }
        Ok(Stats {
            received: stats.ps_recv.into(),
            dropped: stats.ps_drop.into(),
            if_dropped: stats.ps_ifdrop.into(),
        })
    }
}

/// What `loop_trampoline` needs; lives on `loop_infinite_dyn`'s stack.
struct LoopState<'a> {
    callback: &'a mut dyn FnMut(&BorrowedPacket<'_>),
    handle: &'a Handle,
    nanos: bool,
    panic: Option<Box<dyn Any + Send + 'static>>,
}

/// The `pcap_handler` given to `pcap_loop`.
///
/// # Safety
///
/// `user` must be the `*mut LoopState` passed by `loop_infinite_dyn`, and
/// `header`/`data` a packet from the library valid for this call.
unsafe extern "C" fn loop_trampoline(
    user: *mut c_uchar,
    header: *const PcapPkthdr,
    data: *const c_uchar,
) {
    // SAFETY: `user` is the thin pointer to the `LoopState` on
    // loop_infinite_dyn's stack, which waits in pcap_loop on this same
    // thread, so this is the only live reference to it.
    let state = unsafe { &mut *user.cast::<LoopState<'_>>() };
    if state.panic.is_some() {
        // Frames still in the current batch after a panic: skip them.
        return;
    }
    // SAFETY: pcap_loop passes a header and `caplen` bytes that stay valid
    // during this call; the callback receives the packet by a reference it
    // cannot keep (it is generic over the packet's lifetime).
    let Some(packet) = (unsafe { packet_from_raw(header, data, state.nanos) }) else {
        return;
    };
    let callback = &mut state.callback;
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| callback(&packet))) {
        state.panic = Some(payload);
        // Documented use: pcap_breakloop from inside the callback.
        state.handle.break_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults() {
        let c = Config::default();
        assert_eq!(c.snaplen, 65535);
        assert!(!c.promisc);
        assert_eq!(c.read_timeout, Duration::from_millis(10));
        assert!(c.immediate);
        assert!(!c.require_ethernet);
        assert_eq!(c, Config::new());
        assert_eq!(c.timeout_ms(), 10);
        assert_eq!(c.snaplen_c(), 65535);
    }

    #[test]
    fn config_builder() {
        let c = Config::new()
            .snaplen(1500)
            .promisc(true)
            .read_timeout(Duration::from_millis(3))
            .immediate(false)
            .require_ethernet(true);
        assert_eq!(
            (c.snaplen, c.promisc, c.immediate, c.require_ethernet),
            (1500, true, false, true)
        );
        assert_eq!(c.timeout_ms(), 3);
    }

    #[test]
    fn timeout_is_rounded_up_and_never_zero() {
        let ms = |d| Config::new().read_timeout(d).timeout_ms();
        assert_eq!(ms(Duration::ZERO), 1);
        assert_eq!(ms(Duration::from_micros(1)), 1);
        assert_eq!(ms(Duration::from_micros(1500)), 2);
        assert_eq!(ms(Duration::from_secs(1)), 1000);
        assert_eq!(ms(Duration::MAX), c_int::MAX);
        assert_eq!(Config::new().snaplen(u32::MAX).snaplen_c(), c_int::MAX);
    }

    #[test]
    fn data_link_values() {
        assert_eq!(DataLink::from_dlt(1), DataLink::Ethernet);
        assert_eq!(DataLink::from_dlt(DLT_RAW), DataLink::RawIp);
        assert_eq!(DataLink::from_dlt(113), DataLink::Other(113));
        for d in [DataLink::Ethernet, DataLink::RawIp, DataLink::Other(113)] {
            assert_eq!(DataLink::from_dlt(d.dlt()), d);
        }
        assert_eq!(DataLink::Ethernet.to_string(), "ethernet");
    }

    #[test]
    fn timestamp_types() {
        for raw in 0..=6 {
            let t = TimestampType::from_raw(raw);
            assert_eq!(t.raw(), raw);
        }
        assert_eq!(TimestampType::from_raw(2), TimestampType::HostHiPrec);
        assert_eq!(
            TimestampType::from_raw(5),
            TimestampType::HostHiPrecUnsynced
        );
        assert_eq!(TimestampType::from_raw(9), TimestampType::Other(9));
        assert_eq!(TimestampType::HostHiPrec.to_string(), "host_hiprec");
        assert_eq!(
            TimestampType::HostHiPrecUnsynced.to_string(),
            "host_hiprec_unsynced"
        );
    }

    #[test]
    fn host_hiprec_is_chosen_only_where_offered() {
        use TimestampType::*;
        // Npcap (libpcap's get_ts_types in pcap-npf.c): host, then the
        // driver's modes.
        let npcap = [Host, HostHiPrecUnsynced, HostLowPrec, HostHiPrec];
        assert_eq!(choose_timestamp_type(&npcap, true), Some(HostHiPrec));
        assert_eq!(choose_timestamp_type(&npcap, false), None);
        // Linux: host, and the adapter's with hardware time stamping.
        assert_eq!(choose_timestamp_type(&[Host], true), None);
        assert_eq!(
            choose_timestamp_type(&[Host, Adapter, AdapterUnsynced], true),
            None
        );
        // An Npcap driver without the precise mode: its default stays.
        assert_eq!(
            choose_timestamp_type(&[Host, HostHiPrecUnsynced, HostLowPrec], true),
            None
        );
        assert_eq!(choose_timestamp_type(&[], true), None);
        assert!(Config::default().precise_host_timestamps);
    }

    #[test]
    fn open_errors_are_classified_from_text() {
        let e = classify("eth0", "socket: Operation not permitted".into());
        assert!(matches!(e, Error::PermissionDenied { .. }));
        let e = classify("x", "x: No such device exists".into());
        assert!(matches!(e, Error::NoSuchDevice { .. }));
        let e = classify(
            r"\Device\NPF_{4D36E972-E325-11CE-BFC1-08002BE10318}",
            "The helper program for \"Admin-only Mode\" must be allowed to make changes to your device".into(),
        );
        assert!(matches!(e, Error::PermissionDenied { .. }));
        let e = classify("x", "something else".into());
        assert!(matches!(e, Error::OpeningInterface { .. }));
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Interface>();
        check::<Breaker>();
        check::<Sender>();
        check::<crate::Library>();
    }
}
