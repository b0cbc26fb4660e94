//! IPv4 reassembly (RFC 791, RFC 815's hole check) of fragmented packets
//! addressed to us: a 65,500-byte echo comes back in 45 fragments.
//!
//! Bounded against hostile input: at most [`MAX_BUFFERS`] packets in
//! progress (the oldest is dropped for a new one), each at most 65,535 bytes
//! long, [`MAX_PIECES`] fragments and [`MAX_BUFFER_BYTES`] bytes kept (so
//! overlapping fragments cannot pile up: at most 8 MiB in all), and
//! forgotten after [`MAX_AGE`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::{ipv4, Blob};

/// Packets being reassembled at once.
pub(crate) const MAX_BUFFERS: usize = 64;
/// Fragments kept per packet.
pub(crate) const MAX_PIECES: usize = 1024;
/// Fragment bytes kept per packet: a whole packet's worth, and as much
/// again for overlaps (a real sender never overlaps).
pub(crate) const MAX_BUFFER_BYTES: usize = 2 * 65_535;
/// How long an incomplete packet is kept.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: ipv4::Addr,
    dst: ipv4::Addr,
    identification: u16,
    protocol: u8,
}

struct Buffer {
    started: Instant,
    /// The first fragment's header (offset 0), once it came.
    head: Option<ipv4::Packet<'static>>,
    /// (offset, bytes) of every fragment's payload.
    pieces: Vec<(usize, Vec<u8>)>,
    /// The bytes in `pieces`.
    bytes: usize,
    /// The payload length, once the last fragment came.
    total: Option<usize>,
}

#[derive(Default)]
pub(crate) struct Reassembly {
    buffers: HashMap<Key, Buffer>,
}

impl Reassembly {
    /// Adds a fragment; returns the whole packet's bytes when it is complete.
    /// Fragments with a bad header checksum are dropped (the packet then
    /// never completes: a damaged reply is a lost reply).
    pub(crate) fn add(&mut self, fragment: &ipv4::Packet<'_>, now: Instant) -> Option<Vec<u8>> {
        self.buffers
            .retain(|_, b| now.duration_since(b.started) < MAX_AGE);
        if !fragment.checksum_ok {
            return None;
        }
        let ipv4::Payload::Unknown(data) = &fragment.payload else {
            return None;
        };
        let key = Key {
            src: fragment.src,
            dst: fragment.dst,
            identification: fragment.identification,
            protocol: u8::from(fragment.protocol),
        };
        let offset = usize::from(fragment.fragment_offset) * 8;
        let end = offset + data.len();
        let more = fragment.flags & ipv4::MORE_FRAGMENTS != 0;
        if end + fragment.header_len() > usize::from(u16::MAX) || (more && data.len() % 8 != 0) {
            return None;
        }
        if !self.buffers.contains_key(&key) && self.buffers.len() >= MAX_BUFFERS {
            let oldest = self
                .buffers
                .iter()
                .min_by_key(|(_, b)| b.started)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.buffers.remove(&oldest);
            }
        }
        let buffer = self.buffers.entry(key).or_insert_with(|| Buffer {
            started: now,
            head: None,
            pieces: Vec::new(),
            bytes: 0,
            total: None,
        });
        if buffer.pieces.len() >= MAX_PIECES || buffer.bytes + data.len() > MAX_BUFFER_BYTES {
            self.buffers.remove(&key);
            return None;
        }
        if offset == 0 {
            buffer.head = Some(ipv4::Packet {
                payload: ipv4::Payload::Unknown(Blob::empty()),
                ..fragment.clone().into_owned()
            });
        }
        if !more {
            buffer.total = Some(end);
        }
        buffer.bytes += data.len();
        buffer.pieces.push((offset, data.to_vec()));
        let whole = assemble(buffer)?;
        self.buffers.remove(&key);
        Some(whole)
    }
}

