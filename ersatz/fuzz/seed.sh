#!/usr/bin/env bash
# Seeds the parse_reserialize corpus with the frames of the real captures in
# ../tests/fixtures: every record of every classic pcap, headers stripped (24-byte
# global header, 16-byte record header per frame), duplicates dropped.
#
#   ./seed.sh            # writes corpus/parse_reserialize/<fixture>-<n>
#
# corpus/ is gitignored; re-run this after the fixtures change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/corpus/parse_reserialize"
mkdir -p "$out"
python3 - "$here/../tests/fixtures" "$out" <<'PY'
import pathlib, struct, sys

fixtures, out = map(pathlib.Path, sys.argv[1:3])
seen = set()
for pcap in sorted(fixtures.glob("*.pcap")):
    data = pcap.read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        sys.exit(f"{pcap}: not a classic pcap")
    pos, n = 24, 0
    while pos + 16 <= len(data):
        incl_len = struct.unpack(endian + "I", data[pos + 8 : pos + 12])[0]
        frame = data[pos + 16 : pos + 16 + incl_len]
        pos += 16 + incl_len
        n += 1
        if frame in seen:
            continue
        seen.add(frame)
        (out / f"{pcap.stem}-{n}").write_bytes(frame)
print(f"{len(seen)} distinct frames -> {out}")
PY
