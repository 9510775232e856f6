#!/usr/bin/env bash
# Scale: synthetic indexes of COUNT vectors (clustered, with planted near-duplicate pairs,
# each under an empty placeholder file), then
#   - the build rate (records stored, graph built and saved),
#   - a cold `query` of a real photo (fresh process: start, open, model, embed, search),
#   - `info`, which opens the index (the graph's size comes from its manifest),
#   - `verify`, which loads the graph snapshot and checks every record,
#   - `dedup` over everything (from vectors.flat; no graph load): wall time, peak memory,
#     planted pairs found. The placeholder files hold no pictures, so the content check
#     (which decodes both pictures of a candidate pair) rejects every pair: the grouping
#     itself is measured with --no-content-check, the default run measures the attempt.
#
#   bench/scale.sh [COUNT ...]        (default: 100000)
#
# Needs hyperfine and a release build; builds the example that writes the index. A
# million points take about 1 GB per copy of the vectors and tens of minutes to build on
# two cores. WORK=DIR keeps the indexes (default: a temporary folder, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin lookalike --example synthetic_index
L=$(realpath target/release/lookalike)
QUERY=$(realpath "$(ls -d samples/photos/* | head -1)")
if [ -n "${WORK:-}" ]; then W=$WORK; mkdir -p "$W"; else W=$(mktemp -d); trap 'rm -rf "$W"' EXIT; fi
[ $# -eq 0 ] && set -- 100000
for COUNT in "$@"; do
    D=$W/n$COUNT
    echo "== $COUNT vectors"
    if [ ! -e "$D/index/vectors.flat" ]; then
        rm -rf "$D" && mkdir -p "$D"
        target/release/examples/synthetic_index "$D" "$COUNT" 1000
    fi
    du -sh "$D/index"
    hyperfine -N --warmup 3 --runs 20 -n "cold query" "$L query $QUERY --index $D/index -k 10"
    hyperfine -N --warmup 1 --runs 5 -n "info (opens the index)" "$L info --index $D/index"
    /usr/bin/time -f "verify (loads the graph): %e s wall, peak RSS %M KB" \
        "$L" verify --index "$D/index" > /dev/null
    /usr/bin/time -f "dedup (default; placeholders cannot pass the content check): %e s wall, %U s user, peak RSS %M KB" \
        "$L" dedup --index "$D/index" --json > /dev/null
    /usr/bin/time -f "dedup --no-content-check: %e s wall, %U s user, peak RSS %M KB" \
        "$L" dedup --index "$D/index" --json --no-content-check > "$D/dedup.json"
    python3 bench/planted_pairs.py "$D/dedup.json" "$D/planted.tsv"
done
