//! Listener subscriptions: who waits for which packet.
//!
//! A listener is a filter closure filed under a [`Topic`]. The capture
//! thread offers every IPv4 packet addressed to us to the listeners of its
//! topics, and every ARP packet that is not our own to the ARP listeners.
//! A filter returns [`ControlFlow::Break`] to leave; a listener also leaves
//! when its [`Subscription`] is dropped, so listeners that never match cost
//! nothing once their owner gave up on them.
//!
//! On top of that, channels: an expectation
//! ([`super::Interface::expect_ipv4`]) takes the first packet its filter
//! turns into `Some(value)` and leaves; a stream
//! ([`super::Interface::listen_ipv4`]) takes every one, until its
//! [`Expectation`] (the receiving half) is dropped. The probe engine
//! ([`crate::probe`]) files one listener per run and sends what it matches
//! into the engine's own channel ([`super::Interface::subscribe`]).
//!
//! There are two ways a listener is found, and a packet is offered to both:
//!
//! - **Keyed** ([`Topic::Echo`], [`Topic::Echoes`], [`Topic::Identifier`]):
//!   the capture thread computes each packet's key once ([`EchoKey::of`]:
//!   echo replies, and ICMP errors quoting an echo request) and looks it up
//!   in hash maps, so the cost per packet does not depend on how many are
//!   waiting; the filter runs only on packets with its key.
//! - **Scanned** ([`Topic::Every`], and ARP listeners): every filter runs on
//!   every packet, so the cost per packet grows with their number. Fine for
//!   a handful; use keyed listeners for one per probe.
//!
//! The tables shrink when they empty out, so memory follows the number of
//! listeners waiting now, not the most there ever were.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::mpsc::{self, Receiver, RecvError, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::Timestamp;
use crate::{arp, ethernet, icmp, ipv4};

/// An IPv4 packet as the capture thread saw it, offered to listeners.
#[derive(Debug)]
pub struct Received<'a> {
    /// The packet (its checksums verified: see `checksum_ok` on it and on its ICMP payload).
    pub packet: ipv4::Packet<'a>,
    /// When the frame was captured, by the capture library's clock: compare it
    /// with [`super::Sent::timestamp`] for a round-trip time.
    pub timestamp: Timestamp,
    /// The MAC address the frame came from.
    pub src_mac: ethernet::Addr,
    /// The whole frame as captured (for hex dumps).
    pub frame: &'a [u8],
}

/// An ARP packet as the capture thread saw it, offered to ARP listeners
/// ([`super::Interface::subscribe_arp`]). Our own ARP packets are never
/// offered.
#[derive(Debug)]
pub struct ReceivedArp<'a> {
    /// The ARP packet.
    pub packet: arp::Packet,
    /// When the frame was captured (compare with [`super::Sent::timestamp`]).
    pub timestamp: Timestamp,
    /// The MAC address the frame came from (the Ethernet source, which an
    /// honest station makes the same as `packet.sender_hw_addr`).
    pub src_mac: ethernet::Addr,
    /// The MAC address the frame went to (ours, or broadcast).
    pub dst_mac: ethernet::Addr,
    /// The whole frame as captured (for hex dumps).
    pub frame: &'a [u8],
}

/// Which echo exchange a packet belongs to: the peer an echo request went to
/// (or came back from), and the request's identifier and sequence number.
///
/// It is how keyed listeners ([`super::Interface::expect_echo`]) are found:
/// in a hash map, whatever their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EchoKey {
    /// The echo request's destination, the echo reply's source.
    pub peer: ipv4::Addr,
    /// Identifier and sequence number.
    pub echo: icmp::Echo,
}

impl EchoKey {
    /// The key of a packet, if it has one:
    ///
    /// - an ICMP echo reply: its source, identifier and sequence number;
    /// - an ICMP error (unreachable, time exceeded, ...) quoting an echo
    ///   request: the quoted request's destination, identifier and sequence
    ///   number.
    ///
    /// Checksums play no part (a damaged reply still has its key, so that its
    /// listener can report it); nor does the quoted request's source, which
    /// the listener's filter should check.
    pub fn of(packet: &ipv4::Packet<'_>) -> Option<EchoKey> {
        let ipv4::Payload::ICMP(message) = &packet.payload else {
            return None;
        };
        match message.header {
            icmp::Header::EchoReply(echo) => Some(EchoKey {
                peer: packet.src,
                echo,
            }),
            header if header.is_error() => {
                let quote = message.original()?;
                let echo = quote.echo_request()?;
                Some(EchoKey {
                    peer: quote.packet.dst,
                    echo,
                })
            }
            _ => None,
        }
    }
}

