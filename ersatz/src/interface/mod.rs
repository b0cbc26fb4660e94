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
//! # fn main() -> Result<(), ersatz::Error> {
//! use std::time::Duration;
//! use ersatz::{icmp, ipv4, Interface};
//!
//! let target: ipv4::Addr = "10.77.2.2".parse()?;
//! let interface = Interface::open_for(target)?;          // route, NIC, our own ARP
//! let echo = icmp::Echo { identifier: 0x4242, sequence_number: 1 };
//! let payload = b"hello";
//! // Filed before sending, so that no reply slips past; checks what Pinger checks.
//! let reply = interface.expect_ipv4(move |r| match &r.packet.payload {
//!     ipv4::Payload::ICMP(m @ icmp::Packet { header: icmp::Header::EchoReply(e), .. })
//!         if r.packet.checksum_ok && m.checksum_ok && r.packet.src == target
//!             && *e == echo && m.payload[..] == payload[..] => Some(r.timestamp),
//!     _ => None,
//! });
//! let sent = interface.send_ipv4(echo.into_echo_request(&payload[..]).into_ipv4_payload(), target)?;
//! let at = reply.wait(Duration::from_secs(4))?;          // ersatz::Error: Timeout, ...
//! println!("{:?}", at.since(sent.timestamp(Duration::from_millis(50))));
//! # Ok(()) }
//! ```
//!
//! README.md's "Embedding ersatz" quotes this example (ersatz/tests/readme.rs
//! checks that they are the same).

mod arp;
mod listeners;
mod reassembly;
mod send;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Instant;

#[doc(hidden)]
pub use listeners::Listeners;
pub use listeners::{
    ControlFlow, EchoKey, Expectation, PortKey, Received, ReceivedArp, Subscription, Topic,
};

pub use arp::{ARP_INTERVAL, ARP_TRIES};
pub use send::Sent;

