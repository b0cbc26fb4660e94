//! A virtual host: the other half of ping. [`Responder`] answers ARP and
//! ICMP echo requests for an address the operating system does not own,
//! from raw frames on a real Ethernet segment, the way a TUN echo responder
//! answers on a virtual link.
//!
//! It answers "who has ADDR?" with its MAC (the NIC's, or another one: the
//! Interface must then capture in promiscuous mode; [`opening`] says how to
//! open it), and
//! every echo request to ADDR with the byte-exact echo reply (identifier,
//! sequence number and payload echoed, checksums computed, its own TTL),
//! also for fragmented requests (reassembled, the reply fragmented to the
//! MTU). Frames with bad checksums, requests to other addresses, ARP
//! replies and anything from its own MAC are never answered.
//!
//! It does not become an amplifier: one reply per request at most, and at
//! most [`Options::rate`] replies a second (a burst of a tenth of that
//! allowed). Requests beyond the rate are dropped, counted in
//! [`Counters::over_rate`]: a flood costs the capture thread's parsing and
//! nothing more.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::interface::{self, Subscription, Topic};
use crate::{arp, ethernet, icmp, ipv4, Interface};

/// How to answer.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address answered for.
    pub addr: ipv4::Addr,
    /// The MAC answered with (`None`: the NIC's).
    pub mac: Option<ethernet::Addr>,
    /// TTL of the echo replies (64 by default).
    pub ttl: u8,
    /// Replies a second at most (1,000 by default).
    pub rate: u32,
}

impl Options {
    /// Answers for `addr` with the NIC's MAC, TTL 64, 1,000 replies a second.
    pub fn new(addr: ipv4::Addr) -> Options {
        Options {
            addr,
            mac: None,
            ttl: 64,
            rate: 1000,
        }
    }
}

/// Why a responder cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is this machine's own.
    #[error("{addr} is this machine's own address (on {nic}): the system already answers for it")]
    OwnAddress {
        /// The address.
        addr: ipv4::Addr,
        /// The NIC.
        nic: String,
    },
    /// The address is not on the NIC's network.
    #[error("{addr} is not on {nic}'s network ({net}): a responder answers on its own link")]
    NotOnLink {
        /// The address.
        addr: ipv4::Addr,
        /// The NIC.
        nic: String,
        /// The NIC's address and prefix.
        net: String,
    },
    /// Another station answered our ARP for the address.
    #[error("{addr} is already in use: {mac} answered our ARP for it")]
    Conflict {
        /// The address.
        addr: ipv4::Addr,
        /// Who answered.
        mac: ethernet::Addr,
    },
    /// Sending failed.
    #[error(transparent)]
    Interface(#[from] interface::Error),
}

/// What a responder did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answered {
    /// An echo request, answered.
    Echo {
        /// Who asked.
        from: ipv4::Addr,
        /// Its identifier.
        identifier: u16,
        /// Its sequence number.
        seq: u16,
        /// Its payload bytes.
        bytes: usize,
    },
    /// An ARP request for our address, answered.
    Arp {
        /// Who asked.
        from: ipv4::Addr,
        /// Its MAC.
        mac: ethernet::Addr,
    },
}

/// How many of each a responder saw; readable while it runs.
#[derive(Debug, Default)]
pub struct Counters {
    /// Echo requests answered.
    pub echo: AtomicU64,
    /// ARP requests answered.
    pub arp: AtomicU64,
    /// Requests not answered for the rate.
    pub over_rate: AtomicU64,
    /// Replies that could not be sent.
    pub failed: AtomicU64,
}

/// A request the capture thread found for us.
enum Request {
    Echo {
        from: ipv4::Addr,
        to_mac: ethernet::Addr,
        echo: icmp::Echo,
        payload: Vec<u8>,
    },
    Arp {
        from: ipv4::Addr,
        mac: ethernet::Addr,
    },
}

