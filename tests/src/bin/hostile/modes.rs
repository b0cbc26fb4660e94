//! What the hostile host does: its options, and its four modes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::frames::{self, at, Ip, Ipv4, Mac, Rng, BROADCAST};
use crate::raw::{self, Direction, PacketSocket};

/// How long a mode waits for a frame before it looks at the time.
const TICK: Duration = Duration::from_millis(1);

/// The prefix of every lab namespace's name (`tests/src/lib.rs`).
const LAB_PREFIX: &str = "ersatzlab";

/// The MAC the forged ARP claims give the gateway.
pub const EVIL_MAC: Mac = [0x02, 0x66, 0x66, 0x66, 0x66, 0x66];

/// A forged answer to an echo request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The real reply, byte for byte (from the gateway's MAC, TTL 63).
    Exact,
    /// Another identifier.
    WrongId,
    /// The sequence number of the request sup sends next.
    NextSeq,
    /// A sequence number sup has not used.
    FarSeq,
    /// From another address of the remote.
    WrongSrc,
    /// From the gateway.
    GwSrc,
    /// One payload byte changed (checksums right).
    WrongPayload,
    /// ICMP checksum wrong.
    BadIcmpChecksum,
    /// IPv4 header checksum wrong.
    BadIpChecksum,
    /// Half the payload (checksums right).
    ShortPayload,
    /// 16 more payload bytes (checksums right).
    LongPayload,
    /// IPv4 total length 8 short of the frame (the rest looks like padding).
    ShortTotalLength,
    /// IPv4 total length 100 past the end of the frame.
    LongTotalLength,
    /// The frame cut in the middle of the ICMP header.
    TruncatedFrame,
    /// Only 4 bytes of ICMP (total length says so).
    TruncatedIcmp,
    /// Echo reply with code 1.
    BadCode,
    /// Not a reply: "TTL expired in transit" from the gateway, quoting the
    /// request as a router would.
    TimeExceeded,
    /// Not a reply: "Destination host unreachable" from the gateway.
    Unreachable,
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "exact" => Variant::Exact,
            "wrong-id" => Variant::WrongId,
            "next-seq" => Variant::NextSeq,
            "far-seq" => Variant::FarSeq,
            "wrong-src" => Variant::WrongSrc,
            "gw-src" => Variant::GwSrc,
            "wrong-payload" => Variant::WrongPayload,
            "bad-icmp-checksum" => Variant::BadIcmpChecksum,
            "bad-ip-checksum" => Variant::BadIpChecksum,
            "short-payload" => Variant::ShortPayload,
            "long-payload" => Variant::LongPayload,
            "short-total-length" => Variant::ShortTotalLength,
            "long-total-length" => Variant::LongTotalLength,
            "truncated-frame" => Variant::TruncatedFrame,
            "truncated-icmp" => Variant::TruncatedIcmp,
            "bad-code" => Variant::BadCode,
            "time-exceeded" => Variant::TimeExceeded,
            "unreachable" => Variant::Unreachable,
            other => return Err(format!("unknown variant {other:?}")),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Echo,
    Arp,
    Malformed,
    Flood,
    Respond,
    PingFlood,
}

/// The command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub ifname: String,
    pub host_mac: Mac,
    pub host_ip: Ip,
    pub gw_mac: Mac,
    pub gw_ip: Ip,
    pub seconds: f64,
    pub rate: u64,
    pub variants: Vec<Variant>,
    pub before: bool,
    pub after: bool,
    /// `respond`: how long to wait before answering.
    pub delay: Duration,
}

fn parse_mac(s: &str) -> Result<Mac, String> {
    let bytes: Vec<u8> = s
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{s:?} is not a MAC address"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{s:?} is not a MAC address"))
}

fn parse_ip(s: &str) -> Result<Ip, String> {
    s.parse::<std::net::Ipv4Addr>()
        .map(|a| a.octets())
        .map_err(|_| format!("{s:?} is not an IPv4 address"))
}

impl Config {
    pub fn from_args(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
        let mode = match args.next().as_deref() {
            Some("echo") => Mode::Echo,
            Some("arp") => Mode::Arp,
            Some("malformed") => Mode::Malformed,
            Some("flood") => Mode::Flood,
            Some("respond") => Mode::Respond,
            Some("ping-flood") => Mode::PingFlood,
            other => {
                return Err(format!(
                    "mode echo, arp, malformed, flood or respond, not {other:?}"
                ))
            }
        };
        let mut named: BTreeMap<String, String> = BTreeMap::new();
        let (mut before, mut after) = (false, false);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--before" => before = true,
                "--after" => after = true,
                option if option.starts_with("--") => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("{option} needs a value"))?;
                    named.insert(option[2..].to_string(), value);
                }
                other => return Err(format!("unexpected argument {other:?}")),
            }
        }
        let mut take = |key: &str| {
            named
                .remove(key)
                .ok_or_else(|| format!("--{key} is required"))
        };
        let config = Config {
            mode,
            ifname: take("ifname")?,
            host_mac: parse_mac(&take("host-mac")?)?,
            host_ip: parse_ip(&take("host-ip")?)?,
            gw_mac: parse_mac(&take("gw-mac")?)?,
            gw_ip: parse_ip(&take("gw-ip")?)?,
            seconds: take("seconds")
                .unwrap_or_else(|_| "20".into())
                .parse()
                .map_err(|_| "--seconds: a number".to_string())?,
            rate: take("rate")
                .unwrap_or_else(|_| "0".into())
                .parse()
                .map_err(|_| "--rate: a number".to_string())?,
            variants: take("variants")
                .unwrap_or_default()
                .split(',')
                .filter(|v| !v.is_empty())
                .map(Variant::from_str)
                .collect::<Result<_, _>>()?,
            before,
            after,
            delay: Duration::from_secs_f64(
                take("delay-ms")
                    .unwrap_or_else(|_| "0".into())
                    .parse::<f64>()
                    .map_err(|_| "--delay-ms: a number".to_string())?
                    .clamp(0.0, 10_000.0)
                    / 1e3,
            ),
        };
        if let Some(key) = named.keys().next() {
            return Err(format!("unknown option --{key}"));
        }
        if !(0.0..=60.0).contains(&config.seconds) {
            return Err("--seconds: 0 to 60".into());
        }
        Ok(config)
    }
}