/// What a listener is filed under: what the capture thread looks up for
/// each packet to find who waits for it.
///
/// Every kind but [`Topic::Every`] is keyed: the capture thread computes a
/// packet's [`EchoKey`] once and finds the listeners in hash maps, so the
/// cost per packet does not depend on how many are waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Topic {
    /// Every IPv4 packet to us: the listener's filter runs on each
    /// (scanned; the cost per packet grows with their number).
    Every,
    /// One echo exchange: the echo replies and ICMP errors with this key.
    Echo(EchoKey),
    /// Every echo reply from `peer` with `identifier`, and every ICMP error
    /// quoting an echo request to `peer` with it, whatever the sequence
    /// number (one pinger's whole run).
    Echoes {
        /// The peer.
        peer: ipv4::Addr,
        /// The echo identifier.
        identifier: u16,
    },
    /// Every echo reply with `identifier`, and every ICMP error quoting an
    /// echo request with it, whatever the peer (a sweep of many targets
    /// under one identifier).
    Identifier(u16),
    /// Every TCP segment or UDP datagram from this port of anyone's, and
    /// every ICMP error quoting one of ours to it (port probes, to one
    /// target or many).
    Port(PortKey),
}

/// Which remote port a packet belongs to: the source port of a TCP segment
/// or UDP datagram to us, or the destination port of the TCP segment or
/// UDP datagram an ICMP error quotes. How port listeners are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortKey {
    /// TCP or UDP.
    pub protocol: ipv4::Protocol,
    /// The remote end's port.
    pub port: u16,
}

impl PortKey {
    /// The key of a packet, if it has one (checksums play no part).
    pub fn of(packet: &ipv4::Packet<'_>) -> Option<PortKey> {
        match &packet.payload {
            ipv4::Payload::TCP(t) => Some(PortKey {
                protocol: ipv4::Protocol::TCP,
                port: t.src_port,
            }),
            ipv4::Payload::UDP(u) => Some(PortKey {
                protocol: ipv4::Protocol::UDP,
                port: u.src_port,
            }),
            ipv4::Payload::ICMP(m) if m.header.is_error() => {
                let (protocol, _, port) = m.original()?.ports()?;
                Some(PortKey { protocol, port })
            }
            _ => None,
        }
    }
}

/// The capture thread's verdict on whether a listener stays.
pub use std::ops::ControlFlow;

