//! Wire formats: pure functions from bytes to values and back, no I/O.
//!
//! Each protocol is one file holding its types, its parser, its serializer and,
//! at the bottom, tests with real bytes.

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
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
pub mod bits;
pub mod blob;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod parse;
pub mod serialize;
pub mod tcp;
pub mod udp;

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
