//! [`Interface`]: one NIC, opened for raw frames, with a capture thread that
//! turns what it captures into answers for whoever is waiting.
//!
//! Opening an interface finds the NIC (from the OS's tables, [`crate::netinfo`]),
//! opens two capture handles on it (one to send, one to capture: a capture
//! handle on Linux does not see the frames it sent itself, a second one does,
//! and that is how [`Sent::timestamp`] gets the wire time of our own frames),
//! starts the capture thread and learns the gateway's MAC with our own ARP
//! request.
//!
//! ```no_run
//! # fn main() -> Result<(), ersatz::interface::Error> {
//! use std::time::Duration;
//! use ersatz::{icmp, ipv4, Interface};
//!
//! let target: ipv4::Addr = "10.77.2.2".parse().unwrap();
//! let interface = Interface::open_for(target)?;
//! let echo = icmp::Echo { identifier: 0x4242, sequence_number: 1 };
//! let reply = interface.expect_ipv4(move |r| match &r.packet.payload {
//!     ipv4::Payload::ICMP(icmp::Packet { header: icmp::Header::EchoReply(e), .. })
//!         if r.packet.src == target && *e == echo => Some(r.timestamp),
//!     _ => None,
//! });
//! let sent = interface.send_ipv4(echo.as_echo_request(&b"hello"[..]).as_ipv4_payload(), target)?;
//! if let Ok(at) = reply.recv_timeout(Duration::from_secs(4)) {
//!     let rtt = at.since(sent.timestamp(Duration::from_millis(50)));
//!     println!("reply in {:.3} ms", rtt.as_secs_f64() * 1e3);
//! }
//! # Ok(()) }
//! ```

mod listeners;
mod reassembly;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[doc(hidden)]
pub use listeners::Listeners;
pub use listeners::{EchoKey, Expectation, Received};

pub use crate::capture::Timestamp;
use crate::capture::{self, Link, Next};
use crate::netinfo::{self, NIC};
use crate::{arp, ethernet, ipv4, parse};

/// Why opening or using an [`Interface`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The NIC, its address or the route could not be found.
    #[error(transparent)]
    NetInfo(#[from] netinfo::Error),
    /// The capture library could not be loaded or the NIC not opened.
    #[error(transparent)]
    Capture(#[from] capture::Error),
    /// Nobody answered our ARP requests for this address.
    #[error("no ARP reply from {0}: asked {tries} times, {interval:?} apart", tries = ARP_TRIES, interval = ARP_INTERVAL)]
    ArpTimeout(ipv4::Addr),
    /// The destination is not on the NIC's link and the NIC has no gateway.
    #[error("{dst} is not on {nic}'s network and {nic} has no gateway")]
    NoGateway {
        /// Where the packet was going.
        dst: ipv4::Addr,
        /// The NIC.
        nic: String,
    },
    /// The packet could not be serialized (too long, or options over 40 bytes).
    #[error("cannot build the frame: {0:?}")]
    Build(cookie_factory::GenError),
    /// The packet is larger than the NIC's MTU and may not be fragmented.
    #[error("packet needs to be fragmented but DF set ({len} bytes, MTU {mtu})")]
    NeedsFragmentation {
        /// The packet's length.
        len: usize,
        /// The NIC's MTU.
        mtu: u32,
    },
    /// The capture library refused to send the frame.
    #[error("sending failed: {0}")]
    Send(String),
    /// [`Interface::interrupt`] was called while this call waited.
    #[error("interrupted")]
    Interrupted,
    /// The capture thread has stopped (the capture failed).
    #[error("the capture thread has stopped: {0}")]
    CaptureStopped(String),
}

/// Destination, source, EtherType.
const ETHERNET_HEADER_LEN: usize = 14;

/// ARP requests sent before giving up on an address.
pub const ARP_TRIES: u32 = 3;
/// Time between ARP requests.
pub const ARP_INTERVAL: Duration = Duration::from_secs(1);
/// How long the capture may take to show our own ARP request going out
/// (replies are believed only after it); where it never does, replies
/// that came in meanwhile are believed after this.
const ARP_OWN_REQUEST_WAIT: Duration = Duration::from_millis(50);

/// Counters of the capture thread, for diagnostics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames captured.
    pub captured: u64,
    /// Frames that did not parse.
    pub malformed: u64,
    /// Our own frames, seen coming back through the capture.
    pub own: u64,
    /// ARP replies believed (they answered a request of ours).
    pub arp_believed: u64,
    /// ARP replies ignored (unsolicited, or not for us).
    pub arp_ignored: u64,
    /// IPv4 packets for us offered to the listeners.
    pub offered: u64,
    /// Listeners that matched and left (expectations fulfilled).
    pub matched: u64,
}

/// A frame we sent.
#[derive(Debug)]
pub struct Sent {
    frame: Vec<u8>,
    queued_at: Timestamp,
    key: (u16, ipv4::Addr),
    /// Tells this frame's entry in [`InFlight`] from a later one with the same key.
    serial: u64,
    shared: Weak<Shared>,
}

