//! Links an [`Interface`](crate::Interface) can be opened on besides a real
//! NIC: [`Memory`], an in-memory wire whose other end ([`Peer`]) a test
//! drives, so that code using an Interface or a [`Pinger`](crate::Pinger)
//! can be unit-tested without root, a NIC or a capture library.
//!
//! ```
//! use std::time::Duration;
//! use ersatz::{ethernet, link::Memory, parse, Interface};
//!
//! # fn main() -> Result<(), ersatz::Error> {
//! let (link, peer) = Memory::new();
//! let interface = Interface::on_link(Memory::nic(), link);
//! // The peer stands for the gateway: it answers our ARP request for it.
//! let asking = std::thread::spawn(move || {
//!     while let Some(frame) = peer.recv(Duration::from_secs(2)) {
//!         if peer.answer_arp(&frame, Memory::GATEWAY, Memory::GATEWAY_MAC)? {
//!             return Ok(peer);
//!         }
//!     }
//!     Err(ersatz::Error::timeout(Duration::from_secs(2)))
//! });
//! assert_eq!(interface.resolve(Memory::GATEWAY)?, Memory::GATEWAY_MAC);
//! # let _peer = asking.join().expect("the peer thread")?;
//! # Ok(()) }
//! ```

pub use crate::capture::memory::{Memory, Peer};
