# shellcheck shell=bash
# The namespace lab of tests/src/lib.rs, in bash, for the benchmark scripts
# (sourced, not run):
#
#   host  10.77.1.2/24 ─┐                        ┌─ remote 10.77.2.2/24
#   (default via .1.1)  │   gw (ip_forward=1)    │  (default via .2.1)
#                       ├─ br0 10.77.1.1/24      │
#   neighbour 10.77.1.3 ┘       10.77.2.1/24 ────┘
#
# Every link is created inside the lab's namespaces (veth pairs made in the
# gateway, one end moved to its peer), the gateway has no default route: no
# frame can leave the lab. Names carry the script's pid; lab_down (call it
# from an EXIT trap) deletes them, and lab_up first deletes labs left behind
# by a bench process that no longer exists.

LAB_PREFIX=${LAB_PREFIX:-supbench}
LAB_ID="$$"
HOST_NS="${LAB_PREFIX}${LAB_ID}-host"
GW_NS="${LAB_PREFIX}${LAB_ID}-gw"
NB_NS="${LAB_PREFIX}${LAB_ID}-nb"
REMOTE_NS="${LAB_PREFIX}${LAB_ID}-remote"
LAB_GW=10.77.1.1
LAB_REMOTE=10.77.2.2

# Runs a command inside a namespace, bounded (default 20 s).
in_ns() {
    local ns=$1
    shift
    timeout --kill-after=2 "${NS_TIMEOUT:-20}" ip netns exec "$ns" "$@"
}

LAB_STATIONS=()

lab_down() {
    local ns
    for ns in "$HOST_NS" "$GW_NS" "$NB_NS" "$REMOTE_NS" "${LAB_STATIONS[@]}"; do
        timeout 20 ip netns del "$ns" 2>/dev/null || true
    done
}

lab_remove_stale() {
    local name pid
    while read -r name _; do
        [[ $name == "$LAB_PREFIX"* ]] || continue
        pid=${name#"$LAB_PREFIX"}
        pid=${pid%%-*}
        if [[ -n $pid && ! -d /proc/$pid ]]; then
            timeout 20 ip netns del "$name" 2>/dev/null || true
        fi
    done < <(timeout 20 ip netns list)
}

lab_up() {
    lab_remove_stale
    local ns
    for ns in "$HOST_NS" "$GW_NS" "$NB_NS" "$REMOTE_NS"; do
        timeout 20 ip netns add "$ns"
    done
    in_ns "$GW_NS" sh -ec "
        sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_ratemask=0
        ip link set lo up
        ip link add br0 type bridge
        ip link set br0 address 02:e5:a7:01:00:01
        ip link add host0 type veth peer name lab0 netns $HOST_NS
        ip link add nb0 type veth peer name lab0 netns $NB_NS
        ip link add far0 type veth peer name lab0 netns $REMOTE_NS
        ip link set far0 address 02:e5:a7:02:00:01
        ip link set host0 master br0
        ip link set nb0 master br0
        ip addr add 10.77.1.1/24 dev br0
        ip addr add 10.77.2.1/24 dev far0
        for l in br0 host0 nb0 far0; do ip link set \$l up; done"
    local spec mac addr gw
    for spec in "$HOST_NS 02:e5:a7:01:00:02 10.77.1.2/24 10.77.1.1" \
        "$NB_NS 02:e5:a7:01:00:03 10.77.1.3/24 10.77.1.1" \
        "$REMOTE_NS 02:e5:a7:02:00:02 10.77.2.2/24 10.77.2.1"; do
        read -r ns mac addr gw <<<"$spec"
        in_ns "$ns" sh -ec "
            sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
            sysctl -qw net.ipv4.icmp_ratelimit=0
            ip link set lo up
            ip link set lab0 address $mac
            ip addr add $addr dev lab0
            ip link set lab0 up
            ip route add default via $gw
            ethtool -K lab0 tx off >/dev/null"
    done
    # Bounded wait until the bridge forwards (the kernel's ping answers).
    local i
    for i in $(seq 1 200); do
        if in_ns "$HOST_NS" ping -n -q -c 1 -W 1 "$LAB_REMOTE" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.05
    done
    echo "lab: links did not come up" >&2
    return 1
}

# For sweeps: 10.77.3.1-254 (each a /32 on the remote's loopback, routed by
# the gateway to the remote), and on the host's link NB_EXTRA more stations
# 10.77.1.(10+i), the last of them dropping every ping.
LAB_SWEEP_ROUTED=10.77.3.0/24
lab_sweep_up() {
    local extra=${1:-2} i ns
    in_ns "$REMOTE_NS" sh -ec "for i in \$(seq 1 254); do ip addr add 10.77.3.\$i/32 dev lo; done"
    in_ns "$GW_NS" ip route add 10.77.3.0/24 via 10.77.2.2
    for i in $(seq 1 "$extra"); do
        ns="${LAB_PREFIX}${LAB_ID}-st$i"
        timeout 20 ip netns add "$ns"
        LAB_STATIONS+=("$ns")
        in_ns "$GW_NS" sh -ec "
            ip link add st$i type veth peer name lab0 netns $ns
            ip link set st$i master br0
            ip link set st$i up"
        in_ns "$ns" sh -ec "
            sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
            ip link set lo up
            ip link set lab0 address 02:e5:a7:01:00:$(printf %02x $((16 + i)))
            ip addr add 10.77.1.$((10 + i))/24 dev lab0
            ip link set lab0 up
            ip route add default via 10.77.1.1"
    done
    [[ $extra -gt 0 ]] && in_ns "${LAB_STATIONS[-1]}" sysctl -qw net.ipv4.icmp_echo_ignore_all=1
    return 0
}

# Rewrites the end of RESULTS.md in directory $1: what run.sh wrote (up to
# the first section a bench script adds), then SWEEPS.md and TRACES.md as
# they are now, so each script can be run again alone.
results_tail() {
    local here=$1 results=$1/RESULTS.md tmp f
    [[ -f $results ]] || return 0
    tmp=$(mktemp)
    awk '/^## (Sweeps|Traces|Ports): /{exit} {print}' "$results" >"$tmp"
    for f in SWEEPS.md TRACES.md PORTS.md; do
        if [[ -f $here/$f ]]; then
            { echo; cat "$here/$f"; } >>"$tmp"
        fi
    done
    mv "$tmp" "$results"
}