type Filter = Box<dyn Fn(&Received<'_>) -> ControlFlow<()> + Send>;
type ArpFilter = Box<dyn Fn(&ReceivedArp<'_>) -> ControlFlow<()> + Send>;

struct Listener {
    id: u64,
    filter: Filter,
}

/// The table of listeners, shared by the capture thread and the expectations.
///
/// Crate-internal; `pub` (and hidden) only so that `benches/dispatch.rs`
/// can measure [`Listeners::dispatch`] without a NIC.
#[doc(hidden)]
#[derive(Default)]
pub struct Listeners {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// Scanned: every filter sees every packet.
    filters: HashMap<u64, Filter>,
    /// Keyed by the exact exchange.
    echoes: HashMap<EchoKey, Vec<Listener>>,
    /// Keyed by peer and identifier (any sequence number).
    streams: HashMap<(ipv4::Addr, u16), Vec<Listener>>,
    /// Keyed by identifier (any peer, any sequence number).
    identifiers: HashMap<u16, Vec<Listener>>,
    /// Keyed by protocol and remote port.
    ports: HashMap<PortKey, Vec<Listener>>,
    /// ARP listeners: every ARP packet that is not our own.
    arp: HashMap<u64, ArpFilter>,
}

/// Where a listener is filed (what its [`Subscription`] removes when dropped).
#[derive(Debug, Clone, Copy)]
enum Place {
    Scanned(u64),
    Echo(EchoKey, u64),
    Stream((ipv4::Addr, u16), u64),
    Identifier(u16, u64),
    Port(PortKey, u64),
    Arp(u64),
}

/// Tables keep at least this much room; above it, one used less than a
/// quarter is halved down to twice its length (amortised O(1) per removal).
const MIN_CAPACITY: usize = 64;

fn shrink<K: Eq + Hash, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > MIN_CAPACITY && map.len() * 4 < map.capacity() {
        map.shrink_to((map.len() * 2).max(MIN_CAPACITY));
    }
}

/// Offers `received` to the listeners under `key` in `map`; those whose
/// filter says so leave. Returns how many left.
fn offer_keyed<K: Eq + Hash>(
    map: &mut HashMap<K, Vec<Listener>>,
    key: &K,
    received: &Received<'_>,
) -> usize {
    let Some(list) = map.get_mut(key) else {
        return 0;
    };
    let before = list.len();
    list.retain(|l| (l.filter)(received).is_continue());
    let left = before - list.len();
    if list.is_empty() {
        map.remove(key);
        shrink(map);
    }
    left
}

/// Offers to every filter of a scanned table; those that say so leave.
/// Returns how many left.
fn offer_scanned<T: ?Sized>(map: &mut HashMap<u64, Box<T>>, offer: impl Fn(&T) -> bool) -> usize {
    let before = map.len();
    map.retain(|_, filter| offer(filter));
    let gone = before - map.len();
    if gone > 0 {
        shrink(map);
    }
    gone
}

fn remove_keyed<K: Eq + Hash>(map: &mut HashMap<K, Vec<Listener>>, key: &K, id: u64) {
    if let Some(list) = map.get_mut(key) {
        list.retain(|l| l.id != id);
        if list.is_empty() {
            map.remove(key);
            shrink(map);
        }
    }
}

impl Listeners {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A filter that panicked poisoned the lock; the table itself is still whole.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wraps a filter: matched values go to the channel; an expectation
    /// (`once`) leaves on its first match, and so does a subscription whose
    /// receiver is gone.
    fn wrap<T, F>(once: bool, filter: F) -> (Filter, Receiver<T>)
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        let (tx, rx): (Sender<T>, Receiver<T>) = mpsc::channel();
        let wrapped: Filter = Box::new(move |received| match filter(received) {
            Some(value) => {
                if tx.send(value).is_err() || once {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
            None => ControlFlow::Continue(()),
        });
        (wrapped, rx)
    }

    /// Files `filter` under `topic`; it runs on every packet of the topic
    /// until it returns [`ControlFlow::Break`] or the [`Subscription`] is
    /// dropped. See [`super::Interface::subscribe`].
    pub fn subscribe<F>(self: &Arc<Self>, topic: Topic, filter: F) -> Subscription
    where
        F: Fn(&Received<'_>) -> ControlFlow<()> + Send + 'static,
    {
        self.file(topic, Box::new(filter))
    }

    fn file(self: &Arc<Self>, topic: Topic, filter: Filter) -> Subscription {
        let mut table = self.lock();
        let id = table.next_id;
        table.next_id += 1;
        let listener = Listener { id, filter };
        let place = match topic {
            Topic::Every => {
                table.filters.insert(id, listener.filter);
                Place::Scanned(id)
            }
            Topic::Echo(key) => {
                table.echoes.entry(key).or_default().push(listener);
                Place::Echo(key, id)
            }
            Topic::Echoes { peer, identifier } => {
                let key = (peer, identifier);
                table.streams.entry(key).or_default().push(listener);
                Place::Stream(key, id)
            }
            Topic::Identifier(identifier) => {
                table
                    .identifiers
                    .entry(identifier)
                    .or_default()
                    .push(listener);
                Place::Identifier(identifier, id)
            }
            Topic::Port(key) => {
                table.ports.entry(key).or_default().push(listener);
                Place::Port(key, id)
            }
        };
        drop(table);
        Subscription {
            place,
            listeners: Arc::downgrade(self),
        }
    }

    /// Files an ARP listener: `filter` runs on every ARP packet captured
    /// that is not our own, until it returns [`ControlFlow::Break`] or the
    /// [`Subscription`] is dropped.
    pub fn subscribe_arp<F>(self: &Arc<Self>, filter: F) -> Subscription
    where
        F: Fn(&ReceivedArp<'_>) -> ControlFlow<()> + Send + 'static,
    {
        let mut table = self.lock();
        let id = table.next_id;
        table.next_id += 1;
        table.arp.insert(id, Box::new(filter));
        drop(table);
        Subscription {
            place: Place::Arp(id),
            listeners: Arc::downgrade(self),
        }
    }

    fn expect_on<T, F>(self: &Arc<Self>, topic: Topic, once: bool, filter: F) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        let (filter, rx) = Self::wrap(once, filter);
        Expectation {
            rx,
            _subscription: self.file(topic, filter),
        }
    }

    /// Adds a scanned listener; see [`super::Interface::expect_ipv4`] (`once`)
    /// and [`super::Interface::listen_ipv4`].
    pub fn expect<T, F>(self: &Arc<Self>, once: bool, filter: F) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        self.expect_on(Topic::Every, once, filter)
    }

    /// Adds a listener keyed by `key`; see [`super::Interface::expect_echo`].
    pub fn expect_echo<T, F>(
        self: &Arc<Self>,
        key: EchoKey,
        once: bool,
        filter: F,
    ) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        self.expect_on(Topic::Echo(key), once, filter)
    }

    /// Adds a listener keyed by peer and identifier; see
    /// [`super::Interface::listen_echoes`].
    pub fn expect_stream<T, F>(
        self: &Arc<Self>,
        peer: ipv4::Addr,
        identifier: u16,
        once: bool,
        filter: F,
    ) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        self.expect_on(Topic::Echoes { peer, identifier }, once, filter)
    }

    /// Offers a packet to the listeners: those keyed by its [`EchoKey`] (a
    /// hash lookup or three), then every scanned one. Those that say so
    /// leave; returns how many did.
    pub fn dispatch(&self, received: &Received<'_>) -> usize {
        let key = EchoKey::of(&received.packet);
        let mut table = self.lock();
        let mut left = 0;
        if let Some(key) = key {
            if !table.echoes.is_empty() {
                left += offer_keyed(&mut table.echoes, &key, received);
            }
            if !table.streams.is_empty() {
                left += offer_keyed(
                    &mut table.streams,
                    &(key.peer, key.echo.identifier),
                    received,
                );
            }
            if !table.identifiers.is_empty() {
                left += offer_keyed(&mut table.identifiers, &key.echo.identifier, received);
            }
        }
        if !table.ports.is_empty() {
            if let Some(key) = PortKey::of(&received.packet) {
                left += offer_keyed(&mut table.ports, &key, received);
            }
        }
        if !table.filters.is_empty() {
            left += offer_scanned(&mut table.filters, |f| f(received).is_continue());
        }
        left
    }

    /// Offers an ARP packet to the ARP listeners. Those that say so leave;
    /// returns how many did.
    pub fn dispatch_arp(&self, received: &ReceivedArp<'_>) -> usize {
        let mut table = self.lock();
        if table.arp.is_empty() {
            return 0;
        }
        offer_scanned(&mut table.arp, |f| f(received).is_continue())
    }

    /// Whether any ARP listener is waiting (the capture thread skips
    /// building a [`ReceivedArp`] when none is).
    pub fn wants_arp(&self) -> bool {
        !self.lock().arp.is_empty()
    }

    /// How many listeners are waiting (of every kind).
    pub fn len(&self) -> usize {
        let table = self.lock();
        table.filters.len()
            + table.arp.len()
            + table.echoes.values().map(Vec::len).sum::<usize>()
            + table.streams.values().map(Vec::len).sum::<usize>()
            + table.identifiers.values().map(Vec::len).sum::<usize>()
            + table.ports.values().map(Vec::len).sum::<usize>()
    }

    /// Whether no listener is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove(&self, place: Place) {
        let mut table = self.lock();
        match place {
            Place::Scanned(id) => {
                table.filters.remove(&id);
                shrink(&mut table.filters);
            }
            Place::Arp(id) => {
                table.arp.remove(&id);
                shrink(&mut table.arp);
            }
            Place::Echo(key, id) => remove_keyed(&mut table.echoes, &key, id),
            Place::Stream(key, id) => remove_keyed(&mut table.streams, &key, id),
            Place::Identifier(key, id) => remove_keyed(&mut table.identifiers, &key, id),
            Place::Port(key, id) => remove_keyed(&mut table.ports, &key, id),
        }
    }
}

