//! Linux only: the two packet sockets a pinger needs, opened directly
//! (`AF_PACKET`), with libpcap only compiling the capture filter.
//!
//! Why not libpcap's own handles: on Linux, libpcap (1.10) always captures
//! through a memory-mapped ring (`PACKET_RX_RING`), and the kernel waits for
//! an RCU grace period each time a packet socket's ring is set up or torn
//! down, and once more when the socket is released (`packet_set_ring` and
//! `packet_release` call `synchronize_net`). A grace period is some 10-16 ms
//! on an idle machine with HZ=250: a libpcap handle costs one to open and two
//! to close, whatever runs in parallel. These sockets have no ring:
//!
//! * [`SendSocket`] sends only: protocol 0, no receive hook, nothing queued.
//! * [`CaptureSocket`] receives with `recvmsg` (a frame per call, the kernel's
//!   time stamp in `SCM_TIMESTAMPNS`, the original length and the VLAN tag in
//!   `PACKET_AUXDATA`), its BPF filter attached before it is bound, so
//!   nothing unfiltered is ever queued; a [`Breaker`] wakes a blocked receive
//!   through an eventfd.
//!
//! Opening either costs no grace period; closing costs the one of
//! `packet_release`. What the capture delivers is what a libpcap handle on
//! the same device delivers: both directions, the same time stamps
//! (`SO_TIMESTAMPNS`, taken when the kernel hands the frame to packet
//! sockets), VLAN tags the kernel took out put back in.

use std::ffi::{c_int, c_void, CString};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};

use crate::ffi::{self, Api, BpfProgram, DLT_EN10MB, PCAP_NETMASK_UNKNOWN};
use crate::interface::{BreakTarget, COMPILE_LOCK};
use crate::packet::timestamp_from_pcap;
use crate::{BorrowedPacket, Breaker, Config, DataLink, Error, Library, Stats};

// From linux/if_packet.h and linux/if_arp.h (stable kernel ABI; not every
// libc release exports them).
const PACKET_ADD_MEMBERSHIP: c_int = 1;
const PACKET_STATISTICS: c_int = 6;
const PACKET_AUXDATA: c_int = 8;
const PACKET_MR_PROMISC: u16 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const ARPHRD_NONE: u16 = 0xfffe;
/// libpcap's `DLT_LINUX_SLL`: what it gives devices it has no header type for.
const DLT_LINUX_SLL: i32 = 113;
const ETH_P_ALL: u16 = 0x0003;
const ETH_P_8021Q: u16 = 0x8100;
const VLAN_TAG_LEN: usize = 4;
/// The receive buffer asked for: libpcap's default buffer size on Linux (2 MiB),
/// the room its ring would have had.
const RECEIVE_BUFFER: c_int = 2 * 1024 * 1024;

/// One classic BPF instruction: libpcap's `struct bpf_insn`, the kernel's
/// `struct sock_filter` (the same layout).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BpfInsn {
    /// Opcode (`BPF_LD | BPF_H | BPF_ABS`, ...).
    pub code: u16,
    /// Where a conditional jump goes when true (instructions skipped).
    pub jt: u8,
    /// Where a conditional jump goes when false.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

/// `struct tpacket_auxdata`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// `struct packet_mreq`.
#[repr(C)]
struct PacketMreq {
    mr_ifindex: c_int,
    mr_type: u16,
    mr_alen: u16,
    mr_address: [u8; 8],
}

/// `struct tpacket_stats`.
#[repr(C)]
#[derive(Default)]
struct TpacketStats {
    tp_packets: u32,
    tp_drops: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const BpfInsn,
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

/// Sets an integer (or struct) socket option.
fn set_option<T>(fd: &OwnedFd, level: c_int, name: c_int, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `fd` is an open socket; `value` points to `len` readable bytes
    // that the kernel copies during the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(value).cast::<c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A new packet socket (protocol 0: no receive hook until bound to one).
fn packet_socket(device: &str) -> Result<OwnedFd, Error> {
    // SAFETY: plain system call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        let message = format!("socket: {e}");
        let device = device.to_owned();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => Error::PermissionDenied { device, message },
            _ => Error::OpeningInterface { device, message },
        });
    }
    // SAFETY: `fd` is a descriptor we just opened and own alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An `ifreq` naming `device` (its name must fit, NUL included, in IFNAMSIZ).
