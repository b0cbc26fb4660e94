#!/usr/bin/env bash
# Runs a Windows .exe under Wine, the way cargo's runner for
# x86_64-pc-windows-gnu does (see .cargo/config.toml):
#
#     tests/wine/run.sh EXE [ARGS...]
#
# Each run gets a throwaway Wine prefix with the test-only
# bcryptprimitives.dll shim (built once by build-shim.sh; Wine 8.0 lacks the
# DLL and Rust's std needs it), runs EXE with WINEDEBUG=-all (unless set),
# its stdout and stderr going to files that are printed afterwards (through
# a pipe, the wineserver that lingers after the exe would hold the output
# ~2 s), exits with EXE's exit code, and kills the prefix's wineserver and
# deletes the prefix. EXE's standard input is /dev/null.
#
# As root, everything happens in a new, empty network namespace (loopback
# only): whatever the program does, no frame reaches this machine's networks,
# and Wine's IPHLPAPI sees only `lo`. WINE_RUN_NETWORK=shared runs in the
# caller's namespace instead. (The lab tests do not use this script: they
# keep one prefix per lab namespace, see `Wine` in tests/src/lib.rs.)
#
# WINE_RUN_TIMEOUT bounds the run (seconds, default 900); on expiry the exit
# code is 124. Test-only: nothing here is part of sup or ersatz.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ $# -lt 1 ]; then
    echo "usage: $0 EXE [ARGS...]" >&2
    exit 2
fi
command -v wine >/dev/null || {
    echo "$0: wine not found (apt-get install wine wine64)" >&2
    exit 127
}

if [ "${WINE_RUN_NETWORK:-isolated}" = isolated ] && [ -z "${_WINE_RUN_INNER:-}" ] &&
    [ "$(id -u)" = 0 ]; then
    exec unshare --net env _WINE_RUN_INNER=1 "$0" "$@"
fi
if [ -n "${_WINE_RUN_INNER:-}" ]; then
    unset _WINE_RUN_INNER
    ip link set lo up 2>/dev/null || true
fi

shim=$("$here/build-shim.sh")
exe=$1
shift

tmp=${TMPDIR:-/tmp}
# Prefixes (some 700 MB each) left by runs that were killed (SIGKILL).
for stale in "$tmp"/wine-run.*.*; do
    [ -d "$stale" ] || continue
    pid=${stale#"$tmp"/wine-run.}
    pid=${pid%%.*}
    if [ -n "$pid" ] && [ ! -e "/proc/$pid" ]; then
        WINEPREFIX=$stale/prefix timeout 20 wineserver -k >/dev/null 2>&1 || true
        rm -rf "$stale"
    fi
done
work=$(mktemp -d "$tmp/wine-run.$$.XXXXXX")
export WINEPREFIX=$work/prefix
child=
cleanup() {
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; fi
    timeout 20 wineserver -k >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command bounded by SECONDS, its output to two files, in the
# background so that a signal to this script is handled at once (`timeout`
# puts its command in a process group of its own, out of the terminal's reach).
bounded() { # SECONDS STDOUT STDERR COMMAND...
    local seconds=$1 out=$2 err=$3
    shift 3
    timeout --kill-after=5 "$seconds" "$@" </dev/null >"$out" 2>"$err" &
    child=$!
    local rc=0
    wait "$child" || rc=$?
    child=
    return $rc
}

export WINEDEBUG=${WINEDEBUG:--all}
# No Mono and no Gecko: a prefix made without them is faster, and Wine never
# offers to download them.
export WINEDLLOVERRIDES="mscoree,mshtml=${WINEDLLOVERRIDES:+;$WINEDLLOVERRIDES}"

mkdir -p "$WINEPREFIX/drive_c/windows/system32"
cp "$shim" "$WINEPREFIX/drive_c/windows/system32/"
if ! bounded 120 "$work/wineboot.out" "$work/wineboot.err" wineboot -i; then
    echo "$0: wineboot -i failed to make a prefix in $WINEPREFIX:" >&2
    cat "$work/wineboot.out" "$work/wineboot.err" >&2
    exit 125
fi

rc=0
bounded "${WINE_RUN_TIMEOUT:-900}" "$work/stdout" "$work/stderr" wine "$exe" "$@" || rc=$?
cat "$work/stdout"
cat "$work/stderr" >&2
if [ $rc = 124 ]; then
    echo "$0: $exe did not finish within ${WINE_RUN_TIMEOUT:-900} s" >&2
fi
exit $rc
