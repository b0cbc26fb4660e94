#!/bin/bash
# Traces: sup --trace next to traceroute -I and mtr, in one run, on the
# lab's 2-hop path (host -> gateway -> remote; tests/bench/lab.sh, deleted
# on exit, also on failure; nothing leaves it). Run as root:
#
#     tests/bench/trace.sh          # prints the table, writes tests/bench/TRACES.md
#                                   # (and that section of RESULTS.md; run.sh keeps it)
#
# ROUNDS times, alternating the tools, wall time of the whole command:
#   - the plain path: sup --trace -d, traceroute -n -I;
#   - the gateway silent (an nftables rule drops its Time Exceeded):
#     sup --trace -d -w 1000, traceroute -n -I -w 1, traceroute -n -I;
#   - once: sup --trace --report -d -n 10 --interval 1000 and mtr -r -n -c 10
#     (both 1 s cycles), and the start-up of sup (-n 1 to the gateway).
# Environment: ROUNDS (default 5).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if [[ $(id -u) != 0 ]]; then
    echo "trace.sh needs root (ip netns add)" >&2
    exit 2
fi
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

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# run NAME CMD...: wall time (s) into $WORK/NAME.t; the output (last run)
# into $WORK/NAME.out.
run() {
    local name=$1
    shift
    local start end
    start=$(date +%s%N)
    NS_TIMEOUT=60 in_ns "$HOST_NS" "$@" >"$WORK/$name.out" 2>&1 || true
    end=$(date +%s%N)
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 }' >>"$WORK/$name.t"
}

have() { command -v "$1" >/dev/null; }

for r in $(seq "$ROUNDS"); do
    echo "round $r..." >&2
    run sup_start "$SUP" -n 1 "$LAB_GW"
    run sup_trace "$SUP" --trace -d "$LAB_REMOTE"
    have traceroute && run traceroute traceroute -n -I "$LAB_REMOTE"
done
in_ns "$GW_NS" sh -ec "
    nft add table ip quiet
    nft add chain ip quiet out '{ type filter hook output priority 0; }'
    nft add rule ip quiet out icmp type time-exceeded drop"
for r in $(seq "$ROUNDS"); do
    echo "silent round $r..." >&2
    run sup_silent "$SUP" --trace -d -w 1000 "$LAB_REMOTE"
    have traceroute && run traceroute_silent traceroute -n -I -w 1 "$LAB_REMOTE"
    have traceroute && run traceroute_silent_near traceroute -n -I "$LAB_REMOTE"
done
in_ns "$GW_NS" nft delete table ip quiet
echo "reports..." >&2
run sup_report "$SUP" --trace --report -d -n 10 --interval 1000 "$LAB_REMOTE"
have mtr && run mtr mtr -r -n -c 10 "$LAB_REMOTE"

row() {
    local name=$1 label=$2
    [[ -f $WORK/$name.t ]] || { echo "| $label | (not installed) | |"; return; }
    echo "| $label | $(median <"$WORK/$name.t") | $(paste -sd/ "$WORK/$name.t") |"
}

{
    echo
    echo "### Traces, $ROUNDS rounds each, alternating (wall time in s, start-up included)"
    echo
    echo "| command | median | each round |"
    echo "|---|---:|---|"
    row sup_start "sup -n 1 to the gateway (sup's start-up and exit)"
    row sup_trace "sup --trace -d (2 hops)"
    row traceroute "traceroute -n -I"
    row sup_silent "gateway silent: sup --trace -d -w 1000"
    row traceroute_silent "gateway silent: traceroute -n -I -w 1"
    row traceroute_silent_near "gateway silent: traceroute -n -I (its default wait: 10 x the RTT beyond)"
    row sup_report "sup --trace --report -d -n 10 --interval 1000"
    row mtr "mtr -r -n -c 10"
    echo
    echo "The last silent trace, sup and traceroute:"
    echo
    echo '```'
    cat "$WORK/sup_silent.out"
    [[ -f $WORK/traceroute_silent.out ]] && cat "$WORK/traceroute_silent.out"
    echo '```'
} | tee "$WORK/table"

{
    echo "## Traces: sup next to traceroute and mtr"
    echo
    echo "Written by \`tests/bench/trace.sh\` (do not edit by hand; run it again)."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs, kernel $(uname -r); load average when done: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- sup: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- ersatz sup vendor 2>/dev/null || echo ' + uncommitted changes'), release build; $(traceroute --version 2>&1 | head -1); $(mtr --version 2>&1 | head -1)"
    cat "$WORK/table"
} >"$HERE/TRACES.md"
results_tail "$HERE"
echo "written: $HERE/TRACES.md" >&2