fn ifreq_for(device: &str) -> Result<libc::ifreq, Error> {
    let no_such = || Error::NoSuchDevice {
        device: device.to_owned(),
        message: "no such network interface".into(),
    };
    let name = CString::new(device).map_err(|_| {
        Error::InvalidArgument(format!("device name {device:?} contains a NUL byte"))
    })?;
    let bytes = name.as_bytes_with_nul();
    // SAFETY: ifreq is plain old data (arrays, integers and a union of
    // them), for which all-zero bytes are a valid value.
    let mut ifr: libc::ifreq = unsafe { zeroed() };
    if bytes.len() > ifr.ifr_name.len() || bytes.len() < 2 {
        return Err(no_such());
    }
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

/// The device's index and link-layer type, asked on `fd`.
fn device_info(fd: &OwnedFd, device: &str) -> Result<(c_int, DataLink), Error> {
    let mut ifr = ifreq_for(device)?;
    // SAFETY: `fd` is an open socket and `ifr` a valid ifreq with a
    // NUL-terminated name; SIOCGIFINDEX writes the index into its union.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFINDEX as _, &mut ifr) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        let device = device.to_owned();
        let message = format!("SIOCGIFINDEX: {e}");
        return Err(match e.raw_os_error() {
            Some(libc::ENODEV) => Error::NoSuchDevice { device, message },
            _ => Error::OpeningInterface { device, message },
        });
    }
    // SAFETY: SIOCGIFINDEX succeeded, so the union holds the index.
    let ifindex = unsafe { ifr.ifr_ifru.ifru_ifindex };
    // SAFETY: as above; SIOCGIFHWADDR writes a sockaddr into the union.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR as _, &mut ifr) };
    if rc < 0 {
        return Err(Error::OpeningInterface {
            device: device.to_owned(),
            message: os_error("SIOCGIFHWADDR"),
        });
    }
    // SAFETY: SIOCGIFHWADDR succeeded, so the union holds the hardware
    // address, whose family is the ARPHRD_ type.
    let kind = unsafe { ifr.ifr_ifru.ifru_hwaddr.sa_family };
    // What libpcap would report for the same device.
    let data_link = match kind {
        ARPHRD_ETHER | ARPHRD_LOOPBACK => DataLink::Ethernet,
        ARPHRD_NONE => DataLink::RawIp,
        _ => DataLink::Other(DLT_LINUX_SLL),
    };
    Ok((ifindex, data_link))
}

/// Compiles `filter` for Ethernet frames cut at `snaplen` bytes, with
/// `library`'s compiler (`pcap_open_dead`, `pcap_compile` optimised with an
/// unknown netmask, as a live handle's `set_filter` would): the program
/// [`CaptureSocket::open_with_program`] takes.
pub fn compile_filter(
    library: &Library,
    filter: &str,
    snaplen: u32,
) -> Result<Vec<BpfInsn>, Error> {
    compile(
        library.api(),
        filter,
        c_int::try_from(snaplen).unwrap_or(c_int::MAX),
    )
}

