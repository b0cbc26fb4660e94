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
