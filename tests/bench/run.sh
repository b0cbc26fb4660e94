#!/bin/bash
# sup next to the kernel's ping, in one run, on the same paths (issue 6,
# part 2). Run as root from anywhere:
#
#     tests/bench/run.sh            # prints the table, writes tests/bench/RESULTS.md
#
# It builds the release sup, builds a throwaway namespace lab like
# tests/src/lib.rs's (tests/bench/lab.sh: host -> gateway -> remote, veth
# only, unique names, deleted on exit also on failure; no frame leaves it),
# and measures, alternating sup and ping:
#
#   - RTT: `sup --interval 10 -n 200 --json` and `ping -i 0.01 -c 200`, to
#     the gateway and to the remote: min, median, p99, max;
#   - flood: `sup --flood -n 20000` and `ping -f -c 20000` (and `ping -f -q`,
#     which skips its dots), to the gateway and the remote, ROUNDS times
#     each: packets/s by wall time (the whole
#     command, start-up and exit included) and by the tool's own clock (sup's
#     `Flood:` line, ping's `time`), and loss;
#   - one probe: `sup -n 1` and `ping -c 1` to the gateway, the whole
#     command (start-up, one round trip, exit), alternating, ONE_PAIRS
#     pairs: both medians and their ratio;
#   - the listener dispatch and wire criterion benches, short (medians);
#   - the 100,000 expired expectations unit tests.
#
# Every wait is bounded (`timeout`). About 2-4 minutes once the benches are
# built. Not run by CI (too slow and too noisy to assert on); usable by it.
# Environment: ROUNDS (flood rounds, default 3), COUNT (flood requests,
# default 20000), PROBES (RTT probes, default 200), ONE_PAIRS (one-probe
# pairs, default 21), SKIP_BENCHES=1; ONE_PROBE_ONLY=1 measures one probe
# only, prints it and writes nothing; SUP=path measures that sup binary
# instead of building one.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-3}
COUNT=${COUNT:-20000}
PROBES=${PROBES:-200}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RESULTS=$HERE/RESULTS.md

if [[ $(id -u) != 0 ]]; then
    echo "run.sh needs root (ip netns add)" >&2
    exit 2
fi
for tool in ip ping cargo timeout awk sed; do
    command -v "$tool" >/dev/null || { echo "run.sh needs $tool" >&2; exit 2; }
done

source "$HERE/lab.sh"
WORK=$(mktemp -d)
cleanup() {
    lab_down
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ONE_PAIRS=${ONE_PAIRS:-21}
if [[ -z ${SUP:-} ]]; then
    echo "building the release sup..." >&2
    timeout 900 cargo build --release -p sup >&2
    SUP=$TARGET_DIR/release/sup
fi
[[ -x $SUP ]] || { echo "no sup at $SUP" >&2; exit 2; }

lab_up

# min median p99 max of numbers, one a line (median: mean of the middle two
# for an even count; p99: the value at rank ceil(0.99 n)).
stats() {
    sort -g | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "- - - - 0"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            r = int(0.99 * NR); if (r < 0.99 * NR) r++
            printf "%.3f %.3f %.3f %.3f %d\n", v[1], m, v[r], v[NR], NR
        }'
}

# The median of numbers, one a line.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

now_ns() { date +%s%N; }

# ---------------------------------------------------------------- one probe

# The fixed cost of a run: `sup -n 1` and `ping -c 1` to the gateway, the
# whole command (start-up, one round trip, exit), timed in microseconds by
# one shell inside the host namespace (so that `ip netns exec`, some 5 ms,
# is in neither), alternating which goes first, ONE_PAIRS pairs. Prints
# "sup_us ping_us sup_status" a pair.
one_probe_pairs() {
    NS_TIMEOUT=$((ONE_PAIRS * 20 + 20)) in_ns "$HOST_NS" bash -c '
        sup=$1 target=$2 pairs=$3
        timed() {
            local start=${EPOCHREALTIME/./} status=0
            "$@" >/dev/null 2>&1 || status=$?
            echo "$((${EPOCHREALTIME/./} - start)) $status"
        }
        for ((i = 1; i <= pairs; i++)); do
            if ((i % 2)); then
                read -r s status < <(timed "$sup" -n 1 "$target")
                read -r p _ < <(timed ping -n -c 1 "$target")
            else
                read -r p _ < <(timed ping -n -c 1 "$target")
                read -r s status < <(timed "$sup" -n 1 "$target")
            fi
            echo "$s $p $status"
        done' one-probe "$SUP" "$LAB_GW" "$ONE_PAIRS"
}

