#!/usr/bin/env bash
# Builds the test-only bcryptprimitives.dll (see bcryptprimitives.c) with
# mingw, once: into ${CARGO_TARGET_DIR:-target}/wine/, rebuilt only when its
# source is newer. Prints the DLL's absolute path. Safe to run concurrently
# (each build writes a temporary file and renames it into place).
#
# Usage: tests/wine/build-shim.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$root/$target ;; esac
out=$target/wine/bcryptprimitives.dll
src=$here/bcryptprimitives.c
def=$here/bcryptprimitives.def
if [ ! -e "$out" ] || [ "$src" -nt "$out" ] || [ "$def" -nt "$out" ]; then
    cc=x86_64-w64-mingw32-gcc
    command -v "$cc" >/dev/null || {
        echo "$0: $cc not found (apt-get install gcc-mingw-w64-x86-64)" >&2
        exit 127
    }
    mkdir -p "$(dirname "$out")"
    tmp=$(mktemp "$out.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    timeout 120 "$cc" -O2 -Wall -Wextra -Werror -shared -o "$tmp" "$src" "$def" -ladvapi32
    chmod 644 "$tmp"
    mv -f "$tmp" "$out"
fi
echo "$out"