fn compile(api: &Api, filter: &str, snaplen: c_int) -> Result<Vec<BpfInsn>, Error> {
    let failed = |message: String| Error::Filter {
        filter: filter.to_owned(),
        message,
    };
    let open_dead = api
        .open_dead
        .ok_or_else(|| failed(format!("{} has no pcap_open_dead", api.path)))?;
    let c_filter = CString::new(filter)
        .map_err(|_| Error::InvalidArgument(format!("filter {filter:?} contains a NUL byte")))?;
    // SAFETY: pcap_open_dead takes plain values and returns a new handle
    // that opens nothing, or NULL.
    let dead = unsafe { open_dead(DLT_EN10MB, snaplen) };
    if dead.is_null() {
        return Err(failed("pcap_open_dead failed".into()));
    }
    let mut program = BpfProgram {
        bf_len: 0,
        bf_insns: ptr::null_mut(),
    };
    let rc = {
        let _guard = COMPILE_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: `dead` is a live handle used by this thread only,
        // `program` is valid for writes, `c_filter` is NUL-terminated, and
        // COMPILE_LOCK keeps old, non-reentrant pcap_compile single-threaded.
        unsafe {
            (api.compile)(
                dead,
                &mut program,
                c_filter.as_ptr(),
                1,
                PCAP_NETMASK_UNKNOWN,
            )
        }
    };
    let result = if rc != 0 {
        // SAFETY: `dead` is live; pcap_geterr returns its error buffer.
        Err(failed(unsafe { ffi::errbuf_text((api.geterr)(dead)) }))
    } else {
        let len = usize::try_from(program.bf_len).unwrap_or(0);
        let insns = if len == 0 || program.bf_insns.is_null() {
            Vec::new()
        } else {
            // SAFETY: a successful pcap_compile points `bf_insns` at
            // `bf_len` instructions (struct bpf_insn, transcribed as
            // BpfInsn), which stay valid until pcap_freecode below.
            unsafe { std::slice::from_raw_parts(program.bf_insns.cast::<BpfInsn>(), len) }.to_vec()
        };
        // SAFETY: `program` came from a successful pcap_compile and is freed once.
        unsafe { (api.freecode)(&mut program) };
        Ok(insns)
    };
    // SAFETY: `dead` came from pcap_open_dead, nothing else uses it, and it
    // is closed once.
    unsafe { (api.close)(dead) };
    let insns = result?;
    if insns.is_empty() || insns.len() > usize::from(u16::MAX) {
        return Err(failed(format!(
            "the compiled filter has {} instructions",
            insns.len()
        )));
    }
    Ok(insns)
}

/// A sending packet socket on one device: it never receives (no protocol
/// is bound, so the kernel queues nothing for it) and has no ring, so it
/// costs no RCU grace period to open. `Send + Sync`: send from any thread.
#[derive(Debug)]
pub struct SendSocket {
    fd: OwnedFd,
    ifindex: c_int,
    name: String,
}

impl SendSocket {
    /// Opens a sending socket on `device` (an Ethernet device).
    pub fn open(device: &str) -> Result<SendSocket, Error> {
        let fd = packet_socket(device)?;
        let (ifindex, data_link) = device_info(&fd, device)?;
        if data_link != DataLink::Ethernet {
            return Err(Error::NotEthernet {
                device: device.to_owned(),
                data_link,
            });
        }
        Ok(SendSocket {
            fd,
            ifindex,
            name: device.to_owned(),
        })
    }

    /// The device it sends on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends one frame, exactly as given (Ethernet header included), as
    /// `pcap_sendpacket` does: `sendto` on the socket, blocking while the
    /// socket's send buffer is full.
    pub fn send(&self, frame: &[u8]) -> Result<(), Error> {
        if frame.len() < 14 {
            return Err(Error::InvalidArgument(format!(
                "a frame of {} bytes has no Ethernet header",
                frame.len()
            )));
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero bytes are valid.
        let mut to: libc::sockaddr_ll = unsafe { zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        // The frame's own EtherType, in network byte order as it is on the wire.
        to.sll_protocol = u16::from_ne_bytes([frame[12], frame[13]]);
        to.sll_ifindex = self.ifindex;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `fd` is an open packet socket; `frame` is `frame.len()`
        // readable bytes and `to` a sockaddr_ll of the size given, both only
        // read during the call.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast::<c_void>(),
                frame.len(),
                0,
                ptr::from_ref(&to).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(Error::SendingPacket(os_error("send")));
        }
        Ok(())
    }
}

/// What wakes a blocked [`CaptureSocket::receive`]: a flag, and an eventfd
/// the receive polls next to its socket.
#[derive(Debug)]
pub(crate) struct Wake {
    requested: AtomicBool,
    fd: OwnedFd,
}

impl Wake {
    fn new() -> io::Result<Wake> {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Wake {
            requested: AtomicBool::new(false),
            // SAFETY: a descriptor we just opened and own alone.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Asks the receive running now, or the next one, to return `Broken`.
    pub(crate) fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: the eventfd is open; it reads the 8 bytes of `one`. A
        // full counter (EAGAIN) already wakes the reader, so the result
        // does not matter.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                ptr::from_ref(&one).cast::<c_void>(),
                size_of::<u64>(),
            )
        };
    }