impl Sent {
    /// The frame's bytes, as handed to the capture library (the first
    /// fragment's, for a packet that was fragmented).
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// When `send_ipv4` handed the frame to the capture library (user-space
    /// clock, same time base as capture timestamps).
    pub fn queued_at(&self) -> Timestamp {
        self.queued_at
    }

    /// The capture timestamp of the frame itself, seen leaving by the capture
    /// handle, if it shows up within `wait`.
    ///
    /// It is handed over once: a later call returns `None` at once, as does
    /// a call after another frame with the same identification and
    /// destination was sent, or after the Interface was dropped.
    pub fn wire_timestamp(&self, wait: Duration) -> Option<Timestamp> {
        let shared = self.shared.upgrade()?;
        let deadline = Instant::now().checked_add(wait);
        let mut in_flight = lock(&shared.sent);
        loop {
            let entry = in_flight.frames.get(&self.key)?;
            if entry.serial != self.serial {
                return None;
            }
            if let Some(at) = entry.at {
                in_flight.frames.remove(&self.key);
                return Some(at);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => wait,
            };
            if left.is_zero() {
                return None;
            }
            in_flight.waiting += 1;
            in_flight = shared
                .sent_changed
                .wait_timeout(in_flight, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            in_flight.waiting -= 1;
        }
    }

    /// The best send time the platform gives: the capture timestamp of our
    /// own frame if the capture saw it within `wait`, else [`Sent::queued_at`].
    pub fn timestamp(&self, wait: Duration) -> Timestamp {
        self.wire_timestamp(wait).unwrap_or(self.queued_at)
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let mut in_flight = lock(&shared.sent);
            if in_flight
                .frames
                .get(&self.key)
                .is_some_and(|e| e.serial == self.serial)
            {
                in_flight.frames.remove(&self.key);
            }
        }
    }
}

struct Shared {
    nic: NIC,
    /// The next hop for the destination the interface was opened for, if not the gateway.
    route: Option<(ipv4::Addr, ipv4::Addr)>,
    tx: Box<dyn capture::Transmit>,
    listeners: Arc<listeners::Listeners>,
    arp: Mutex<ArpState>,
    arp_changed: Condvar,
    /// Our frames in flight and their capture timestamps.
    sent: Mutex<InFlight>,
    /// A capture timestamp arrived while someone waited for one.
    sent_changed: Condvar,
    stats: [AtomicU64; 7],
    /// Bumped by [`Interface::interrupt`]: ARP waits that started before give up.
    interrupts: AtomicU64,
    failure: Mutex<Option<String>>,
    reassembly: Mutex<reassembly::Reassembly>,
}

/// Our frames whose [`Sent`] is alive, by (IPv4 identification,
/// destination): no allocation per frame (a channel each cost the sending
/// thread of a flood measurably).
#[derive(Default)]
struct InFlight {
    frames: HashMap<(u16, ipv4::Addr), OnWire>,
    next_serial: u64,
    /// Threads waiting in [`Sent::wire_timestamp`]: the capture thread
    /// wakes them only if there are any.
    waiting: usize,
}

struct OnWire {
    serial: u64,
    /// The capture timestamp, once the capture showed the frame.
    at: Option<Timestamp>,
}

#[derive(Default)]
struct ArpState {
    cache: HashMap<ipv4::Addr, ethernet::Addr>,
    /// Addresses we are asking for.
    asking: HashMap<ipv4::Addr, Asking>,
}

/// An address we are asking for.
#[derive(Default)]
struct Asking {
    /// How many askers wait.
    askers: u32,
    /// The capture showed our request going out: a reply captured after it
    /// answers it (one captured before cannot, though the capture thread may
    /// only get to it after we started asking).
    on_wire: bool,
    /// A reply captured before our request showed: believed only if the
    /// capture never shows our own frames (see [`ARP_OWN_REQUEST_WAIT`]).
    early: Option<ethernet::Addr>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing that holds these locks leaves the data half-written.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy)]
enum Stat {
    Captured,
    Malformed,
    Own,
    ArpBelieved,
    ArpIgnored,
    Offered,
    Matched,
}

