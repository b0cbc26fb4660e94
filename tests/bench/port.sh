#!/bin/bash
# Port probes: sup --tcp next to hping3 -S and nping --tcp in one run, on
# the lab's 2-hop path to the remote (issue "TCP and UDP"). Run as root:
#
#     tests/bench/port.sh           # prints the table, writes tests/bench/PORTS.md
#                                   # (and that section of RESULTS.md; run.sh keeps it)
#
# A listener on the remote's TCP 443 (Python's sockets), nothing on 81.
# ROUNDS times, alternating the tools: COUNT SYNs 10 ms apart to 443 (open:
# SYN-ACK) and to 81 (closed: RST), each tool's round-trip times as it
# reports them: sup's and hping3's per probe (the median is computed here),
# nping's summary (min/avg/max only). Each tool measures differently: sup
# from the capture timestamps of its SYN and of the answer; hping3 with
# gettimeofday around its own sends and reads (0.1 ms resolution); nping
# from its send call to its capture's timestamp of the answer. So next to
# each tool's own numbers stand the wire's: tcpdump in the host namespace
# records every run, and each SYN is paired with the SYN-ACK or RST that
# acknowledges it (kernel capture timestamps, nanoseconds): the same ruler
# for every tool, and a check of how honest each tool's times are.
# Missing tools are skipped with a note. Environment: ROUNDS (default 5),
# COUNT (default 100).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-100}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if [[ $(id -u) != 0 ]]; then
    echo "port.sh needs root (ip netns add)" >&2
    exit 2
fi
for tool in ip cargo timeout awk python3 tcpdump; do
    command -v "$tool" >/dev/null || { echo "port.sh needs $tool" >&2; exit 2; }
done
source "$HERE/lab.sh"
WORK=$(mktemp -d)
SERVER=
cleanup() {
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null
    lab_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building the release sup..." >&2
timeout 900 cargo build --release -p sup >&2
SUP=$TARGET_DIR/release/sup
lab_up

# The listener, bounded (it ends by itself), ready before the first probe.
NS_TIMEOUT=900 in_ns "$REMOTE_NS" python3 -c "
import socket, select, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 443)); s.listen(1024)
end = time.time() + 880
while time.time() < end:
    r, _, _ = select.select([s], [], [], 0.5)
    if r:
        c, _ = s.accept(); c.close()
" &
SERVER=$!
for _ in $(seq 100); do
    in_ns "$REMOTE_NS" ss -Hltn 'sport = :443' | grep -q . && break
    sleep 0.1
done

have() { command -v "$1" >/dev/null; }

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# probe NAME CMD...: the command's output into $WORK/NAME.<round>.out,
# what tcpdump saw on the host's link meanwhile into $WORK/NAME.<round>.pcap.
probe() {
    local name=$1 dump
    shift
    # Under timeout itself (not in a function's subshell): the INT below
    # reaches it, and it hands the signal on to tcpdump.
    timeout -s INT 120 ip netns exec "$HOST_NS" tcpdump -i lab0 -n -s 128 -U --immediate-mode \
        --time-stamp-precision=nano -w "$WORK/$name.$r.pcap" tcp 2>/dev/null &
    dump=$!
    for _ in $(seq 50); do
        [[ -s $WORK/$name.$r.pcap ]] && break
        sleep 0.1
    done
    NS_TIMEOUT=60 in_ns "$HOST_NS" "$@" >"$WORK/$name.$r.out" 2>&1 || true
    sleep 0.2
    kill -INT "$dump" 2>/dev/null || true
    wait "$dump" 2>/dev/null || true
}

# wire_times NAME: the wire round-trip time (ms) of every SYN of every round
# of NAME, paired with the first answer after it acknowledging its sequence
# number from the port it went to (tcpdump's timestamps; -S: absolute
# sequence numbers, as tcpdump otherwise counts them from the flow's first).
wire_times() {
    local f
    for f in "$WORK/$1".*.pcap; do
        tcpdump -r "$f" -n -S -tt --time-stamp-precision=nano 2>/dev/null
    done | python3 -c '
import re, sys
from collections import defaultdict, deque
syn = re.compile(r"^(\d+\.\d+) IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[S\], seq (\d+)")
ans = re.compile(r"^(\d+\.\d+) IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[(S\.|R\.)\], (?:seq \d+, )?ack (\d+)")
waiting = defaultdict(deque)
for line in sys.stdin:
    m = syn.match(line)
    if m:
        t, src, sport, dst, dport, seq = m.groups()
        waiting[(src, sport, dst, dport, int(seq))].append(float(t))
        continue
    m = ans.match(line)
    if m:
        t, src, sport, dst, dport, _, ack = m.groups()
        key = (dst, dport, src, sport, (int(ack) - 1) % 2**32)
        if waiting[key]:
            print("%.6f" % ((float(t) - waiting[key].popleft()) * 1e3))
'
}