/// The packet's bytes if every byte from 0 to the end is there.
fn assemble(buffer: &mut Buffer) -> Option<Vec<u8>> {
    let total = buffer.total?;
    let head = buffer.head.as_ref()?;
    buffer.pieces.sort_by_key(|(offset, _)| *offset);
    let mut covered = 0;
    for (offset, data) in &buffer.pieces {
        if *offset > covered {
            return None; // a hole
        }
        covered = covered.max(offset + data.len());
    }
    if covered < total {
        return None;
    }
    let mut payload = vec![0u8; total];
    for (offset, data) in &buffer.pieces {
        let end = (offset + data.len()).min(total);
        if *offset < end {
            payload[*offset..end].copy_from_slice(&data[..end - offset]);
        }
    }
    let packet = ipv4::Packet {
        flags: head.flags & !ipv4::MORE_FRAGMENTS,
        fragment_offset: 0,
        payload: ipv4::Payload::Unknown(Blob::from(payload)),
        ..head.clone()
    };
    packet.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icmp;
    use crate::wire::parse;

    fn big_echo(len: usize) -> ipv4::Packet<'static> {
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        icmp::Echo {
            identifier: 3,
            sequence_number: 4,
        }
        .into_echo_reply(Blob::from(data))
        .into_ipv4_payload()
        .into_packet(ipv4::Addr([10, 0, 0, 2]), ipv4::Addr([10, 0, 0, 1]))
    }

    fn reparse(f: &ipv4::Packet<'_>) -> ipv4::Packet<'static> {
        let bytes = f.to_vec().unwrap();
        parse::run(&bytes, ipv4::Packet::parse)
            .unwrap()
            .into_owned()
    }

    #[test]
    fn in_any_order_gives_the_whole_packet() {
        let p = big_echo(65500 - 8);
        let mut frags: Vec<_> = p.fragments(1500).unwrap().iter().map(reparse).collect();
        assert_eq!(frags.len(), 45);
        frags.reverse();
        frags.swap(3, 20);
        let mut r = Reassembly::default();
        let now = Instant::now();
        let (last, rest) = frags.split_last().unwrap();
        for f in rest {
            assert_eq!(r.add(f, now), None);
        }
        let whole = r.add(last, now).expect("complete");
        let back = parse::run(&whole, ipv4::Packet::parse).unwrap();
        assert!(back.checksum_ok && !back.is_fragment());
        let ipv4::Payload::ICMP(icmp) = &back.payload else {
            panic!("{back:?}")
        };
        assert!(icmp.checksum_ok);
        assert_eq!(
            icmp.header,
            icmp::Header::EchoReply(icmp::Echo {
                identifier: 3,
                sequence_number: 4
            })
        );
        let ipv4::Payload::ICMP(sent) = &p.payload else {
            panic!("{p:?}")
        };
        assert_eq!(icmp.payload, sent.payload);
        assert!(r.buffers.is_empty());
    }

    #[test]
    fn holes_duplicates_and_damage() {
        let p = big_echo(4000);
        let frags: Vec<_> = p.fragments(1500).unwrap().iter().map(reparse).collect();
        let now = Instant::now();
        let mut r = Reassembly::default();
        // A duplicate and a missing middle piece: never complete.
        assert_eq!(r.add(&frags[0], now), None);
        assert_eq!(r.add(&frags[0], now), None);
        assert_eq!(r.add(&frags[2], now), None);
        // A damaged middle piece is dropped.
        let mut damaged = frags[1].clone();
        damaged.checksum_ok = false;
        assert_eq!(r.add(&damaged, now), None);
        // The good one completes it.
        assert!(r.add(&frags[1], now).is_some());
        // Old halves are forgotten.
        assert_eq!(r.add(&frags[0], now), None);
        assert_eq!(r.add(&frags[2], now + MAX_AGE), None);
        assert_eq!(r.buffers.len(), 1);
    }

    #[test]
    fn bounded_against_floods() {
        let now = Instant::now();
        let mut r = Reassembly::default();
        for id in 0..1000u16 {
            let mut p = big_echo(3000);
            p.identification = id;
            let first = reparse(&p.fragments(1500).unwrap()[0]);
            assert_eq!(r.add(&first, now), None);
        }
        assert_eq!(r.buffers.len(), MAX_BUFFERS);
    }

    #[test]
    fn overlapping_fragments_cannot_pile_up() {
        // A hostile sender repeats the same first fragment (1480 bytes at
        // offset 0) of 64 packets that never complete: without a byte bound
        // that is 64 x 1024 x 1480 bytes, some 97 MB.
        let now = Instant::now();
        let mut r = Reassembly::default();
        let mut p = big_echo(3000);
        let mut kept_max = 0;
        for round in 0..1100 {
            for id in 0..MAX_BUFFERS as u16 {
                p.identification = id;
                let first = reparse(&p.fragments(1500).unwrap()[0]);
                assert_eq!(r.add(&first, now), None);
            }
            let kept: usize = r.buffers.values().map(|b| b.bytes).sum();
            kept_max = kept_max.max(kept);
            assert!(
                kept <= MAX_BUFFERS * MAX_BUFFER_BYTES,
                "round {round}: {kept}"
            );
        }
        assert!(kept_max <= 8 * 1024 * 1024, "{kept_max}");
        // And a real packet still gets through afterwards.
        let mut q = big_echo(3000);
        q.identification = 9999;
        let parts: Vec<_> = q.fragments(1500).unwrap().iter().map(reparse).collect();
        let mut whole = None;
        for part in &parts {
            whole = r.add(part, now);
        }
        assert_eq!(whole, Some(q.to_vec().unwrap()));
    }
}