impl Shared {
    fn count(&self, stat: Stat, n: u64) {
        self.stats[stat as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// What the capture thread does with each frame.
    fn on_frame(&self, bytes: &[u8], timestamp: Timestamp) {
        self.count(Stat::Captured, 1);
        let Ok(frame) = parse::run(bytes, ethernet::Frame::parse) else {
            self.count(Stat::Malformed, 1);
            return;
        };
        if frame.src == self.nic.mac {
            // Our own frame coming back through the capture: a send time, never a reply.
            self.count(Stat::Own, 1);
            match &frame.payload {
                ethernet::Payload::IPv4(p) => {
                    let mut in_flight = lock(&self.sent);
                    let waiting = in_flight.waiting > 0;
                    // The first frame (or fragment) seen with the key.
                    if let Some(entry) = in_flight
                        .frames
                        .get_mut(&(p.identification, p.dst))
                        .filter(|e| e.at.is_none())
                    {
                        entry.at = Some(timestamp);
                        if waiting {
                            self.sent_changed.notify_all();
                        }
                    }
                }
                ethernet::Payload::ARP(request) if request.operation == arp::Operation::Request => {
                    if let Some(asking) = lock(&self.arp).asking.get_mut(&request.target_ip_addr) {
                        asking.on_wire = true;
                        asking.early = None;
                    }
                }
                _ => {}
            }
            return;
        }
        match frame.payload {
            ethernet::Payload::ARP(reply) => self.on_arp(&reply),
            ethernet::Payload::IPv4(packet) if packet.dst == self.nic.addr => {
                if packet.is_fragment() {
                    let whole = lock(&self.reassembly).add(&packet, Instant::now());
                    if let Some(whole) = whole {
                        if let Ok(packet) = parse::run(&whole, ipv4::Packet::parse) {
                            self.offer(packet, timestamp, frame.src, bytes);
                        }
                    }
                } else {
                    self.offer(packet, timestamp, frame.src, bytes);
                }
            }
            _ => {}
        }
    }

    /// Hands a packet for us to the listeners.
    fn offer(
        &self,
        packet: ipv4::Packet<'_>,
        timestamp: Timestamp,
        src_mac: ethernet::Addr,
        frame: &[u8],
    ) {
        self.count(Stat::Offered, 1);
        let matched = self.listeners.dispatch(&Received {
            packet,
            timestamp,
            src_mac,
            frame,
        });
        self.count(Stat::Matched, matched as u64);
    }

    /// Believes an ARP reply only if it answers a request of ours: captured
    /// after our request went out, and the first to do so (a later claim,
    /// unsolicited, must not replace the answer).
    fn on_arp(&self, p: &arp::Packet) {
        let mut arp = lock(&self.arp);
        let arp = &mut *arp;
        let for_us = p.operation == arp::Operation::Reply
            && p.target_ip_addr == self.nic.addr
            && p.target_hw_addr == self.nic.mac
            && !p.sender_hw_addr.is_multicast()
            && p.sender_hw_addr != ethernet::Addr::zero()
            && !arp.cache.contains_key(&p.sender_ip_addr);
        match arp.asking.get_mut(&p.sender_ip_addr) {
            Some(asking) if for_us && asking.on_wire => {
                arp.cache.insert(p.sender_ip_addr, p.sender_hw_addr);
                self.count(Stat::ArpBelieved, 1);
                self.arp_changed.notify_all();
            }
            Some(asking) if for_us => {
                asking.early = Some(p.sender_hw_addr);
                self.count(Stat::ArpIgnored, 1);
            }
            _ if p.operation == arp::Operation::Reply => self.count(Stat::ArpIgnored, 1),
            _ => {}
        }
    }

    /// The MAC of `ip`, from the cache or from our own ARP requests.
    fn resolve(&self, ip: ipv4::Addr) -> Result<ethernet::Addr, Error> {
        {
            let mut arp = lock(&self.arp);
            if let Some(mac) = arp.cache.get(&ip) {
                return Ok(*mac);
            }
            arp.asking.entry(ip).or_default().askers += 1;
        }
        let outcome = self.ask(ip);
        let mut arp = lock(&self.arp);
        if let Some(asking) = arp.asking.get_mut(&ip) {
            asking.askers -= 1;
            if asking.askers == 0 {
                arp.asking.remove(&ip);
            }
        }
        outcome
    }

    /// Sends ARP requests for `ip` until the capture thread believes a reply.
    fn ask(&self, ip: ipv4::Addr) -> Result<ethernet::Addr, Error> {
        let request = ethernet::Frame::new(
            ethernet::Addr::broadcast(),
            self.nic.mac,
            arp::request(self.nic.mac, self.nic.addr, ip).as_ethernet_payload(),
        )
        .to_vec()
        .map_err(Error::Build)?;
        let interrupts = self.interrupts.load(Ordering::SeqCst);
        for _ in 0..ARP_TRIES {
            self.check_alive()?;
            let sent_at = Instant::now();
            self.tx.send(&request).map_err(Error::Send)?;
            let deadline = sent_at + ARP_INTERVAL;
            let mut arp = lock(&self.arp);
            loop {
                if let Some(mac) = arp.cache.get(&ip) {
                    return Ok(*mac);
                }
                self.check_alive()?;
                if self.interrupts.load(Ordering::SeqCst) != interrupts {
                    return Err(Error::Interrupted);
                }
                let now = Instant::now();
                let mut wake = deadline.saturating_duration_since(now);
                if let Some(asking) = arp.asking.get_mut(&ip).filter(|a| !a.on_wire) {
                    let waited = now.saturating_duration_since(sent_at);
                    if waited >= ARP_OWN_REQUEST_WAIT {
                        // The capture does not show our own frames here: take
                        // the replies as they come.
                        asking.on_wire = true;
                        if let Some(mac) = asking.early.take() {
                            arp.cache.insert(ip, mac);
                            self.count(Stat::ArpBelieved, 1);
                            return Ok(mac);
                        }
                    } else {
                        wake = wake.min(ARP_OWN_REQUEST_WAIT - waited);
                    }
                }
                if wake.is_zero() {
                    break;
                }
                arp = self
                    .arp_changed
                    .wait_timeout(arp, wake)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        Err(Error::ArpTimeout(ip))
    }

    fn check_alive(&self) -> Result<(), Error> {
        match &*lock(&self.failure) {
            Some(why) => Err(Error::CaptureStopped(why.clone())),
            None => Ok(()),
        }
    }

    /// Where frames for `dst` go first.
    fn next_hop(&self, dst: ipv4::Addr) -> Result<ipv4::Addr, Error> {
        if self.nic.is_on_link(dst) {
            return Ok(dst);
        }
        if let Some((route_dst, hop)) = self.route {
            if route_dst == dst {
                return Ok(hop);
            }
        }
        self.nic.gateway.ok_or_else(|| Error::NoGateway {
            dst,
            nic: self.nic.name.clone(),
        })
    }
}

/// A NIC opened for raw frames, with its capture thread. `Send + Sync`:
/// share it (e.g. in an `Arc`) and send and expect from several threads.
///
/// Dropping it stops the capture thread (joined) and closes the handles,
/// both at once.
pub struct Interface {
    // Dropped first: when it is the last reference, the sending handle
    // closes on the dropping thread while `closing` closes the capture
    // handle on its own (see `Drop for Interface`).
    shared: Arc<Shared>,
    /// Holds the capture handle too (pcap's break request): goes with it
    /// to be closed.
    stop: Option<Box<dyn capture::Stop>>,
    /// The capture thread; it hands back the receiving side when it ends.
    thread: Option<JoinHandle<Box<dyn capture::Receive>>>,
    /// Declared last, dropped last: waits for the capture handle's close.
    closing: Closing,
}

/// A thread closing a handle, joined on drop.
#[derive(Default)]
struct Closing(Option<JoinHandle<()>>);

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            let _ = thread.join();
        }
    }
}

impl Interface {
    /// Opens the NIC of the default route and resolves the gateway's MAC.
    pub fn open_default() -> Result<Self, Error> {
        let route = netinfo::default_route()?;
        Self::open_and_resolve(route.nic, None)
    }

