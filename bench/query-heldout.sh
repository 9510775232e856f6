#!/usr/bin/env bash
# Query by example on labelled sets no part of lookalike was trained or tuned on
# (docs/studies/quality.md, "A query head that generalises"): every image queries all the
# others (`eval retrieval`, leave-one-out), P@10 and P@1 per set, then their mean, and
# Imagenette val. The sets are unpacked as BENCHMARKS.md ("Held-out labelled sets") says.
# Usage: bench/query-heldout.sh [MODEL_FILE]   (default: the built-in model)
set -euo pipefail
cd "$(dirname "$0")/.."
L=${LOOKALIKE:-target/release/lookalike}
M=()
if [ -n "${1:-}" ]; then M=(--model "$1"); fi
sets=(target/data/heldout/caltech101 target/data/heldout/pacs-photo target/data/heldout/flowers
      target/data/heldout/textures target/data/imagenette/val)
printf '%-12s %7s %7s\n' set P@10 P@1
sum=0
for s in "${sets[@]}"; do
    read -r p10 p1 < <("$L" eval retrieval "$s" --method encoder "${M[@]}" -q --json |
        python3 -c 'import json,sys; m=json.load(sys.stdin)["methods"][0]; print(m["precision_at_10"], m["precision_at_1"])')
    printf '%-12s %7.4f %7.4f\n' "$(basename "$s")" "$p10" "$p1"
    if [[ $s == *heldout* ]]; then sum=$(python3 -c "print($sum + $p10)"); fi
done
printf '%-12s %7.4f\n' "mean (4)" "$(python3 -c "print($sum / 4)")"
