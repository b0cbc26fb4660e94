//! What every mode does before its first probe: find the route, open the
//! NIC, wire Ctrl+C.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ersatz::capture::{self, Recorder};
use ersatz::interface::Opening;
use ersatz::{ipv4, netinfo, Interface};

use crate::diagnose;
use crate::out::{err, Failure};

/// An opened NIC and the flags that end a run.
pub struct Setup {
    pub interface: Arc<Interface>,
    /// Set by Ctrl+C: the run was interrupted.
    pub stop: Arc<AtomicBool>,
    /// The engine's stop flag: set by Ctrl+C, and when stdout is gone
    /// (nobody reads the rest).
    pub halt: Arc<AtomicBool>,
    /// `--pcap`: the file the frames go to.
    pcap: Option<PathBuf>,
}

impl Drop for Setup {
    /// Finishes the `--pcap` file (says on stderr what went wrong with it),
    /// and lets the NIC close without waiting.
    fn drop(&mut self) {
        if let Some(path) = &self.pcap {
            let path = path.display();
            match self.interface.finish_recording() {
                Some(Err(e)) => err!("--pcap {path}: {e}"),
                Some(Ok(_)) if self.interface.stats().own == 0 => err!(
                    "--pcap {path}: the capture showed none of our own frames; the file holds only what came in"
                ),
                _ => {}
            }
        }
        // sup exits next: the Interface closes without waiting for the
        // kernel (Linux's grace period per packet socket), which was most
        // of a `sup -n 1`. If that cannot be arranged it waits, as before.
        let _ = capture::close_without_waiting_at_exit(keeper_from_env());
    }
}

impl Setup {
    /// Whether Ctrl+C ended the run.
    pub fn interrupted(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Ends the run (stdout is gone).
    pub fn halt(&self) {
        self.halt.store(true, Ordering::SeqCst);
    }
}

/// The route to `target`; with `verbose`, says on stderr which NIC and route.
pub fn route(target: ipv4::Addr, verbose: bool) -> Result<netinfo::Route, Failure> {
    let route = netinfo::route_to(target)?;
    if verbose {
        err!("{}", diagnose::nic_line(&route.nic));
        err!("{}", diagnose::route_line(&route));
    }
    Ok(route)
}

/// What `-v` says on stderr once the NIC is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbose {
    /// Nothing.
    No,
    /// What the capture does (library, immediate mode, timestamps).
    Capture,
    /// That, then the next hop's MAC from our own ARP (learned first), and
    /// whether the capture showed our ARP request going out.
    CaptureAndArp,
}

impl Verbose {
    /// `-v` for a mode that sends through the next hop.
    pub fn with_arp(verbose: bool) -> Self {
        match verbose {
            true => Verbose::CaptureAndArp,
            false => Verbose::No,
        }
    }

    /// `-v` for a mode that does its own ARP (--arp, sweeps).
    pub fn without_arp(verbose: bool) -> Self {
        match verbose {
            true => Verbose::Capture,
            false => Verbose::No,
        }
    }
}

/// Opens the route's NIC, starts `--pcap`'s file (`pcap`) before anything
/// is sent, and wires Ctrl+C to it; says on stderr what `verbose` asks.
pub fn open(
    route: netinfo::Route,
    verbose: Verbose,
    pcap: Option<&PathBuf>,
) -> Result<Setup, Failure> {
    open_with(route, verbose, pcap, &Opening::default())
}

/// [`open`], the NIC opened as `how` says (promiscuous, more let through).
pub fn open_with(
    route: netinfo::Route,
    verbose: Verbose,
    pcap: Option<&PathBuf>,
    how: &Opening,
) -> Result<Setup, Failure> {
    let next_hop = route.next_hop;
    // A file that cannot be written fails before the NIC is even opened.
    let recorder = match pcap {
        Some(path) => Some(
            Recorder::create(path, capture::snaplen(route.nic.mtu)).map_err(|e| {
                Failure(format!(
                    "cannot write the capture file {}: {e}",
                    path.display()
                ))
            })?,
        ),
        None => None,
    };
    let interface = Arc::new(Interface::open_route_with(route, how)?);
    if let Some(recorder) = recorder {
        interface.record(recorder);
    }
    if verbose != Verbose::No {
        diagnose::say_capture(interface.capture_facts());
    }
    let mut own_frames_seen = None;
    if verbose == Verbose::CaptureAndArp {
        // Before Ctrl+C is wired to the interface: this wait is at most 3 s.
        match interface.resolve(next_hop) {
            Ok(mac) => {
                err!("next hop {next_hop} is at {mac} (our ARP)");
                // A reply is believed once the capture showed our request,
                // or after waiting for it in vain.
                let seen = interface.stats().own > 0;
                own_frames_seen = Some(seen);
                err!("{}", diagnose::own_frames_line(seen));
            }
            Err(e) => err!("next hop {next_hop}: {e}"),
        }
    }
    if verbose != Verbose::No {
        // Every degraded path, as --diagnose names it.
        for degraded in ersatz::diagnose::degradations_of(
            Some(interface.nic()),
            Some(interface.capture_facts()),
            own_frames_seen,
        ) {
            err!("degraded: {degraded}");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let halt = Arc::new(AtomicBool::new(false));
    {
        let (stop, halt) = (stop.clone(), halt.clone());
        // Weak: the handler lives until the process ends, and the interface
        // must drop at the end of the run, where it closes its two sockets at
        // once (left to the exit, the kernel closes them one after the other,
        // each waiting for its own RCU grace period).
        let interface = Arc::downgrade(&interface);
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            halt.store(true, Ordering::SeqCst);
            // Ends a wait for ARP at once rather than after its 3 s.
            if let Some(interface) = interface.upgrade() {
                interface.interrupt();
            }
        })?;
    }
    Ok(Setup {
        interface,
        stop,
        halt,
        pcap: pcap.cloned(),
    })
}

/// `SUP_KEEPER`: `always` or `never` start the process that lets sup exit
/// without waiting for the kernel to release its packet sockets (Linux);
/// unset or anything else: where PID 1 reaps orphans.
fn keeper_from_env() -> capture::Keeper {
    match std::env::var("SUP_KEEPER").as_deref() {
        Ok("always") => capture::Keeper::Always,
        Ok("never") => capture::Keeper::Never,
        _ => capture::Keeper::Auto,
    }
}
