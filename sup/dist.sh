#!/usr/bin/env bash
# One-command release build. Writes
#   dist/sup.exe                          Windows x86-64 (mingw; needs Npcap at run time)
#   dist/sup                              Linux x86-64 (libpcap0.8 for floods, --respond, TCP/UDP probes, fast sweeps)
#   dist/sup-VERSION-windows-x86_64.zip   sup.exe and README.md: download, unzip, run
#                                         from an administrator shell
#   dist/SHA256SUMS                       sha256sum -c SHA256SUMS checks all three
# and fails when sup.exe imports a DLL that is not in sup/windows-imports.txt.
# For a fresh Debian machine as root: installs what it needs (mingw, zip).
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOWS=x86_64-pc-windows-gnu

command -v rustup >/dev/null && command -v cargo >/dev/null || {
    echo "rustup and cargo not found: install Rust with rustup (https://rustup.rs) first" >&2
    exit 2
}
need_pkgs=()
# The Linux build links with the system's C compiler.
command -v cc >/dev/null || need_pkgs+=(gcc libc6-dev)
command -v x86_64-w64-mingw32-gcc >/dev/null || need_pkgs+=(gcc-mingw-w64-x86-64)
command -v x86_64-w64-mingw32-objdump >/dev/null || need_pkgs+=(binutils-mingw-w64-x86-64)
command -v zip >/dev/null || need_pkgs+=(zip)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "== installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 900 apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -x "$WINDOWS" >/dev/null; then
    timeout 600 rustup target add "$WINDOWS"
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' sup/Cargo.toml | head -n 1)
# Wherever CARGO_TARGET_DIR or build.target-dir put it.
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target" ] || { echo "cannot read the target directory from cargo metadata" >&2; exit 1; }
echo "== cargo build -p sup --profile dist (Linux and $WINDOWS)"
cargo build -p sup --locked --profile dist
cargo build -p sup --locked --profile dist --target "$WINDOWS"

exe=$target/$WINDOWS/dist/sup.exe
echo "== the DLLs sup.exe imports (allowed: sup/windows-imports.txt)"
allowed=$(sed 's/#.*//' sup/windows-imports.txt | awk 'NF {print tolower($1)}' | sort -u)
imported=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^[[:space:]]*DLL Name: //p' \
    | tr 'A-Z' 'a-z' | sort -u)
[ -n "$imported" ] || { echo "no import table read from $exe" >&2; exit 1; }
unexpected=$(comm -23 <(echo "$imported") <(echo "$allowed"))
if [ -n "$unexpected" ]; then
    echo "sup.exe imports DLLs a Windows PC may not have: $unexpected" >&2
    exit 1
fi
echo "$imported" | sed 's/^/  /'

# The Linux binary runs (sup.exe runs under Wine in tests/tests/wine.rs).
"$target/dist/sup" --version >/dev/null

rm -rf dist
mkdir dist
cp "$exe" dist/sup.exe
cp "$target/dist/sup" dist/sup
zipname="sup-$version-windows-x86_64.zip"
(cd dist && cp ../README.md README.md && zip -q -X "$zipname" sup.exe README.md && rm README.md)
(cd dist && sha256sum sup.exe sup "$zipname" > SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
echo "== dist/"
(cd dist && ls -l sup.exe sup "$zipname" SHA256SUMS && cat SHA256SUMS)
