//! ARP resolution: the MAC of a next hop, learned with our own requests;
//! only replies that answer one of them are believed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{lock, Error, Shared, Stat};
use crate::{arp, ethernet, ipv4};

/// ARP requests sent before giving up on an address.
pub const ARP_TRIES: u32 = 3;
/// Time between ARP requests.
pub const ARP_INTERVAL: Duration = Duration::from_secs(1);
/// How long the capture may take to show our own ARP request going out
/// (replies are believed only after it); where it never does, replies
/// that came in meanwhile are believed after this.
const ARP_OWN_REQUEST_WAIT: Duration = Duration::from_millis(50);

#[derive(Default)]
pub(super) struct ArpState {
    pub(super) cache: HashMap<ipv4::Addr, ethernet::Addr>,
    /// Addresses we are asking for.
    pub(super) asking: HashMap<ipv4::Addr, Asking>,
}

/// An address we are asking for.
#[derive(Default)]
pub(super) struct Asking {
    /// How many askers wait.
    askers: u32,
    /// The capture showed our request going out: a reply captured after it
    /// answers it (one captured before cannot, though the capture thread may
    /// only get to it after we started asking).
    pub(super) on_wire: bool,
    /// A reply captured before our request showed: believed only if the
    /// capture never shows our own frames (see [`ARP_OWN_REQUEST_WAIT`]).
    pub(super) early: Option<ethernet::Addr>,
}

impl Shared {
    /// Believes an ARP reply only if it answers a request of ours: captured
    /// after our request went out, and the first to do so (a later claim,
    /// unsolicited, must not replace the answer).
    pub(super) fn on_arp(&self, p: &arp::Packet) {
        let mut arp = lock(&self.arp);
        let arp = &mut *arp;
        let for_us = p.operation == arp::Operation::Reply
            && p.target_ip_addr == self.nic.addr
            && p.target_hw_addr == self.nic.mac
            && !p.sender_hw_addr.is_multicast()
            && p.sender_hw_addr != ethernet::Addr::zero()
            && !arp.cache.contains_key(&p.sender_ip_addr);
        match arp.asking.get_mut(&p.sender_ip_addr) {
            Some(asking) if for_us && asking.on_wire => {
                arp.cache.insert(p.sender_ip_addr, p.sender_hw_addr);
                self.count(Stat::ArpBelieved, 1);
                self.arp_changed.notify_all();
            }
            Some(asking) if for_us => {
                asking.early = Some(p.sender_hw_addr);
                self.count(Stat::ArpIgnored, 1);
            }
            _ if p.operation == arp::Operation::Reply => self.count(Stat::ArpIgnored, 1),
            _ => {}
        }
    }

    /// The MAC of `ip`, from the cache or from our own ARP requests.
    pub(super) fn resolve(&self, ip: ipv4::Addr) -> Result<ethernet::Addr, Error> {
        {
            let mut arp = lock(&self.arp);
            if let Some(mac) = arp.cache.get(&ip) {
                return Ok(*mac);
            }
            arp.asking.entry(ip).or_default().askers += 1;
        }
        let outcome = self.ask(ip);
        let mut arp = lock(&self.arp);
        if let Some(asking) = arp.asking.get_mut(&ip) {
            asking.askers -= 1;
            if asking.askers == 0 {
                arp.asking.remove(&ip);
            }
        }
        outcome
    }

    /// Sends ARP requests for `ip` until the capture thread believes a reply.
    fn ask(&self, ip: ipv4::Addr) -> Result<ethernet::Addr, Error> {
        let request = ethernet::Frame::new(
            ethernet::Addr::broadcast(),
            self.nic.mac,
            arp::request(self.nic.mac, self.nic.addr, ip).into_ethernet_payload(),
        )
        .to_vec()
        .map_err(Error::Build)?;
        let interrupts = self.interrupts.load(Ordering::SeqCst);
        for _ in 0..ARP_TRIES {
            self.check_alive()?;
            let sent_at = Instant::now();
            self.tx.send(&request).map_err(Error::Send)?;
            let deadline = sent_at + ARP_INTERVAL;
            let mut arp = lock(&self.arp);
            loop {
                if let Some(mac) = arp.cache.get(&ip) {
                    return Ok(*mac);
                }
                self.check_alive()?;
                if self.interrupts.load(Ordering::SeqCst) != interrupts {
                    return Err(Error::Interrupted);
                }
                let now = Instant::now();
                let mut wake = deadline.saturating_duration_since(now);
                if let Some(asking) = arp.asking.get_mut(&ip).filter(|a| !a.on_wire) {
                    let waited = now.saturating_duration_since(sent_at);
                    if waited >= ARP_OWN_REQUEST_WAIT {
                        // The capture does not show our own frames here: take
                        // the replies as they come.
                        asking.on_wire = true;
                        if let Some(mac) = asking.early.take() {
                            arp.cache.insert(ip, mac);
                            self.count(Stat::ArpBelieved, 1);
                            return Ok(mac);
                        }
                    } else {
                        wake = wake.min(ARP_OWN_REQUEST_WAIT - waited);
                    }
                }
                if wake.is_zero() {
                    break;
                }
                arp = self
                    .arp_changed
                    .wait_timeout(arp, wake)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        Err(Error::ArpTimeout(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arp_reply, interface, next_sent};
    use super::*;
    use crate::capture::memory::{GW, GW_MAC, OUR_MAC, US};

    const EVIL_MAC: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 0x66]);

    #[test]
    fn arp_request_is_ours_and_the_reply_is_believed() {
        let (interface, peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            let request = next_sent(&peer);
            assert_eq!(request.dst, ethernet::Addr::broadcast());
            assert_eq!(request.src, OUR_MAC);
            assert_eq!(
                request.payload,
                ethernet::Payload::ARP(arp::request(OUR_MAC, US, GW))
            );
            peer.send(arp_reply(GW_MAC, GW)).unwrap();
            assert_eq!(asker.join().unwrap().unwrap(), GW_MAC);
        });
        assert_eq!(interface.cached_mac(GW), Some(GW_MAC));
        // Cached: no second request.
        assert_eq!(interface.resolve(GW).unwrap(), GW_MAC);
        assert!(peer.rx.try_recv().is_err());
        assert_eq!(interface.stats().arp_believed, 1);
    }

    #[test]
    fn unsolicited_replies_are_ignored() {
        let (interface, peer) = interface();
        peer.send(arp_reply(EVIL_MAC, GW)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while interface.stats().arp_ignored == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(interface.stats().arp_ignored, 1);
        assert_eq!(interface.cached_mac(GW), None);
        // And once resolved, a later unsolicited claim does not overwrite it.
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            next_sent(&peer);
            peer.send(arp_reply(GW_MAC, GW)).unwrap();
            assert_eq!(asker.join().unwrap().unwrap(), GW_MAC);
        });
        peer.send(arp_reply(EVIL_MAC, GW)).unwrap();
        while interface.stats().arp_ignored < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(interface.cached_mac(GW), Some(GW_MAC));
    }