    /// Opens the NIC that routes to `dst` and resolves its next hop's MAC
    /// (the gateway's, or `dst`'s own when it is on-link).
    pub fn open_for(dst: ipv4::Addr) -> Result<Self, Error> {
        let route = netinfo::route_to(dst)?;
        let hop = (route.destination, route.next_hop);
        Self::open_and_resolve(route.nic, Some(hop))
    }

    /// Opens a NIC by name (Linux interface name; Windows GUID, friendly
    /// name or `\Device\NPF_{GUID}`) and resolves its gateway's MAC, if it has one.
    pub fn open_nic(name: &str) -> Result<Self, Error> {
        Self::open_and_resolve(netinfo::nic_named(name)?, None)
    }

    /// Opens the NIC of a route found with [`netinfo::route_to`], without
    /// resolving anything yet: the next hop's MAC is asked for on the first
    /// send (and an [`Error::ArpTimeout`] then concerns that send only).
    pub fn open_route(route: netinfo::Route) -> Result<Self, Error> {
        let hop = Some((route.destination, route.next_hop));
        let link = capture::open_link(&route.nic)?;
        Ok(Self::with_link(route.nic, hop, link))
    }

    fn open_and_resolve(nic: NIC, route: Option<(ipv4::Addr, ipv4::Addr)>) -> Result<Self, Error> {
        let link = capture::open_link(&nic)?;
        let interface = Self::with_link(nic, route, link);
        let first_hop = match route {
            Some((_, hop)) => Some(hop),
            None => interface.shared.nic.gateway,
        };
        if let Some(hop) = first_hop {
            interface.shared.resolve(hop)?;
        }
        Ok(interface)
    }

