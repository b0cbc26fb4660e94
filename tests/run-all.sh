#!/usr/bin/env bash
# Runs every check and test of the workspace. Meant for a fresh Debian machine
# as root (CI runs it through .ci/run): installs what the tests need, then
# formatting, lints and all tests. Exits non-zero on the first failure.
#
# Windows is checked by cross-compiling to x86_64-pc-windows-gnu with mingw
# and running under Wine (tests/wine/README.md): clippy for that target, the
# Windows .exes (which tests/tests/wine.rs runs in the namespace lab), and
# the unit tests of ersatz, sup and rawsock under Wine.
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOWS=x86_64-pc-windows-gnu

need_pkgs=()
command -v tcpdump >/dev/null || need_pkgs+=(tcpdump)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v ping >/dev/null || need_pkgs+=(iputils-ping)
[ -e /usr/include/pcap.h ] || need_pkgs+=(libpcap-dev)
# tests/tests/trace.rs silences a router with an nftables rule.
command -v nft >/dev/null || need_pkgs+=(nftables)
# The labs turn veth checksum offload off (TCP and UDP tests).
command -v ethtool >/dev/null || need_pkgs+=(ethtool)
# tests/tests/respond.rs asks the virtual host with iputils' arping.
command -v arping >/dev/null || need_pkgs+=(iputils-arping)
# Windows under Wine. wine64 alone runs 64-bit .exes: no i386 architecture,
# no wine32. Wine's wpcap.dll forwards to the host's libpcap (libpcap0.8).
command -v x86_64-w64-mingw32-gcc >/dev/null || need_pkgs+=(gcc-mingw-w64-x86-64)
command -v wine >/dev/null || need_pkgs+=(wine wine64)
# (grep without -q: it reads all, so ldconfig never dies of SIGPIPE under pipefail)
ldconfig -p | grep 'libpcap\.so\.0\.8' >/dev/null || need_pkgs+=(libpcap0.8)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "== installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 900 apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
command -v cargo >/dev/null || {
    echo "cargo not found: install Rust (rustup) first" >&2
    exit 2
}
if ! rustup target list --installed | grep -x "$WINDOWS" >/dev/null; then
    echo "== rustup target add $WINDOWS"
    timeout 600 rustup target add "$WINDOWS"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc -p ersatz (missing docs and broken links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc -p ersatz --no-deps --locked
echo "== cargo clippy --all-targets --target $WINDOWS -- -D warnings"
cargo clippy --workspace --all-targets --locked --target "$WINDOWS" -- -D warnings
echo "== cargo build --all-targets --target $WINDOWS (the .exes tests/tests/wine.rs runs)"
cargo build --workspace --all-targets --locked --target "$WINDOWS"
echo "== unit tests of ersatz, sup and rawsock under Wine (runner: tests/wine/run.sh)"
cargo test -p ersatz --lib --locked --target "$WINDOWS"
cargo test -p sup --bins --locked --target "$WINDOWS"
# Skipped: the test expects nanoseconds from SystemTime, which has 100 ns
# steps on Windows (a bug of the test, not of rawsock: see tests/wine/README.md).
cargo test -p rawsock --lib --locked --target "$WINDOWS" -- \
    --skip packet::tests::micro_and_nano_timestamps
echo "== cargo build -p sup (the binary tests/tests/sup.rs runs)"
cargo build -p sup --locked
echo "== cargo test"
cargo test --workspace --locked
# rawsock is a path dependency, not a member: its Linux tests (packet
# sockets on a veth pair in a namespace, the socket keeper) run here.
echo "== cargo test -p rawsock"
cargo test -p rawsock --locked
echo "== sup/dist.sh (the release build users download: imports checked, SHA-256 sums)"
./sup/dist.sh