/// The sending socket, which only lets out frames for the lab's host.
struct Injector {
    socket: PacketSocket,
    /// The only destination MACs it sends to (besides broadcast).
    allowed: Mac,
}

impl Injector {
    fn check(&self, frame: &[u8]) {
        // A programming error, not a network condition: stop at once.
        assert!(
            frame.len() >= 6 && (frame[..6] == self.allowed || frame[..6] == BROADCAST),
            "refusing to send a frame not addressed to {:02x?}: {:02x?}",
            self.allowed,
            &frame[..frame.len().min(14)]
        );
    }

    fn send(&self, frame: &[u8]) -> bool {
        self.check(frame);
        self.socket.send(frame)
    }

    fn send_batch(&self, frames: &[&[u8]]) -> usize {
        for f in frames {
            self.check(f);
        }
        self.socket.send_batch(frames)
    }
}

/// Counters printed at the end as `STATS key=value ...`.
#[derive(Default)]
struct Stats(BTreeMap<&'static str, f64>);

impl Stats {
    fn add(&mut self, key: &'static str, n: f64) {
        *self.0.entry(key).or_default() += n;
    }

    fn set(&mut self, key: &'static str, v: f64) {
        self.0.insert(key, v);
    }
}

/// Until when to run: stdin closed, or the hard bound.
struct Until {
    stdin_closed: Arc<AtomicBool>,
    deadline: Instant,
}

impl Until {
    fn new(seconds: f64) -> Until {
        let stdin_closed = Arc::new(AtomicBool::new(false));
        let flag = stdin_closed.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            flag.store(true, Ordering::SeqCst);
        });
        Until {
            stdin_closed,
            deadline: Instant::now() + Duration::from_secs_f64(seconds),
        }
    }

    fn over(&self) -> bool {
        self.stdin_closed.load(Ordering::SeqCst) || Instant::now() >= self.deadline
    }
}

fn seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id()) << 32
}

