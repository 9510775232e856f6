#!/usr/bin/env bash
# Peak memory while indexing: folders of 1,000 and 10,000 photos (hard links to Imagenette
# train and val), each indexed from scratch; prints wall time and peak RSS. Peak memory
# should not grow with the folder: decoding, embedding and commits work in bounded batches.
#
#   bench/memory.sh [SIZES...]        (default: 1000 10000)
#
# Needs a release build and the datasets unpacked as BENCHMARKS.md says.
set -euo pipefail
cd "$(dirname "$0")/.."
L=target/release/lookalike
W=target/bench-memory
mkdir -p "$W"
[ $# -eq 0 ] && set -- 1000 10000
mapfile -t ALL < <(find target/data/imagenette/train target/data/imagenette/val -type f -name '*.JPEG' | sort)
for N in "$@"; do
    if [ "$N" -gt "${#ALL[@]}" ]; then
        echo "only ${#ALL[@]} images available" >&2
        exit 1
    fi
    D=$W/photos-$N
    if [ ! -d "$D" ]; then
        mkdir -p "$D"
        for ((i = 0; i < N; i++)); do
            ln "${ALL[$i]}" "$D/$(printf '%05d' "$i").jpg"
        done
    fi
    rm -rf "$W/index-$N"
    /usr/bin/time -f "$N photos: %e s wall, peak RSS %M KB" "$L" index "$D" --index "$W/index-$N" -q 2>&1 | tail -2
    rm -rf "$W/index-$N"
done