    /// Starts the capture thread on an opened link.
    pub(crate) fn with_link(nic: NIC, route: Option<(ipv4::Addr, ipv4::Addr)>, link: Link) -> Self {
        let Link { tx, mut rx, stop } = link;
        let shared = Arc::new(Shared {
            nic,
            route,
            tx,
            listeners: Arc::default(),
            arp: Mutex::default(),
            arp_changed: Condvar::new(),
            sent: Mutex::default(),
            sent_changed: Condvar::new(),
            stats: Default::default(),
            interrupts: AtomicU64::new(0),
            failure: Mutex::new(None),
            reassembly: Mutex::default(),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ersatz capture {}", shared.nic.name))
            .spawn(move || {
                loop {
                    match rx.next() {
                        Next::Frame(bytes, at) => worker.on_frame(bytes, at),
                        Next::Timeout => {}
                        Next::Stopped => break,
                        Next::Failed(why) => {
                            *lock(&worker.failure) = Some(why);
                            worker.arp_changed.notify_all();
                            break;
                        }
                    }
                }
                // Closed by whoever joins: see `Drop for Interface`.
                rx
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                *lock(&shared.failure) = Some(format!("cannot start the capture thread: {e}"));
                None
            }
        };
        Interface {
            shared,
            stop: Some(stop),
            thread,
            closing: Closing::default(),
        }
    }

    /// The NIC.
    pub fn nic(&self) -> &NIC {
        &self.shared.nic
    }

    /// The MAC of `ip`: from the cache, or learned with our own ARP request
    /// (up to [`ARP_TRIES`] requests, [`ARP_INTERVAL`] apart, then
    /// [`Error::ArpTimeout`]). Only replies to our requests are believed.
    pub fn resolve(&self, ip: ipv4::Addr) -> Result<ethernet::Addr, Error> {
        self.shared.resolve(ip)
    }

    /// The MAC already learned for `ip`, if any (no request is sent).
    pub fn cached_mac(&self, ip: ipv4::Addr) -> Option<ethernet::Addr> {
        lock(&self.shared.arp).cache.get(&ip).copied()
    }

    /// The first hop of a packet to `dst`: `dst` itself when on-link, else the gateway.
    pub fn next_hop(&self, dst: ipv4::Addr) -> Result<ipv4::Addr, Error> {
        self.shared.next_hop(dst)
    }

    /// Waits for the first IPv4 packet addressed to us that `filter` turns
    /// into `Some(value)`; the value arrives on the returned [`Expectation`].
    ///
    /// The filter runs on the capture thread, for every IPv4 packet to our
    /// address (our own frames never reach it): keep it short, and do not call
    /// into the Interface from it. The listener leaves after its first match,
    /// or when the Expectation is dropped. Every such filter runs on every
    /// packet: for many expectations at once (one per probe), use the keyed
    /// [`Interface::expect_echo`], whose cost does not grow with their number.
    pub fn expect_ipv4<T, F>(&self, filter: F) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        self.shared.listeners.expect(true, filter)
    }

    /// Like [`Interface::expect_ipv4`], but keeps listening: every packet the
    /// filter turns into `Some(value)` arrives on the returned receiver, until
    /// it is dropped. For a pinger's whole run: late replies, duplicates, ICMP
    /// errors quoting its requests.
    pub fn listen_ipv4<T, F>(&self, filter: F) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        self.shared.listeners.expect(false, filter)
    }

    /// Waits for the first echo reply or ICMP error with this [`EchoKey`]
    /// (see [`EchoKey::of`]) that `filter` turns into `Some(value)`; the
    /// value arrives on the returned [`Expectation`].
    ///
    /// Like [`Interface::expect_ipv4`], but keyed: the capture thread finds
    /// the listener by the packet's key in a hash map, so a packet costs the
    /// same with one or 100,000 expectations waiting, and `filter` only runs
    /// on packets with this key (it should still check what the key does
    /// not: checksums, payload, the quoted request's source). The listener
    /// leaves after its first match, or when the Expectation is dropped.
    pub fn expect_echo<T, F>(&self, key: EchoKey, filter: F) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        self.shared.listeners.expect_echo(key, true, filter)
    }