    /// Whether a break was requested; if so, consumes the request.
    fn take(&self) -> bool {
        if !self.requested.swap(false, Ordering::SeqCst) {
            return false;
        }
        self.drain();
        true
    }

    fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: the eventfd is open and nonblocking; it writes at most 8
        // bytes into `count`. Nothing to read (EAGAIN) is fine.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                ptr::from_mut(&mut count).cast::<c_void>(),
                size_of::<u64>(),
            )
        };
    }
}

/// A capturing packet socket on one Ethernet device: every frame the
/// device sends or receives that its BPF filter lets through, one per
/// [`CaptureSocket::receive`], with the kernel's time stamp (nanoseconds).
///
/// Receiving takes `&mut self` (one reader); [`CaptureSocket::breaker`]
/// stops a blocked receive from another thread. Closing it (drop) waits for
/// one RCU grace period in the kernel.
#[derive(Debug)]
pub struct CaptureSocket {
    fd: OwnedFd,
    wake: Arc<Wake>,
    name: String,
    snaplen: usize,
    /// Room for a frame of `snaplen` bytes and a VLAN tag put back in.
    buffer: Vec<u8>,
    nonblocking: bool,
}

impl CaptureSocket {
    /// Opens `device` for capture: `config`'s snap length and promiscuous
    /// mode (its read timeout and immediate mode do not apply: every frame
    /// is delivered at once, and a blocked receive waits for a frame or a
    /// [`Breaker`]), `filter` compiled by `library` and attached before the
    /// socket is bound to the device. The device must be Ethernet (or
    /// loopback, which Linux presents as Ethernet); any other is
    /// [`Error::NotEthernet`].
    pub fn open(
        library: &Library,
        device: &str,
        config: &Config,
        filter: &str,
    ) -> Result<CaptureSocket, Error> {
        let program = compile(library.api(), filter, config.snaplen_c().max(64))?;
        Self::open_with_program(device, config, &program).map_err(|e| match e {
            Error::Filter { message, .. } => Error::Filter {
                filter: filter.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// [`CaptureSocket::open`] with a filter already compiled (by
    /// [`compile_filter`], or by hand): no library needed. The program
    /// must end every path with a return; the kernel refuses it otherwise
    /// ([`Error::Filter`]). What it returns is how many bytes of a frame
    /// to keep (0: none), which may cut frames shorter than the snap length.
    pub fn open_with_program(
        device: &str,
        config: &Config,
        program: &[BpfInsn],
    ) -> Result<CaptureSocket, Error> {
        let opening = |message: String| Error::OpeningInterface {
            device: device.to_owned(),
            message,
        };
        let filter_error = |message: String| Error::Filter {
            filter: format!("({} BPF instructions)", program.len()),
            message,
        };
        let snaplen = config.snaplen_c().max(64);
        let len = match u16::try_from(program.len()) {
            Ok(len) if len > 0 => len,
            _ => {
                return Err(filter_error(format!(
                    "a program of {} instructions",
                    program.len()
                )))
            }
        };
        let fd = packet_socket(device)?;
        let (ifindex, data_link) = device_info(&fd, device)?;
        if data_link != DataLink::Ethernet {
            return Err(Error::NotEthernet {
                device: device.to_owned(),
                data_link,
            });
        }
        let fprog = SockFprog {
            len,
            filter: program.as_ptr(),
        };
        // Before the bind: no frame is queued that the filter would refuse.
        set_option(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
            .map_err(|e| filter_error(format!("SO_ATTACH_FILTER: {e}")))?;
        let on: c_int = 1;
        set_option(&fd, libc::SOL_PACKET, PACKET_AUXDATA, &on)
            .map_err(|e| opening(format!("PACKET_AUXDATA: {e}")))?;
        set_option(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &on)
            .map_err(|e| opening(format!("SO_TIMESTAMPNS: {e}")))?;
        // The room libpcap's ring would have had; without CAP_NET_ADMIN, as
        // much as net.core.rmem_max allows.
        if set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &RECEIVE_BUFFER).is_err() {
            let _ = set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &RECEIVE_BUFFER);
        }
        // SAFETY: sockaddr_ll is plain old data; all-zero bytes are valid.
        let mut at: libc::sockaddr_ll = unsafe { zeroed() };
        at.sll_family = libc::AF_PACKET as u16;
        at.sll_protocol = ETH_P_ALL.to_be();
        at.sll_ifindex = ifindex;
        // SAFETY: `fd` is an open packet socket and `at` a sockaddr_ll of
        // the size given, read during the call. The socket was created with
        // protocol 0, so this bind registers its hook without first
        // removing one (which would wait for a grace period).
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                ptr::from_ref(&at).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(opening(os_error("bind")));
        }
        // A device that is down accepts the bind and reports ENETDOWN here.
        let mut pending: c_int = 0;
        let mut len = size_of::<c_int>() as libc::socklen_t;
        // SAFETY: `fd` is open; `pending` and `len` are valid for writes.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                ptr::from_mut(&mut pending).cast::<c_void>(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(opening(os_error("SO_ERROR")));
        }
        if pending == libc::ENETDOWN {
            return Err(opening("that device is not up".into()));
        }
        if pending != 0 {
            return Err(opening(format!(
                "bind: {}",
                io::Error::from_raw_os_error(pending)
            )));
        }
        if config.promisc {
            let mreq = PacketMreq {
                mr_ifindex: ifindex,
                mr_type: PACKET_MR_PROMISC,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            set_option(&fd, libc::SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(|e| opening(format!("promiscuous mode: {e}")))?;
        }
        let wake = Wake::new().map_err(|e| opening(format!("eventfd: {e}")))?;
        let snaplen = usize::try_from(snaplen).unwrap_or(65_535);
        Ok(CaptureSocket {
            fd,
            wake: Arc::new(wake),
            name: device.to_owned(),
            snaplen,
            buffer: vec![0; snaplen + VLAN_TAG_LEN],
            nonblocking: false,
        })
    }

    /// The device it captures on.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Always Ethernet (anything else was refused when opening).
    pub fn data_link(&self) -> DataLink {
        DataLink::Ethernet
    }

    /// A handle that stops this socket's receive from another thread.
    pub fn breaker(&self) -> Breaker {
        Breaker::new(BreakTarget::Socket(self.wake.clone()))
    }

    /// Makes [`CaptureSocket::receive`] return `Ok(None)` at once when no
    /// frame is queued, or wait again. Always supported (`Ok(true)`); it
    /// only changes how the next receive calls the kernel.
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> Result<bool, Error> {
        self.nonblocking = nonblocking;
        Ok(true)
    }

    /// Receives one frame.
    ///
    /// * `Ok(Some(packet))`: a frame, borrowed until the next receive.
    /// * `Ok(None)`: none is queued (nonblocking), or the wait was
    ///   interrupted by a signal.
    /// * `Err(Error::Broken)`: a [`Breaker`] asked (while this receive
    ///   waited, or before it started).
    /// * `Err(Error::ReceivingPacket(text))`: the kernel refused, e.g. the
    ///   device went down.
    pub fn receive(&mut self) -> Result<Option<BorrowedPacket<'_>>, Error> {
        if self.wake.take() {
            return Err(Error::Broken);
        }
        if !self.nonblocking && !self.wait()? {
            return Ok(None);
        }
        self.read()
    }

    /// Waits until the socket is readable (true), a signal came (false),
    /// or a break was asked for.
    fn wait(&self) -> Result<bool, Error> {
        let mut fds = [
            libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.wake.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            // SAFETY: `fds` is two valid, writable pollfds for the whole
            // call, on descriptors open while `self` lives.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(false);
                }
                return Err(Error::ReceivingPacket(format!("poll: {e}")));
            }
            if fds[1].revents != 0 {
                if self.wake.take() {
                    return Err(Error::Broken);
                }
                // A late wake-up of a request already consumed.
                self.wake.drain();
            }
            if fds[0].revents != 0 {
                return Ok(true);
            }
        }
    }

