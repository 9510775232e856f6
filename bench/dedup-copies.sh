#!/usr/bin/env bash
# Dedup on the `eval copies` set-up: camera photos (originals), their edited copies and the
# Imagenette val distractors in one folder, indexed and grouped by lookalike (normalised
# similarity, the default, and plain cosine) and, when czkawka_cli is installed
# (cargo install czkawka_cli --locked), by czkawka's similar-images mode at its default
# and at a looser setting. Prints one table: pairwise precision and recall per edit.
# Needs the datasets unpacked as BENCHMARKS.md says. Usage: bench/dedup-copies.sh [WORKDIR]
# (MODEL=FILE: index and group with that model instead of the built-in one).
set -euo pipefail
cd "$(dirname "$0")/.."
L=${LOOKALIKE:-target/release/lookalike}
W=${1:-target/bench-dedup}
M=()
if [ -n "${MODEL:-}" ]; then M=(--model "$MODEL"); fi
rm -rf "$W" && mkdir -p "$W/set"
cp -r target/data/camera-photos "$W/set/originals"
cp -r target/data/imagenette/val "$W/set/distractors"
# The copies, exactly as `eval copies` generates them (seed 1).
"$L" eval copies target/data/camera-photos --method raw-pixels --save-copies "$W/set/copies" -q --json > /dev/null
"$L" index "$W/set" --index "$W/index" -q "${M[@]}"
"$L" dedup --index "$W/index" --json "${M[@]}" > "$W/lookalike.json"
"$L" dedup --index "$W/index" --json --cosine "${M[@]}" > "$W/lookalike-cosine.json"
results=("lookalike:lookalike:$W/lookalike.json" "lookalike:lookalike --cosine:$W/lookalike-cosine.json")
if command -v czkawka_cli > /dev/null; then
    # czkawka_cli 12 defaults: gradient hash of size 16, --max-difference 5, files under 16 KB
    # skipped (--minimal-file-size; that drops most downscaled copies and distractors). The
    # loose run takes every size, the largest difference its help recommends for hash size 16
    # (20) and also compares mirrored, flipped and 90-degree-rotated variants.
    czkawka_cli image --directories "$(realpath "$W/set")" --disable-cache \
        --ignore-error-code-on-found --compact-file-to-save "$W/czkawka-default.json" > /dev/null
    czkawka_cli image --directories "$(realpath "$W/set")" --disable-cache \
        --max-difference 20 --minimal-file-size 1 --geometric-invariance mirror-flip-rotate90 \
        --ignore-error-code-on-found --compact-file-to-save "$W/czkawka-loose.json" > /dev/null
    results+=("czkawka:czkawka (default):$W/czkawka-default.json" "czkawka:czkawka (loose):$W/czkawka-loose.json")
fi
python3 bench/score_dedup.py "$W/set/copies" "${results[@]}"