    /// Like [`Interface::expect_echo`] for every sequence number, and keeps
    /// listening: every echo reply from `peer` with `identifier`, and every
    /// ICMP error quoting an echo request to `peer` with `identifier`, that
    /// `filter` turns into `Some(value)` arrives on the returned receiver,
    /// until it is dropped. For a pinger's whole run (it is what
    /// [`crate::ping::Session`] uses), at the cost of a hash lookup per packet.
    pub fn listen_echoes<T, F>(
        &self,
        peer: ipv4::Addr,
        identifier: u16,
        filter: F,
    ) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        self.shared
            .listeners
            .expect_stream(peer, identifier, false, filter)
    }

    /// Sends `payload` to `dst` in a new packet from our address (random
    /// identification, TTL 128, like Windows).
    pub fn send_ipv4(&self, payload: ipv4::Payload<'_>, dst: ipv4::Addr) -> Result<Sent, Error> {
        self.send_packet(&payload.as_packet(self.shared.nic.addr, dst))
    }

    /// Sends a packet built by the caller (TTL, flags, source as they are).
    pub fn send_packet(&self, packet: &ipv4::Packet<'_>) -> Result<Sent, Error> {
        let shared = &self.shared;
        shared.check_alive()?;
        let hop = shared.next_hop(packet.dst)?;
        let mac = shared.resolve(hop)?;
        let mtu = usize::try_from(shared.nic.mtu).unwrap_or(usize::MAX);
        if packet.len() > mtu && packet.dont_fragment() {
            return Err(Error::NeedsFragmentation {
                len: packet.len(),
                mtu: shared.nic.mtu,
            });
        }
        // The common case, one frame, is written straight into the vector
        // the Sent keeps (no copy of the packet, no list of fragments).
        let (first, more) = if packet.len() <= mtu {
            let mut frame = Vec::with_capacity(ETHERNET_HEADER_LEN + packet.len());
            frame.extend_from_slice(&mac.0);
            frame.extend_from_slice(&shared.nic.mac.0);
            frame.extend_from_slice(&(ethernet::EtherType::IPv4 as u16).to_be_bytes());
            let frame =
                cookie_factory::gen_simple(packet.serialize(), frame).map_err(Error::Build)?;
            (frame, Vec::new())
        } else {
            let mut frames = Vec::new();
            for fragment in packet.fragments(mtu).map_err(Error::Build)? {
                let frame =
                    ethernet::Frame::new(mac, shared.nic.mac, ethernet::Payload::IPv4(fragment));
                frames.push(frame.to_vec().map_err(Error::Build)?);
            }
            let mut frames = frames.into_iter();
            (frames.next().unwrap_or_default(), frames.collect())
        };
        let key = (packet.identification, packet.dst);
        let serial = {
            let mut in_flight = lock(&shared.sent);
            let serial = in_flight.next_serial;
            in_flight.next_serial += 1;
            in_flight.frames.insert(key, OnWire { serial, at: None });
            serial
        };
        let sent = Sent {
            frame: first,
            queued_at: Timestamp::now(),
            key,
            serial,
            shared: Arc::downgrade(shared),
        };
        // On failure, dropping `sent` forgets the entry.
        for bytes in std::iter::once(&sent.frame).chain(&more) {
            shared.tx.send(bytes).map_err(Error::Send)?;
        }
        Ok(sent)
    }

    /// Makes every call that is waiting for an ARP reply right now return
    /// [`Error::Interrupted`] at once (for Ctrl+C). Later calls are not affected.
    pub fn interrupt(&self) {
        self.shared.interrupts.fetch_add(1, Ordering::SeqCst);
        // Under the lock, so that no waiter misses the wake-up between its
        // check and its wait.
        let _arp = lock(&self.shared.arp);
        self.shared.arp_changed.notify_all();
    }

    /// The capture thread's counters.
    pub fn stats(&self) -> Stats {
        let s = |i: Stat| self.shared.stats[i as usize].load(Ordering::Relaxed);
        Stats {
            captured: s(Stat::Captured),
            malformed: s(Stat::Malformed),
            own: s(Stat::Own),
            arp_believed: s(Stat::ArpBelieved),
            arp_ignored: s(Stat::ArpIgnored),
            offered: s(Stat::Offered),
            matched: s(Stat::Matched),
        }
    }

    /// How many listeners are waiting.
    pub fn listeners(&self) -> usize {
        self.shared.listeners.len()
    }
}

impl Drop for Interface {
    /// Closing a handle waits for the kernel (on Linux, RCU grace periods:
    /// some 30 ms each, measured in the lab), so the two handles close at
    /// once: the capture handle on a thread of its own, the sending handle
    /// on this one when `shared` drops right after this function, and
    /// `closing`, dropped last, waits for the other.
    fn drop(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        stop.stop();
        let rx = self.thread.take().and_then(|t| t.join().ok());
        let closer = std::thread::Builder::new()
            .name("ersatz close".into())
            .spawn(move || drop((rx, stop)));
        // Where no thread can start, the failed spawn closed it here.
        self.closing = Closing(closer.ok());
    }
}

#[cfg(test)]
mod tests {
    //! The Interface's logic over an in-memory wire; the same behaviour
    //! against real kernels is tested in the namespace lab (`tests/`).

    use super::*;
    use crate::capture::memory::{self, nic, Peer, FAR, GW, GW_MAC, OUR_MAC, US};
    use crate::icmp;

