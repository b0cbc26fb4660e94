//! Listener dispatch: the capture thread's cost per IPv4 packet, with 1,
//! 1,000 and 100,000 expectations outstanding.
//!
//! - `keyed_miss/N`: N keyed expectations (`Interface::expect_echo`, one per
//!   peer and sequence number, like one per probe of a multi-target pinger);
//!   an echo reply nobody waits for is dispatched: a key, a hash lookup.
//! - `keyed_hit/N`: the same N, plus one expectation that the reply fulfils
//!   (delivered on its channel, then it leaves; made and dropped outside the
//!   timing).
//! - `scanned_miss/N`: N closure expectations (`Interface::expect_ipv4`, the
//!   path from before keyed listeners): every filter runs on every packet.
//!
//! It times `Listeners::dispatch` on a parsed packet, through the hidden
//! hook `ersatz::interface::Listeners` (the table an `Interface` shares with
//! its capture thread; no NIC needed). Parsing the frame is timed in
//! `benches/wire.rs`. Run with
//! `cargo bench -p ersatz --bench dispatch` (tests/bench/run.sh runs it
//! with a short measurement time).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ersatz::interface::{EchoKey, Listeners, Received, Timestamp};
use ersatz::{ethernet, icmp, ipv4};

const US: ipv4::Addr = ipv4::Addr([10, 77, 1, 2]);
/// The peer of the reply that is dispatched (no outstanding key uses it).
const OTHER: ipv4::Addr = ipv4::Addr([192, 0, 2, 1]);
const IDENTIFIER: u16 = 0x4242;
const SIZES: [u32; 3] = [1, 1_000, 100_000];

/// A 32-byte echo reply from `src`, as the capture thread offers it.
fn reply(src: ipv4::Addr, seq: u16) -> Received<'static> {
    let payload = ersatz::ping::payload(32);
    let packet = icmp::Echo {
        identifier: IDENTIFIER,
        sequence_number: seq,
    }
    .into_echo_reply(payload)
    .into_ipv4_payload()
    .into_packet(src, US);
    // Through the bytes and back, so checksums are set and verified like
    // those of a captured packet.
    let bytes = packet.to_vec().expect("a 60-byte packet serializes");
    let packet = ersatz::parse::run(&bytes, ipv4::Packet::parse)
        .expect("it parses back")
        .into_owned();
    Received {
        packet,
        timestamp: Timestamp::from_unix(Duration::from_secs(1)),
        src_mac: ethernet::Addr([2, 0, 0, 0, 0, 1]),
        frame: &[],
    }
}

/// The key of outstanding expectation `i`: a peer per 65,536 sequence numbers.
fn key(i: u32) -> EchoKey {
    EchoKey {
        peer: ipv4::Addr([10, 200, (i >> 16) as u8, 1]),
        echo: icmp::Echo {
            identifier: IDENTIFIER,
            sequence_number: i as u16,
        },
    }
}

/// What a pinger's filter does with a packet of its key: check the
/// checksums and hand over the sequence number.
fn accept(r: &Received<'_>) -> Option<u16> {
    match &r.packet.payload {
        ipv4::Payload::ICMP(icmp::Packet {
            header: icmp::Header::EchoReply(e),
            checksum_ok: true,
            ..
        }) if r.packet.checksum_ok => Some(e.sequence_number),
        _ => None,
    }
}

fn dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let listeners = Arc::new(Listeners::default());
        let outstanding: Vec<_> = (0..n)
            .map(|i| listeners.expect_echo(key(i), true, accept))
            .collect();
        let miss = reply(OTHER, 1);
        assert_eq!(listeners.dispatch(&miss), 0);
        group.bench_with_input(BenchmarkId::new("keyed_miss", n), &n, |b, _| {
            b.iter(|| listeners.dispatch(black_box(&miss)))
        });

        let mut seq = 0u16;
        group.bench_with_input(BenchmarkId::new("keyed_hit", n), &n, |b, _| {
            b.iter_batched(
                || {
                    seq = seq.wrapping_add(1);
                    let key = EchoKey {
                        peer: OTHER,
                        echo: icmp::Echo {
                            identifier: IDENTIFIER,
                            sequence_number: seq,
                        },
                    };
                    (listeners.expect_echo(key, true, accept), reply(OTHER, seq))
                },
                |(expectation, received)| {
                    let left = listeners.dispatch(black_box(&received));
                    (expectation, received, left)
                },
                BatchSize::SmallInput,
            )
        });
        // Every hit was delivered and left; the N are still there.
        assert_eq!(listeners.len(), n as usize);
        drop(outstanding);

        let scanned: Vec<_> = (0..n)
            .map(|i| {
                let k = key(i);
                listeners.expect(true, move |r| {
                    accept(r).filter(|&s| r.packet.src == k.peer && s == k.echo.sequence_number)
                })
            })
            .collect();
        let miss = reply(OTHER, 1);
        assert_eq!(listeners.dispatch(&miss), 0);
        group.bench_with_input(BenchmarkId::new("scanned_miss", n), &n, |b, _| {
            b.iter(|| listeners.dispatch(black_box(&miss)))
        });
        drop(scanned);
    }
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