    /// One `recvmsg`, not waiting.
    fn read(&mut self) -> Result<Option<BorrowedPacket<'_>>, Error> {
        let snaplen = self.snaplen;
        let mut iov = libc::iovec {
            iov_base: self.buffer[VLAN_TAG_LEN..].as_mut_ptr().cast::<c_void>(),
            iov_len: snaplen,
        };
        // Room for SCM_TIMESTAMPNS and PACKET_AUXDATA, aligned for cmsghdr.
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain old data; all-zero bytes are valid.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast::<c_void>();
        msg.msg_controllen = size_of::<[u64; 16]>() as _;
        // SAFETY: `fd` is open; `msg` points at `iov` (the buffer past the
        // tag room, `snaplen` writable bytes) and `control` (writable,
        // aligned), all alive for the call.
        let rc = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => Ok(None),
                _ => Err(Error::ReceivingPacket(format!("recvmsg: {e}"))),
            };
        }
        // With MSG_TRUNC, the length of the frame as queued (the filter may
        // have cut it to the snap length already).
        let queued = usize::try_from(rc).unwrap_or(0);
        let mut caplen = queued.min(snaplen);
        let mut wire_len = u32::try_from(queued).unwrap_or(u32::MAX);
        let mut stamp = None;
        let mut aux = None;
        // SAFETY: `msg` was filled in by a successful recvmsg: its control
        // buffer holds `msg_controllen` bytes of cmsghdrs, which the CMSG
        // macros walk without reading past them.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: non-NULL cmsg pointers from the CMSG macros point at a
            // whole cmsghdr inside `control`.
            let header = unsafe { &*cmsg };
            // SAFETY: as above; the data follows the header.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            let data_len = (header.cmsg_len as usize).saturating_sub(
                // SAFETY: CMSG_LEN only computes a length.
                unsafe { libc::CMSG_LEN(0) } as usize,
            );
            if header.cmsg_level == libc::SOL_SOCKET
                && header.cmsg_type == libc::SCM_TIMESTAMPNS
                && data_len >= size_of::<libc::timespec>()
            {
                // SAFETY: the kernel put a struct timespec here (length
                // checked); it may be unaligned, hence read_unaligned.
                let ts = unsafe { data.cast::<libc::timespec>().read_unaligned() };
                #[allow(clippy::unnecessary_cast)]
                let (secs, nanos) = (ts.tv_sec as i64, ts.tv_nsec as i64);
                stamp = Some(timestamp_from_pcap(secs, nanos, true));
            } else if header.cmsg_level == libc::SOL_PACKET
                && header.cmsg_type == PACKET_AUXDATA
                && data_len >= size_of::<TpacketAuxdata>()
            {
                // SAFETY: the kernel put a struct tpacket_auxdata here
                // (length checked), possibly unaligned.
                aux = Some(unsafe { data.cast::<TpacketAuxdata>().read_unaligned() });
            }
            // SAFETY: `msg` and `cmsg` are as above.
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
        let mut start = VLAN_TAG_LEN;
        if let Some(aux) = aux {
            wire_len = aux.tp_len;
            // The kernel took the VLAN tag out of the frame: put it back,
            // as libpcap does, so that the frame is what was on the wire.
            if aux.tp_status & TP_STATUS_VLAN_VALID != 0 && caplen >= 12 {
                let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                    aux.tp_vlan_tpid
                } else {
                    ETH_P_8021Q
                };
                self.buffer.copy_within(VLAN_TAG_LEN..VLAN_TAG_LEN + 12, 0);
                self.buffer[12..14].copy_from_slice(&tpid.to_be_bytes());
                self.buffer[14..16].copy_from_slice(&aux.tp_vlan_tci.to_be_bytes());
                start = 0;
                caplen = (caplen + VLAN_TAG_LEN).min(snaplen);
                wire_len = wire_len.saturating_add(VLAN_TAG_LEN as u32);
            }
        }
        let timestamp = stamp.unwrap_or_else(std::time::SystemTime::now);
        Ok(Some(BorrowedPacket::new(
            &self.buffer[start..start + caplen],
            wire_len,
            timestamp,
        )))
    }

    /// The kernel's counters since the last call (`PACKET_STATISTICS`):
    /// frames queued and dropped for want of buffer space.
    pub fn stats(&mut self) -> Result<Stats, Error> {
        let mut stats = TpacketStats::default();
        let mut len = size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `fd` is open; `stats` and `len` are valid for writes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                ptr::from_mut(&mut stats).cast::<c_void>(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(Error::Stats(os_error("PACKET_STATISTICS")));
        }
        Ok(Stats {
            received: stats.tp_packets.into(),
            dropped: stats.tp_drops.into(),
            if_dropped: 0,
        })
    }
}