    const EVIL_MAC: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 0x66]);

    fn interface() -> (Interface, Peer) {
        let (link, peer) = memory::wire();
        (Interface::with_link(nic(), None, link), peer)
    }

    fn frame(bytes: &[u8]) -> ethernet::Frame<'static> {
        parse::run(bytes, ethernet::Frame::parse)
            .unwrap()
            .into_owned()
    }

    fn arp_reply(from_mac: ethernet::Addr, from_ip: ipv4::Addr) -> Vec<u8> {
        let reply = arp::request(OUR_MAC, US, from_ip).reply(from_mac);
        ethernet::Frame::new(OUR_MAC, from_mac, reply.as_ethernet_payload())
            .to_vec()
            .unwrap()
    }

    fn next_sent(peer: &Peer) -> ethernet::Frame<'static> {
        frame(
            &peer
                .rx
                .recv_timeout(Duration::from_secs(2))
                .expect("a frame was sent"),
        )
    }

    #[test]
    fn arp_request_is_ours_and_the_reply_is_believed() {
        let (interface, peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            let request = next_sent(&peer);
            assert_eq!(request.dst, ethernet::Addr::broadcast());
            assert_eq!(request.src, OUR_MAC);
            assert_eq!(
                request.payload,
                ethernet::Payload::ARP(arp::request(OUR_MAC, US, GW))
            );
            peer.tx.send(arp_reply(GW_MAC, GW)).unwrap();
            assert_eq!(asker.join().unwrap().unwrap(), GW_MAC);
        });
        assert_eq!(interface.cached_mac(GW), Some(GW_MAC));
        // Cached: no second request.
        assert_eq!(interface.resolve(GW).unwrap(), GW_MAC);
        assert!(peer.rx.try_recv().is_err());
        assert_eq!(interface.stats().arp_believed, 1);
    }

    #[test]
    fn unsolicited_replies_are_ignored() {
        let (interface, peer) = interface();
        peer.tx.send(arp_reply(EVIL_MAC, GW)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while interface.stats().arp_ignored == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(interface.stats().arp_ignored, 1);
        assert_eq!(interface.cached_mac(GW), None);
        // And once resolved, a later unsolicited claim does not overwrite it.
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            next_sent(&peer);
            peer.tx.send(arp_reply(GW_MAC, GW)).unwrap();
            assert_eq!(asker.join().unwrap().unwrap(), GW_MAC);
        });
        peer.tx.send(arp_reply(EVIL_MAC, GW)).unwrap();
        while interface.stats().arp_ignored < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(interface.cached_mac(GW), Some(GW_MAC));
    }

    /// Our ARP request for `ip` as the capture shows it going out.
    fn own_request(ip: ipv4::Addr) -> Vec<u8> {
        ethernet::Frame::new(
            ethernet::Addr::broadcast(),
            OUR_MAC,
            arp::request(OUR_MAC, US, ip).as_ethernet_payload(),
        )
        .to_vec()
        .unwrap()
    }

    #[test]
    fn a_claim_captured_before_our_request_is_no_answer() {
        let (interface, peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            next_sent(&peer);
            // Captured before our request went out, though the capture
            // thread gets to it only now; then our request; then the answer.
            peer.tx.send(arp_reply(EVIL_MAC, GW)).unwrap();
            peer.tx.send(own_request(GW)).unwrap();
            // Time enough for the asker to take the claim, had it been believed.
            std::thread::sleep(Duration::from_millis(200));
            peer.tx.send(arp_reply(GW_MAC, GW)).unwrap();
            assert_eq!(asker.join().unwrap().unwrap(), GW_MAC);
        });
        assert_eq!(interface.cached_mac(GW), Some(GW_MAC));
    }

    #[test]
    fn a_claim_right_behind_the_answer_does_not_replace_it() {
        let (interface, peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            next_sent(&peer);
            peer.tx.send(own_request(GW)).unwrap();
            peer.tx.send(arp_reply(GW_MAC, GW)).unwrap();
            for _ in 0..64 {
                peer.tx.send(arp_reply(EVIL_MAC, GW)).unwrap();
            }
            assert_eq!(asker.join().unwrap().unwrap(), GW_MAC);
        });
        let deadline = Instant::now() + Duration::from_secs(2);
        while interface.stats().captured < 66 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(interface.stats().captured, 66);
        assert_eq!(interface.cached_mac(GW), Some(GW_MAC));
        assert_eq!(interface.stats().arp_believed, 1);
    }

    #[test]
    fn replies_are_believed_where_the_capture_shows_no_own_frames() {
        // The in-memory wire, like a capture that never shows what we
        // sent: the answer is taken after ARP_OWN_REQUEST_WAIT.
        let (interface, peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| {
                let start = Instant::now();
                (interface.resolve(GW), start.elapsed())
            });
            next_sent(&peer);
            peer.tx.send(arp_reply(GW_MAC, GW)).unwrap();
            let (mac, took) = asker.join().unwrap();
            assert_eq!(mac.unwrap(), GW_MAC);
            assert!(took < ARP_INTERVAL, "{took:?}");
        });
        assert!(peer.rx.try_recv().is_err(), "asked once");
    }

    #[test]
    fn arp_gives_up_after_three_tries() {
        let (interface, peer) = interface();
        let start = Instant::now();
        let err = interface.resolve(ipv4::Addr([10, 0, 0, 99])).unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, Error::ArpTimeout(ip) if ip == ipv4::Addr([10, 0, 0, 99])));
        assert_eq!(
            err.to_string(),
            "no ARP reply from 10.0.0.99: asked 3 times, 1s apart"
        );
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(4),
            "{took:?}"
        );
        assert_eq!(peer.rx.try_iter().count(), 3);
    }

    #[test]
    fn echo_goes_to_the_gateway_and_the_reply_to_the_listener() {
        let (interface, peer) = interface();
        // Teach the cache the gateway first.
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            next_sent(&peer);
            peer.tx.send(arp_reply(GW_MAC, GW)).unwrap();
            asker.join().unwrap().unwrap();
        });
        let echo = icmp::Echo {
            identifier: 9,
            sequence_number: 1,
        };
        let reply = interface.expect_ipv4(move |r| match &r.packet.payload {
            ipv4::Payload::ICMP(icmp::Packet {
                header: icmp::Header::EchoReply(e),
                ..
            }) if *e == echo && r.packet.src == FAR => Some(r.timestamp),
            _ => None,
        });
        let sent = interface
            .send_ipv4(echo.as_echo_request(&b"abc"[..]).as_ipv4_payload(), FAR)
            .unwrap();
        let out = next_sent(&peer);
        assert_eq!((out.dst, out.src), (GW_MAC, OUR_MAC));
        let ethernet::Payload::IPv4(request) = out.payload else {
            panic!("{out:?}")
        };
        assert_eq!((request.src, request.dst, request.ttl), (US, FAR, 128));
        // Our own frame coming back through the capture is a send time, not a reply.
        peer.tx
            .send(
                ethernet::Frame::new(GW_MAC, OUR_MAC, ethernet::Payload::IPv4(request.clone()))
                    .to_vec()
                    .unwrap(),
            )
            .unwrap();
        let wire = sent
            .wire_timestamp(Duration::from_secs(2))
            .expect("own frame seen");
        assert!(wire >= sent.queued_at());
        // Handed over once, like a message.
        assert_eq!(sent.wire_timestamp(Duration::ZERO), None);
        // The one-frame fast path writes what the frame serializer writes.
        assert_eq!(
            sent.frame(),
            &ethernet::Frame::new(GW_MAC, OUR_MAC, ethernet::Payload::IPv4(request.clone()))
                .to_vec()
                .unwrap()[..]
        );
        assert!(reply.try_recv().is_err());
        assert_eq!(interface.stats().own, 1);
        // The reply.
        let answer = echo
            .as_echo_reply(&b"abc"[..])
            .as_ipv4_payload()
            .as_packet(FAR, US);
        peer.tx
            .send(
                ethernet::Frame::new(OUR_MAC, GW_MAC, answer.as_ethernet_payload())
                    .to_vec()
                    .unwrap(),
            )
            .unwrap();
        let at = reply.recv_timeout(Duration::from_secs(2)).unwrap();
        assert!(at >= wire);
        assert_eq!(interface.listeners(), 0);
    }

    #[test]
    fn interrupt_ends_an_arp_wait_at_once() {
        let (interface, _peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| {
                let start = Instant::now();
                (
                    interface.resolve(ipv4::Addr([10, 0, 0, 99])),
                    start.elapsed(),
                )
            });
            std::thread::sleep(Duration::from_millis(100));
            interface.interrupt();
            let (result, took) = asker.join().unwrap();
            assert!(matches!(result, Err(Error::Interrupted)), "{result:?}");
            assert!(took < Duration::from_millis(900), "{took:?}");
        });
    }

    #[test]
    fn on_link_destinations_get_their_own_mac() {
        let (interface, peer) = interface();
        let neighbour = ipv4::Addr([10, 0, 0, 3]);
        let neighbour_mac = ethernet::Addr([2, 0, 0, 0, 0, 3]);
        std::thread::scope(|s| {
            let sender = s.spawn(|| {
                interface.send_ipv4(
                    ipv4::Payload::Unknown(crate::Blob::from(&[1u8][..])),
                    neighbour,
                )
            });
            let request = next_sent(&peer);
            assert_eq!(
                request.payload,
                ethernet::Payload::ARP(arp::request(OUR_MAC, US, neighbour))
            );
            peer.tx.send(arp_reply(neighbour_mac, neighbour)).unwrap();
            sender.join().unwrap().unwrap();
        });
        assert_eq!(next_sent(&peer).dst, neighbour_mac);
        assert_eq!(
            interface.cached_mac(GW),
            None,
            "the gateway was not involved"
        );
    }

    #[test]
    fn garbage_is_counted_and_survived() {
        let (interface, peer) = interface();
        for len in [0usize, 1, 13, 14, 33, 60] {
            // Too short for a header, or claiming IPv4 with a total length of 0x4545.
            let mut garbage = vec![0x45; len];
            if len >= 14 {
                garbage[12..14].copy_from_slice(&[0x08, 0x00]);
            }
            peer.tx.send(garbage).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while interface.stats().captured < 6 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let stats = interface.stats();
        assert_eq!((stats.captured, stats.malformed), (6, 6));
    }

    #[test]
    fn drop_joins_the_capture_thread() {
        let (interface, _peer) = interface();
        let weak = Arc::downgrade(&interface.shared);
        drop(interface);
        // The thread held a strong reference until it ended.
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn interface_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Interface>();
    }
}
