#!/usr/bin/env bash
# Runs every check and test of the workspace. Meant for a fresh Debian machine
# as root (CI runs it through .ci/run): installs what the tests need, then
# formatting, lints and all tests. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v tcpdump >/dev/null || need_pkgs+=(tcpdump)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v ping >/dev/null || need_pkgs+=(iputils-ping)
[ -e /usr/include/pcap.h ] || need_pkgs+=(libpcap-dev)
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

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