/// Hands this process's packet sockets to a small child process that holds
/// them until this process has exited, then exits itself: closing them here,
/// or exiting, then waits for nothing. (Closing the last reference to a
/// packet socket waits for an RCU grace period in `packet_release`, some
/// 10-16 ms; an exiting process waits for it before its parent sees it
/// exit.) Meant for a program about to exit; call it once.
///
/// The child (named `socket-keeper`) keeps only the `AF_PACKET` sockets
/// open at the call (every other descriptor, the standard ones included, it
/// closes at once, in a few system calls, so no pipe waits for it) and a
/// pipe whose other end this process holds until it exits. It becomes an
/// orphan for init to reap: where PID 1 reaps nothing, each call leaves a
/// zombie (see [`orphans_are_reaped`], which callers should ask first).
///
/// Returns the child's process id, or None when this process has no packet
/// socket open (nothing to hold, no child).
///
/// # Errors
///
/// The OS error when `/proc/self/fd` cannot be read or the pipe or the fork
/// fails; the sockets then close here as before.
pub fn hold_packet_sockets_until_exit() -> io::Result<Option<u32>> {
    // What the child keeps, found before the fork (the child may not
    // allocate): the packet sockets, then its end of the pipe.
    let mut keep: Vec<c_int> = std::fs::read_dir("/proc/self/fd")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<c_int>().ok())
        .filter(|&fd| is_packet_socket(fd))
        .collect();
    if keep.is_empty() {
        return Ok(None);
    }
    let mut ends = [0 as c_int; 2];
    // SAFETY: `ends` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = ends;
    keep.push(read_end);
    keep.sort_unstable();
    // SAFETY: fork has no memory preconditions. The child below calls only
    // async-signal-safe functions (prctl, close_range, close, read, _exit)
    // and reads `keep`, as POSIX requires after fork in a threaded process.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        keeper(&keep, read_end);
    }
    // SAFETY: `read_end` is ours and open; the child has its own copy.
    unsafe { libc::close(read_end) };
    if pid < 0 {
        let error = io::Error::last_os_error();
        // SAFETY: `write_end` is ours and open.
        unsafe { libc::close(write_end) };
        return Err(error);
    }
    // `write_end` stays open until this process exits: the child's read
    // returns then.
    Ok(Some(pid.unsigned_abs()))
}

