#!/bin/bash
# Memory of a long sup run: `sup -t --interval 10` against the remote of a
# throwaway namespace lab (tests/bench/lab.sh) for DURATION seconds (default
# 600), VmRSS from /proc/<pid>/status sampled at 5 s and then every minute.
# Run as root from the repository root:
#
#     tests/bench/memory.sh [SUP_BINARY]
#
# Builds the release sup if no binary is given. Bounded: sup runs under
# `timeout $((DURATION + 60))` and is stopped with SIGINT (Ctrl+C) after
# DURATION; the lab is deleted on exit, also on failure. Nothing leaves the
# namespaces the script creates. Writes tests/bench/MEMORY.md, which
# run.sh appends to RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-600}
source tests/bench/lab.sh
[[ $(id -u) == 0 ]] || { echo "memory.sh needs root (ip netns add)" >&2; exit 2; }

if [[ $# -ge 1 ]]; then
    SUP=$1
else
    timeout 900 cargo build --release -p sup >&2
    SUP=${CARGO_TARGET_DIR:-target}/release/sup
fi
[[ -x $SUP ]] || { echo "no sup binary at $SUP" >&2; exit 2; }
SUP=$(realpath "$SUP")

OUT=$(mktemp -d)
cleanup() {
    [[ -n ${RUNNER:-} ]] && kill "$RUNNER" 2>/dev/null || true
    lab_down
    rm -rf "$OUT"
}
trap cleanup EXIT
lab_up

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }

timeout --kill-after=5 $((DURATION + 60)) ip netns exec "$HOST_NS" "$SUP" -t --interval 10 "$LAB_REMOTE" >"$OUT/sup.out" 2>"$OUT/sup.err" &
RUNNER=$!
# `timeout` forks; `ip netns exec` then execs sup: the child of timeout is sup.
SUP_PID=""
for _ in $(seq 1 100); do
    SUP_PID=$(pgrep -P "$RUNNER" || true)
    [[ -n $SUP_PID && $(readlink "/proc/$SUP_PID/exe" 2>/dev/null) == "$SUP" ]] && break
    SUP_PID=""
    sleep 0.1
done
[[ -n $SUP_PID ]] || { echo "sup did not start" >&2; exit 1; }
SAMPLES=$OUT/samples

sleep 5
START_RSS=$(rss "$SUP_PID")
echo "t=5s VmRSS=${START_RSS} kB" | tee -a "$SAMPLES"
elapsed=5
while ((elapsed < DURATION)); do
    step=$((DURATION - elapsed < 60 ? DURATION - elapsed : 60))
    sleep "$step"
    elapsed=$((elapsed + step))
    echo "t=${elapsed}s VmRSS=$(rss "$SUP_PID") kB" | tee -a "$SAMPLES"
done
END_RSS=$(rss "$SUP_PID")
kill -INT "$SUP_PID"
for _ in $(seq 1 100); do
    kill -0 "$RUNNER" 2>/dev/null || break
    sleep 0.1
done
wait "$RUNNER" || true
STATS=$(grep -E "Packets:" "$OUT/sup.out" | sed 's/^ *//')
SUMMARY="RSS at 5 s: ${START_RSS} kB; after ${DURATION} s: ${END_RSS} kB; ${STATS}"
echo "$SUMMARY"
{
    echo "### Memory of a long run"
    echo
    echo "Written by \`tests/bench/memory.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') ($(nproc) CPUs, kernel $(uname -r)):"
    echo "\`sup -t --interval 10 $LAB_REMOTE\` in the lab for ${DURATION} s, VmRSS from /proc/<pid>/status."
    echo
    echo "- $SUMMARY"
    echo "- samples: $(tr '\n' ' ' <"$SAMPLES")"
} >tests/bench/MEMORY.md