/// Answers for an address until dropped (or [`Responder::stop`]).
pub struct Responder {
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    mac: ethernet::Addr,
    addr: ipv4::Addr,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("addr", &self.addr)
            .field("mac", &self.mac)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// How to open the [`Interface`] a responder for `options` runs on: its
/// address's packets offered to listeners and let through the capture
/// filter, promiscuous mode when it answers as a MAC not the NIC's, and a
/// capture for many frames a second (a responder runs until stopped, and
/// may be flooded: its start-up matters less than its cost per frame).
pub fn opening(options: &Options) -> crate::interface::Opening {
    crate::interface::Opening {
        also_for: vec![options.addr],
        capture: crate::capture::Opening {
            promiscuous: options.mac.is_some(),
            filter: Some(format!("icmp and dst host {}", options.addr)),
            bulk: true,
        },
    }
}

/// How long the start waits for someone else to answer our ARP for the address.
pub const CONFLICT_WAIT: Duration = Duration::from_millis(500);

/// On the capture thread: a request for `addr` from someone else, good
/// checksums, never from `mac` (our own frames, captured again).
fn classify_ipv4(
    r: &interface::Received<'_>,
    addr: ipv4::Addr,
    mac: ethernet::Addr,
) -> Option<Request> {
    if r.packet.dst != addr || r.src_mac == mac || !r.packet.checksum_ok {
        return None;
    }
    let ipv4::Payload::ICMP(m) = &r.packet.payload else {
        return None;
    };
    match m.header {
        icmp::Header::EchoRequest(echo) if m.checksum_ok => Some(Request::Echo {
            from: r.packet.src,
            to_mac: r.src_mac,
            echo,
            payload: m.payload.to_vec(),
        }),
        _ => None,
    }
}

fn classify_arp(
    r: &interface::ReceivedArp<'_>,
    addr: ipv4::Addr,
    mac: ethernet::Addr,
) -> Option<Request> {
    let p = &r.packet;
    let asks = p.operation == arp::Operation::Request
        && p.target_ip_addr == addr
        && p.sender_ip_addr != addr
        && r.src_mac != mac
        && p.sender_hw_addr != mac
        && !p.sender_hw_addr.is_multicast();
    asks.then_some(Request::Arp {
        from: p.sender_ip_addr,
        mac: p.sender_hw_addr,
    })
}

impl Responder {
    /// Checks that `options.addr` is free on `interface`'s link (not the
    /// NIC's, on its network, nobody answering our ARP for it within
    /// [`CONFLICT_WAIT`]), announces it with a gratuitous ARP, and answers
    /// for it until dropped, reporting each answer to `on_answer` (from the
    /// responder's thread).
    ///
    /// # Errors
    ///
    /// [`Error::OwnAddress`], [`Error::NotOnLink`], [`Error::Conflict`], or
    /// what sending said.
    pub fn start<F>(
        interface: Arc<Interface>,
        options: &Options,
        on_answer: F,
    ) -> Result<Responder, Error>
    where
        F: FnMut(&Answered) + Send + 'static,
    {
        let nic = interface.nic();
        let addr = options.addr;
        // The NIC's own, or another of this machine's addresses.
        let own = matches!(
            crate::netinfo::route_to(addr),
            Err(crate::netinfo::Error::OwnAddress(_))
        );
        if addr == nic.addr || own {
            return Err(Error::OwnAddress {
                addr,
                nic: nic.description.clone(),
            });
        }
        if !nic.is_on_link(addr) {
            return Err(Error::NotOnLink {
                addr,
                nic: nic.description.clone(),
                net: format!("{}/{}", nic.addr, nic.prefix_len),
            });
        }
        let mac = options.mac.unwrap_or(nic.mac);
        // Someone else answering "who has ADDR?": a conflict.
        let (tx, rx) = mpsc::channel();
        let conflict = interface.subscribe_arp(move |r| {
            let p = &r.packet;
            if p.operation == arp::Operation::Reply
                && p.sender_ip_addr == addr
                && p.sender_hw_addr != mac
            {
                let _ = tx.send(p.sender_hw_addr);
            }
            ControlFlow::Continue(())
        });
        interface.send_arp_request(addr)?;
        if let Ok(other) = rx.recv_timeout(CONFLICT_WAIT) {
            return Err(Error::Conflict { addr, mac: other });
        }
        drop(conflict);
        // Ours now: tell the link (a gratuitous ARP: who has ADDR? ADDR).
        let announce = arp::Packet {
            operation: arp::Operation::Request,
            sender_hw_addr: mac,
            sender_ip_addr: addr,
            target_hw_addr: ethernet::Addr::zero(),
            target_ip_addr: addr,
        };
        let frame = ethernet::Frame::new(
            ethernet::Addr::broadcast(),
            mac,
            announce.into_ethernet_payload(),
        )
        .to_vec()
        .map_err(interface::Error::Build)?;
        interface.send_frame(&frame)?;

        let (tx, rx) = mpsc::channel();
        let listening = Self::listen(&interface, addr, mac, tx);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let answering = Answering {
            interface,
            options: options.clone(),
            mac,
            counters: counters.clone(),
            stop: stop.clone(),
            on_answer,
            tokens: f64::from(options.rate.max(1)) / 10.0,
            refilled: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("ersatz responder".into())
            .spawn(move || answering.run(rx, listening))
            .map_err(|e| interface::Error::Send(format!("cannot start the responder: {e}")))?;
        Ok(Responder {
            counters,
            stop,
            thread: Some(thread),
            mac,
            addr,
        })
    }

    fn listen(
        interface: &Interface,
        addr: ipv4::Addr,
        mac: ethernet::Addr,
        tx: Sender<Request>,
    ) -> Vec<Subscription> {
        // Hands a request over; a responder gone takes its listener away.
        fn hand(tx: &Sender<Request>, request: Option<Request>) -> ControlFlow<()> {
            match request.map(|r| tx.send(r)) {
                Some(Err(_)) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
        let ip_tx = tx.clone();
        let echo = interface.subscribe(Topic::Every, move |r| {
            hand(&ip_tx, classify_ipv4(r, addr, mac))
        });
        let arp = interface.subscribe_arp(move |r| hand(&tx, classify_arp(r, addr, mac)));
        vec![echo, arp]
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The MAC answered with.
    pub fn mac(&self) -> ethernet::Addr {
        self.mac
    }

    /// Stops answering; returns once the responder's thread has ended.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The responder's thread.
struct Answering<F> {
    interface: Arc<Interface>,
    options: Options,
    mac: ethernet::Addr,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    on_answer: F,
    /// The rate's token bucket.
    tokens: f64,
    refilled: Instant,
}

impl<F: FnMut(&Answered)> Answering<F> {
    fn run(mut self, rx: Receiver<Request>, _listening: Vec<Subscription>) {
        while !self.stop.load(Ordering::SeqCst) {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(request) => self.answer(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Whether the rate lets one more reply go.
    fn allowed(&mut self) -> bool {
        let rate = f64::from(self.options.rate.max(1));
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * rate;
        self.tokens = (self.tokens + earned).min((rate / 10.0).max(1.0));
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn answer(&mut self, request: Request) {
        if !self.allowed() {
            self.counters.over_rate.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let addr = self.options.addr;
        let (sent, answered) = match request {
            Request::Arp { from, mac } => {
                let reply = arp::request(mac, from, addr).reply(self.mac);
                let frame =
                    ethernet::Frame::new(mac, self.mac, reply.into_ethernet_payload()).to_vec();
                let sent = frame
                    .map_err(interface::Error::Build)
                    .and_then(|f| self.interface.send_frame(&f));
                (sent, Answered::Arp { from, mac })
            }
            Request::Echo {
                from,
                to_mac,
                echo,
                payload,
            } => {
                let bytes = payload.len();
                let mut packet = echo
                    .into_echo_reply(crate::Blob::from(payload))
                    .into_ipv4_payload()
                    .into_packet(addr, from);
                packet.ttl = self.options.ttl;
                (
                    self.send_ip(&packet, to_mac),
                    Answered::Echo {
                        from,
                        identifier: echo.identifier,
                        seq: echo.sequence_number,
                        bytes,
                    },
                )
            }
        };
        match sent {
            Ok(()) => {
                let counter = match answered {
                    Answered::Echo { .. } => &self.counters.echo,
                    Answered::Arp { .. } => &self.counters.arp,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                (self.on_answer)(&answered);
            }
            Err(_) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// An IPv4 packet from us to `to_mac`, fragmented to the MTU if it must be.
    fn send_ip(
        &self,
        packet: &ipv4::Packet<'_>,
        to_mac: ethernet::Addr,
    ) -> Result<(), interface::Error> {
        let mtu = usize::try_from(self.interface.nic().mtu).unwrap_or(usize::MAX);
        let pieces = if packet.len() <= mtu {
            vec![packet.clone()]
        } else {
            packet.fragments(mtu).map_err(interface::Error::Build)?
        };
        for piece in pieces {
            let frame = ethernet::Frame::new(to_mac, self.mac, ethernet::Payload::IPv4(piece))
                .to_vec()
                .map_err(interface::Error::Build)?;
            self.interface.send_frame(&frame)?;
        }
        Ok(())
    }
}