/// Whether an orphan of this process will be reaped: PID 1 of this PID
/// namespace is not this process, and some thread of it catches, ignores
/// or blocks (to take it from a signalfd or sigwait, as systemd and tini
/// do) `SIGCHLD`. A PID 1 that does none of these (`sleep`, a program that
/// never expected children) leaves orphans as zombies. False when
/// `/proc/1` cannot be read. A heuristic: a PID 1 that reaps by polling
/// `waitpid` shows no sign of it.
pub fn orphans_are_reaped() -> bool {
    // SAFETY: getpid has no preconditions.
    if unsafe { libc::getpid() } == 1 {
        return false;
    }
    let Ok(tasks) = std::fs::read_dir("/proc/1/task") else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("status"))
            .map(|status| handles_sigchld(&status))
            .unwrap_or(false)
    })
}

/// Whether a `/proc/PID/status` text says SIGCHLD is caught, ignored or
/// blocked.
fn handles_sigchld(status: &str) -> bool {
    let bit = 1u64 << (libc::SIGCHLD - 1);
    status.lines().any(|line| {
        let Some((name, mask)) = line.split_once(':') else {
            return false;
        };
        matches!(name, "SigBlk" | "SigIgn" | "SigCgt")
            && u64::from_str_radix(mask.trim(), 16).is_ok_and(|m| m & bit != 0)
    })
}