# Sets ONE_SUP and ONE_PING (median ms), ONE_RATIO, ONE_FAILED (sup runs
# that did not exit 0).
one_probe() {
    echo "one probe ($ONE_PAIRS pairs)..." >&2
    one_probe_pairs >"$WORK/one-probe"
    ONE_SUP=$(cut -d' ' -f1 "$WORK/one-probe" | median | awk '{ printf "%.1f", $1 / 1000 }')
    ONE_PING=$(cut -d' ' -f2 "$WORK/one-probe" | median | awk '{ printf "%.1f", $1 / 1000 }')
    ONE_RATIO=$(awk -v s="$ONE_SUP" -v p="$ONE_PING" 'BEGIN { printf "%.1f", (p > 0 ? s / p : 0) }')
    ONE_FAILED=$(awk '$3 != 0' "$WORK/one-probe" | wc -l)
}

if [[ ${ONE_PROBE_ONLY:-0} == 1 ]]; then
    one_probe
    echo "sup -n 1: ${ONE_SUP} ms, ping -c 1: ${ONE_PING} ms (medians of $ONE_PAIRS alternating pairs), ratio ${ONE_RATIO}, sup failures: ${ONE_FAILED}"
    echo "each pair (us): $(awk '{ printf "%s/%s ", $1, $2 }' "$WORK/one-probe")"
    exit 0
fi

# ---------------------------------------------------------------- RTT

declare -A RTT
rtt_sup() {
    in_ns "$HOST_NS" "$SUP" --interval 10 -n "$PROBES" --json "$1" \
        | grep '"type":"reply"' | sed 's/.*"time_ms":\([0-9.e+-]*\).*/\1/'
}
rtt_ping() {
    in_ns "$HOST_NS" ping -n -i 0.01 -c "$PROBES" "$1" \
        | grep -o 'time=[0-9.]*' | cut -d= -f2
}
echo "RTT..." >&2
for target in "$LAB_GW" "$LAB_REMOTE"; do
    RTT[sup,$target]=$(rtt_sup "$target" | stats)
    RTT[ping,$target]=$(rtt_ping "$target" | stats)
done

# ---------------------------------------------------------------- flood

# One flood; appends "wall_pps own_pps loss_percent received" to $WORK/<tool>-<target>.
flood_sup() {
    local target=$1 start end out
    start=$(now_ns)
    out=$(NS_TIMEOUT=120 in_ns "$HOST_NS" "$SUP" --flood -n "$COUNT" "$target" | tr -d '\b' | tr -s '. ' ' ' || true)
    end=$(now_ns)
    local received loss own
    received=$(sed -n 's/.*Received = \([0-9]*\),.*/\1/p' <<<"$out")
    loss=$(sed -n 's/.*(\([0-9]*\)% loss).*/\1/p' <<<"$out")
    own=$(sed -n 's/.*requests in .*, \([0-9]*\) requests\/s.*/\1/p' <<<"$out")
    echo "$(awk -v n="$COUNT" -v ns=$((end - start)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }') ${own:-0} ${loss:-100} ${received:-0}" \
        >>"$WORK/sup-$target"
}
# flood_ping <target> [-q]: without -q ping -f writes its dots and
# backspaces, as sup does (the comparison the issue asks for); with -q it
# writes nothing until its statistics (recorded as tool ping-q).
flood_ping() {
    local target=$1 quiet=${2:-} start end out
    start=$(now_ns)
    out=$(NS_TIMEOUT=120 in_ns "$HOST_NS" ping -n -f $quiet -c "$COUNT" "$target" | tr -d '\b' | tr -s '. ' ' ' || true)
    end=$(now_ns)
    local received loss ms
    received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")
    loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$out")
    ms=$(sed -n 's/.*, time \([0-9]*\)ms.*/\1/p' <<<"$out")
    echo "$(awk -v n="$COUNT" -v ns=$((end - start)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }') $(awk -v n="$COUNT" -v ms="${ms:-0}" 'BEGIN { printf "%.0f", (ms > 0 ? n / (ms / 1e3) : 0) }') ${loss:-100} ${received:-0}" \
        >>"$WORK/ping${quiet:+-q}-$target"
}
echo "flood..." >&2
for round in $(seq 1 "$ROUNDS"); do
    for target in "$LAB_GW" "$LAB_REMOTE"; do
        # Alternate which goes first, so neither always gets the warmer cache.
        if ((round % 2)); then
            flood_sup "$target"
            flood_ping "$target"
            flood_ping "$target" -q
        else
            flood_ping "$target" -q
            flood_ping "$target"
            flood_sup "$target"
        fi
    done
