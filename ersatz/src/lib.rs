//! # ersatz: packet-level networking for pingers
//!
//! `ersatz` builds and reads every byte of Ethernet, ARP, IPv4, ICMP, TCP and
//! UDP itself, so that a program such as `sup` can ping without the operating
//! system's ICMP stack.
//!
//! ## Start here: [`Pinger`]
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), ersatz::Error> {
//! let pinger = ersatz::Pinger::open("10.77.2.2".parse()?)?; // route, NIC, our own ARP
//! match pinger.ping(b"hello", Duration::from_secs(1)) {
//!     Ok(reply) => println!("{reply}"), // Reply from 10.77.2.2: bytes=5 time=0.043ms TTL=63
//!     Err(e) if e.is_timeout() => println!("Request timed out."),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! [`Pinger::ping`] takes only a reply whose IPv4 and ICMP checksums are
//! right, from the target, with our identifier, sequence number and
//! payload; [`Pinger::run`] is ping.exe's session as an iterator of
//! [`ping::Event`]s. Every high-level call fails with one [`Error`] (match
//! on [`Error::kind`]). To test code that uses a Pinger or an
//! [`Interface`] without root or a NIC, open it on [`link::Memory`].
//!
//! ## Layers
//!
//! The crate is layered, wire <- netinfo <- capture <- interface <- probe <-
//! the probe kinds (ping, arping, port) <- sweep, trace, diagnose: a layer's code may use the
//! layers above it in this table, never one below it (a few doc comments
//! link down):
//!
//! | layer | modules | may use | does I/O |
//! |---|---|---|---|
//! | wire formats | [`wire`]: [`ethernet`], [`arp`], [`ipv4`], [`icmp`], [`tcp`], [`udp`], [`parse`], [`blob`] | nothing else in the crate | no |
//! | host network info: the route to a target, its NIC, address, MAC, gateway | [`netinfo`] | wire | reads the OS's tables |
//! | capture backend: Npcap's `wpcap.dll` / libpcap through our patched `rawsock`; the capture [`Timestamp`](capture::Timestamp) and the link (send, receive, stop) an interface is built on | [`capture`] | wire, netinfo | raw frames |
//! | a NIC opened for raw frames: capture thread, own ARP, listeners filed by topic, `send_ipv4`, `send_arp_request` | [`interface`] ([`Interface`]) | wire, netinfo, capture | raw frames |
//! | the probe engine: pace, window, deadlines, retries, matching by key, duplicates, late and damaged answers, statistics, events | [`probe`] | wire, netinfo, capture, interface | through an `Interface` |
//! | probe kinds on the engine: echo requests and ping.exe's session ([`ping`]), ARP requests ([`arping`]) | [`ping`], [`arping`] | all of the above, not each other | through the engine |
//! | TCP SYN and UDP port probes | [`port`] | all of the above but arping (ping: its payload) | through the engine |
//! | many targets: blocks and ranges, ARP then echo on-link, echo routed, one result per target | [`sweep`] | all of the above (its kind is made of ping's, arping's and port's) | through the engine |
//! | the route to a target: TTL-limited echo requests, every hop at once, tracert's trace and mtr's report | [`trace`] | wire, netinfo, capture, interface, probe, ping (its payload), port (SYN probes, RSTs) | through the engine |
//! | a virtual host answering ARP and ping for an address the OS does not own | [`respond`] | wire, netinfo, interface | raw frames |
//! | self-diagnosis: the library, the route, the handles' facts, one ARP with the next hop, whether our own frames are seen | [`diagnose`] | wire, netinfo, capture, interface, probe, arping | through the engine |
//!
//! ## Wire formats
//!
//! Every protocol type has `parse(input) -> parse::Result<Self>` (the rest
//! of the input and the value, or a [`parse::Error`] saying where and why;
//! [`parse::run`] gives the value or an owned [`parse::Failure`]) and
//! `to_vec(&self)` / `to_slice(&self, buf)` (the bytes, or a
//! [`wire::BuildError`]); TCP and UDP, whose checksums cover the
//! IPv4 addresses (the pseudo-header), take the source and destination
//! address too: `parse(input, src, dst)`, `to_vec(&self, src, dst)`. No
//! type of another crate appears in these signatures.
//! Parsing a valid frame does not allocate: the payloads borrow from the
//! input ([`Blob`]); call `into_owned()` to keep a packet beyond the
//! buffer's life. Lengths and checksums are computed when
//! serializing; on parsing, checksums are verified and the verdict is exposed
//! (`checksum_ok`), never silently accepted or rejected.
//!
//! Where a receiver only needs to decide whether a frame is for it, the
//! checked views ([`ethernet::View`], [`ipv4::View`], [`icmp::View`],
//! [`tcp::View`], [`udp::View`]) do the same checks and checksum
//! verification without building a value: fields are read from the buffer
//! when asked, and `to_packet()` builds the value
//! later (a packet's `parse` is exactly its view's `parse` and `to_packet`).
//!
//! ```
//! use ersatz::{ethernet, icmp, ipv4};
//!
//! let echo = icmp::Echo { identifier: 0x1234, sequence_number: 1 };
//! let packet = echo
//!     .into_echo_request(&b"abcdefghijklmnopqrstuvwabcdefghi"[..])
//!     .into_ipv4_payload()
//!     .into_packet("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
//! let frame = ethernet::Frame::new(
//!     "02-00-00-00-00-02".parse().unwrap(),
//!     "02-00-00-00-00-01".parse().unwrap(),
//!     packet.into_ethernet_payload(),
//! );
//! let bytes = frame.to_vec().unwrap();
//! assert_eq!(bytes.len(), 14 + 20 + 8 + 32);
//!
//! let (_, parsed) = ethernet::Frame::parse(&bytes).unwrap();
//! let ethernet::Payload::IPv4(ip) = &parsed.payload else { panic!() };
//! assert!(ip.checksum_ok);
//! let ipv4::Payload::ICMP(reply) = &ip.payload else { panic!() };
//! assert!(reply.checksum_ok);
//! assert_eq!(reply.header, icmp::Header::EchoRequest(echo));
//! ```
//!
//! ## Host network info
//!
//! [`netinfo`] answers, from the operating system's own tables, where a
//! packet for a target must go: [`netinfo::route_to`] gives the
//! [`netinfo::NIC`] (pcap device name, index, IPv4 address and prefix, MAC,
//! gateway) and the next hop whose MAC ARP must learn. Linux reads
//! `/proc/net/route` and `getifaddrs`; Windows asks IP Helper
//! (`GetBestRoute2`, `GetAdaptersAddresses`). The Windows module is the only
//! place with `unsafe` code (FFI calls, each with its `SAFETY` argument).
//!
//! ## Untrusted input never panics
//!
//! Everything in the wire layer is meant to be fed bytes straight off the
//! network. **No input makes a `parse` function panic, loop, or allocate
//! without bound**; a malformed frame is an `Err` whose [`parse::Error`] says
//! what was being parsed ("Ethernet frame > IPv4 packet > ICMP message") and at
//! which byte. Any value that `parse` returns can be serialized again, and for
//! frames whose checksums are correct, re-serializing gives back the exact
//! input bytes (unknown EtherTypes, IP protocols, ICMP types and codes keep
//! their raw bytes, TCP options too; Ethernet padding is kept apart from the
//! payload). This is
//! tested with property tests over random and mutated frames, real captures, a
//! differential check against `etherparse`, and a `cargo fuzz` target.
//! A panic on any input is a bug: please report it with the bytes.
// Unsafe code is allowed only in the FFI module(s) that opt in
// (`netinfo::windows`); every unsafe block there says why it is sound.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod arping;
pub mod capture;
pub mod diagnose;
pub mod error;
pub mod interface;
pub mod link;
pub mod netinfo;
pub mod ping;
pub mod pinger;
pub mod port;
pub mod probe;
pub mod respond;
pub mod sweep;
pub mod trace;
pub mod wire;

pub use error::{Error, ErrorKind};
pub use interface::Interface;
pub use pinger::Pinger;
pub use wire::blob::Blob;
pub use wire::{arp, blob, ethernet, icmp, ipv4, parse, tcp, udp};
