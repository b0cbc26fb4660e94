//! Wire formats: pure functions from bytes to values and back, no I/O.
//!
//! Each protocol is a module holding its types, its parser and its
//! serializer: `parse(&[u8])` gives the bytes left and the value, or a
//! [`parse::Error`] that says what was being parsed and where; `to_vec()`,
//! `to_slice(&mut buf)` (and, for frames and IPv4 packets, `append_to(&mut
//! vec)`) give the bytes, or a [`BuildError`]. TCP and UDP take the IPv4
//! source and destination too (their checksums cover them). Packets are
//! built from the inside out: `into_*` methods and `From` impls wrap each
//! layer in the next.
//!
//! ```
//! use ersatz::{ethernet, icmp, ipv4, parse};
//!
//! // Build an echo request in a frame...
//! let request = icmp::Echo { identifier: 7, sequence_number: 1 }
//!     .into_echo_request(&b"ping"[..])
//!     .into_ipv4_payload()
//!     .into_packet(ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]))
//!     .into_ethernet_payload();
//! let frame = ethernet::Frame::new(ethernet::Addr::broadcast(), ethernet::Addr([2, 0, 0, 0, 0, 1]), request);
//! let bytes = frame.to_vec()?;
//! assert_eq!(bytes.len(), 14 + 20 + 8 + 4);
//!
//! // ...and read it back, checksums verified.
//! let parsed = parse::run(&bytes, ethernet::Frame::parse)?;
//! let ethernet::Payload::IPv4(ip) = &parsed.payload else { panic!("not IPv4") };
//! let ipv4::Payload::ICMP(message) = &ip.payload else { panic!("not ICMP") };
//! assert!(ip.checksum_ok && message.checksum_ok);
//! assert_eq!(message.header, icmp::Header::EchoRequest(icmp::Echo { identifier: 7, sequence_number: 1 }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Untrusted input never panics: every parser may be fed bytes straight off
//! the network (see the crate's documentation).

/// An enum for a protocol number that keeps values it has no name for:
/// `From<repr>` never fails and `From<enum> for repr` gives the same number back.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        ///
        /// Values without a name here are kept as `Other`; names may be added
        /// in later versions (so matches need a `_` arm).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value without a name here, kept as it was on the wire.
            Other($repr),
        }

        impl From<$repr> for $name {
            #[inline]
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => $name::$variant, )*
                    other => $name::Other(other),
                }
            }
        }

        impl From<$name> for $repr {
            #[inline]
            fn from(value: $name) -> $repr {
                match value {
                    $( $name::$variant => $value, )*
                    $name::Other(other) => other,
                }
            }
        }
    };
}

pub mod arp;
pub(crate) mod bits;
pub mod blob;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod parse;
pub(crate) mod serialize;
pub mod tcp;
pub mod udp;

pub use serialize::BuildError;

/// Real frames captured in the namespace lab (see `tests/fixtures/README.md`),
/// for the tests at the bottom of each protocol file.
#[cfg(test)]
pub(crate) mod fixtures {
    macro_rules! fixture {
        ($($name:ident = $file:literal;)*) => {
            $(
                #[doc = concat!("The frame in `tests/fixtures/", $file, "`.")]
                pub fn $name() -> &'static [u8] {
                    frame(include_bytes!(concat!("../../tests/fixtures/", $file)))
                }
            )*
            /// Every single-frame fixture, by file name.
            pub fn all() -> Vec<(&'static str, &'static [u8])> {
                vec![$(($file, $name()),)*]
            }
        };
    }

    fixture! {
        arp_request = "arp_request.pcap";
        arp_reply = "arp_reply.pcap";
        echo_request = "echo_request.pcap";
        echo_reply = "echo_reply.pcap";
        dest_unreachable = "dest_unreachable.pcap";
        time_exceeded = "time_exceeded.pcap";
        options_request = "ipv4_options_request.pcap";
        options_reply = "ipv4_options_reply.pcap";
        padded_request = "padded_request.pcap";
        padded_reply = "padded_reply.pcap";
        tcp_syn = "tcp_syn.pcap";
        tcp_syn_ack = "tcp_syn_ack.pcap";
        tcp_fin_data = "tcp_fin_data.pcap";
        tcp_rst = "tcp_rst.pcap";
        udp_datagram = "udp_datagram.pcap";
        port_unreachable = "port_unreachable.pcap";
        udp_zero_checksum = "udp_zero_checksum.pcap";
    }

    /// The one frame of a classic pcap file: after the 24-byte file header
    /// and the 16-byte record header, `incl_len` bytes.
    fn frame(pcap: &'static [u8]) -> &'static [u8] {
        assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
        let len = u32::from_le_bytes([pcap[32], pcap[33], pcap[34], pcap[35]]) as usize;
        assert_eq!(pcap.len(), 40 + len, "exactly one frame");
        &pcap[40..]
    }
}