done

one_probe

# "median_wall median_own all_walls loss_max received_min" for a file.
flood_summary() {
    local f=$1
    echo "$(cut -d' ' -f1 "$f" | median) $(cut -d' ' -f2 "$f" | median) \
$(cut -d' ' -f1 "$f" | paste -sd/ -) $(cut -d' ' -f3 "$f" | sort -g | tail -1) $(cut -d' ' -f4 "$f" | sort -g | head -1)"
}

# ---------------------------------------------------------------- benches

BENCH_ROWS=""
EXPIRED=""
if [[ ${SKIP_BENCHES:-0} != 1 ]]; then
    echo "benches (short)..." >&2
    marker=$WORK/marker
    touch "$marker"
    SHORT=(--warm-up-time 0.5 --measurement-time 1 --noplot)
    timeout 900 cargo bench -p ersatz --bench dispatch -- "${SHORT[@]}" >"$WORK/dispatch.log" 2>&1 \
        || echo "dispatch bench failed: see below" >&2
    if timeout 900 cargo bench -p ersatz --bench wire --no-run >"$WORK/wire-build.log" 2>&1; then
        timeout 900 cargo bench -p ersatz --bench wire -- "${SHORT[@]}" >"$WORK/wire.log" 2>&1 \
            || echo "wire bench failed" >&2
    else
        BENCH_ROWS+="| wire bench | does not build (not fixed here) |"$'\n'
    fi
    while IFS= read -r est; do
        dir=$(dirname "$est")
        id=$(sed -n 's/.*"full_id":"\([^"]*\)".*/\1/p' "$dir/benchmark.json" 2>/dev/null || true)
        ns=$(sed 's/.*"median":{"confidence_interval":{[^}]*},"point_estimate":\([0-9.e+-]*\).*/\1/' "$est" || true)
        [[ -n $id && -n $ns ]] || continue
        BENCH_ROWS+="| \`$id\` | $(awk -v ns="$ns" 'BEGIN { if (ns >= 1e6) printf "%.2f ms", ns / 1e6; else if (ns >= 1e3) printf "%.2f µs", ns / 1e3; else printf "%.1f ns", ns }') |"$'\n'
    done < <(find "$TARGET_DIR/criterion" -path '*/new/estimates.json' -newer "$marker" 2>/dev/null \
        | while IFS= read -r f; do
            printf '%s\t%s\n' "$(sed -n 's/.*"full_id":"\([^"]*\)".*/\1/p' "$(dirname "$f")/benchmark.json" 2>/dev/null)" "$f"
        done | sort | cut -f2-)
    echo "100,000 expired expectations (unit tests)..." >&2
    if timeout 900 cargo test --release -p ersatz --lib expired -- --nocapture >"$WORK/expired.log" 2>&1; then
        EXPIRED=$(grep -E "^after " "$WORK/expired.log" | sed 's/^/- /')
        EXPIRED+=$'\n'"- \`cargo test -p ersatz --lib expired\`: $(grep -E '^test result' "$WORK/expired.log" | head -1)"
    else
        EXPIRED="- \`cargo test -p ersatz --lib expired\` FAILED: $(tail -5 "$WORK/expired.log")"
    fi
fi

# ---------------------------------------------------------------- table

yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"no\" }"; }

table() {
    echo "### RTT, $PROBES probes 10 ms apart, 32-byte payload (ms)"
    echo
    echo "| target | tool | min | median | p99 | max | replies |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for target in "$LAB_GW" "$LAB_REMOTE"; do
        for tool in sup ping; do
            read -r min med p99 max n <<<"${RTT[$tool,$target]}"
            echo "| $target | $tool | $min | $med | $p99 | $max | $n |"
        done
    done
    echo
    for target in "$LAB_GW" "$LAB_REMOTE"; do
        read -r _ smed sp99 _ _ <<<"${RTT[sup,$target]}"
        read -r _ pmed pp99 _ _ <<<"${RTT[ping,$target]}"
        echo "- $target: sup median ≤ ping median: $(yes_no "$smed <= $pmed"); sup p99 ≤ 2× ping p99: $(yes_no "$sp99 <= 2 * $pp99")"
    done
    echo
    echo "ping prints 3 significant digits (\`time=0.0452 ms\` is \`0.045\`); sup's JSON has microseconds."
    echo
    echo "### Flood, $COUNT requests, $ROUNDS rounds each, alternating (packets/s, median of the rounds)"
    echo
    echo "| target | tool | by wall time | by its own clock | each round, by wall time | worst loss % | fewest received |"
    echo "|---|---|---:|---:|---|---:|---:|"
    for target in "$LAB_GW" "$LAB_REMOTE"; do
        for tool in sup ping ping-q; do
            read -r wall own all loss received <<<"$(flood_summary "$WORK/$tool-$target")"
            case $tool in
                sup) name='sup --flood' ;;
                ping) name='ping -f' ;;
                *) name='ping -f -q (no dots)' ;;
            esac
            echo "| $target | $name | $wall | $own | $all | $loss | $received |"
        done
    done
    echo
    for target in "$LAB_GW" "$LAB_REMOTE"; do
        read -r swall sown _ _ _ <<<"$(flood_summary "$WORK/sup-$target")"
        read -r pwall pown _ _ _ <<<"$(flood_summary "$WORK/ping-$target")"
        read -r qwall qown _ _ _ <<<"$(flood_summary "$WORK/ping-q-$target")"
        echo "- $target: sup ≥ ping -f by wall time: $(yes_no "$swall >= $pwall"); by their own clocks: $(yes_no "$sown >= $pown"); sup ≥ ping -f -q by their own clocks: $(yes_no "$sown >= $qown")"
    done
    echo
    echo "Wall time is the whole command. The own clock is sup's \`Flood:\` line (first request"
    echo "to last outcome) and ping's \`time\` (first to last request)."
    echo
    echo "### One probe: the fixed cost of a run"
    echo
    echo "\`sup -n 1\` and \`ping -n -c 1\` to the gateway, the whole command (start-up, one round"
    echo "trip, exit), timed by one shell inside the lab's host namespace, alternating, $ONE_PAIRS pairs:"
    echo
    echo "| sup (median) | ping (median) | sup / ping | sup runs that failed |"
    echo "|---:|---:|---:|---:|"
    echo "| ${ONE_SUP} ms | ${ONE_PING} ms | ${ONE_RATIO} | ${ONE_FAILED} |"
    echo
    echo "Releasing a packet socket costs an RCU grace period in the kernel (10-16 ms"
    echo "here); sup hands its sockets to a small keeper process at exit"
    echo "(capture::close_without_waiting_at_exit), so neither it nor whoever waits for it"
    echo "waits for that. Before issue 15: 51 ms (two libpcap handles and their rings),"
    echo "15.5 ms with ersatz's own ring-less sockets, then this."

    if [[ -n $BENCH_ROWS ]]; then
        echo
        echo "### Criterion benches, short runs (median per iteration)"
        echo
        echo "dispatch: \`keyed_*/N\` = N keyed expectations outstanding (\`expect_echo\`), \`scanned_miss/N\` = N closure expectations (\`expect_ipv4\`, the old path); time per dispatched packet."
        echo
        echo "| bench | median |"
        echo "|---|---:|"
        printf "%s" "$BENCH_ROWS"
    fi
    if [[ -n $EXPIRED ]]; then
        echo
        echo "### Expired expectations"
        echo
        echo "$EXPIRED"
    fi
}

