//! The command line: ping.exe's letters, plus long options.

use clap::Parser;

/// Exit codes, documented in --help and README.md.
pub const AFTER_HELP: &str = "\
Exit codes:
  0  at least one echo reply (with --arp: ARP reply) came back
  1  none came back (timeouts, unreachable, TTL expired)
  2  sup could not run (bad arguments, unknown host, no capture library,
     no permission, no route)
Unlike ping.exe, \"Destination host unreachable\" alone exits with 1.";

/// sup: a ping that builds every Ethernet, ARP, IPv4 and ICMP byte itself and
/// sends it through Npcap (Windows) or libpcap (Linux).
#[derive(Debug, Parser)]
#[command(name = "sup", version, about, after_help = AFTER_HELP)]
pub struct Args {
    /// Ping the target until stopped (Ctrl+C).
    #[arg(short = 't')]
    pub forever: bool,

    /// Number of echo requests to send.
    #[arg(short = 'n', long = "count", value_name = "count", default_value_t = 4,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,

    /// Send buffer size: payload bytes, 0 to 65500.
    #[arg(short = 'l', long = "size", value_name = "size", default_value_t = 32,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u16).range(0..=65500))]
    pub size: u16,

    /// Timeout in milliseconds to wait for each reply.
    #[arg(short = 'w', long = "timeout", value_name = "timeout", default_value_t = 4000,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=3_600_000))]
    pub timeout_ms: u32,

    /// Time To Live, 1 to 255.
    #[arg(short = 'i', long = "ttl", value_name = "TTL", default_value_t = 128,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u8).range(1..))]
    pub ttl: u8,

    /// Set Don't Fragment flag in packet.
    #[arg(short = 'f')]
    pub dont_fragment: bool,

    /// Force using IPv4 (sup only speaks IPv4).
    #[arg(short = '4')]
    pub ipv4: bool,

    /// Milliseconds from one request to the next.
    #[arg(long = "interval", value_name = "ms", default_value_t = 1000,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(u32).range(1..=3_600_000))]
    pub interval_ms: u32,

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
    #[arg(long, conflicts_with_all = ["flood", "size", "ttl", "dont_fragment"])]
    pub arp: bool,

    /// One JSON object per line for every reply, timeout and error, and a
    /// final summary object (fields in README.md). With --flood, only the
    /// start and summary objects (the summary with elapsed_ms).
    #[arg(long)]
    pub json: bool,

    /// On stderr: the NIC and route chosen, the next hop's MAC from our ARP,
    /// and a hex dump of each frame sent and received.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Host name or IPv4 address to ping.
    pub target: String,
}
