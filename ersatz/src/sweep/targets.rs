//! What a sweep probes: addresses, CIDR blocks and ranges, read the way
//! `fping -g` reads them. Pure: no I/O, no name resolution (a text that is
//! no address expression is left to the caller as a host name).

use std::fmt;

use crate::ipv4;

/// One address expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// One address.
    Addr(ipv4::Addr),
    /// A CIDR block, `10.0.0.0/24`: its hosts, without the network and
    /// broadcast addresses (a /31 and a /32 keep both, as fping -g does).
    Block {
        /// The block's address as written (its host bits are ignored).
        addr: ipv4::Addr,
        /// Its prefix length, 0 to 32.
        prefix_len: u8,
    },
    /// Every address from `first` to `last`, both included:
    /// `10.0.0.1-10.0.0.50`, also written `10.0.0.1-50`.
    Range {
        /// The first address.
        first: ipv4::Addr,
        /// The last address.
        last: ipv4::Addr,
    },
}

/// Why a text is no address expression, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `10.0.0.0/33`.
    #[error("{0}: a prefix length is 0 to 32")]
    BadPrefix(String),
    /// `10.0.0.9-10.0.0.1`.
    #[error("{0}: the range ends before it starts")]
    Backwards(String),
    /// `10.0.0.1-300`.
    #[error("{0}: a range ends in an IPv4 address or a last byte (0 to 255)")]
    BadRangeEnd(String),
}

fn to_u32(a: ipv4::Addr) -> u32 {
    u32::from_be_bytes(a.0)
}

fn from_u32(n: u32) -> ipv4::Addr {
    ipv4::Addr(n.to_be_bytes())
}

impl Spec {
    /// Reads `text`: `Ok(None)` when it is no address expression (a host
    /// name, for the caller to resolve).
    ///
    /// # Errors
    ///
    /// When it is meant as a block or range (an address before the `/` or
    /// `-`) but is not a valid one.
    pub fn parse(text: &str) -> Result<Option<Spec>, Error> {
        if let Ok(addr) = text.parse::<ipv4::Addr>() {
            return Ok(Some(Spec::Addr(addr)));
        }
        if let Some((addr, prefix)) = text.split_once('/') {
            let Ok(addr) = addr.parse::<ipv4::Addr>() else {
                // `remote/lab`, `10.0.0/24`: nothing a resolver will find,
                // which is what the caller says of it.
                return Ok(None);
            };
            let prefix_len = prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= 32 && prefix.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| Error::BadPrefix(text.into()))?;
            return Ok(Some(Spec::Block { addr, prefix_len }));
        }
        let Some((first, end)) = text.split_once('-') else {
            return Ok(None);
        };
        let Ok(first) = first.parse::<ipv4::Addr>() else {
            // `my-host`: a name with a dash.
            return Ok(None);
        };
        let last = match end.parse::<ipv4::Addr>() {
            Ok(last) => last,
            Err(_) => {
                let byte = end
                    .parse::<u8>()
                    .ok()
                    .filter(|_| end.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| Error::BadRangeEnd(text.into()))?;
                let [a, b, c, _] = first.0;
                ipv4::Addr([a, b, c, byte])
            }
        };
        if to_u32(last) < to_u32(first) {
            return Err(Error::Backwards(text.into()));
        }
        Ok(Some(Spec::Range { first, last }))
    }

    /// The first and last address, both included.
    fn bounds(&self) -> (u32, u32) {
        match *self {
            Spec::Addr(a) => (to_u32(a), to_u32(a)),
            Spec::Range { first, last } => (to_u32(first), to_u32(last)),
            Spec::Block { addr, prefix_len } => {
                let host_bits = 32 - u32::from(prefix_len);
                let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
                let net = to_u32(addr) & mask;
                let broadcast = net | !mask;
                if prefix_len >= 31 {
                    (net, broadcast)
                } else {
                    (net + 1, broadcast - 1)
                }
            }
        }
    }

    /// How many addresses it stands for.
    pub fn len(&self) -> u64 {
        let (first, last) = self.bounds();
        u64::from(last) - u64::from(first) + 1
    }

    /// Whether it stands for no address (never: every spec has one).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Its addresses, in order.
    pub fn addrs(&self) -> impl Iterator<Item = ipv4::Addr> {
        let (first, last) = self.bounds();
        (first..=last).map(from_u32)
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Addr(a) => write!(f, "{a}"),
            Spec::Block { addr, prefix_len } => write!(f, "{addr}/{prefix_len}"),
            Spec::Range { first, last } => write!(f, "{first}-{last}"),
        }
    }
}

