//! Reverse names for addresses, looked up in the background (one thread an
//! address, the system's resolver through `getnameinfo`), so that they
//! never hold up a probe; whoever prints waits for them with a bound.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ersatz::ipv4;

#[derive(Default)]
struct Found {
    names: HashMap<ipv4::Addr, String>,
    /// Lookups not finished.
    pending: usize,
}

/// Names being looked up.
pub struct Names {
    enabled: bool,
    asked: HashSet<ipv4::Addr>,
    found: Arc<(Mutex<Found>, Condvar)>,
}

fn lock(m: &Mutex<Found>) -> MutexGuard<'_, Found> {
    // A lookup thread that panicked leaves the map whole.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Names {
    /// Looks names up only if `enabled` (`-d` turns it off).
    pub fn new(enabled: bool) -> Names {
        Names {
            enabled,
            asked: HashSet::new(),
            found: Arc::default(),
        }
    }

    /// Starts looking up `addr`'s name, once.
    pub fn ask(&mut self, addr: ipv4::Addr) {
        if !self.enabled || !self.asked.insert(addr) {
            return;
        }
        let found = self.found.clone();
        lock(&found.0).pending += 1;
        let lookup = move || {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(addr));
            // getnameinfo gives the address back as text when it has no name.
            let name = dns_lookup::lookup_addr(&ip)
                .ok()
                .filter(|n| *n != ip.to_string() && !n.is_empty());
            let mut f = lock(&found.0);
            if let Some(name) = name {
                f.names.insert(addr, name);
            }
            f.pending -= 1;
            found.1.notify_all();
        };
        // Where no thread can start, the address goes without its name.
        if std::thread::Builder::new()
            .name("sup name".into())
            .spawn(lookup)
            .is_err()
        {
            lock(&self.found.0).pending -= 1;
        }
    }

    /// Waits until every lookup has finished, or `bound` has passed (a
    /// resolver that does not answer costs no more than that).
    pub fn wait(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        let (found, changed) = &*self.found;
        let mut f = lock(found);
        while f.pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            f = changed
                .wait_timeout(f, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// The name found for `addr`, if any (so far).
    pub fn get(&self, addr: ipv4::Addr) -> Option<String> {
        lock(&self.found.0).names.get(&addr).cloned()
    }

    /// `name [addr]`, or the address alone.
    pub fn show(&self, addr: ipv4::Addr) -> String {
        match self.get(addr) {
            Some(name) => format!("{name} [{addr}]"),
            None => addr.to_string(),
        }
    }
}