    /// Our ARP request for `ip` as the capture shows it going out.
    fn own_request(ip: ipv4::Addr) -> Vec<u8> {
        ethernet::Frame::new(
            ethernet::Addr::broadcast(),
            OUR_MAC,
            arp::request(OUR_MAC, US, ip).into_ethernet_payload(),
        )
        .to_vec()
        .unwrap()
    }

    #[test]
    fn a_claim_captured_before_our_request_is_no_answer() {
        let (interface, peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            next_sent(&peer);
            // Captured before our request went out, though the capture
            // thread gets to it only now; then our request; then the answer.
            peer.send(arp_reply(EVIL_MAC, GW)).unwrap();
            peer.send(own_request(GW)).unwrap();
            // Time enough for the asker to take the claim, had it been believed.
            std::thread::sleep(Duration::from_millis(200));
            peer.send(arp_reply(GW_MAC, GW)).unwrap();
            assert_eq!(asker.join().unwrap().unwrap(), GW_MAC);
        });
        assert_eq!(interface.cached_mac(GW), Some(GW_MAC));
    }

    #[test]
    fn a_claim_right_behind_the_answer_does_not_replace_it() {
        let (interface, peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            next_sent(&peer);
            peer.send(own_request(GW)).unwrap();
            peer.send(arp_reply(GW_MAC, GW)).unwrap();
            for _ in 0..64 {
                peer.send(arp_reply(EVIL_MAC, GW)).unwrap();
            }
            assert_eq!(asker.join().unwrap().unwrap(), GW_MAC);
        });
        let deadline = Instant::now() + Duration::from_secs(2);
        while interface.stats().captured < 66 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(interface.stats().captured, 66);
        assert_eq!(interface.cached_mac(GW), Some(GW_MAC));
        assert_eq!(interface.stats().arp_believed, 1);
    }

    #[test]
    fn replies_are_believed_where_the_capture_shows_no_own_frames() {
        // The in-memory wire, like a capture that never shows what we
        // sent: the answer is taken after ARP_OWN_REQUEST_WAIT.
        let (interface, peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| {
                let start = Instant::now();
                (interface.resolve(GW), start.elapsed())
            });
            next_sent(&peer);
            peer.send(arp_reply(GW_MAC, GW)).unwrap();
            let (mac, took) = asker.join().unwrap();
            assert_eq!(mac.unwrap(), GW_MAC);
            assert!(took < ARP_INTERVAL, "{took:?}");
        });
        assert!(peer.rx.try_recv().is_err(), "asked once");
    }

    #[test]
    fn arp_gives_up_after_three_tries() {
        let (interface, peer) = interface();
        let start = Instant::now();
        let err = interface.resolve(ipv4::Addr([10, 0, 0, 99])).unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, Error::ArpTimeout(ip) if ip == ipv4::Addr([10, 0, 0, 99])));
        assert_eq!(
            err.to_string(),
            "no ARP reply from 10.0.0.99: asked 3 times, 1s apart"
        );
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(4),
            "{took:?}"
        );
        assert_eq!(peer.rx.try_iter().count(), 3);
    }

    #[test]
    fn interrupt_ends_an_arp_wait_at_once() {
        let (interface, _peer) = interface();
        std::thread::scope(|s| {
            let asker = s.spawn(|| {
                let start = Instant::now();
                (
                    interface.resolve(ipv4::Addr([10, 0, 0, 99])),
                    start.elapsed(),
                )
            });
            std::thread::sleep(Duration::from_millis(100));
            interface.interrupt();
            let (result, took) = asker.join().unwrap();
            assert!(matches!(result, Err(Error::Interrupted)), "{result:?}");
            assert!(took < Duration::from_millis(900), "{took:?}");
        });
    }
}