/// Addresses in address order (as `-a` and `-u` list them).
pub fn sort(addrs: &mut [ipv4::Addr]) {
    addrs.sort_unstable_by_key(|a| to_u32(*a));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> ipv4::Addr {
        s.parse().unwrap()
    }

    fn all(text: &str) -> Vec<String> {
        Spec::parse(text)
            .unwrap()
            .unwrap()
            .addrs()
            .map(|a| a.to_string())
            .collect()
    }

    #[test]
    fn blocks_leave_out_network_and_broadcast() {
        let s = Spec::parse("10.0.0.0/24").unwrap().unwrap();
        assert_eq!(s.len(), 254);
        let list = all("10.0.0.0/24");
        assert_eq!(list.first().unwrap(), "10.0.0.1");
        assert_eq!(list.last().unwrap(), "10.0.0.254");
        // Host bits of the written address are ignored.
        assert_eq!(all("10.0.0.77/30"), ["10.0.0.77", "10.0.0.78"]);
        assert_eq!(all("10.0.0.7/31"), ["10.0.0.6", "10.0.0.7"]);
        assert_eq!(all("10.0.0.7/32"), ["10.0.0.7"]);
        assert_eq!(Spec::parse("10.1.0.0/16").unwrap().unwrap().len(), 65_534);
        assert_eq!(
            Spec::parse("0.0.0.0/0").unwrap().unwrap().len(),
            (1 << 32) - 2
        );
    }

    #[test]
    fn ranges_in_both_spellings() {
        assert_eq!(all("10.0.0.1-3"), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
        assert_eq!(
            all("10.0.0.254-10.0.1.1"),
            ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
        );
        assert_eq!(all("10.0.0.5-5"), ["10.0.0.5"]);
        assert_eq!(
            Spec::parse("10.0.0.1-50").unwrap(),
            Some(Spec::Range {
                first: a("10.0.0.1"),
                last: a("10.0.0.50")
            })
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (text, error) in [
            ("10.0.0.0/33", "10.0.0.0/33: a prefix length is 0 to 32"),
            ("10.0.0.0/", "10.0.0.0/: a prefix length is 0 to 32"),
            ("10.0.0.0/+8", "10.0.0.0/+8: a prefix length is 0 to 32"),
            (
                "10.0.0.9-10.0.0.1",
                "10.0.0.9-10.0.0.1: the range ends before it starts",
            ),
            ("10.0.0.9-1", "10.0.0.9-1: the range ends before it starts"),
            (
                "10.0.0.1-300",
                "10.0.0.1-300: a range ends in an IPv4 address or a last byte (0 to 255)",
            ),
            (
                "10.0.0.1-",
                "10.0.0.1-: a range ends in an IPv4 address or a last byte (0 to 255)",
            ),
            (
                "10.0.0.1-x",
                "10.0.0.1-x: a range ends in an IPv4 address or a last byte (0 to 255)",
            ),
        ] {
            assert_eq!(Spec::parse(text).unwrap_err().to_string(), error);
        }
    }

    #[test]
    fn names_are_left_to_the_caller() {
        for name in [
            "remote.lab",
            "my-host",
            "a-10.0.0.1",
            "localhost",
            "remote/lab",
            "10.0.0/24",
            "-",
        ] {
            assert_eq!(Spec::parse(name), Ok(None), "{name}");
        }
        assert_eq!(Spec::parse("10.0.0.1"), Ok(Some(Spec::Addr(a("10.0.0.1")))));
    }

    #[test]
    fn display_round_trips() {
        for text in ["10.0.0.1", "10.0.0.0/24", "10.0.0.1-10.0.0.50"] {
            assert_eq!(Spec::parse(text).unwrap().unwrap().to_string(), text);
        }
    }

    #[test]
    fn sort_is_by_address_not_text() {
        let mut v = vec![a("10.0.0.10"), a("10.0.0.9"), a("9.255.255.255")];
        sort(&mut v);
        assert_eq!(v, [a("9.255.255.255"), a("10.0.0.9"), a("10.0.0.10")]);
    }
}