for r in $(seq "$ROUNDS"); do
    echo "round $r..." >&2
    for port in 443 81; do
        probe "sup_$port" "$SUP" --tcp "$port" -n "$COUNT" --interval 10 "$LAB_REMOTE"
        have hping3 && probe "hping3_$port" hping3 -S -p "$port" -c "$COUNT" -i u10000 "$LAB_REMOTE"
        have nping && probe "nping_$port" nping --tcp -p "$port" -c "$COUNT" --delay 10ms "$LAB_REMOTE"
    done
done

# Per-probe times in ms, every round: sup's `time=0.061ms`, hping3's `rtt=0.1 ms`.
sup_times() { cat "$WORK/$1".*.out | sed -n 's/^Reply from .* time[=<]\([0-9.]*\)ms.*/\1/p'; }
hping_times() { cat "$WORK/$1".*.out | sed -n 's/^len=.* rtt=\([0-9.]*\) ms.*/\1/p'; }
# nping's summary line per round: `Max rtt: 0.293ms | Min rtt: 0.023ms | Avg rtt: 0.089ms`.
nping_field() { cat "$WORK/$1".*.out | sed -n "s/.*$2 rtt: \([0-9.]*\)ms.*/\1/p"; }
# What each probe was answered with, counted over every round.
answers() { cat "$WORK/$1".*.out | grep -c "$2" || true; }

stats() { # stdin: times; prints "n | min | median | p99 | max"
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 | - | - | - | -"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        p = int(NR * 0.99 + 0.999); if (p > NR) p = NR
        printf "%d | %.3f | %.3f | %.3f | %.3f\n", NR, v[1], m, v[p], v[NR] }'
}

{
    echo
    echo "### TCP port probes, $ROUNDS rounds x $COUNT SYNs 10 ms apart, to the remote (2 hops), alternating (ms)"
    echo
    echo "| port | tool: as it reports, and on the wire (tcpdump) | answers | min | median | p99 | max |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for port in 443 81; do
        [[ $port == 443 ]] && what="open (SYN-ACK)" || what="closed (RST)"
        echo "| $port $what | sup --tcp | $(sup_times "sup_$port" | stats) |"
        echo "| | sup --tcp, on the wire | $(wire_times "sup_$port" | stats) |"
        if have hping3; then
            echo "| | hping3 -S (0.1 ms resolution) | $(hping_times "hping3_$port" | stats) |"
            echo "| | hping3 -S, on the wire | $(wire_times "hping3_$port" | stats) |"
        else
            echo "| | hping3 | (not installed) | | | | |"
        fi
        if have nping; then
            echo "| | nping --tcp (its per-round summary: median of min / avg / max) | $((ROUNDS * COUNT)) sent | $(nping_field "nping_$port" Min | median) | avg $(nping_field "nping_$port" Avg | median) | | $(nping_field "nping_$port" Max | median) |"
            echo "| | nping --tcp, on the wire | $(wire_times "nping_$port" | stats) |"
        else
            echo "| | nping | (not installed) | | | | |"
        fi
    done
    echo
    echo "Answers seen by flag, all rounds: sup open $(answers sup_443 'open (SYN-ACK)'), closed $(answers sup_81 'closed (RST)');" \
        "hping3 SA $(answers hping3_443 'flags=SA'), RA $(answers hping3_81 'flags=RA');" \
        "nping SA $(answers nping_443 '^RCVD.* SA '), RA $(answers nping_81 '^RCVD.* RA ')."
    echo
    echo "The last round's sup summary (port 443):"
    echo
    echo '```'
    tail -6 "$WORK/sup_443.$ROUNDS.out"
    echo '```'
} | tee "$WORK/table"

{
    echo "## Ports: sup --tcp next to hping3 and nping"
    echo
    echo "Written by \`tests/bench/port.sh\` (do not edit by hand; run it again)."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs, kernel $(uname -r); load average when done: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- sup: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- ersatz sup vendor 2>/dev/null || echo ' + uncommitted changes'), release build; $(hping3 --version 2>&1 | head -1); $(nping --version 2>&1 | grep -m1 -i version)"
    cat "$WORK/table"
} >"$HERE/PORTS.md"
results_tail "$HERE"
echo "written: $HERE/PORTS.md" >&2