/// A listener's place in the table: dropping it takes the listener away.
/// Returned by [`super::Interface::subscribe`] and
/// [`super::Interface::subscribe_arp`]; every [`Expectation`] holds one.
#[derive(Debug)]
#[must_use = "the listener leaves when its Subscription is dropped"]
pub struct Subscription {
    place: Place,
    listeners: Weak<Listeners>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.remove(self.place);
        }
    }
}

/// The receiving end of [`super::Interface::expect_ipv4`],
/// [`super::Interface::listen_ipv4`], [`super::Interface::expect_echo`] and
/// [`super::Interface::listen_echoes`]: what the listener's filter turned
/// into values, in the order the packets were captured. Dropping it takes
/// the listener away.
///
/// ```
/// use std::time::Duration;
/// use ersatz::{icmp, ipv4, link, ErrorKind, Interface};
///
/// # fn main() -> Result<(), ersatz::Error> {
/// let (link, _peer) = link::Memory::new();
/// let interface = Interface::on_link(link::Memory::nic(), link);
/// let replies = interface.expect_ipv4(|r| Some(r.packet.src));
/// // Nothing was captured: no value now, and a wait times out.
/// assert!(replies.try_take().is_none());
/// let e = replies.wait(Duration::from_millis(10)).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::Timeout);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "the listener leaves when its Expectation is dropped"]
pub struct Expectation<T> {
    rx: Receiver<T>,
    _subscription: Subscription,
}

