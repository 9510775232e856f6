#!/usr/bin/env bash
# Indexing throughput: lookalike against czkawka's similar-images scan on the camera photos,
# then lookalike alone on Imagenette val (3,925 small JPEGs). Every run starts from an empty
# index (and czkawka without its cache); files are read once before timing, so both tools
# find them in the page cache.
#
#   bench/index-speed.sh [BEFORE_BINARY]
#
# Needs hyperfine (apt install hyperfine), a release build (cargo build --release) and the
# datasets unpacked as BENCHMARKS.md says; czkawka_cli (cargo install czkawka_cli --locked)
# is optional. BEFORE_BINARY, another lookalike build, is timed alongside for before/after
# figures. Runs: LOOKALIKE_BENCH_RUNS for the photos (default 10), LOOKALIKE_BENCH_RUNS_VAL
# for Imagenette (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
L=target/release/lookalike
BEFORE=${1:-}
PHOTOS=$(realpath target/data/camera-photos)
VAL=$(realpath target/data/imagenette/val)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
RUNS=${LOOKALIKE_BENCH_RUNS:-10}
cat "$PHOTOS"/* "$VAL"/*/* > /dev/null

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "photos: $(find "$PHOTOS" -type f | wc -l) files, $(du -sh "$PHOTOS" | cut -f1)"
commands=(-n lookalike "$L index $PHOTOS --index $W/ix -q")
if [ -n "$BEFORE" ]; then
    commands+=(-n before "$BEFORE index $PHOTOS --index $W/ix -q")
fi
if command -v czkawka_cli > /dev/null; then
    # Its default: 8x8 gradient hash; --disable-cache: hashes computed afresh every run.
    commands+=(-n czkawka "czkawka_cli image -d $PHOTOS --disable-cache --ignore-error-code-on-found")
fi
hyperfine -N --warmup 1 --runs "$RUNS" --prepare "rm -rf $W/ix" \
    --export-json "$W/photos.json" "${commands[@]}"

RUNS=${LOOKALIKE_BENCH_RUNS_VAL:-3}
echo "imagenette val: $(find "$VAL" -type f | wc -l) files"
commands=(-n lookalike "$L index $VAL --index $W/ix -q")
if [ -n "$BEFORE" ]; then
    commands+=(-n before "$BEFORE index $VAL --index $W/ix -q")
fi
hyperfine -N --runs "$RUNS" --prepare "rm -rf $W/ix" "${commands[@]}"
for run in 1; do
    rm -rf "$W/ix"
    /usr/bin/time -f "lookalike peak RSS %M KB" "$L" index "$VAL" --index "$W/ix" 2>&1 | tail -2
done
