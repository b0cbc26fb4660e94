//! Listener subscriptions: who waits for which IPv4 packet.
//!
//! A listener is a filter closure and the sending half of a channel. The
//! capture thread offers every IPv4 packet addressed to us to the listeners.
//! An expectation ([`super::Interface::expect_ipv4`]) takes the first packet
//! its filter turns into `Some(value)` and leaves; a subscription
//! ([`super::Interface::listen_ipv4`]) takes every one. A listener also leaves
//! when its [`Expectation`] (the receiving half) is dropped, so expectations
//! that never match cost nothing once their owner gave up on them.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::Timestamp;
use crate::{ethernet, ipv4};

/// An IPv4 packet as the capture thread saw it, offered to listeners.
#[derive(Debug)]
pub struct Received<'a> {
    /// The packet (its checksums verified: see `checksum_ok` on it and on its ICMP payload).
    pub packet: ipv4::Packet<'a>,
    /// When the frame was captured, by the capture library's clock: compare it
    /// with [`super::Sent::timestamp`] for a round-trip time.
    pub timestamp: Timestamp,
    /// The MAC address the frame came from.
    pub src_mac: ethernet::Addr,
    /// The whole frame as captured (for hex dumps).
    pub frame: &'a [u8],
}

type Filter = Box<dyn Fn(&Received<'_>) -> bool + Send>;

/// The table of listeners, shared by the capture thread and the expectations.
#[derive(Default)]
pub(crate) struct Listeners {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    filters: HashMap<u64, Filter>,
}

impl Listeners {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // A filter that panicked poisoned the lock; the table itself is still whole.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a listener; see [`super::Interface::expect_ipv4`] (`once`) and
    /// [`super::Interface::listen_ipv4`].
    pub(crate) fn expect<T, F>(self: &Arc<Self>, once: bool, filter: F) -> Expectation<T>
    where
        T: Send + 'static,
        F: Fn(&Received<'_>) -> Option<T> + Send + 'static,
    {
        let (tx, rx): (Sender<T>, Receiver<T>) = mpsc::channel();
        let wrapped: Filter = Box::new(move |received| match filter(received) {
            // Matched: deliver; an expectation leaves, and so does a
            // subscription whose receiver is gone.
            Some(value) => tx.send(value).is_err() || once,
            None => false,
        });
        let mut table = self.lock();
        let id = table.next_id;
        table.next_id += 1;
        table.filters.insert(id, wrapped);
        Expectation {
            rx,
            id,
            listeners: Arc::downgrade(self),
        }
    }

    /// Offers a packet to every listener; those that match leave.
    pub(crate) fn dispatch(&self, received: &Received<'_>) -> usize {
        let mut table = self.lock();
        let before = table.filters.len();
        table.filters.retain(|_, filter| !filter(received));
        before - table.filters.len()
    }

    /// How many listeners are waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().filters.len()
    }

    fn remove(&self, id: u64) {
        self.lock().filters.remove(&id);
    }
}

/// The receiving end of [`super::Interface::expect_ipv4`] and
/// [`super::Interface::listen_ipv4`]: an [`mpsc::Receiver`] (it derefs to
/// one: `recv_timeout`, `try_recv`, ...) that takes its listener away when
/// dropped.
#[derive(Debug)]
pub struct Expectation<T> {
    rx: Receiver<T>,
    id: u64,
    listeners: Weak<Listeners>,
}

impl<T> Deref for Expectation<T> {
    type Target = Receiver<T>;
    fn deref(&self) -> &Receiver<T> {
        &self.rx
    }
}

impl<T> Drop for Expectation<T> {
    fn drop(&mut self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.remove(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icmp;
    use std::time::Duration;

    fn echo_reply(src: [u8; 4], seq: u16) -> ipv4::Packet<'static> {
        icmp::Echo {
            identifier: 7,
            sequence_number: seq,
        }
        .as_echo_reply(&b"abc"[..])
        .as_ipv4_payload()
        .as_packet(ipv4::Addr(src), ipv4::Addr([10, 0, 0, 1]))
    }

    fn received(packet: ipv4::Packet<'static>) -> Received<'static> {
        Received {
            packet,
            timestamp: Timestamp::from_unix(Duration::from_secs(5)),
            src_mac: ethernet::Addr::zero(),
            frame: &[],
        }
    }

    fn seq_of(r: &Received<'_>) -> Option<u16> {
        match &r.packet.payload {
            ipv4::Payload::ICMP(icmp::Packet {
                header: icmp::Header::EchoReply(e),
                ..
            }) => Some(e.sequence_number),
            _ => None,
        }
    }

    #[test]
    fn first_match_is_delivered_then_the_listener_leaves() {
        let listeners = Arc::new(Listeners::default());
        let want_2 = listeners.expect(true, |r| {
            seq_of(r).filter(|&s| s == 2).map(|s| (s, r.timestamp))
        });
        let any = listeners.expect(true, seq_of);
        assert_eq!(listeners.len(), 2);
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1))),
            1
        );
        assert_eq!(any.try_recv(), Ok(1));
        assert_eq!(listeners.len(), 1);
        assert!(want_2.try_recv().is_err());
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 2))),
            1
        );
        assert_eq!(
            want_2.try_recv(),
            Ok((2, Timestamp::from_unix(Duration::from_secs(5))))
        );
        assert_eq!(listeners.len(), 0);
        // Gone: a second reply with the same sequence number reaches nobody.
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 2))),
            0
        );
        assert!(any.try_recv().is_err());
    }

    #[test]
    fn dropping_the_expectation_removes_the_listener() {
        let listeners = Arc::new(Listeners::default());
        let many: Vec<_> = (0..100_000u32)
            .map(|i| listeners.expect(true, move |r| seq_of(r).filter(|_| i == u32::MAX)))
            .collect();
        assert_eq!(listeners.len(), 100_000);
        assert_eq!(
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1))),
            0
        );
        drop(many);
        assert_eq!(listeners.len(), 0);
    }

    #[test]
    fn expired_expectations_leave_memory_flat() {
        // A pinger's life: expect a reply, wait, give up, next probe.
        let listeners = Arc::new(Listeners::default());
        for i in 0..100_000u32 {
            let e = listeners.expect(true, move |r| seq_of(r).filter(|_| i == u32::MAX));
            listeners.dispatch(&received(echo_reply([1, 1, 1, 1], 1)));
            drop(e);
        }
        assert_eq!(listeners.len(), 0);
        assert!(listeners.lock().filters.capacity() < 16);
    }

    #[test]
    fn subscriptions_take_every_match_until_dropped() {
        let listeners = Arc::new(Listeners::default());
        let all = listeners.expect(false, seq_of);
        for seq in 1..=3 {
            assert_eq!(
                listeners.dispatch(&received(echo_reply([1, 1, 1, 1], seq))),
                0
            );
        }
        assert_eq!(all.try_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(listeners.len(), 1);
        drop(all);
        assert_eq!(listeners.len(), 0);
    }

    #[test]
    fn expectation_outliving_the_table_is_harmless() {
        let listeners = Arc::new(Listeners::default());
        let e = listeners.expect(true, seq_of);
        drop(listeners);
        assert!(e.try_recv().is_err());
        drop(e);
    }
}
