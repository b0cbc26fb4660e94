//! The command line: ping.exe's letters, plus long options.

use clap::Parser;

/// Exit codes, documented in --help and README.md.
pub const AFTER_HELP: &str = "\
Exit codes:
  0  at least one echo reply (with --arp: ARP reply) came back
  1  none came back (timeouts, unreachable, TTL expired)
  2  sup could not run (bad arguments, unknown host, no capture library,
     no permission, no route)
Unlike ping.exe, \"Destination host unreachable\" alone exits with 1.
--diagnose: 0 sup can ping from here, 1 something degrades it, 2 it cannot run.";

/// sup: a ping that builds every Ethernet, ARP, IPv4 and ICMP byte itself and
/// sends it through Npcap (Windows) or libpcap (Linux).
#[derive(Debug, Parser)]
#[command(name = "sup", version, about, after_help = AFTER_HELP, disable_help_flag = true)]
pub struct Args {
    /// Print help (-h is --trace's max hops, as in tracert).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    /// Ping the target until stopped (Ctrl+C).
    #[arg(short = 't')]
    pub forever: bool,

    /// Number of echo requests to send (default 4).
    #[arg(short = 'n', long = "count", value_name = "count",
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub count: Option<u32>,

    /// Send buffer size: payload bytes, 0 to 65500 (default 32; with
    /// --udp 0).
    #[arg(short = 'l', long = "size", value_name = "size",
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(0..=65500))]
    pub size_given: Option<u16>,

    /// Timeout in milliseconds to wait for each reply (default 4000; 500 in
    /// a sweep).
    #[arg(short = 'w', long = "timeout", value_name = "timeout",
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=3_600_000))]
    pub timeout_ms: Option<u32>,

    /// Time To Live, 1 to 255 (default 128, like Windows; with --respond,
    /// of the replies: 64).
    #[arg(short = 'i', long = "ttl", value_name = "TTL",
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u8).range(1..))]
    pub ttl_given: Option<u8>,

    /// Set Don't Fragment flag in packet.
    #[arg(short = 'f')]
    pub dont_fragment: bool,

    /// Force using IPv4 (sup only speaks IPv4).
    #[arg(short = '4')]
    pub ipv4: bool,

    /// Milliseconds from one request to the next (default 1000).
    #[arg(long = "interval", value_name = "ms",
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=3_600_000))]
    pub interval_ms: Option<u32>,

    /// Flood ping, like `ping -f`: send the next request as soon as a reply
    /// comes back (up to 128 in flight, and one every 10 ms even when none
    /// do). Prints a '.' for each request and a backspace for each reply
    /// instead of lines, then the statistics and the rate; with -n, stops
    /// after that many (the default 4 applies), with -t runs until Ctrl+C.
    /// --interval does not apply; -w still bounds each wait, and replies
    /// after it are not counted.
    #[arg(long, conflicts_with = "interval_ms")]
    pub flood: bool,

    /// ARP ping, like arping: ask who has TARGET (on the local network) with
    /// our own ARP requests, one per --interval, and print each answer with
    /// the MAC that gave it; a second MAC answering is marked (DUP!) and
    /// counted as an address conflict. Works when the host drops every ping.
    #[arg(long, conflicts_with_all = ["flood", "size_given", "ttl_given", "dont_fragment"])]
    pub arp: bool,

    /// Trace the route to the target, like tracert: every hop probed at
    /// once (three echo requests each, TTL 1 up), answers matched by the
    /// request each router quotes; a silent hop costs at most one -w (and
    /// less once hops beyond it answered). -w is 4000 by default, -l 32.
    #[arg(long, conflicts_with_all = ["arp", "flood", "dont_fragment", "ttl_given"])]
    pub trace: bool,

    /// With --trace: do not look up the hops' names.
    #[arg(short = 'd', requires = "trace")]
    pub no_names: bool,

    /// With --trace: the highest TTL tried, 1 to 255 (default 30).
    #[arg(short = 'h', long = "max-hops", value_name = "max_hops", requires = "trace",
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u8).range(1..))]
    pub max_hops: Option<u8>,

    /// With --trace: mtr's report (loss, last, average, best, worst and
    /// deviation per hop) after -n cycles (default 10) --interval apart;
    /// with -t the table again every cycle until Ctrl+C.
    #[arg(long, requires = "trace")]
    pub report: bool,

    /// After the statistics: percentiles (p50, p90, p99), the jitter (RFC
    /// 3550) and a histogram of the round trip times (as PsPing -h).
    #[arg(long, conflicts_with = "trace")]
    pub histogram: bool,

    /// Write every frame sent and received (past the capture filter) to
    /// this pcap file as the run goes, with capture timestamps (ns), for
    /// Wireshark and tcpdump -r; finished at the end and on Ctrl+C.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,

    /// Answer ARP and ping for TARGET, an address on the local network the
    /// system does not own, from raw frames (a virtual host), until Ctrl+C:
    /// announced with a gratuitous ARP; refused if another station answers
    /// for it. -i sets the replies' TTL (64), --rate the most replies a
    /// second (1000).
    #[arg(long, conflicts_with_all = ["arp", "flood", "trace", "histogram", "forever"])]
    pub respond: bool,

    /// With --respond: answer as this MAC (02-00-5E-10-00-01 or
    /// 02:00:5e:10:00:01) instead of the NIC's, capturing in promiscuous mode.
    #[arg(long, value_name = "MAC", requires = "respond", value_parser = parse_mac)]
    pub mac: Option<ersatz::ethernet::Addr>,

    /// With --respond: no line (or JSON object) per answered request.
    #[arg(short = 'q', requires = "respond")]
    pub quiet: bool,

    /// Probe TCP PORT (1 to 65535) with SYNs instead of pinging: open
    /// (SYN-ACK, then our RST: nothing is left half open), closed (RST) or
    /// filtered (no answer), for hosts that drop ping. Also in sweeps and
    /// --trace.
    #[arg(long, value_name = "PORT", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..),
          conflicts_with_all = ["udp", "arp", "flood", "respond"])]
    pub tcp: Option<u16>,

    /// Probe UDP PORT (1 to 65535) with datagrams (-l bytes, default 0):
    /// open (an answer), closed (ICMP port unreachable), or open|filtered
    /// (no answer). Also in sweeps.
    #[arg(long, value_name = "PORT", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(1..),
          conflicts_with_all = ["arp", "flood", "respond", "trace"])]
    pub udp: Option<u16>,

    /// Check whether sup can ping from here, on the route to TARGET (default:
    /// the default route): the capture library and its version, immediate
    /// mode, timestamp precision, the NIC and route, one ARP with the next
    /// hop, and whether the capture shows our own frames (which makes RTTs
    /// wire times); every degraded path named, then a verdict. Sends only
    /// ARP requests to the next hop.
    #[arg(long, conflicts_with_all = ["forever", "count", "flood", "arp", "trace", "respond",
          "tcp", "udp", "histogram", "pcap", "alive_only", "unreachable_only", "retries", "rate"])]
    pub diagnose: bool,

    /// One JSON object per line for every reply, timeout and error, and a
    /// final summary object (fields in README.md). With --flood, only the
    /// start and summary objects (the summary with elapsed_ms).
    #[arg(long)]
    pub json: bool,

    /// On stderr: the NIC and route chosen, the next hop's MAC from our ARP,
    /// and a hex dump of each frame sent and received.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Sweep: print only the targets that are alive, one address a line in
    /// address order, nothing else on stdout (as fping -a).
    #[arg(short = 'a', conflicts_with_all = ["unreachable_only", "json"])]
    pub alive_only: bool,

    /// Sweep: print only the targets that are unreachable, one address a
    /// line in address order, nothing else on stdout (as fping -u).
    #[arg(short = 'u', conflicts_with = "json")]
    pub unreachable_only: bool,

    /// Sweep: tries after the first for each probe, 0 to 10 (default 1).
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: Option<u32>,

    /// Sweep: probes per second, 1 to 100000 (default: bursts of up to 512
    /// at 2000/s, then 150/s, which a home router's neighbour table
    /// survives; README.md says why). With --respond: replies per second
    /// at most (default 1000); requests beyond are not answered.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: Option<u32>,

    /// Sweep: the most addresses one sweep takes (default 65536).
    #[arg(long = "max-targets", value_name = "N", default_value_t = 65_536,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    pub max_targets: u32,

    /// Host name or IPv4 address to ping. Several, a block (10.0.0.0/24) or
    /// a range (10.0.0.1-10.0.0.50, also 10.0.0.1-50) make a sweep: which
    /// of them are alive, on-link ones asked with our own ARP.
    #[arg(required_unless_present = "diagnose", value_name = "TARGET")]
    pub targets: Vec<String>,
}