impl<T> Expectation<T> {
    /// Waits up to `timeout` for the next value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) when nothing came
    /// within `timeout` (the listener stays: a later wait may still get
    /// it); [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected)
    /// when nothing more can come (the [`super::Interface`] was dropped, or
    /// the listener left after its match and its value was taken).
    pub fn wait(&self, timeout: Duration) -> Result<T, crate::Error> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => crate::Error::timeout(timeout),
            RecvTimeoutError::Disconnected => disconnected(),
        })
    }

    /// Waits until `deadline` for the next value (at once if it has passed
    /// and nothing is there).
    ///
    /// # Errors
    ///
    /// As [`Expectation::wait`].
    pub fn wait_until(&self, deadline: Instant) -> Result<T, crate::Error> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait(left)
    }

    /// Waits for the next value for as long as it takes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected) when
    /// nothing more can come.
    pub fn wait_forever(&self) -> Result<T, crate::Error> {
        self.rx.recv().map_err(|_| disconnected())
    }

    /// The next value if one is there now, without waiting.
    pub fn try_take(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// Every value that is there now, oldest first, without waiting.
    pub fn take_all(&self) -> impl Iterator<Item = T> + '_ {
        self.rx.try_iter()
    }

    /// The channel's `recv_timeout`.
    #[deprecated(since = "0.2.0", note = "use `wait`, whose error is `ersatz::Error`")]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The channel's `try_recv`.
    #[deprecated(since = "0.2.0", note = "use `try_take`")]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.rx.try_recv()
    }

    /// The channel's `recv`.
    #[deprecated(since = "0.2.0", note = "use `wait_forever`")]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.rx.recv()
    }

    /// The channel's `try_iter`.
    #[deprecated(since = "0.2.0", note = "use `take_all`")]
    pub fn try_iter(&self) -> mpsc::TryIter<'_, T> {
        self.rx.try_iter()
    }
}