TABLE=$(table)
echo "$TABLE"

{
    echo "# sup next to ping: results"
    echo
    echo "Written by \`tests/bench/run.sh\` (do not edit by hand; run it again)."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
    echo "- load average when done: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine makes every number noisy)"
    echo "- sup: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- ersatz sup vendor 2>/dev/null || echo ' + uncommitted changes'), release build; ping: $(ping -V 2>&1 | head -1)"
    echo "- paths: host 10.77.1.2 -> gateway 10.77.1.1 (veth + bridge), remote 10.77.2.2 one router further (tests/bench/lab.sh)"
    echo
    echo "Commands (inside the lab's host namespace):"
    echo
    echo '```'
    echo "sup --interval 10 -n $PROBES --json <target>      ping -n -i 0.01 -c $PROBES <target>"
    echo "sup --flood -n $COUNT <target>                   ping -n -f [-q] -c $COUNT <target>"
    echo "sup -n 1 $LAB_GW                                ping -n -c 1 $LAB_GW"
    echo "cargo bench -p ersatz --bench dispatch -- --warm-up-time 0.5 --measurement-time 1 --noplot"
    echo "cargo bench -p ersatz --bench wire -- --warm-up-time 0.5 --measurement-time 1 --noplot"
    echo "cargo test --release -p ersatz --lib expired -- --nocapture"
    echo '```'
    echo
    echo "$TABLE"
    if [[ -f $HERE/MEMORY.md ]]; then
        echo
        cat "$HERE/MEMORY.md"
    fi
} >"$RESULTS"
# The sweep and trace benches' sections, as they last ran.
results_tail "$HERE"
echo "written: $RESULTS" >&2
