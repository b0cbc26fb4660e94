//! Frames built byte by byte (so that they can be built wrong on purpose),
//! and just enough parsing to recognise what the hostile host reacts to.

pub type Mac = [u8; 6];
pub type Ip = [u8; 4];

pub const BROADCAST: Mac = [0xff; 6];
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_UDP: u8 = 17;
pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMP_UNREACHABLE: u8 = 3;
pub const ICMP_TIME_EXCEEDED: u8 = 11;
pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;

/// Offsets in an Ethernet frame carrying IPv4 (20-byte header) and ICMP.
pub mod at {
    pub const ETHERTYPE: usize = 12;
    pub const IP: usize = 14;
    pub const IP_TOTAL_LEN: usize = 16;
    pub const IP_CHECKSUM: usize = 24;
    pub const ICMP: usize = 34;
    pub const ICMP_CHECKSUM: usize = 36;
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

pub fn get_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

pub fn ethernet(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An IPv4 header's fields (always 20 bytes, no options).
#[derive(Debug, Clone, Copy)]
pub struct Ipv4 {
    pub src: Ip,
    pub dst: Ip,
    pub protocol: u8,
    pub ttl: u8,
    pub identification: u16,
    /// Flags and fragment offset (in 8-byte units), as the 16 bits on the wire.
    pub flags_offset: u16,
}

impl Ipv4 {
    pub fn new(src: Ip, dst: Ip, protocol: u8, identification: u16) -> Ipv4 {
        Ipv4 {
            src,
            dst,
            protocol,
            ttl: 63,
            identification,
            flags_offset: 0,
        }
    }

    /// The packet: header with total length and checksum right, then `payload`.
    pub fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        put_u16(&mut p, 2, (20 + payload.len()) as u16);
        put_u16(&mut p, 4, self.identification);
        put_u16(&mut p, 6, self.flags_offset);
        p[8] = self.ttl;
        p[9] = self.protocol;
        p[12..16].copy_from_slice(&self.src);
        p[16..20].copy_from_slice(&self.dst);
        let sum = checksum(&p);
        put_u16(&mut p, 10, sum);
        p.extend_from_slice(payload);
        p
    }
}

/// Recomputes the IPv4 header checksum of a frame (20-byte header at 14).
pub fn fix_ip_checksum(frame: &mut [u8]) {
    let header_len = usize::from(frame[at::IP] & 0x0f) * 4;
    let end = (at::IP + header_len).min(frame.len());
    put_u16(frame, at::IP_CHECKSUM, 0);
    let sum = checksum(&frame[at::IP..end]);
    put_u16(frame, at::IP_CHECKSUM, sum);
}

/// An ICMP message with its checksum right.
pub fn icmp(typ: u8, code: u8, rest: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut m = vec![typ, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(payload);
    let sum = checksum(&m);
    put_u16(&mut m, 2, sum);
    m
}

/// An echo request or reply.
pub fn echo(typ: u8, identifier: u16, sequence: u16, payload: &[u8]) -> Vec<u8> {
    let [a, b] = identifier.to_be_bytes();
    let [c, d] = sequence.to_be_bytes();
    icmp(typ, 0, [a, b, c, d], payload)
}

/// A UDP datagram without checksum (0: none, allowed over IPv4).
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(8 + payload.len());
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

/// An Ethernet/IPv4 ARP packet (28 bytes).
pub fn arp(operation: u16, sha: Mac, spa: Ip, tha: Mac, tpa: Ip) -> Vec<u8> {
    let mut p = vec![0x00, 0x01, 0x08, 0x00, 6, 4];
    p.extend_from_slice(&operation.to_be_bytes());
    p.extend_from_slice(&sha);
    p.extend_from_slice(&spa);
    p.extend_from_slice(&tha);
    p.extend_from_slice(&tpa);
    p
}

/// An echo request seen on the wire.
#[derive(Debug, Clone)]
pub struct EchoRequest {
    pub src_mac: Mac,
    pub src: Ip,
    pub dst: Ip,
    pub identification: u16,
    pub identifier: u16,
    pub sequence: u16,
    pub payload: Vec<u8>,
}

/// `frame` as an unfragmented IPv4 ICMP echo request, if it is one.
pub fn parse_echo_request(frame: &[u8]) -> Option<EchoRequest> {
    if frame.len() < at::ICMP + 8 || get_u16(frame, at::ETHERTYPE) != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = &frame[at::IP..];
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(get_u16(ip, 2));
    let fragmented = get_u16(ip, 6) & 0x3fff != 0;
    if ip[0] >> 4 != 4
        || header_len < 20
        || ip[9] != PROTO_ICMP
        || fragmented
        || total < header_len + 8
        || total > ip.len()
    {
        return None;
    }
    let message = &ip[header_len..total];
    if message[0] != ICMP_ECHO_REQUEST || message[1] != 0 {
        return None;
    }
    Some(EchoRequest {
        src_mac: frame[6..12].try_into().ok()?,
        src: ip[12..16].try_into().ok()?,
        dst: ip[16..20].try_into().ok()?,
        identification: get_u16(ip, 4),
        identifier: get_u16(message, 4),
        sequence: get_u16(message, 6),
        payload: message[8..].to_vec(),
    })
}

/// An ARP packet seen on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Arp {
    pub operation: u16,
    pub sha: Mac,
    pub spa: Ip,
    pub tpa: Ip,
}

/// `frame` as Ethernet/IPv4 ARP, if it is.
pub fn parse_arp(frame: &[u8]) -> Option<Arp> {
    if frame.len() < 14 + 28 || get_u16(frame, at::ETHERTYPE) != ETHERTYPE_ARP {
        return None;
    }
    let p = &frame[14..];
    if p[..6] != [0x00, 0x01, 0x08, 0x00, 6, 4] {
        return None;
    }
    Some(Arp {
        operation: get_u16(p, 6),
        sha: p[8..14].try_into().ok()?,
        spa: p[14..18].try_into().ok()?,
        tpa: p[24..28].try_into().ok()?,
    })
}

/// A small, fast, seeded pseudo-random generator (xorshift64*): noise and
/// garbage need no better.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `range` (inclusive start, exclusive end).
    pub fn below(&mut self, range: std::ops::Range<usize>) -> usize {
        range.start + (self.next() % (range.end - range.start) as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_header() {
        // RFC 1071's example words and a real IPv4 header.
        let header = [
            0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xac, 0x10,
            0x0a, 0x63, 0xac, 0x10, 0x0a, 0x0c,
        ];
        assert_eq!(checksum(&header), 0xb1e6);
        let mut with = header;
        with[10..12].copy_from_slice(&0xb1e6u16.to_be_bytes());
        assert_eq!(checksum(&with), 0);
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn echo_request_round_trip() {
        let ip = Ipv4::new([10, 0, 0, 2], [10, 0, 0, 9], PROTO_ICMP, 77);
        let frame = ethernet(
            [2; 6],
            [3; 6],
            ETHERTYPE_IPV4,
            &ip.packet(&echo(ICMP_ECHO_REQUEST, 0x4242, 7, b"abc")),
        );
        let seen = parse_echo_request(&frame).expect("an echo request");
        assert_eq!(
            (seen.identifier, seen.sequence, &seen.payload[..]),
            (0x4242, 7, &b"abc"[..])
        );
        assert_eq!(
            (seen.src, seen.dst, seen.identification),
            ([10, 0, 0, 2], [10, 0, 0, 9], 77)
        );
        assert_eq!(checksum(&frame[at::IP..at::ICMP]), 0);
        assert_eq!(checksum(&frame[at::ICMP..]), 0);
        assert!(parse_echo_request(&frame[..40]).is_none());
    }

    #[test]
    fn arp_round_trip() {
        let frame = ethernet(
            BROADCAST,
            [2; 6],
            ETHERTYPE_ARP,
            &arp(ARP_REPLY, [2; 6], [10, 0, 0, 1], [3; 6], [10, 0, 0, 2]),
        );
        let seen = parse_arp(&frame).expect("ARP");
        assert_eq!(
            (seen.operation, seen.sha, seen.spa, seen.tpa),
            (2, [2; 6], [10, 0, 0, 1], [10, 0, 0, 2])
        );
    }
}
