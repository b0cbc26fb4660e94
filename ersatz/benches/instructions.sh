#!/bin/bash
# Instructions per iteration of criterion bench lines, counted by callgrind:
# steady where wall-clock times on a shared machine move by 15-50%.
#
#   ersatz/benches/instructions.sh [BENCH] 'GROUP/NAME' ...
#
# BENCH is `wire` (default) or `dispatch`; each GROUP/NAME is a bench's full
# id as criterion prints it, e.g. 'build_echo_reply_98B/ersatz Frame value +
# to_slice'. Each runs alone under `valgrind --tool=callgrind` with
# `--profile-time` (criterion's loop without its analysis); the count is the
# inclusive cost of `Bencher::iter` divided by the iterations, which are the
# self count of its loop's range check (one instruction per iteration). So
# the figure includes criterion's loop and `black_box` (10 instructions in
# the wire bench). Only for benches timed with `iter` (not `iter_batched`).
# Needs valgrind (callgrind_annotate) and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=wire
if [ $# -gt 0 ] && [[ "$1" != */* ]]; then
    bench=$1
    shift
fi
bin=$(cargo bench -q -p ersatz --bench "$bench" --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$bench")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for id in "$@"; do
    filter="^$(python3 -c 'import re, sys; print(re.escape(sys.argv[1]))' "$id")\$"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --bench --profile-time 2 "$filter" >/dev/null 2>&1
    callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$out" | python3 -c '
import re, sys
total = iters = None
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+)", line)
    if not m:
        continue
    n, where = int(m.group(1).replace(",", "")), m.group(2)
    if total is None and where.endswith("bencher.rs:criterion::bencher::Bencher<M>::iter"):
        total = n
    if iters is None and where.endswith("iter/range.rs:criterion::bencher::Bencher<M>::iter"):
        iters = n
if not total or not iters:
    sys.exit(sys.argv[1] + ": no iterations found (is the id exact?)")
print("%7.1f  %s  (%d iterations)" % (total / iters, sys.argv[1], iters))' "$id"
done