fn disconnected() -> crate::Error {
    crate::Error::new(
        crate::ErrorKind::Disconnected,
        "nothing more can come: the listener is gone",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const US: ipv4::Addr = ipv4::Addr([10, 0, 0, 1]);
    const PEER: ipv4::Addr = ipv4::Addr([1, 1, 1, 1]);

    fn echo_reply(src: [u8; 4], seq: u16) -> ipv4::Packet<'static> {
        icmp::Echo {
            identifier: 7,
            sequence_number: seq,
        }
        .into_echo_reply(&b"abc"[..])
        .into_ipv4_payload()
        .into_packet(ipv4::Addr(src), US)
    }

    /// What a router says when our echo request `seq` to `dst` has no way on.
    fn unreachable(router: [u8; 4], dst: ipv4::Addr, seq: u16) -> ipv4::Packet<'static> {
        let request = icmp::Echo {
            identifier: 7,
            sequence_number: seq,
        }
        .into_echo_request(&b"abc"[..])
        .into_ipv4_payload()
        .into_packet(US, dst);
        let quote = request.to_vec().unwrap()[..28].to_vec();
        icmp::Packet::new(
            icmp::Header::DestinationUnreachable {
                code: icmp::UnreachableCode::Net,
                unused: 0,
                next_hop_mtu: 0,
            },
            crate::Blob::from(quote),
        )
        .into_ipv4_payload()
        .into_packet(ipv4::Addr(router), US)
    }

    fn received(packet: ipv4::Packet<'static>) -> Received<'static> {
        Received {
            packet,
            timestamp: Timestamp::from_unix(Duration::from_secs(5)),
            src_mac: ethernet::Addr::zero(),
            frame: &[],
        }
    }

    fn seq_of(r: &Received<'_>) -> Option<u16> {
        match &r.packet.payload {
            ipv4::Payload::ICMP(icmp::Packet {
                header: icmp::Header::EchoReply(e),
                ..
            }) => Some(e.sequence_number),
            _ => None,
        }
    }

    fn key(peer: ipv4::Addr, seq: u16) -> EchoKey {
        EchoKey {
            peer,
            echo: icmp::Echo {
                identifier: 7,
                sequence_number: seq,
            },
        }
    }

    /// Capacities of the three tables.
    fn capacities(listeners: &Listeners) -> [usize; 3] {
        let t = listeners.lock();
        [
            t.filters.capacity(),
            t.echoes.capacity(),
            t.streams.capacity(),
        ]
    }

    #[test]
    fn wait_gives_the_value_a_timeout_or_disconnected() {
        let listeners = Arc::new(Listeners::default());
        let first = listeners.expect(true, seq_of);
        let e = first.wait(Duration::from_millis(5)).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Timeout);
        listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 9)));
        assert_eq!(first.wait(Duration::from_millis(5)).ok(), Some(9));
        // It left after its match: nothing more can come.
        let e = first.wait(Duration::from_millis(5)).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Disconnected);
        // A stream whose table is gone (the Interface dropped) ends too.
        let stream = listeners.expect(false, seq_of);
        listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 3)));
        drop(listeners);
        assert_eq!(stream.wait_forever().ok(), Some(3));
        let e = stream.wait_forever().unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Disconnected);
    }

    #[test]
    #[allow(deprecated)]
    fn the_receiver_methods_are_still_there_deprecated() {
        let listeners = Arc::new(Listeners::default());
        let stream = listeners.expect(false, seq_of);
        listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1)));
        listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 2)));
        listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 3)));
        assert_eq!(stream.try_recv(), Ok(1));
        assert_eq!(stream.recv_timeout(Duration::from_millis(5)), Ok(2));
        assert_eq!(stream.recv(), Ok(3));
        assert!(stream.try_iter().next().is_none());
    }

    #[test]
    fn first_match_is_delivered_then_the_listener_leaves() {
        let listeners = Arc::new(Listeners::default());
        let want_2 = listeners.expect(true, |r| {
            seq_of(r).filter(|&s| s == 2).map(|s| (s, r.timestamp))
        });
        let any = listeners.expect(true, seq_of);
        assert_eq!(listeners.len(), 2);
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1))),
            1
        );
        assert_eq!(any.try_take(), Some(1));
        assert_eq!(listeners.len(), 1);
        assert!(want_2.try_take().is_none());
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 2))),
            1
        );
        assert_eq!(
            want_2.try_take(),
            Some((2, Timestamp::from_unix(Duration::from_secs(5))))
        );
        assert_eq!(listeners.len(), 0);
        // Gone: a second reply with the same sequence number reaches nobody.
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 2))),
            0
        );
        assert!(any.try_take().is_none());
    }

    #[test]
    fn dropping_the_expectation_removes_the_listener() {
        let listeners = Arc::new(Listeners::default());
        let many: Vec<_> = (0..100_000u32)
            .map(|i| listeners.expect(true, move |r| seq_of(r).filter(|_| i == u32::MAX)))
            .collect();
        assert_eq!(listeners.len(), 100_000);
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1))),
            0
        );
        drop(many);
        assert_eq!(listeners.len(), 0);
        // The table gave its room back.
        assert!(
            capacities(&listeners)[0] <= 2 * MIN_CAPACITY,
            "{:?}",
            capacities(&listeners)
        );
    }

    #[test]
    fn expired_expectations_leave_memory_flat() {
        // A pinger's life: expect a reply, wait, give up, next probe.
        let listeners = Arc::new(Listeners::default());
        for i in 0..100_000u32 {
            let e = listeners.expect(true, move |r| seq_of(r).filter(|_| i == u32::MAX));
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1)));
            drop(e);
        }
        assert_eq!(listeners.len(), 0);
        let capacity = listeners.lock().filters.capacity();
        println!("after 100,000 expired expectations (scanned, one at a time): 0 waiting, table capacity {capacity}");
        assert!(capacity < 16);
    }

    #[test]
    fn expired_keyed_expectations_leave_memory_flat() {
        // The same with keyed expectations, 64 in flight like a flood, each
        // sequence number used once and never answered.
        let listeners = Arc::new(Listeners::default());
        let mut window = std::collections::VecDeque::new();
        for i in 0..100_000u32 {
            window.push_back(listeners.expect_echo(key(PEER, i as u16), true, seq_of));
            if window.len() > 64 {
                window.pop_front();
            }
            // A reply for nobody (sequence numbers of the past).
            listeners.dispatch(&received(echo_reply(
                [1, 1, 1, 1],
                (i as u16).wrapping_sub(100),
            )));
        }
        assert_eq!(listeners.len(), 64);
        let in_flight = capacities(&listeners);
        window.clear();
        assert_eq!(listeners.len(), 0);
        let [scanned, keyed, streams] = capacities(&listeners);
        println!(
            "after 100,000 expired keyed expectations (64 at a time): 0 waiting, table capacities \
             {scanned}/{keyed}/{streams} (scanned/keyed/streams; keyed {} while 64 waited)",
            in_flight[1]
        );
        assert!(
            [scanned, keyed, streams]
                .iter()
                .all(|&c| c <= 2 * MIN_CAPACITY),
            "{:?}",
            capacities(&listeners)
        );
    }

    #[test]
    fn subscriptions_take_every_match_until_dropped() {
        let listeners = Arc::new(Listeners::default());
        let all = listeners.expect(false, seq_of);
        for seq in 1..=3 {
            assert_eq!(
                listeners.dispatch(&received(echo_reply([1, 1, 1, 1], seq))),
                0
            );
        }
        assert_eq!(all.take_all().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(listeners.len(), 1);
        drop(all);
        assert_eq!(listeners.len(), 0);
    }

    #[test]
    fn expectation_outliving_the_table_is_harmless() {
        let listeners = Arc::new(Listeners::default());
        let e = listeners.expect(true, seq_of);
        let k = listeners.expect_echo(key(PEER, 1), true, seq_of);
        drop(listeners);
        assert!(e.try_take().is_none());
        drop(e);
        drop(k);
    }

    #[test]
    fn echo_key_of_replies_and_quoting_errors() {
        assert_eq!(
            EchoKey::of(&echo_reply([1, 1, 1, 1], 9)),
            Some(key(PEER, 9))
        );
        // An error is filed under the request it quotes: its destination.
        assert_eq!(
            EchoKey::of(&unreachable([10, 0, 0, 254], PEER, 9)),
            Some(key(PEER, 9))
        );
        // Echo requests (someone pinging us) and other traffic have no key.
        let request = icmp::Echo::default()
            .into_echo_request(&b""[..])
            .into_ipv4_payload()
            .into_packet(PEER, US);
        assert_eq!(EchoKey::of(&request), None);
        let udp = ipv4::Payload::Unknown(crate::Blob::from(&[0u8; 8][..])).into_packet(PEER, US);
        assert_eq!(EchoKey::of(&udp), None);
    }

    #[test]
    fn keyed_expectation_takes_only_its_key_then_leaves() {
        let listeners = Arc::new(Listeners::default());
        let e = listeners.expect_echo(key(PEER, 2), true, |r| Some(r.packet.src));
        // Another sequence number, another peer: not offered.
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 3))),
            0
        );
        assert_eq!(
            listeners.dispatch(&received(echo_reply([2, 2, 2, 2], 2))),
            0
        );
        assert!(e.try_take().is_none());
        // The ICMP error quoting our request 2 to the peer is.
        assert_eq!(
            listeners.dispatch(&received(unreachable([10, 0, 0, 254], PEER, 2))),
            1
        );
        assert_eq!(e.try_take(), Some(ipv4::Addr([10, 0, 0, 254])));
        assert_eq!(listeners.len(), 0);
        // Left: the reply itself now reaches nobody.
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 2))),
            0
        );
        assert!(e.try_take().is_none());
    }

    #[test]
    fn keyed_filter_that_declines_keeps_waiting() {
        // A damaged reply is shown to the filter, which may pass on it.
        let listeners = Arc::new(Listeners::default());
        let e = listeners.expect_echo(key(PEER, 1), true, |r| r.packet.checksum_ok.then_some(()));
        let mut damaged = echo_reply([1, 1, 1, 1], 1);
        damaged.checksum_ok = false;
        assert_eq!(listeners.dispatch(&received(damaged)), 0);
        assert_eq!(listeners.len(), 1);
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1))),
            1
        );
        assert_eq!(e.try_take(), Some(()));
    }

    #[test]
    fn two_listeners_on_one_key_are_independent() {
        let listeners = Arc::new(Listeners::default());
        let a = listeners.expect_echo(key(PEER, 1), true, seq_of);
        let b = listeners.expect_echo(key(PEER, 1), true, seq_of);
        drop(a);
        assert_eq!(listeners.len(), 1);
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1))),
            1
        );
        assert_eq!(b.try_take(), Some(1));
    }

    #[test]
    fn keyed_and_scanned_listeners_both_see_a_packet() {
        let listeners = Arc::new(Listeners::default());
        let keyed = listeners.expect_echo(key(PEER, 1), true, seq_of);
        let scanned = listeners.expect(true, seq_of);
        let stream = listeners.expect_stream(PEER, 7, false, seq_of);
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1))),
            2
        );
        assert_eq!((keyed.try_take(), scanned.try_take()), (Some(1), Some(1)));
        assert_eq!(stream.try_take(), Some(1));
    }

    #[test]
    fn stream_takes_every_sequence_number_of_its_peer_and_identifier() {
        let listeners = Arc::new(Listeners::default());
        let stream = listeners.expect_stream(PEER, 7, false, seq_of);
        let other = listeners.expect_stream(PEER, 8, false, seq_of);
        for seq in [5, 1, 5] {
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], seq)));
        }
        listeners.dispatch(&received(echo_reply([2, 2, 2, 2], 1)));
        assert_eq!(stream.take_all().collect::<Vec<_>>(), vec![5, 1, 5]);
        assert!(other.try_take().is_none());
        drop((stream, other));
        assert_eq!(listeners.len(), 0);
    }

    #[test]
    fn keyed_dispatch_runs_one_filter_among_100_000() {
        // Dispatch cost does not grow with the number waiting: of 100,000
        // keyed expectations, a reply runs exactly the one filter of its key
        // (timed in benches/dispatch.rs).
        let listeners = Arc::new(Listeners::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let waiting: Vec<_> = (0..100_000u32)
            .map(|i| {
                let calls = calls.clone();
                let peer = ipv4::Addr([10, 1, (i >> 16) as u8, (i >> 8) as u8]);
                listeners.expect_echo(key(peer, i as u16), true, move |r| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    seq_of(r)
                })
            })
            .collect();
        let at = 54_321u32;
        let src = [10, 1, (at >> 16) as u8, (at >> 8) as u8];
        assert_eq!(listeners.dispatch(&received(echo_reply(src, at as u16))), 1);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(waiting[at as usize].try_take(), Some(at as u16));
        // Unknown keys run none.
        listeners.dispatch(&received(echo_reply([9, 9, 9, 9], 1)));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(listeners.len(), 99_999);
        drop(waiting);
        assert_eq!(listeners.len(), 0);
        assert!(
            capacities(&listeners)
                .iter()
                .all(|&c| c <= 2 * MIN_CAPACITY),
            "{:?}",
            capacities(&listeners)
        );
    }
}
