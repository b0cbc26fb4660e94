//! Linux: the default capture filter in classic BPF, built here instead of
//! by libpcap's compiler. Loading libpcap (and the eight libraries it links
//! on Debian) took 1.3 ms of a 15 ms one-probe run, and compiling is all the
//! Linux capture needs it for; a filter with more in it
//! ([`super::Opening::filter`]) is still compiled by libpcap.

use rawsock::linux::BpfInsn;

use crate::ipv4;

/// `BPF_LD | BPF_H | BPF_ABS`: A = the 16 bits at k.
const LDH_ABS: u16 = 0x28;
/// `BPF_LD | BPF_B | BPF_ABS`: A = the byte at k.
const LDB_ABS: u16 = 0x30;
/// `BPF_LD | BPF_W | BPF_ABS`: A = the 32 bits at k.
const LD_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K`: A == k ? jt : jf.
const JEQ_K: u16 = 0x15;
/// `BPF_RET | BPF_K`: keep k bytes of the frame (0: drop it).
const RET_K: u16 = 0x06;

/// [`super::filter_for`] without more (`arp or (icmp and host ADDR)`) for
/// Ethernet frames, keeping `snaplen` bytes of each: the program libpcap
/// 1.10 compiles it to (`tcpdump -d`), instruction for instruction.
pub(crate) fn arp_or_icmp_host(addr: ipv4::Addr, snaplen: u32) -> Vec<BpfInsn> {
    let addr = u32::from_be_bytes(addr.0);
    let insn = |code, jt, jf, k| BpfInsn { code, jt, jf, k };
    vec![
        insn(LDH_ABS, 0, 0, 12),    // 0: the EtherType
        insn(JEQ_K, 7, 0, 0x0806),  // 1: ARP: keep
        insn(JEQ_K, 0, 7, 0x0800),  // 2: not IPv4: drop
        insn(LDB_ABS, 0, 0, 23),    // 3: the IPv4 protocol
        insn(JEQ_K, 0, 5, 1),       // 4: not ICMP: drop
        insn(LD_ABS, 0, 0, 26),     // 5: the source
        insn(JEQ_K, 2, 0, addr),    // 6: ours: keep
        insn(LD_ABS, 0, 0, 30),     // 7: the destination
        insn(JEQ_K, 0, 1, addr),    // 8: not ours: drop
        insn(RET_K, 0, 0, snaplen), // 9: keep
        insn(RET_K, 0, 0, 0),       // 10: drop
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{filter_for, library};
    use crate::netinfo::NIC;

    /// Runs a program of the instructions above the way the kernel does
    /// (a load past the end of the frame drops it): how many bytes to keep.
    fn run(program: &[BpfInsn], frame: &[u8]) -> u32 {
        let load = |k: u32, n: usize| -> Option<u32> {
            let at = usize::try_from(k).ok()?;
            let bytes = frame.get(at..at.checked_add(n)?)?;
            Some(bytes.iter().fold(0, |a, &b| (a << 8) | u32::from(b)))
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let insn = program[pc];
            pc += 1;
            let loaded = match insn.code {
                LDH_ABS => Some(load(insn.k, 2)),
                LDB_ABS => Some(load(insn.k, 1)),
                LD_ABS => Some(load(insn.k, 4)),
                _ => None,
            };
            match (insn.code, loaded) {
                (_, Some(Some(value))) => a = value,
                (_, Some(None)) => return 0,
                (JEQ_K, None) => {
                    let skip = if a == insn.k { insn.jt } else { insn.jf };
                    pc += usize::from(skip);
                }
                (RET_K, None) => return insn.k,
                (code, None) => panic!("opcode {code:#x} is not interpreted here"),
            }
        }
    }

    const US: [u8; 4] = [10, 77, 1, 2];
    const GW: [u8; 4] = [10, 77, 1, 1];
    const OTHER: [u8; 4] = [10, 77, 1, 3];

    fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(protocol: u8, src: [u8; 4], dst: [u8; 4], fragment: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 48, 0x12, 0x34];
        p.extend_from_slice(&fragment.to_be_bytes());
        p.extend_from_slice(&[64, protocol, 0, 0]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        p.resize(48, 0xab);
        ethernet(0x0800, &p)
    }

    /// Frames the filter must keep or drop, and the edge cases of each test.
    fn corpus() -> Vec<(&'static str, Vec<u8>)> {
        let arp = {
            let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2];
            a.extend_from_slice(&US);
            a.extend_from_slice(&[0; 6]);
            a.extend_from_slice(&GW);
            a
        };
        let mut frames = vec![
            ("arp request", ethernet(0x0806, &arp)),
            ("arp for others", ethernet(0x0806, &[0; 28])),
            ("icmp from us", ipv4(1, US, GW, 0)),
            ("icmp to us", ipv4(1, GW, US, 0)),
            ("icmp between others", ipv4(1, GW, OTHER, 0)),
            ("icmp fragment to us", ipv4(1, GW, US, 0x2000)),
            ("icmp later fragment to us", ipv4(1, GW, US, 0x00b9)),
            ("tcp to us", ipv4(6, GW, US, 0)),
            ("udp from us", ipv4(17, US, GW, 0)),
            ("ipv6", ethernet(0x86dd, &[0x60; 40])),
            ("rarp", ethernet(0x8035, &arp)),
            ("vlan-tagged icmp to us", {
                let mut f = ipv4(1, GW, US, 0);
                f.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
                f
            }),
        ];
        let to_us = ipv4(1, GW, US, 0);
        for cut in [0, 12, 13, 14, 23, 24, 29, 30, 33, 34] {
            frames.push(("icmp to us, cut short", to_us[..cut].to_vec()));
        }
        // Our address as the source: kept before the destination is read.
        frames.push(("icmp from us, cut short", ipv4(1, US, GW, 0)[..30].to_vec()));
        frames.push(("arp, cut short", ethernet(0x0806, &[])[..13].to_vec()));
        frames
    }

    #[test]
    fn keeps_arp_and_our_icmp_only() {
        let program = arp_or_icmp_host(ipv4::Addr(US), 1518);
        let kept: Vec<&str> = corpus()
            .iter()
            .filter(|(_, f)| run(&program, f) != 0)
            .map(|(what, _)| *what)
            .collect();
        assert_eq!(
            kept,
            [
                "arp request",
                "arp for others",
                "icmp from us",
                "icmp to us",
                "icmp fragment to us",
                "icmp later fragment to us",
                "icmp to us, cut short",
                "icmp from us, cut short",
            ]
        );
        assert!(corpus()
            .iter()
            .all(|(_, f)| [0, 1518].contains(&run(&program, f))));
    }

    #[test]
    fn same_as_libpcap_compiles() {
        let Ok(library) = library() else {
            println!("skipped: no libpcap to compare with");
            return;
        };
        for (addr, snaplen) in [(US, 1518), ([192, 168, 0, 255], 9018), ([0; 4], 576)] {
            let nic = NIC {
                addr: ipv4::Addr(addr),
                ..crate::capture::memory::nic()
            };
            let text = filter_for(&nic, None);
            let compiled = rawsock::linux::compile_filter(library, &text, snaplen)
                .expect("libpcap compiles the default filter");
            let ours = arp_or_icmp_host(ipv4::Addr(addr), snaplen);
            for (what, frame) in corpus() {
                assert_eq!(
                    run(&compiled, &frame),
                    run(&ours, &frame),
                    "{what} with {text} (libpcap: {compiled:?})"
                );
            }
            println!(
                "{text}: libpcap's program is ours instruction for instruction: {}",
                compiled == ours
            );
        }
    }
}
