#!/usr/bin/env bash
# Runs sup for real without touching any real network: builds sup, brings up
# a throwaway namespace lab (host -> gateway -> remote), pings across it,
# shows the output, and tears the lab down (also on failure or Ctrl+C).
# Needs root, iproute2, libpcap and a Rust toolchain; installs the Debian
# packages if missing. Nothing is sent outside the namespaces it creates.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v ping >/dev/null || missing+=(iputils-ping)
ldconfig -p | grep -q 'libpcap\.so' || missing+=(libpcap0.8)
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "$(id -u)" = 0 ] || { echo "run as root: the lab needs ip netns and raw capture" >&2; exit 2; }

echo "== building sup"
cargo build --release -q -p sup
SUP=$PWD/target/release/sup

id="demo$$"
HOST=$id-host GW=$id-gw REMOTE=$id-remote
cleanup() { for ns in "$HOST" "$GW" "$REMOTE"; do ip netns del "$ns" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

echo "== lab: host 10.77.1.2 -> gateway 10.77.1.1/10.77.2.1 -> remote 10.77.2.2"
for ns in "$HOST" "$GW" "$REMOTE"; do
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns" link set lo up
done
# Links are created inside the namespaces: nothing exists in the root one.
ip -n "$GW" link add host0 type veth peer name lab0 netns "$HOST"
ip -n "$GW" link add far0 type veth peer name lab0 netns "$REMOTE"
# No ICMP rate limiting in the gateway: the demo sends errors in quick succession.
ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_ratemask=0
ip -n "$GW" addr add 10.77.1.1/24 dev host0
ip -n "$GW" addr add 10.77.2.1/24 dev far0
ip -n "$GW" link set host0 up
ip -n "$GW" link set far0 up
ip -n "$HOST" addr add 10.77.1.2/24 dev lab0
ip -n "$HOST" link set lab0 up
ip -n "$HOST" route add default via 10.77.1.1
ip -n "$REMOTE" addr add 10.77.2.2/24 dev lab0
ip -n "$REMOTE" link set lab0 up
ip -n "$REMOTE" route add default via 10.77.2.1

run() {
    echo
    echo "\$ sup $*"
    ip netns exec "$HOST" timeout 60 "$SUP" "$@" || echo "(exit code $?)"
}
run 10.77.2.2                    # the remote, one router away: TTL 63
run -n 2 -v 10.77.1.1            # the gateway, with our ARP and hex dumps
run -n 2 -i 1 10.77.2.2          # TTL expired at the gateway
run -n 2 10.99.0.1               # the gateway has no route there
run -n 1 10.77.1.99              # on-link, nobody answers our ARP
run -n 2 --json -l 1472 10.77.2.2
echo
echo "== kernel ping on the same path, for comparison"
ip netns exec "$HOST" ping -n -c 4 -i 0.2 10.77.2.2 | tail -2