pub use crate::capture::Timestamp;
use crate::capture::{self, Link, Next};
use crate::netinfo::{self, NIC};
use crate::{ethernet, ipv4, parse};
use arp::ArpState;
use send::InFlight;

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
    /// The packet could not be serialized (too long, options over 40 bytes,
    /// a header field over its width).
    #[error("cannot build the frame: {0}")]
    Build(#[from] crate::wire::BuildError),
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

struct Shared {
    nic: NIC,
    /// More addresses whose packets are offered to the listeners.
    also_for: Vec<ipv4::Addr>,
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
    /// Frames go to a pcap file ([`Interface::record`]); the flag spares
    /// the lock when they do not.
    recording: AtomicBool,
    recorder: Mutex<Recording>,
}

/// The recorder, or how recording ended.
#[derive(Default)]
enum Recording {
    #[default]
    Off,
    On(capture::Recorder),
    Failed(std::io::Error),
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
        if self.recording.load(Ordering::Relaxed) {
            self.record(bytes, timestamp);
        }
        let Ok(frame) = parse::run(bytes, ethernet::Frame::parse) else {
            self.count(Stat::Malformed, 1);
            return;
        };
        if frame.src == self.nic.mac {
            // Our own frame coming back through the capture: a send time, never a reply.
            self.count(Stat::Own, 1);
            match &frame.payload {
                ethernet::Payload::IPv4(p) => {
                    self.stamp_own(send::OwnKey::Ipv4(p.identification, p.dst), timestamp);
                }
                ethernet::Payload::ARP(request)
                    if request.operation == crate::arp::Operation::Request =>
                {
                    if let Some(asking) = lock(&self.arp).asking.get_mut(&request.target_ip_addr) {
                        asking.on_wire = true;
                        asking.early = None;
                    }
                    self.stamp_own(send::OwnKey::Arp(request.target_ip_addr), timestamp);
                }
                _ => {}
            }
            return;
        }
        match frame.payload {
            ethernet::Payload::ARP(packet) => {
                self.on_arp(&packet);
                if self.listeners.wants_arp() {
                    self.listeners.dispatch_arp(&ReceivedArp {
                        packet,
                        timestamp,
                        src_mac: frame.src,
                        dst_mac: frame.dst,
                        frame: bytes,
                    });
                }
            }
            ethernet::Payload::IPv4(packet)
                if packet.dst == self.nic.addr || self.also_for.contains(&packet.dst) =>
            {
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

    /// Writes a captured frame to the pcap file; on a write error, stops
    /// recording and keeps the error for [`Interface::finish_recording`].
    fn record(&self, bytes: &[u8], timestamp: Timestamp) {
        let mut recording = lock(&self.recorder);
        if let Recording::On(recorder) = &mut *recording {
            if let Err(e) = recorder.record(bytes, timestamp) {
                self.recording.store(false, Ordering::Relaxed);
                *recording = Recording::Failed(e);
            }
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

/// An [`Interface`] borrowed (`&Interface`) or shared (`Arc<Interface>`),
/// for what runs on one: [`crate::probe::Engine::new`],
/// [`crate::ping::Session::new`]. Made with `From`/`into()`; derefs to the
/// Interface.
///
/// ```
/// use std::sync::Arc;
/// use ersatz::{interface::InterfaceRef, link::Memory, Interface};
///
/// let (link, _peer) = Memory::new();
/// let interface = Arc::new(Interface::on_link(Memory::nic(), link));
/// let borrowed: InterfaceRef<'_> = (&*interface).into();
/// let shared: InterfaceRef<'static> = interface.clone().into();
/// assert_eq!(borrowed.nic(), shared.nic());
/// ```
#[derive(Clone)]
pub struct InterfaceRef<'i>(Held<'i>);

#[derive(Clone)]
enum Held<'i> {
    Borrowed(&'i Interface),
    Shared(Arc<Interface>),
}

impl std::fmt::Debug for InterfaceRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("InterfaceRef")
            .field(&self.nic().name)
            .finish()
    }
}

impl std::ops::Deref for InterfaceRef<'_> {
    type Target = Interface;
    fn deref(&self) -> &Interface {
        match &self.0 {
            Held::Borrowed(i) => i,
            Held::Shared(i) => i,
        }
    }
}

impl<'i> From<&'i Interface> for InterfaceRef<'i> {
    fn from(interface: &'i Interface) -> Self {
        InterfaceRef(Held::Borrowed(interface))
    }
}

impl<'i> From<&'i Arc<Interface>> for InterfaceRef<'i> {
    /// Borrowed, as `&Interface` (the Arc is not cloned).
    fn from(interface: &'i Arc<Interface>) -> Self {
        InterfaceRef(Held::Borrowed(interface))
    }
}

impl From<Arc<Interface>> for InterfaceRef<'static> {
    fn from(interface: Arc<Interface>) -> Self {
        InterfaceRef(Held::Shared(interface))
    }
}

/// How to open an [`Interface`] beyond the defaults
/// ([`Interface::open_route_with`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opening {
    /// The capture: promiscuous mode, more for its filter.
    pub capture: capture::Opening,
    /// Addresses besides the NIC's whose IPv4 packets are offered to the
    /// listeners (an address a responder answers for).
    pub also_for: Vec<ipv4::Addr>,
}

/// A NIC opened for raw frames, with its capture thread. `Send + Sync`:
/// share it (e.g. in an `Arc`) and send and expect from several threads.
///
/// Dropping it stops the capture thread (joined) and closes both sides of
/// the capture.
///
/// For a ping that checks everything in one call, see [`crate::Pinger`],
/// which is built on it.
// Both sides close at the same time: on Linux, closing a packet socket
// waits for an RCU grace period in the kernel (some 10-16 ms, measured in
// the lab), and two closes that start together share one.
pub struct Interface {
    // Dropped first: when it is the last reference, the sending side
    // closes on the dropping thread while the capture thread closes the
    // capture side (see `Drop for Interface`).
    shared: Arc<Shared>,
    /// May hold the capture handle open too (pcap's break request): handed
    /// to the capture thread to be closed with it.
    stop: Option<Box<dyn capture::Stop>>,
    /// The capture thread, if it could be started.
    capture: Option<CaptureThread>,
    /// What the capture library and handle do here.
    facts: capture::Facts,
    /// Declared last, dropped last: joins the capture thread, which closes
    /// the capture side.
    closing: Closing,
}

