#!/usr/bin/env bash
# Dedup on the `eval copies` set-up: camera photos (originals), their edited copies and the
# Imagenette val distractors in one folder, indexed and grouped by lookalike (and by
# czkawka's similar-images mode, when czkawka_cli is installed: cargo install czkawka_cli). Prints pairwise precision
# and recall per edit for each.
# Needs the datasets unpacked as BENCHMARKS.md says. Usage: bench/dedup-copies.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
L=${LOOKALIKE:-target/release/lookalike}
W=${1:-target/bench-dedup}
rm -rf "$W" && mkdir -p "$W/set"
cp -r target/data/camera-photos "$W/set/originals"
cp -r target/data/imagenette/val "$W/set/distractors"
# The copies, exactly as `eval copies` generates them (seed 1).
"$L" eval copies target/data/camera-photos --method raw-pixels --save-copies "$W/set/copies" -q --json > /dev/null
"$L" index "$W/set" --index "$W/index" -q
"$L" dedup --index "$W/index" --json > "$W/lookalike.json"
python3 bench/score_dedup.py lookalike "$W/lookalike.json" "$W/set/copies"
if command -v czkawka_cli > /dev/null; then
    # czkawka_cli 12: --max-difference 5 is its default, 10 a looser setting (hash size 8).
    for diff in 5 10; do
        czkawka_cli image --directories "$(realpath "$W/set")" --max-difference "$diff" \
            --disable-cache --ignore-error-code-on-found \
            --compact-file-to-save "$W/czkawka-$diff.json" > /dev/null
        echo "czkawka --max-difference $diff:"
        python3 bench/score_dedup.py czkawka "$W/czkawka-$diff.json" "$W/set/copies"
    done
fi