impl Args {
    /// Echo or ARP requests to send (`-n`, default 4).
    pub fn count(&self) -> u32 {
        self.count.unwrap_or(4)
    }

    /// Milliseconds to wait for each reply (`-w`), with the mode's default.
    pub fn timeout_ms(&self, default: u32) -> u32 {
        self.timeout_ms.unwrap_or(default)
    }

    /// Milliseconds from one request to the next (`--interval`, default 1000).
    pub fn interval_ms(&self) -> u32 {
        self.interval_ms.unwrap_or(1000)
    }

    /// Payload bytes of echo requests (`-l`, default 32).
    pub fn size(&self) -> u16 {
        self.size_given.unwrap_or(32)
    }

    /// The TTL of echo requests (`-i`, default 128).
    pub fn ttl(&self) -> u8 {
        self.ttl_given.unwrap_or(128)
    }

    /// `--tcp` or `--udp`, and the port.
    pub fn port(&self) -> Option<(ersatz::port::Protocol, u16)> {
        use ersatz::port::Protocol;
        self.tcp
            .map(|p| (Protocol::Tcp, p))
            .or(self.udp.map(|p| (Protocol::Udp, p)))
    }

    /// Whether an option only a sweep has was given.
    pub fn sweep_options(&self) -> bool {
        self.alive_only
            || self.unreachable_only
            || self.retries.is_some()
            || (self.rate.is_some() && !self.respond)
    }
}

/// `--mac`: a MAC in either spelling, unicast.
fn parse_mac(text: &str) -> Result<ersatz::ethernet::Addr, String> {
    let mac: ersatz::ethernet::Addr = text
        .parse()
        .map_err(|_| format!("{text} is not a MAC address (like 02-00-5E-10-00-01)"))?;
    if mac.is_multicast() {
        return Err(format!(
            "{text} is a multicast MAC: a host answers with a unicast one"
        ));
    }
    Ok(mac)
}