/// The capture thread and what its end is told with.
struct CaptureThread {
    thread: JoinHandle<()>,
    /// Says the thread left its loop: no frame is handed over any more,
    /// and it holds no reference to `Shared`. (In a Mutex for `Sync`; only
    /// the drop uses it.)
    left: Mutex<mpsc::Receiver<()>>,
    /// The stop handle, for the thread to close the capture side with it.
    handover: mpsc::SyncSender<Box<dyn capture::Stop>>,
}

/// A thread closing the capture side, joined on drop.
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
    ///
    /// # Errors
    ///
    /// [`Error::NetInfo`] when the OS's tables give no route, NIC, address
    /// or MAC; [`Error::Capture`] when the capture library is missing or
    /// may not open the NIC (not root / administrator);
    /// [`Error::ArpTimeout`] when the next hop answers none of our ARP
    /// requests. Each converts into [`crate::Error`] with `?`.
    pub fn open_default() -> Result<Self, Error> {
        let route = netinfo::default_route()?;
        Self::open_and_resolve(route.nic, None)
    }

    /// Opens the NIC that routes to `dst` and resolves its next hop's MAC
    /// (the gateway's, or `dst`'s own when it is on-link).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), ersatz::Error> {
    /// let interface = ersatz::Interface::open_for("10.77.2.2".parse()?)?;
    /// println!("{} ({})", interface.nic().name, interface.nic().addr);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NetInfo`] when the OS's tables give no route, NIC, address
    /// or MAC; [`Error::Capture`] when the capture library is missing or
    /// may not open the NIC (not root / administrator);
    /// [`Error::ArpTimeout`] when the next hop answers none of our ARP
    /// requests. Each converts into [`crate::Error`] with `?`.
    pub fn open_for(dst: ipv4::Addr) -> Result<Self, Error> {
        let route = netinfo::route_to(dst)?;
        let hop = (route.destination, route.next_hop);
        Self::open_and_resolve(route.nic, Some(hop))
    }

    /// Opens a NIC by name (Linux interface name; Windows GUID, friendly
    /// name or `\Device\NPF_{GUID}`) and resolves its gateway's MAC, if it has one.
    ///
    /// # Errors
    ///
    /// [`Error::NetInfo`] when the OS's tables give no route, NIC, address
    /// or MAC; [`Error::Capture`] when the capture library is missing or
    /// may not open the NIC (not root / administrator);
    /// [`Error::ArpTimeout`] when the next hop answers none of our ARP
    /// requests. Each converts into [`crate::Error`] with `?`.
    pub fn open_nic(name: &str) -> Result<Self, Error> {
        Self::open_and_resolve(netinfo::nic_named(name)?, None)
    }

    /// Opens the NIC of a route found with [`netinfo::route_to`], without
    /// resolving anything yet: the next hop's MAC is asked for on the first
    /// send (and an [`Error::ArpTimeout`] then concerns that send only).
    ///
    /// # Errors
    ///
    /// [`Error::Capture`] when the capture library is missing or may not
    /// open the NIC.
    pub fn open_route(route: netinfo::Route) -> Result<Self, Error> {
        Self::open_route_with(route, &Opening::default())
    }

    /// [`Interface::open_route`], opened as `how` says: promiscuous, more
    /// let through the capture filter, packets to more addresses than the
    /// NIC's offered to the listeners (a responder answering for one).
    ///
    /// # Errors
    ///
    /// As [`Interface::open_route`]; also [`Error::Capture`] when the
    /// capture filter does not compile.
    pub fn open_route_with(route: netinfo::Route, how: &Opening) -> Result<Self, Error> {
        let hop = Some((route.destination, route.next_hop));
        let link = capture::open_link(&route.nic, &how.capture)?;
        Ok(Self::with_link_for(
            route.nic,
            hop,
            link,
            how.also_for.clone(),
        ))
    }

    fn open_and_resolve(nic: NIC, route: Option<(ipv4::Addr, ipv4::Addr)>) -> Result<Self, Error> {
        let link = capture::open_link(&nic, &capture::Opening::default())?;
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

    /// Opens `nic` on an in-memory link ([`crate::link::Memory`]) instead
    /// of a real NIC: the Interface works as on a NIC (capture thread, our
    /// own ARP, listeners, sends), and the link's [`crate::link::Peer`]
    /// sees every frame it sends and delivers what it captures. Nothing is
    /// resolved yet: the first send asks for the next hop's MAC with ARP,
    /// which the peer must answer ([`crate::link::Peer::answer_arp`]).
    ///
    /// ```
    /// use ersatz::{link::Memory, Interface};
    ///
    /// let (link, _peer) = Memory::new();
    /// let interface = Interface::on_link(Memory::nic(), link);
    /// assert_eq!(interface.nic().addr, Memory::ADDR);
    /// ```
    pub fn on_link(nic: NIC, link: crate::link::Memory) -> Self {
        Self::with_link(nic, None, link.link)
    }

    /// Starts the capture thread on an opened link.
    pub(crate) fn with_link(nic: NIC, route: Option<(ipv4::Addr, ipv4::Addr)>, link: Link) -> Self {
        Self::with_link_for(nic, route, link, Vec::new())
    }

    /// [`Interface::with_link`], offering packets to `also_for` too.
    pub(crate) fn with_link_for(
        nic: NIC,
        route: Option<(ipv4::Addr, ipv4::Addr)>,
        link: Link,
        also_for: Vec<ipv4::Addr>,
    ) -> Self {
        let Link {
            tx,
            mut rx,
            stop,
            facts,
        } = link;
        let shared = Arc::new(Shared {
            also_for,
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
            recording: AtomicBool::new(false),
            recorder: Mutex::default(),
        });
        let worker = shared.clone();
        let (left_tx, left) = mpsc::sync_channel(1);
        let (handover, handover_rx) = mpsc::sync_channel::<Box<dyn capture::Stop>>(1);
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
                // The Interface now holds the last reference: its drop
                // closes the sending side.
                drop(worker);
                let _ = left_tx.send(());
                // Until the Interface drops; then the capture side closes
                // here while the dropping thread closes the sending side
                // (see `Drop for Interface`).
                let stop = handover_rx.recv().ok();
                drop((rx, stop));
            });
        let capture = match thread {
            Ok(thread) => Some(CaptureThread {
                thread,
                left: Mutex::new(left),
                handover,
            }),
            Err(e) => {
                *lock(&shared.failure) = Some(format!("cannot start the capture thread: {e}"));
                None
            }
        };
        Interface {
            shared,
            stop: Some(stop),
            capture,
            facts,
            closing: Closing::default(),
        }
    }

    /// The NIC.
    pub fn nic(&self) -> &NIC {
        &self.shared.nic
    }

    /// What the capture library and the capturing handle do on this NIC:
    /// immediate mode, timestamp precision, the library's path and version.
    pub fn capture_facts(&self) -> &capture::Facts {
        &self.facts
    }

    /// The MAC of `ip`: from the cache, or learned with our own ARP request
    /// (up to [`ARP_TRIES`] requests, [`ARP_INTERVAL`] apart, then
    /// [`Error::ArpTimeout`]). Only replies to our requests are believed.
    ///
    /// # Errors
    ///
    /// [`Error::ArpTimeout`] when nobody answered; [`Error::Interrupted`]
    /// after [`Interface::interrupt`]; [`Error::CaptureStopped`] when the
    /// capture failed.
    pub fn resolve(&self, ip: ipv4::Addr) -> Result<ethernet::Addr, Error> {
        self.shared.resolve(ip)
    }

    /// The MAC already learned for `ip`, if any (no request is sent).
    pub fn cached_mac(&self, ip: ipv4::Addr) -> Option<ethernet::Addr> {
        lock(&self.shared.arp).cache.get(&ip).copied()
    }

    /// The first hop of a packet to `dst`: `dst` itself when on-link, else the gateway.
    ///
    /// # Errors
    ///
    /// [`Error::NoGateway`] when `dst` is not on-link and the NIC has no gateway.
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

    /// Runs `filter` on the capture thread for every IPv4 packet to us of
    /// `topic` (keyed topics find it by a hash lookup, whatever the number
    /// of listeners), until it returns [`ControlFlow::Break`] or the
    /// returned [`Subscription`] is dropped. The lower layer of
    /// `expect_*`/`listen_*`: the filter hands what it finds on itself (the
    /// probe engine's [`crate::probe::Inbox`] does).
    ///
    /// Keep the filter short, and do not call into the Interface from it.
    pub fn subscribe<F>(&self, topic: Topic, filter: F) -> Subscription
    where
        F: Fn(&Received<'_>) -> ControlFlow<()> + Send + 'static,
    {
        self.shared.listeners.subscribe(topic, filter)
    }

    /// Runs `filter` on the capture thread for every ARP packet captured
    /// that is not our own (requests and replies, for anyone), until it
    /// returns [`ControlFlow::Break`] or the returned [`Subscription`] is
    /// dropped. The Interface's own ARP resolution does not depend on it.
    pub fn subscribe_arp<F>(&self, filter: F) -> Subscription
    where
        F: Fn(&ReceivedArp<'_>) -> ControlFlow<()> + Send + 'static,
    {
        self.shared.listeners.subscribe_arp(filter)
    }

    /// Sends `payload` to `dst` in a new packet from our address (random
    /// identification, TTL 128, like Windows).
    ///
    /// # Errors
    ///
    /// [`Error::ArpTimeout`] when the next hop answers no ARP request;
    /// [`Error::NoGateway`] when the destination is not on-link and the
    /// NIC has no gateway; [`Error::NeedsFragmentation`] when the packet is
    /// larger than the MTU with Don't Fragment set; [`Error::Build`] when it
    /// cannot be serialized; [`Error::Send`] when the capture library
    /// refused the frame; [`Error::CaptureStopped`], [`Error::Interrupted`].
    pub fn send_ipv4(&self, payload: ipv4::Payload<'_>, dst: ipv4::Addr) -> Result<Sent, Error> {
        self.send_packet(&payload.into_packet(self.shared.nic.addr, dst))
    }

    /// Sends a packet built by the caller (TTL, flags, source as they are).
    ///
    /// # Errors
    ///
    /// [`Error::ArpTimeout`] when the next hop answers no ARP request;
    /// [`Error::NoGateway`] when the destination is not on-link and the
    /// NIC has no gateway; [`Error::NeedsFragmentation`] when the packet is
    /// larger than the MTU with Don't Fragment set; [`Error::Build`] when it
    /// cannot be serialized; [`Error::Send`] when the capture library
    /// refused the frame; [`Error::CaptureStopped`], [`Error::Interrupted`].
    pub fn send_packet(&self, packet: &ipv4::Packet<'_>) -> Result<Sent, Error> {
        send::send_packet(&self.shared, packet, send::Hop::Route)
    }

    /// Sends a packet built by the caller to the MAC of `next_hop` (learned
    /// with our own ARP, as for [`Interface::send_packet`]), whatever the
    /// Interface's route says: for a caller that looked up each
    /// destination's route itself ([`netinfo::Routes`]), such as a sweep of
    /// targets behind different routers.
    ///
    /// # Errors
    ///
    /// As [`Interface::send_packet`].
    pub fn send_packet_via(
        &self,
        packet: &ipv4::Packet<'_>,
        next_hop: ipv4::Addr,
    ) -> Result<Sent, Error> {
        send::send_packet(&self.shared, packet, send::Hop::Via(next_hop))
    }

    /// Sends a packet built by the caller straight to `mac`, without ARP:
    /// for a caller that has just learned the destination's MAC itself
    /// (an ARP probe's answer) and must not ask again.
    ///
    /// # Errors
    ///
    /// As [`Interface::send_packet`], but for ARP (none is asked).
    pub fn send_packet_to(
        &self,
        packet: &ipv4::Packet<'_>,
        mac: ethernet::Addr,
    ) -> Result<Sent, Error> {
        send::send_packet(&self.shared, packet, send::Hop::Mac(mac))
    }

    /// Sends a whole frame as it is (its source MAC and everything else
    /// the caller's): for a responder answering as an address, and a MAC,
    /// that are not the NIC's. No capture timestamp is kept for it.
    ///
    /// # Errors
    ///
    /// [`Error::Send`] when the capture library refused the frame;
    /// [`Error::CaptureStopped`] when the capture failed.
    pub fn send_frame(&self, frame: &[u8]) -> Result<(), Error> {
        self.shared.check_alive()?;
        self.shared.tx.send(frame).map_err(Error::Send)
    }

    /// Sends our own ARP request for `target` (broadcast "who has `target`?
    /// tell us"), as an ARP ping does; the answer, if any, comes to
    /// [`Interface::subscribe_arp`] listeners (this call does not wait for
    /// it, and does not teach the Interface's cache).
    ///
    /// # Errors
    ///
    /// [`Error::Send`] when the capture library refused the frame;
    /// [`Error::CaptureStopped`] when the capture failed.
    pub fn send_arp_request(&self, target: ipv4::Addr) -> Result<Sent, Error> {
        send::send_arp_request(&self.shared, target)
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

    /// From now on, writes every frame the capture hands over to
    /// `recorder`'s pcap file, with its capture timestamp: what we receive
    /// (past the capture filter) and our own frames as the capture sees
    /// them leave (on Linux it does; where the capture shows none,
    /// [`Stats::own`] stays 0 and the file holds only what was received).
    /// Replaces a recorder already running (which is dropped unfinished).
    pub fn record(&self, recorder: capture::Recorder) {
        *lock(&self.shared.recorder) = Recording::On(recorder);
        self.shared.recording.store(true, Ordering::Relaxed);
    }

    /// Stops recording and finishes the file: how many frames it holds, or
    /// the first error writing it. `None` if nothing was being recorded.
    /// (Dropping the Interface finishes it too.)
    pub fn finish_recording(&self) -> Option<std::io::Result<u64>> {
        self.shared.recording.store(false, Ordering::Relaxed);
        match std::mem::take(&mut *lock(&self.shared.recorder)) {
            Recording::Off => None,
            Recording::On(recorder) => Some(recorder.finish()),
            Recording::Failed(e) => Some(Err(e)),
        }
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
    /// Closing a packet socket waits for the kernel (on Linux, an RCU grace
    /// period: some 10-16 ms, measured in the lab), so the two sides close
    /// at the same time, and share one: the capture side on the capture
    /// thread, already running, the sending side on this thread when
    /// `shared` drops right after this function; `closing`, dropped last,
    /// joins the capture thread.
    fn drop(&mut self) {
        let Some(stop) = self.stop.take() else {
            return;
        };
        stop.stop();
        let Some(capture) = self.capture.take() else {
            let _ = self.finish_recording();
            return;
        };
        // Once the thread left its loop, every frame it handed over is in
        // the file (if it panicked, the channel says so at once).
        let left = capture.left.into_inner().unwrap_or_else(|e| e.into_inner());
        let _ = left.recv();
        let _ = self.finish_recording();
        // If the thread is gone, the stop handle comes back and drops here.
        let _ = capture.handover.send(stop);
        self.closing = Closing(Some(capture.thread));
    }
}

#[cfg(test)]
mod tests {
    //! The Interface's logic over an in-memory wire; the same behaviour
    //! against real kernels is tested in the namespace lab (`tests/`).

    use super::*;
    use crate::arp;
    use crate::capture::memory::{self, nic, Peer, OUR_MAC, US};
    use std::time::Duration;

    // The helpers below are shared with the tests of `arp` and `send`.

    pub(super) fn interface() -> (Interface, Peer) {
        let (link, peer) = memory::wire();
        (Interface::with_link(nic(), None, link), peer)
    }

    fn frame(bytes: &[u8]) -> ethernet::Frame<'static> {
        parse::run(bytes, ethernet::Frame::parse)
            .unwrap()
            .into_owned()
    }

    pub(super) fn arp_reply(from_mac: ethernet::Addr, from_ip: ipv4::Addr) -> Vec<u8> {
        let reply = arp::request(OUR_MAC, US, from_ip).reply(from_mac);
        ethernet::Frame::new(OUR_MAC, from_mac, reply.into_ethernet_payload())
            .to_vec()
            .unwrap()
    }

    pub(super) fn next_sent(peer: &Peer) -> ethernet::Frame<'static> {
        frame(
            &peer
                .rx
                .recv_timeout(Duration::from_secs(2))
                .expect("a frame was sent"),
        )
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
            peer.send(garbage).unwrap();
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

    /// Where and when a side of a [`SlowLink`] was closed.
    #[derive(Debug, Clone)]
    struct Closed {
        what: &'static str,
        thread: Option<String>,
        from: Instant,
        to: Instant,
    }

    /// A side of a link whose close takes [`SLOW_CLOSE`], as a packet
    /// socket's waits for an RCU grace period (the stop handle's none),
    /// and records it.
    struct SlowClose(&'static str, Arc<Mutex<Vec<Closed>>>);

    const SLOW_CLOSE: Duration = Duration::from_millis(150);

    impl Drop for SlowClose {
        fn drop(&mut self) {
            let from = Instant::now();
            if self.0 != "stop" {
                std::thread::sleep(SLOW_CLOSE);
            }
            lock(&self.1).push(Closed {
                what: self.0,
                thread: std::thread::current().name().map(str::to_string),
                from,
                to: Instant::now(),
            });
        }
    }

    struct SlowTx {
        _close: SlowClose,
    }
    impl capture::Transmit for SlowTx {
        fn send(&self, _: &[u8]) -> Result<(), String> {
            Ok(())
        }
    }

    /// Idle until stopped, or failing at once with `fail`.
    struct SlowRx {
        _close: SlowClose,
        stopped: Arc<AtomicBool>,
        fail: bool,
    }
    impl capture::Receive for SlowRx {
        fn next(&mut self) -> Next<'_> {
            if self.fail {
                return Next::Failed("the device went away".into());
            }
            if self.stopped.load(Ordering::SeqCst) {
                return Next::Stopped;
            }
            std::thread::sleep(Duration::from_millis(1));
            Next::Timeout
        }
    }

    struct SlowStop {
        _close: SlowClose,
        stopped: Arc<AtomicBool>,
    }
    impl capture::Stop for SlowStop {
        fn stop(&self) {
            self.stopped.store(true, Ordering::SeqCst);
        }
    }

    /// Drops an Interface on a link whose sides close slowly, and returns
    /// how long the drop took and what was closed where.
    fn drop_slow_link(fail: bool) -> (Duration, Vec<Closed>) {
        let closed = Arc::new(Mutex::new(Vec::new()));
        let side = |what| SlowClose(what, closed.clone());
        let stopped = Arc::new(AtomicBool::new(false));
        let link = Link {
            tx: Box::new(SlowTx { _close: side("tx") }),
            rx: Box::new(SlowRx {
                _close: side("rx"),
                stopped: stopped.clone(),
                fail,
            }),
            stop: Box::new(SlowStop {
                _close: side("stop"),
                stopped,
            }),
            facts: crate::capture::memory::facts(),
        };
        let interface = Interface::with_link(nic(), None, link);
        if fail {
            let deadline = Instant::now() + Duration::from_secs(2);
            while interface.shared.check_alive().is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(interface.shared.check_alive().is_err());
        }
        let started = Instant::now();
        drop(interface);
        let took = started.elapsed();
        let closed = lock(&closed).clone();
        (took, closed)
    }

    fn check_closed_at_once(took: Duration, closed: &[Closed]) {
        let find = |what| {
            closed
                .iter()
                .find(|c| c.what == what)
                .unwrap_or_else(|| panic!("{what} was not closed: {closed:?}"))
        };
        let (tx, rx, stop) = (find("tx"), find("rx"), find("stop"));
        // The capture side (and the stop handle, which may hold it open)
        // on the capture thread, the sending side on the dropping one...
        let capture = Some(format!("ersatz capture {}", nic().name));
        assert_eq!(rx.thread, capture, "{closed:?}");
        assert_eq!(stop.thread, capture, "{closed:?}");
        assert_eq!(tx.thread, std::thread::current().name().map(str::to_string));
        // ... at the same time, and the drop waited for both.
        assert!(rx.from < tx.to && tx.from < rx.to, "{closed:?}");
        assert!(took >= SLOW_CLOSE, "{took:?}");
        assert!(
            took < 2 * SLOW_CLOSE,
            "closes one after the other: {took:?}"
        );
    }

    #[test]
    fn drop_closes_both_sides_at_once() {
        let (took, closed) = drop_slow_link(false);
        check_closed_at_once(took, &closed);
    }

    #[test]
    fn drop_after_a_failed_capture_closes_both_sides_at_once() {
        let (took, closed) = drop_slow_link(true);
        check_closed_at_once(took, &closed);
    }

    #[test]
    fn interface_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Interface>();
    }
}
