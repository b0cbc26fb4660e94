//! AF_PACKET sockets bound to one interface: the only unsafe code of the
//! hostile host, each block a single system call.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::time::Duration;

/// Where a received frame was going, as the kernel tells a packet socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Arriving on the interface (from the peer).
    Incoming,
    /// Leaving through the interface (sent by this namespace, or by us).
    Outgoing,
}

/// A raw Ethernet socket on one interface.
pub struct PacketSocket {
    fd: libc::c_int,
}

impl PacketSocket {
    /// Opens a socket on `ifname`. With `receive`, it captures every frame
    /// on the interface, both ways (`ETH_P_ALL`); without, it only sends and
    /// its receive queue stays empty (protocol 0 matches nothing).
    pub fn open(ifname: &str, receive: bool) -> io::Result<PacketSocket> {
        let name = CString::new(ifname)?;
        // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface {ifname} in this namespace"),
            ));
        }
        let protocol = if receive {
            (libc::ETH_P_ALL as u16).to_be()
        } else {
            0
        };
        // SAFETY: a plain system call with integer arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::c_int::from(protocol),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // From here on, an error closes the socket (Drop).
        let socket = PacketSocket { fd };
        // SAFETY: sockaddr_ll is plain integers and arrays: all zeroes is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: `addr` is a valid sockaddr_ll and the length given is its size.
        let rc = unsafe {
            libc::bind(
                socket.fd,
                (&addr as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }

    /// Waits at most `timeout` (rounded up to a millisecond) for a frame to read.
    fn readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut fd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `fd` is one valid pollfd, and 1 is the number of them.
        let n = unsafe { libc::poll(&mut fd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(false),
                _ => Err(e),
            };
        }
        Ok(n > 0)
    }

    /// The next frame into `buf` and its direction, waiting at most
    /// `timeout` for it (poll: a millisecond's precision, where SO_RCVTIMEO
    /// has the kernel tick's); `None` when none came.
    pub fn recv(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> io::Result<Option<(usize, Direction)>> {
        if !self.readable(timeout)? {
            return Ok(None);
        }
        // SAFETY: sockaddr_ll is plain integers and arrays: all zeroes is a valid value.
        let mut from: libc::sockaddr_ll = unsafe { zeroed() };
        let mut from_len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` is writable for its length; `from` and `from_len`
        // describe a writable sockaddr_ll.
        let n = unsafe {
            libc::recvfrom(
                self.fd,
                buf.as_mut_ptr().cast::<libc::c_void>(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_ll).cast::<libc::sockaddr>(),
                &mut from_len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let direction = if from.sll_pkttype == libc::PACKET_OUTGOING {
            Direction::Outgoing
        } else {
            Direction::Incoming
        };
        Ok(Some((n as usize, direction)))
    }

    /// Sends one frame as it is; returns whether the kernel took it.
    pub fn send(&self, frame: &[u8]) -> bool {
        // SAFETY: `frame` is readable for its length.
        let n = unsafe {
            libc::send(
                self.fd,
                frame.as_ptr().cast::<libc::c_void>(),
                frame.len(),
                0,
            )
        };
        n >= 0
    }

    /// Sends frames in one system call (`sendmmsg`); returns how many the
    /// kernel took (it stops at the first it refuses).
    pub fn send_batch(&self, frames: &[&[u8]]) -> usize {
        let mut iovecs: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            })
            .collect();
        let mut messages: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iov| {
                // SAFETY: msghdr is integers and pointers: all zeroes (null name,
                // no control data) is a valid value.
                let mut header: libc::msghdr = unsafe { zeroed() };
                header.msg_iov = iov;
                header.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: header,
                    msg_len: 0,
                }
            })
            .collect();
        // SAFETY: every message points at one iovec in `iovecs`, which points at
        // a frame borrowed for this call; `messages` holds `len` headers.
        let n = unsafe {
            libc::sendmmsg(
                self.fd,
                messages.as_mut_ptr(),
                messages.len() as libc::c_uint,
                0,
            )
        };
        usize::try_from(n).unwrap_or(0)
    }
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed only here.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// The name of the network namespace this process runs in, if it is one
/// that `ip netns` made (a bind mount in `/run/netns` of the same inode).
pub fn named_network_namespace() -> io::Result<Option<String>> {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/ns/net")?;
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        if let Ok(m) = std::fs::metadata(entry.path()) {
            if (m.dev(), m.ino()) == (ours.dev(), ours.ino()) {
                return Ok(Some(entry.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    Ok(None)
}