/// The child of [`hold_packet_sockets_until_exit`]: closes every
/// descriptor but those of `keep` (sorted), waits for EOF on `read_end`,
/// exits. Never returns.
fn keeper(keep: &[c_int], read_end: c_int) -> ! {
    // SAFETY: PR_SET_NAME reads a NUL-terminated name of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"socket-keeper".as_ptr()) };
    let mut from: c_int = 0;
    for &fd in keep.iter().chain([&c_int::MAX]) {
        if fd > from {
            close_range(from, fd - 1);
        }
        from = fd.saturating_add(1);
    }
    let mut byte = 0u8;
    loop {
        // SAFETY: reads at most one byte into `byte`.
        let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
        if n == 0 || (n < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)) {
            break;
        }
    }
    // SAFETY: _exit ends the process without running the parent's atexit
    // handlers or flushing its copied buffers.
    unsafe { libc::_exit(0) }
}

/// Closes descriptors `first..=last` (async-signal-safe): `close_range`
/// (Linux 5.9), else one `close` each up to 4096 (descriptors above that
/// are rare; they stay open until the child exits, and the child waits for
/// the pipe's write end to close: on a kernel without close_range, a
/// process with more than 4096 descriptors should not call this).
fn close_range(first: c_int, last: c_int) {
    // SAFETY: close_range takes numbers only.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) };
    if rc != 0 {
        for fd in first..=last.min(4095) {
            // SAFETY: closing a descriptor number, open or not, touches no
            // memory.
            unsafe { libc::close(fd) };
        }
    }
}

/// Whether `fd` is an open `AF_PACKET` socket.
fn is_packet_socket(fd: c_int) -> bool {
    // SAFETY: all-zero is a valid `stat`; fstat writes into it.
    let mut st: libc::stat = unsafe { zeroed() };
    // SAFETY: `st` is writable; an unopened `fd` gives EBADF.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return false;
    }
    // SAFETY: all-zero is a valid `sockaddr_storage`.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `addr` is writable for `len` bytes.
    let rc = unsafe {
        libc::getsockname(
            fd,
            (&mut addr as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    rc == 0 && c_int::from(addr.ss_family) == libc::AF_PACKET
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigchld_handled_from_status_masks() {
        // systemd: SIGCHLD blocked (signalfd); bash: caught; sleep: neither.
        let systemd = "Name:\tsystemd\nSigBlk:\t7be3c0fe28014a03\nSigIgn:\t0000000000001000\nSigCgt:\t00000001800004ec\n";
        let bash =
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000384004\nSigCgt:\t000000004b813efb\n";
        let sleep =
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n";
        let ignores = "SigIgn:\t0000000000010000\n";
        assert!(handles_sigchld(systemd));
        assert!(handles_sigchld(bash));
        assert!(!handles_sigchld(sleep));
        assert!(handles_sigchld(ignores));
        assert!(!handles_sigchld("SigCgt:\tnot hex\n"));
        assert!(!handles_sigchld(""));
    }

    #[test]
    fn names_that_cannot_be_devices() {
        assert!(matches!(ifreq_for(""), Err(Error::NoSuchDevice { .. })));
        assert!(matches!(
            ifreq_for("a-name-longer-than-ifnamsiz"),
            Err(Error::NoSuchDevice { .. })
        ));
        assert!(matches!(ifreq_for("nul\0"), Err(Error::InvalidArgument(_))));
        assert!(ifreq_for("eth0").is_ok());
    }

    #[test]
    fn socket_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SendSocket>();
        check::<CaptureSocket>();
    }

    #[test]
    fn short_frames_are_refused_before_the_kernel() {
        // Only root can open one; the argument check comes first anyway.
        if let Ok(socket) = SendSocket::open("lo") {
            assert!(matches!(
                socket.send(&[0; 13]),
                Err(Error::InvalidArgument(_))
            ));
        }
    }
}
