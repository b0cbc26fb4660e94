#!/bin/bash
# Sweeps: sup next to nmap -sn, fping and arp-scan in one run, on the same
# lab paths (issue "Many targets"). Run as root from anywhere:
#
#     tests/bench/sweep.sh          # prints the tables, writes tests/bench/SWEEPS.md
#                                   # (and that section of RESULTS.md; run.sh keeps it)
#
# It builds the release sup and a throwaway namespace lab (tests/bench/lab.sh
# plus lab_sweep_up: 10.77.3.1-254 live behind the gateway and the remote,
# two more stations on the host's link, one dropping every ping; deleted on
# exit, also on failure; nothing leaves it), then, ROUNDS times, alternating
# the tools (wall time of the whole command, start-up included):
#
#   - a routed /24 where all 254 addresses answer: sup, nmap -sn -n -PE,
#     fping -a -g, fping -a -g -i 1 -r 1 (its fastest pace);
#   - the host's /24 with 5 live addresses (gateway, us, neighbour, two
#     stations): sup, nmap -sn -n (ARP), arp-scan, arp-scan -r 1, fping -a -g;
#   - and once: a /16 (10.77.0.0/16) at --rate 5000 and 20000, wall time and
#     sup's peak memory (the default pace, 512 at 2,000/s then 150/s, would
#     take 65,534 / 150 = 7 min: rate-bound by design).
#
# Every tool must find every live host in every round (the script says if
# not). Missing tools (nmap, fping, arp-scan) are skipped with a note.
# Environment: ROUNDS (default 5).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if [[ $(id -u) != 0 ]]; then
    echo "sweep.sh needs root (ip netns add)" >&2
    exit 2
fi
for tool in ip cargo timeout awk; do
    command -v "$tool" >/dev/null || { echo "sweep.sh needs $tool" >&2; exit 2; }
done

source "$HERE/lab.sh"
WORK=$(mktemp -d)
cleanup() {
    lab_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building the release sup..." >&2
timeout 900 cargo build --release -p sup >&2
SUP=$TARGET_DIR/release/sup
lab_up
lab_sweep_up 2

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# run NAME EXPECTED-ALIVE CMD...: runs CMD in the host namespace, bounded,
# records its wall time (s) in $WORK/NAME.t and whether it found EXPECTED
# live addresses (counted from the addresses it printed).
run() {
    local name=$1 expected=$2
    shift 2
    local start end out found
    start=$(date +%s%N)
    out=$(NS_TIMEOUT=120 in_ns "$HOST_NS" "$@" 2>/dev/null || true)
    end=$(date +%s%N)
    found=$(grep -aoE '10\.77\.[0-9]+\.[0-9]+' <<<"$out" | sort -u | wc -l)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 }' >>"$WORK/$name.t"
    if [[ $found -ne $expected ]]; then
        echo "  $name found $found of $expected" >&2
        echo "miss" >>"$WORK/$name.miss"
    fi
}

have() { command -v "$1" >/dev/null; }

# The routed /24: every address answers.
ROUTED=10.77.3.0/24
# The host's link: 10.77.1.1 (gateway), .2 (us), .3 (neighbour), .11, .12.
ONLINK=10.77.1.0/24

for r in $(seq "$ROUNDS"); do
    echo "round $r..." >&2
    run sup_routed 254 "$SUP" -a "$ROUTED"
    have nmap && run nmap_routed 254 nmap -sn -n -PE "$ROUTED"
    have fping && run fping_routed 254 fping -a -g "$ROUTED"
    have fping && run fping_routed_fast 254 fping -a -g -i 1 -r 1 "$ROUTED"
    run sup_onlink 5 "$SUP" -a "$ONLINK"
    have nmap && run nmap_onlink 5 nmap -sn -n "$ONLINK"
    have arp-scan && run arpscan_onlink 5 arp-scan -I lab0 -q "$ONLINK"
    have arp-scan && run arpscan_onlink_r1 5 arp-scan -I lab0 -q -r 1 "$ONLINK"
    have fping && run fping_onlink 5 fping -a -g "$ONLINK"
done

row() {
    local name=$1 label=$2
    [[ -f $WORK/$name.t ]] || { echo "| $label | (not installed) | | |"; return; }
    local med all misses=0
    med=$(median <"$WORK/$name.t")
    all=$(paste -sd/ "$WORK/$name.t")
    [[ -f $WORK/$name.miss ]] && misses=$(wc -l <"$WORK/$name.miss")
    echo "| $label | $med | $all | $misses |"
}

{
echo
echo "### Sweeps, $ROUNDS rounds each, alternating (wall time in s, start-up included)"
echo
echo "| sweep | median | each round | rounds missing a live host |"
echo "|---|---:|---|---:|"
row sup_routed "routed /24, 254 live: sup -a"
row nmap_routed "routed /24: nmap -sn -n -PE"
row fping_routed "routed /24: fping -a -g"
row fping_routed_fast "routed /24: fping -a -g -i 1 -r 1"
row sup_onlink "on-link /24, 5 live: sup -a"
row nmap_onlink "on-link /24: nmap -sn -n (ARP)"
row arpscan_onlink "on-link /24: arp-scan"
row arpscan_onlink_r1 "on-link /24: arp-scan -r 1"
row fping_onlink "on-link /24: fping -a -g"

echo
echo "### A /16 (10.77.0.0/16: 65,534 targets; the on-link /24 by ARP, the rest routed)"
echo
echo "| sup | wall s | peak RSS (kB) | alive found |"
echo "|---|---:|---:|---:|"
for rate in 5000 20000; do
    start=$(date +%s%N)
    out=$(NS_TIMEOUT=300 in_ns "$HOST_NS" /usr/bin/time -f "rss %M" "$SUP" -a --rate "$rate" 10.77.0.0/16 2>&1 || true)
    end=$(date +%s%N)
    rss=$(awk '/^rss / { print $2 }' <<<"$out")
    found=$(grep -acE '^10\.77\.' <<<"$out" || true)
    wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", (e - s) / 1e9 }')
    echo "| --rate $rate | $wall | $rss | $found |"
done
out=$(in_ns "$HOST_NS" /usr/bin/time -f "rss %M" "$SUP" -n 1 "$LAB_GW" 2>&1 || true)
echo "| (one ping, -n 1, for comparison) | | $(awk '/^rss / { print $2 }' <<<"$out") | |"
} | tee "$WORK/table"

{
    echo "## Sweeps: sup next to nmap, fping and arp-scan"
    echo
    echo "Written by \`tests/bench/sweep.sh\` (do not edit by hand; run it again)."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs, kernel $(uname -r); load average when done: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- sup: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- ersatz sup vendor 2>/dev/null || echo ' + uncommitted changes'), release build; $(nmap --version 2>/dev/null | head -1); $(fping -v 2>&1 | head -1); $(arp-scan --version 2>&1 | head -1)"
    echo "- tries: sup 2 (one retry after 500 ms), arp-scan 2 (its default; \`-r 1\`: 1), nmap its own; fping -a -g its default 4"
    cat "$WORK/table"
} >"$HERE/SWEEPS.md"
results_tail "$HERE"
echo "written: $HERE/SWEEPS.md" >&2
