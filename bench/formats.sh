#!/usr/bin/env bash
# Indexing throughput by format: the same 12 MP photos as JPEG, as HEIC (one picture), as
# AVIF (libavif with AOM at speed 8, quantizer 20-30) and as camera RAW (a NEF holding the
# full-size JPEG preview, as Nikon cameras write it); then how far each HEIC's, AVIF's and
# RAW's copy descriptor is from its JPEG's.
#
#   bench/formats.sh [N]
#
# N photos (default 24) from target/data/camera-photos are cropped to 4:3 and resized to
# 4032x3024 (12.2 MP, an iPhone's size) by Pillow; the HEICs are written by libheif's
# heif-enc (apt install libheif-examples) at quality 50, about an iPhone's 1-3 MB; the AVIFs
# by avifenc (apt install libavif-bin). Needs a release build and hyperfine. Each run starts
# from an empty index; files are read once before timing.
set -euo pipefail
cd "$(dirname "$0")/.."
L=$(realpath target/release/lookalike)
N=${1:-24}
RUNS=${LOOKALIKE_BENCH_RUNS:-3}
W=${LOOKALIKE_BENCH_DIR:-target/bench-formats}
mkdir -p "$W"
W=$(realpath "$W")

if [ ! -f "$W/made-$N" ] || [ ! -d "$W/avif" ]; then
    rm -rf "$W"/jpeg "$W"/heic "$W"/avif "$W"/raw
    mkdir -p "$W"/jpeg "$W"/heic "$W"/avif "$W"/raw
    python3 - "$W" "$N" <<'EOF'
import struct, sys, io, pathlib
from PIL import Image
out, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
photos = sorted(pathlib.Path("target/data/camera-photos").glob("*.jpg"))[:n]

def nef(jpeg, width, height):
    """A big-endian TIFF laid out as a NEF: IFD0 (orientation), SubIFD0 with the JPEG
    (JpgFromRaw), SubIFD1 with CFA sensor data (zeros here)."""
    sensor = bytes(4096)
    def ifd(entries, at, next_ifd=0):
        body = struct.pack(">H", len(entries))
        extra = b""
        base = at + 2 + 12 * len(entries) + 4
        for tag, kind, count, value in sorted(entries):
            if isinstance(value, bytes):
                body += struct.pack(">HHII", tag, kind, count, base + len(extra))
                extra += value
            elif kind == 3:
                body += struct.pack(">HHIHH", tag, kind, count, value, 0)
            else:
                body += struct.pack(">HHII", tag, kind, count, value)
        return body + struct.pack(">I", next_ifd) + extra
    ifd0_at = 8
    ifd0_len = 2 + 12 * 3 + 4 + 16
    sub0_at = ifd0_at + ifd0_len
    sub0_len = 2 + 12 * 3 + 4
    sub1_at = sub0_at + sub0_len
    sub1_len = 2 + 12 * 6 + 4
    jpeg_at = sub1_at + sub1_len
    sensor_at = jpeg_at + len(jpeg)
    head = b"MM\x00\x2a" + struct.pack(">I", ifd0_at)
    head += ifd([(0x010F, 2, 8, b"NIKON\x00\x00\x00"), (0x0112, 3, 1, 1),
                 (0x014A, 4, 2, struct.pack(">II", sub0_at, sub1_at))], ifd0_at)
    head += ifd([(0x00FE, 4, 1, 1), (0x0201, 4, 1, jpeg_at), (0x0202, 4, 1, len(jpeg))], sub0_at)
    head += ifd([(0x00FE, 4, 1, 0), (0x0100, 4, 1, width), (0x0101, 4, 1, height),
                 (0x0106, 3, 1, 32803), (0x0111, 4, 1, sensor_at), (0x0117, 4, 1, len(sensor))], sub1_at)
    assert len(head) == jpeg_at, (len(head), jpeg_at)
    return head + jpeg + sensor

for p in photos:
    im = Image.open(p).convert("RGB")
    w, h = im.size
    if w < h:
        im = im.transpose(Image.Transpose.ROTATE_90)
        w, h = h, w
    cw = min(w, h * 4 // 3)
    ch = cw * 3 // 4
    im = im.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
    im = im.resize((4032, 3024), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92)
    (out / "jpeg" / f"{p.stem}.jpg").write_bytes(buf.getvalue())
    (out / "raw" / f"{p.stem}.nef").write_bytes(nef(buf.getvalue(), 4032, 3024))
EOF
    for f in "$W"/jpeg/*.jpg; do
        b=$(basename "$f" .jpg)
        heif-enc -q 50 "$f" -o "$W/heic/$b.heic" > /dev/null
        avifenc -s 8 --min 20 --max 30 "$f" "$W/avif/$b.avif" > /dev/null
    done
    touch "$W/made-$N"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for d in jpeg heic avif raw; do
    echo "$d: $(find "$W/$d" -type f | wc -l) files, $(du -sh "$W/$d" | cut -f1)"
    cat "$W/$d"/* > /dev/null
done
hyperfine -N --warmup 1 --runs "$RUNS" --prepare "rm -rf $W/ix" --export-json "$W/formats.json" \
    -n jpeg "$L index $W/jpeg --index $W/ix -q" \
    -n heic "$L index $W/heic --index $W/ix -q" \
    -n avif "$L index $W/avif --index $W/ix -q" \
    -n raw "$L index $W/raw --index $W/ix -q"
python3 - "$W/formats.json" "$N" <<'EOF'
import json, sys
n = int(sys.argv[2])
res = {r["command"]: r["mean"] for r in json.load(open(sys.argv[1]))["results"]}
for name, mean in res.items():
    print(f"{name:11s} {n / mean:6.2f} images/s ({mean:.2f} s for {n}; {n / mean / (n / res['jpeg']):.2f}x the JPEG rate)")
EOF

# The copy descriptor of each HEIC and RAW against its JPEG's (1: the same vector).
for f in "$W"/jpeg/*.jpg; do
    b=$(basename "$f" .jpg)
    for v in "$f" "$W/heic/$b.heic" "$W/avif/$b.avif" "$W/raw/$b.nef"; do
        "$L" embed --json --head copy "$v"
    done
done | python3 -c '
import json, sys
text, d, v, at = sys.stdin.read(), json.JSONDecoder(), [], 0
while text[at:].strip():
    obj, at = d.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
    v.append(obj["vector"])
for k, name in [(1, "heic"), (2, "avif"), (3, "raw")]:
    c = [sum(a * b for a, b in zip(v[i], v[i + k])) for i in range(0, len(v), 4)]
    print(f"{name} vs jpeg copy descriptor cosine: min {min(c):.4f}, mean {sum(c) / len(c):.4f}")
'