pub fn run(config: Config) -> Result<(), String> {
    // Only ever inside a lab (ersatz_e2e::Lab names its namespaces so).
    match raw::named_network_namespace() {
        Ok(Some(name)) if name.starts_with(LAB_PREFIX) => {}
        Ok(other) => {
            return Err(format!(
                "refusing to run outside a lab namespace (this one: {other:?}): run me with \
                 `ip netns exec {LAB_PREFIX}...`"
            ))
        }
        Err(e) => return Err(format!("cannot tell which network namespace this is: {e}")),
    }
    let open = |receive| {
        PacketSocket::open(&config.ifname, receive)
            .map_err(|e| format!("AF_PACKET socket on {}: {e}", config.ifname))
    };
    let injector = Injector {
        socket: open(false)?,
        // The responder answers through the gateway; everything else goes
        // to the host.
        allowed: match config.mode {
            Mode::Respond => config.gw_mac,
            _ => config.host_mac,
        },
    };
    let sniffer = match config.mode {
        Mode::Flood | Mode::PingFlood => None,
        _ => Some(open(true)?),
    };
    let until = Until::new(config.seconds);
    let mut stats = Stats::default();
    say("READY");
    let started = Instant::now();
    match (config.mode, &sniffer) {
        (Mode::Echo, Some(s)) => echo(&config, s, &injector, &until, &mut stats)?,
        (Mode::Arp, Some(s)) => arp(&config, s, &injector, &until, &mut stats)?,
        (Mode::Malformed, Some(s)) => malformed(&config, s, &injector, &until, &mut stats)?,
        (Mode::Respond, Some(s)) => respond(&config, s, &injector, &until, &mut stats)?,
        (Mode::PingFlood, _) => ping_flood(&config, &injector, &until, &mut stats),
        _ => flood(&config, &injector, &until, &mut stats),
    }
    let seconds = started.elapsed().as_secs_f64();
    stats.set("seconds", seconds);
    if let Some(sent) = stats.0.get("sent").copied() {
        stats.set("rate", sent / seconds.max(1e-9));
    }
    let line: Vec<String> = stats.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
    say(&format!("STATS {}", line.join(" ")));
    Ok(())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

// ---------------------------------------------------------------------------
// echo: forged answers to each echo request, at once

/// The reply the target would send to `req`, as the gateway forwards it.
fn real_reply(config: &Config, req: &frames::EchoRequest, ip_id: u16) -> Vec<u8> {
    reply_with(
        config,
        req,
        req.dst,
        req.identifier,
        req.sequence,
        &req.payload,
        ip_id,
    )
}

fn reply_with(
    config: &Config,
    req: &frames::EchoRequest,
    src: Ip,
    identifier: u16,
    sequence: u16,
    payload: &[u8],
    ip_id: u16,
) -> Vec<u8> {
    let message = frames::echo(frames::ICMP_ECHO_REPLY, identifier, sequence, payload);
    let packet = Ipv4::new(src, req.src, frames::PROTO_ICMP, ip_id).packet(&message);
    frames::ethernet(
        config.host_mac,
        config.gw_mac,
        frames::ETHERTYPE_IPV4,
        &packet,
    )
}

/// The forged frame of `variant` answering `req`.
pub fn forge(config: &Config, req: &frames::EchoRequest, variant: Variant, ip_id: u16) -> Vec<u8> {
    let (id, seq, payload) = (req.identifier, req.sequence, &req.payload[..]);
    let with = |src: Ip, id: u16, seq: u16, payload: &[u8]| {
        reply_with(config, req, src, id, seq, payload, ip_id)
    };
    match variant {
        Variant::Exact => real_reply(config, req, ip_id),
        Variant::WrongId => with(req.dst, id ^ 0x8000, seq, payload),
        Variant::NextSeq => with(req.dst, id, seq.wrapping_add(1), payload),
        Variant::FarSeq => with(req.dst, id, seq ^ 0x8000, payload),
        Variant::WrongSrc => {
            // Another address of the same remote (10.77.2.10 in the lab).
            let mut other = req.dst;
            other[3] = if other[3] == 10 { 11 } else { 10 };
            with(other, id, seq, payload)
        }
        Variant::GwSrc => with(config.gw_ip, id, seq, payload),
        Variant::WrongPayload => {
            let mut wrong = payload.to_vec();
            match wrong.first_mut() {
                Some(b) => *b ^= 0x20,
                None => wrong.push(b'!'),
            }
            with(req.dst, id, seq, &wrong)
        }
        Variant::BadIcmpChecksum => {
            let mut f = real_reply(config, req, ip_id);
            f[at::ICMP_CHECKSUM] ^= 0x5a;
            f
        }
        Variant::BadIpChecksum => {
            let mut f = real_reply(config, req, ip_id);
            f[at::IP_CHECKSUM] ^= 0x5a;
            f
        }
        Variant::ShortPayload => with(req.dst, id, seq, &payload[..payload.len() / 2]),
        Variant::LongPayload => {
            let mut long = payload.to_vec();
            long.extend_from_slice(b"0123456789abcdef");
            with(req.dst, id, seq, &long)
        }
        Variant::ShortTotalLength => {
            let mut f = real_reply(config, req, ip_id);
            let total = frames::get_u16(&f, at::IP_TOTAL_LEN);
            frames::put_u16(&mut f, at::IP_TOTAL_LEN, total.saturating_sub(8).max(28));
            frames::fix_ip_checksum(&mut f);
            f
        }
        Variant::LongTotalLength => {
            let mut f = real_reply(config, req, ip_id);
            let total = frames::get_u16(&f, at::IP_TOTAL_LEN);
            frames::put_u16(&mut f, at::IP_TOTAL_LEN, total.saturating_add(100));
            frames::fix_ip_checksum(&mut f);
            f
        }
        Variant::TruncatedFrame => {
            let mut f = real_reply(config, req, ip_id);
            f.truncate(at::ICMP + 6);
            f
        }
        Variant::TruncatedIcmp => {
            let message = frames::echo(frames::ICMP_ECHO_REPLY, id, seq, payload);
            let packet =
                Ipv4::new(req.dst, req.src, frames::PROTO_ICMP, ip_id).packet(&message[..4]);
            frames::ethernet(
                config.host_mac,
                config.gw_mac,
                frames::ETHERTYPE_IPV4,
                &packet,
            )
        }
        Variant::TimeExceeded | Variant::Unreachable => {
            // The request's IPv4 header and the first 8 bytes of its ICMP.
            let request = frames::echo(frames::ICMP_ECHO_REQUEST, id, seq, payload);
            let mut quoted = Ipv4::new(req.src, req.dst, frames::PROTO_ICMP, req.identification);
            quoted.ttl = 1;
            let quote = quoted.packet(&request[..8]);
            let (typ, code) = match variant {
                Variant::TimeExceeded => (frames::ICMP_TIME_EXCEEDED, 0),
                _ => (frames::ICMP_UNREACHABLE, 1),
            };
            let message = frames::icmp(typ, code, [0; 4], &quote);
            let mut ip = Ipv4::new(config.gw_ip, req.src, frames::PROTO_ICMP, ip_id);
            ip.ttl = 64;
            frames::ethernet(
                config.host_mac,
                config.gw_mac,
                frames::ETHERTYPE_IPV4,
                &ip.packet(&message),
            )
        }
        Variant::BadCode => {
            let [a, b] = id.to_be_bytes();
            let [c, d] = seq.to_be_bytes();
            let message = frames::icmp(frames::ICMP_ECHO_REPLY, 1, [a, b, c, d], payload);
            let packet = Ipv4::new(req.dst, req.src, frames::PROTO_ICMP, ip_id).packet(&message);
            frames::ethernet(
                config.host_mac,
                config.gw_mac,
                frames::ETHERTYPE_IPV4,
                &packet,
            )
        }
    }
}

/// The host's echo request in `frame` (arriving at the gateway), if it is one.
fn host_request(
    config: &Config,
    frame: &[u8],
    direction: Direction,
) -> Option<frames::EchoRequest> {
    let req = frames::parse_echo_request(frame)?;
    (direction == Direction::Incoming
        && req.src == config.host_ip
        && req.src_mac == config.host_mac)
        .then_some(req)
}

fn echo(
    config: &Config,
    sniffer: &PacketSocket,
    injector: &Injector,
    until: &Until,
    stats: &mut Stats,
) -> Result<(), String> {
    let mut rng = Rng::new(seed());
    let mut buf = vec![0u8; 65_536];
    while !until.over() {
        let Some((n, direction)) = sniffer
            .recv(&mut buf, TICK)
            .map_err(|e| format!("recv: {e}"))?
        else {
            continue;
        };
        let Some(req) = host_request(config, &buf[..n], direction) else {
            continue;
        };
        stats.add("requests", 1.0);
        for variant in &config.variants {
            let frame = forge(config, &req, *variant, rng.next() as u16);
            if injector.send(&frame) {
                stats.add("sent", 1.0);
            } else {
                stats.add("refused", 1.0);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// arp: claims that the gateway's address is at EVIL_MAC

/// A claim answering the host as if it had asked (only safe to send while
/// the host has no request for the gateway outstanding: else it *is* an
/// answer, and a first answer is all ARP has to go by).
fn targeted_claim(config: &Config, eth_src: Mac) -> Vec<u8> {
    frames::ethernet(
        config.host_mac,
        eth_src,
        frames::ETHERTYPE_ARP,
        &frames::arp(
            frames::ARP_REPLY,
            EVIL_MAC,
            config.gw_ip,
            config.host_mac,
            config.host_ip,
        ),
    )
}

/// Claims no ARP implementation should take for an answer.
fn unsolicited_claims(config: &Config) -> Vec<Vec<u8>> {
    let claim = |dst: Mac, op: u16, tha: Mac, tpa: Ip| {
        frames::ethernet(
            dst,
            EVIL_MAC,
            frames::ETHERTYPE_ARP,
            &frames::arp(op, EVIL_MAC, config.gw_ip, tha, tpa),
        )
    };
    vec![
        // Gratuitous ARP, reply and request forms.
        claim(BROADCAST, frames::ARP_REPLY, BROADCAST, config.gw_ip),
        claim(BROADCAST, frames::ARP_REQUEST, [0; 6], config.gw_ip),
        // The gateway (at EVIL_MAC) asking for the host: a kernel learns from it.
        claim(config.host_mac, frames::ARP_REQUEST, [0; 6], config.host_ip),
        claim(BROADCAST, frames::ARP_REQUEST, [0; 6], config.host_ip),
        // A reply for the host's address but another MAC, and one to broadcast.
        claim(config.host_mac, frames::ARP_REPLY, EVIL_MAC, config.host_ip),
        claim(BROADCAST, frames::ARP_REPLY, BROADCAST, config.host_ip),
    ]
}

fn arp(
    config: &Config,
    sniffer: &PacketSocket,
    injector: &Injector,
    until: &Until,
    stats: &mut Stats,
) -> Result<(), String> {
    const PERIOD: Duration = Duration::from_millis(1);
    const BURST: usize = 64;
    let unsolicited = unsolicited_claims(config);
    let targeted = [
        targeted_claim(config, EVIL_MAC),
        // The Ethernet source forged too: only the ARP body tells.
        targeted_claim(config, config.gw_mac),
    ];
    let mut pending = false;
    let mut resolved = false;
    let mut next = Instant::now();
    let mut buf = vec![0u8; 65_536];
    let send = |frames: &[&[u8]], key: &'static str, stats: &mut Stats| {
        let n = injector.send_batch(frames);
        stats.add(key, n as f64);
        stats.add("sent", n as f64);
    };
    while !until.over() {
        if let Some((n, direction)) = sniffer
            .recv(&mut buf, TICK)
            .map_err(|e| format!("recv: {e}"))?
        {
            if let Some(a) = frames::parse_arp(&buf[..n]) {
                let from_host = a.sha == config.host_mac && a.spa == config.host_ip;
                let from_gw = a.sha == config.gw_mac && a.spa == config.gw_ip;
                if direction == Direction::Incoming
                    && a.operation == frames::ARP_REQUEST
                    && from_host
                    && a.tpa == config.gw_ip
                {
                    pending = true;
                    stats.add("host_requests", 1.0);
                } else if direction == Direction::Outgoing
                    && a.operation == frames::ARP_REPLY
                    && from_gw
                    && a.tpa == config.host_ip
                {
                    pending = false;
                    resolved = true;
                    stats.add("gateway_replies", 1.0);
                    if config.after {
                        // Right behind the real reply: the moment a cache
                        // that takes any reply while it asks is poisoned.
                        let burst: Vec<&[u8]> = targeted
                            .iter()
                            .cycle()
                            .take(BURST)
                            .map(Vec::as_slice)
                            .collect();
                        send(&burst, "claims_after", stats);
                    }
                }
            }
        }
        if Instant::now() < next {
            continue;
        }
        next = Instant::now() + PERIOD;
        let key = match (resolved, config.before, config.after) {
            (false, true, _) => "claims_before",
            (true, _, true) => "claims_after",
            _ => continue,
        };
        let mut batch: Vec<&[u8]> = unsolicited.iter().map(Vec::as_slice).collect();
        if !pending {
            batch.extend(targeted.iter().map(Vec::as_slice));
        }
        send(&batch, key, stats);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// malformed: every kind of broken frame

/// What the malformed frames quote: the host's latest echo request, or a
/// made-up one until the host sent one.
fn latest_or_default(config: &Config, latest: &Option<frames::EchoRequest>) -> frames::EchoRequest {
    latest.clone().unwrap_or(frames::EchoRequest {
        src_mac: config.host_mac,
        src: config.host_ip,
        dst: [10, 77, 2, 2],
        identification: 1,
        identifier: 1,
        sequence: 1,
        payload: b"abcdefghijklmnopqrstuvwabcdefghi".to_vec(),
    })
}

/// One round of every malformed kind, named.
pub fn malformed_round(
    config: &Config,
    req: &frames::EchoRequest,
    rng: &mut Rng,
) -> Vec<(&'static str, Vec<u8>)> {
    let host = config.host_mac;
    let bad_mac: Mac = [0x02, 0xba, 0xd0, 0x00, 0x00, rng.next() as u8];
    let eth = |ethertype: u16, payload: &[u8]| frames::ethernet(host, bad_mac, ethertype, payload);
    let ip_id = rng.next() as u16;
    let reply_msg = frames::echo(
        frames::ICMP_ECHO_REPLY,
        req.identifier,
        req.sequence,
        &req.payload,
    );
    let reply_ip = Ipv4::new(req.dst, req.src, frames::PROTO_ICMP, ip_id);
    let good_reply = frames::ethernet(
        host,
        config.gw_mac,
        frames::ETHERTYPE_IPV4,
        &reply_ip.packet(&reply_msg),
    );
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();

    // Random bytes behind our MAC, of random length; then with the IPv4 and
    // ARP ethertypes, and as IPv4 ICMP to the host (what passes sup's filter).
    let len = rng.below(14..1515);
    let mut random = host.to_vec();
    random.extend(rng.bytes(len - 6));
    out.push(("random", random));
    let len = rng.below(0..1501);
    out.push(("random-ipv4", eth(frames::ETHERTYPE_IPV4, &rng.bytes(len))));
    let len = rng.below(0..1501);
    out.push(("random-arp", eth(frames::ETHERTYPE_ARP, &rng.bytes(len))));
    let len = rng.below(20..1501);
    let mut icmp = rng.bytes(len);
    icmp[0] = 0x45;
    icmp[9] = frames::PROTO_ICMP;
    icmp[12..16].copy_from_slice(&req.dst);
    icmp[16..20].copy_from_slice(&req.src);
    if let Some(t) = icmp.get_mut(20) {
        *t |= 1; // never an echo reply (type 0)
    }
    out.push(("random-icmp", eth(frames::ETHERTYPE_IPV4, &icmp)));

    // Bad lengths of the frame itself.
    out.push(("eth-6-bytes", host.to_vec()));
    out.push(("eth-13-bytes", good_reply[..13].to_vec()));
    out.push(("eth-header-only-ipv4", eth(frames::ETHERTYPE_IPV4, &[])));
    out.push(("eth-header-only-arp", eth(frames::ETHERTYPE_ARP, &[])));
    out.push(("vlan-tagged-reply", {
        let mut f = good_reply[..12].to_vec();
        f.extend_from_slice(&frames::ETHERTYPE_VLAN.to_be_bytes());
        f.extend_from_slice(&[0x00, 0x07]);
        f.extend_from_slice(&good_reply[12..]);
        f
    }));

    // IPv4 headers that lie. Each is the reply sup waits for, broken one way.
    let broken = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut f = good_reply.clone();
        edit(&mut f);
        f
    };
    out.push((
        "ipv4-version-6",
        broken(&|f| {
            f[at::IP] = 0x65;
            frames::fix_ip_checksum(f);
        }),
    ));
    for (name, ihl) in [("ihl-0", 0u8), ("ihl-1", 1), ("ihl-4", 4)] {
        out.push((
            name,
            broken(&|f| {
                f[at::IP] = 0x40 | ihl;
                frames::fix_ip_checksum(f);
            }),
        ));
    }
    out.push((
        "ihl-15-past-the-frame",
        broken(&|f| {
            f[at::IP] = 0x4f;
            f.truncate(at::IP + 40);
            frames::put_u16(f, at::IP_TOTAL_LEN, 40);
        }),
    ));
    out.push((
        "total-length-0",
        broken(&|f| {
            frames::put_u16(f, at::IP_TOTAL_LEN, 0);
            frames::fix_ip_checksum(f);
        }),
    ));
    out.push((
        "total-length-below-header",
        broken(&|f| {
            frames::put_u16(f, at::IP_TOTAL_LEN, 12);
            frames::fix_ip_checksum(f);
        }),
    ));
    out.push((
        "total-length-past-frame",
        broken(&|f| {
            frames::put_u16(f, at::IP_TOTAL_LEN, 1500);
            frames::fix_ip_checksum(f);
        }),
    ));
    out.push((
        "total-length-65535",
        broken(&|f| {
            frames::put_u16(f, at::IP_TOTAL_LEN, 65_535);
            frames::fix_ip_checksum(f);
        }),
    ));
    out.push(("truncated-ipv4-header", good_reply[..at::IP + 12].to_vec()));
    out.push((
        "truncated-ipv4-header-19",
        good_reply[..at::IP + 19].to_vec(),
    ));
    out.push((
        "truncated-icmp-header",
        broken(&|f| {
            f.truncate(at::ICMP + 4);
            frames::put_u16(f, at::IP_TOTAL_LEN, 24);
            frames::fix_ip_checksum(f);
        }),
    ));
    out.push((
        "icmp-empty",
        broken(&|f| {
            f.truncate(at::ICMP);
            frames::put_u16(f, at::IP_TOTAL_LEN, 20);
            frames::fix_ip_checksum(f);
        }),
    ));
    // IP options that make no sense, around a reply with another identifier.
    out.push(("ip-options-garbage", {
        let message = frames::echo(
            frames::ICMP_ECHO_REPLY,
            req.identifier ^ 0x5555,
            req.sequence,
            &req.payload,
        );
        let mut packet = reply_ip.packet(&message);
        packet.splice(20..20, [0xffu8; 40]);
        packet[0] = 0x4f;
        frames::put_u16(&mut packet, 2, (60 + message.len()) as u16);
        let mut f = eth(frames::ETHERTYPE_IPV4, &packet);
        frames::fix_ip_checksum(&mut f);
        f
    }));

    // Fragments: past 65,535 bytes, odd lengths, empty, a bad checksum, the
    // first fragment of a forged reply that never completes, overlaps.
    let fragment = |offset_units: u16, more: bool, payload: &[u8], src: Ip| {
        let mut ip = Ipv4::new(src, req.src, frames::PROTO_ICMP, ip_id);
        ip.flags_offset = offset_units | if more { 0x2000 } else { 0 };
        eth(frames::ETHERTYPE_IPV4, &ip.packet(payload))
    };
    out.push((
        "fragment-past-65535",
        fragment(8189, false, &[0xab; 100], req.dst),
    ));
    out.push((
        "fragment-odd-length-with-more",
        fragment(0, true, &[0xab; 7], req.dst),
    ));
    out.push(("fragment-empty", fragment(1, true, &[], req.dst)));
    out.push(("fragment-bad-checksum", {
        let mut f = fragment(0, true, &reply_msg[..16], req.dst);
        f[at::IP_CHECKSUM] ^= 0xff;
        f
    }));
    out.push((
        "fragment-first-of-forged-reply",
        fragment(0, true, &reply_msg[..16], req.dst),
    ));
    let other: Ip = [req.dst[0], req.dst[1], req.dst[2], 12];
    out.push(("fragment-overlap-a", fragment(0, true, &[0x11; 24], other)));
    out.push(("fragment-overlap-b", fragment(1, true, &[0x22; 24], other)));
    out.push((
        "fragment-overlap-last",
        fragment(2, false, &[0x33; 3], other),
    ));

    // ARP with odd hardware and protocol lengths and types, truncated.
    let claim = frames::arp(
        frames::ARP_REPLY,
        EVIL_MAC,
        config.gw_ip,
        host,
        config.host_ip,
    );
    let arp_edit = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut p = claim.clone();
        edit(&mut p);
        eth(frames::ETHERTYPE_ARP, &p)
    };
    for (name, hlen, plen) in [
        ("arp-hlen-0", 0u8, 4u8),
        ("arp-hlen-7", 7, 4),
        ("arp-hlen-255", 255, 4),
        ("arp-plen-0", 6, 0),
        ("arp-plen-16", 6, 16),
        ("arp-plen-255", 6, 255),
    ] {
        out.push((
            name,
            arp_edit(&|p| {
                p[4] = hlen;
                p[5] = plen;
            }),
        ));
    }
    out.push(("arp-hlen-8-claiming-gateway", {
        // As if hardware addresses were 8 bytes long: the fields shift.
        let mut p = vec![0x00, 0x01, 0x08, 0x00, 8, 4, 0x00, 0x02];
        p.extend_from_slice(&EVIL_MAC);
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&config.gw_ip);
        p.extend_from_slice(&host);
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&config.host_ip);
        eth(frames::ETHERTYPE_ARP, &p)
    }));
    out.push((
        "arp-htype-ffff",
        arp_edit(&|p| p[..2].copy_from_slice(&[0xff, 0xff])),
    ));
    out.push((
        "arp-ptype-ipv6",
        arp_edit(&|p| p[2..4].copy_from_slice(&[0x86, 0xdd])),
    ));
    for (name, op) in [("arp-op-0", 0u16), ("arp-op-3", 3), ("arp-op-ffff", 0xffff)] {
        out.push((
            name,
            arp_edit(&|p| p[6..8].copy_from_slice(&op.to_be_bytes())),
        ));
    }
    out.push(("arp-truncated-10", eth(frames::ETHERTYPE_ARP, &claim[..10])));
    out.push(("arp-truncated-27", eth(frames::ETHERTYPE_ARP, &claim[..27])));
    out.push(("arp-body-as-ipv4", eth(frames::ETHERTYPE_IPV4, &claim)));
    out.push((
        "ipv4-body-as-arp",
        eth(frames::ETHERTYPE_ARP, &good_reply[at::IP..]),
    ));

    // ICMP errors about sup's request that do not hold up.
    let request_quote = {
        let message = frames::echo(
            frames::ICMP_ECHO_REQUEST,
            req.identifier,
            req.sequence,
            &req.payload,
        );
        let mut ip = Ipv4::new(req.src, req.dst, frames::PROTO_ICMP, req.identification);
        ip.ttl = 1;
        ip.packet(&message)
    };
    let error = |quote: &[u8]| {
        let message = frames::icmp(frames::ICMP_TIME_EXCEEDED, 0, [0; 4], quote);
        let packet = Ipv4::new(config.gw_ip, req.src, frames::PROTO_ICMP, ip_id).packet(&message);
        frames::ethernet(host, config.gw_mac, frames::ETHERTYPE_IPV4, &packet)
    };
    out.push(("icmp-error-bad-checksum", {
        let mut f = error(&request_quote[..28]);
        f[at::ICMP_CHECKSUM] ^= 0x5a;
        f
    }));
    out.push(("icmp-error-bad-ip-checksum", {
        let mut f = error(&request_quote[..28]);
        f[at::IP_CHECKSUM] ^= 0x5a;
        f
    }));
    out.push(("icmp-error-quote-10-bytes", error(&request_quote[..10])));
    out.push(("icmp-error-quote-ihl-3", {
        let mut quote = request_quote[..28].to_vec();
        quote[0] = 0x43;
        error(&quote)
    }));
    out.push(("icmp-error-quote-other-identifier", {
        let mut quote = request_quote[..28].to_vec();
        quote[24] ^= 0x80;
        error(&quote)
    }));
    out.push(("icmp-error-empty-quote", error(&[])));
    out.push(("echo-reply-code-1", {
        let [a, b] = req.identifier.to_be_bytes();
        let [c, d] = req.sequence.to_be_bytes();
        let message = frames::icmp(frames::ICMP_ECHO_REPLY, 1, [a, b, c, d], &req.payload);
        frames::ethernet(
            host,
            config.gw_mac,
            frames::ETHERTYPE_IPV4,
            &reply_ip.packet(&message),
        )
    }));
    out.push(("reply-to-broadcast-address", {
        let ip = Ipv4::new(req.dst, [255; 4], frames::PROTO_ICMP, ip_id);
        frames::ethernet(
            BROADCAST,
            config.gw_mac,
            frames::ETHERTYPE_IPV4,
            &ip.packet(&reply_msg),
        )
    }));
    out.push(("reply-from-our-own-mac", {
        let mut f = good_reply.clone();
        f[6..12].copy_from_slice(&config.host_mac);
        f
    }));
    out
}

fn malformed(
    config: &Config,
    sniffer: &PacketSocket,
    injector: &Injector,
    until: &Until,
    stats: &mut Stats,
) -> Result<(), String> {
    let mut rng = Rng::new(seed());
    let mut latest: Option<frames::EchoRequest> = None;
    let mut buf = vec![0u8; 65_536];
    let started = Instant::now();
    let rate = if config.rate == 0 {
        20_000
    } else {
        config.rate
    } as f64;
    let mut sent = 0f64;
    let mut round: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    while !until.over() {
        // Everything queued, not one frame a turn: the sniffer also sees
        // the frames we inject (outgoing), and on a busy machine a turn can
        // take long enough for them to fill its queue and push out one of
        // sup's requests (seen once in a loaded CI run: 7 of 8 counted).
        let mut wait = TICK;
        while let Some((n, direction)) = sniffer
            .recv(&mut buf, wait)
            .map_err(|e| format!("recv: {e}"))?
        {
            wait = Duration::ZERO;
            if let Some(req) = host_request(config, &buf[..n], direction) {
                latest = Some(req);
                stats.add("requests", 1.0);
            }
        }
        let due = started.elapsed().as_secs_f64() * rate;
        // A turn sends 64 at most before reading again (a late turn
        // catches up over the next ones rather than in one burst).
        let mut burst = 0;
        while sent < due && burst < 64 {
            burst += 1;
            if round.is_empty() {
                round = malformed_round(config, &latest_or_default(config, &latest), &mut rng);
                round.reverse();
            }
            let Some((name, frame)) = round.pop() else {
                break;
            };
            kinds.insert(name);
            if injector.send(&frame) {
                stats.add("sent", 1.0);
            } else {
                // Frames under 14 bytes, for one: the kernel may refuse them.
                stats.add("refused", 1.0);
            }
            sent += 1.0;
        }
    }
    stats.set("kinds", kinds.len() as f64);
    Ok(())
}

// ---------------------------------------------------------------------------
// flood: unrelated UDP and ARP noise

/// `n` noise frames: UDP to the subnet's broadcast and to addresses nobody
/// has (the host's kernel drops them, and sends nothing back), ARP requests
/// and replies about addresses nobody has.
fn noise(config: &Config, n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let net = [config.host_ip[0], config.host_ip[1], config.host_ip[2]];
    let ip = |last: u8| [net[0], net[1], net[2], last];
    (0..n)
        .map(|i| {
            let src_mac: Mac = [0x02, 0x0f, 0x10, 0x0d, (i >> 8) as u8, i as u8];
            let a = ip(100 + (i % 100) as u8);
            let b = ip(200 + (i % 50) as u8);
            match i % 4 {
                0 => {
                    let len = rng.below(0..200);
                    let datagram = frames::udp(1024 + i as u16, 9, &rng.bytes(len));
                    let packet =
                        Ipv4::new(a, ip(255), frames::PROTO_UDP, i as u16).packet(&datagram);
                    frames::ethernet(BROADCAST, src_mac, frames::ETHERTYPE_IPV4, &packet)
                }
                1 => {
                    let len = rng.below(0..200);
                    let datagram = frames::udp(1024 + i as u16, 9, &rng.bytes(len));
                    let packet = Ipv4::new(a, b, frames::PROTO_UDP, i as u16).packet(&datagram);
                    frames::ethernet(config.host_mac, src_mac, frames::ETHERTYPE_IPV4, &packet)
                }
                2 => frames::ethernet(
                    BROADCAST,
                    src_mac,
                    frames::ETHERTYPE_ARP,
                    &frames::arp(frames::ARP_REQUEST, src_mac, a, [0; 6], b),
                ),
                _ => frames::ethernet(
                    config.host_mac,
                    src_mac,
                    frames::ETHERTYPE_ARP,
                    &frames::arp(
                        frames::ARP_REPLY,
                        src_mac,
                        a,
                        config.host_mac,
                        config.host_ip,
                    ),
                ),
            }
        })
        .collect()
}

fn flood(config: &Config, injector: &Injector, until: &Until, stats: &mut Stats) {
    const BATCH: usize = 64;
    let mut rng = Rng::new(seed());
    let pool = noise(config, 1024, &mut rng);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut at = 0usize;
    let mut calls = 0u64;
    while !until.over() {
        if config.rate > 0 {
            let due = started.elapsed().as_secs_f64() * config.rate as f64;
            if sent as f64 >= due {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
        }
        let batch: Vec<&[u8]> = (0..BATCH)
            .map(|k| pool[(at + k) % pool.len()].as_slice())
            .collect();
        at = (at + BATCH) % pool.len();
        let n = injector.send_batch(&batch);
        calls += 1;
        sent += n;
        if n < BATCH {
            // The veth's peer is behind (ENOBUFS): count and go on.
            stats.add("refused", (BATCH - n) as f64);
        }
    }
    stats.set("sent", sent as f64);
    stats.set("calls", calls as f64);
}

// ---------------------------------------------------------------------------
// ping-flood: echo requests to a responder

/// Echo requests from the gateway's address to `--host-ip` (a responder's
/// address) at `--host-mac`, numbered from 1, 56 bytes of payload, at
/// `--rate` a second (0: as fast as it goes), in batches: what a flood
/// into a virtual host looks like. Sniffs nothing.
fn ping_flood(config: &Config, injector: &Injector, until: &Until, stats: &mut Stats) {
    const BATCH: u64 = 64;
    let payload: Vec<u8> = (0..56u8).collect();
    let started = Instant::now();
    let mut sent = 0u64;
    while !until.over() {
        if config.rate > 0 {
            let due = started.elapsed().as_secs_f64() * config.rate as f64;
            if sent as f64 >= due {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
        }
        let frames: Vec<Vec<u8>> = (sent..sent + BATCH)
            .map(|n| {
                let message =
                    frames::echo(frames::ICMP_ECHO_REQUEST, 0x5005, (n + 1) as u16, &payload);
                let ip =
                    frames::Ipv4::new(config.gw_ip, config.host_ip, frames::PROTO_ICMP, n as u16);
                frames::ethernet(
                    config.host_mac,
                    config.gw_mac,
                    frames::ETHERTYPE_IPV4,
                    &ip.packet(&message),
                )
            })
            .collect();
        let batch: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let n = injector.send_batch(&batch) as u64;
        sent += n;
        if n < BATCH {
            stats.add("refused", (BATCH - n) as f64);
        }
    }
    stats.set("sent", sent as f64);
}

// ---------------------------------------------------------------------------
// respond: the target itself, answering late (not hostile: the real reply)

/// In the remote's namespace (its kernel told to ignore echoes), answers
/// every echo request from the host after `--delay-ms`, as the kernel
/// would (TTL 64, the request's identifier, sequence number and payload),
/// through the gateway (`--gw-mac`: the gateway's MAC on this link). The
/// forged replies of `echo` then win the race.
fn respond(
    config: &Config,
    sniffer: &PacketSocket,
    injector: &Injector,
    until: &Until,
    stats: &mut Stats,
) -> Result<(), String> {
    let own_mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", config.ifname))
        .map_err(|e| format!("MAC of {}: {e}", config.ifname))
        .and_then(|m| parse_mac(m.trim()))?;
    let mut rng = Rng::new(seed());
    let mut due: std::collections::VecDeque<(Instant, Vec<u8>)> = Default::default();
    let mut buf = vec![0u8; 65_536];
    while !until.over() {
        if let Some((n, direction)) = sniffer
            .recv(&mut buf, TICK)
            .map_err(|e| format!("recv: {e}"))?
        {
            if let Some(req) = frames::parse_echo_request(&buf[..n]) {
                if direction == Direction::Incoming && req.src == config.host_ip {
                    stats.add("requests", 1.0);
                    let message = frames::echo(
                        frames::ICMP_ECHO_REPLY,
                        req.identifier,
                        req.sequence,
                        &req.payload,
                    );
                    let mut ip = Ipv4::new(req.dst, req.src, frames::PROTO_ICMP, rng.next() as u16);
                    ip.ttl = 64;
                    let frame = frames::ethernet(
                        config.gw_mac,
                        own_mac,
                        frames::ETHERTYPE_IPV4,
                        &ip.packet(&message),
                    );
                    due.push_back((Instant::now() + config.delay, frame));
                }
            }
        }
        while due.front().is_some_and(|(at, _)| *at <= Instant::now()) {
            if let Some((_, frame)) = due.pop_front() {
                if injector.send(&frame) {
                    stats.add("sent", 1.0);
                }
            }
        }
    }
    Ok(())
}
