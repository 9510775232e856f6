#!/usr/bin/env bash
# Dedup on folders of distinct pictures that look alike, one folder per domain (portraits,
# product shots, textures, flowers, drawings, documents, object photos, bursts of one scene;
# sources in docs/studies/dedup.md, "Distinct look-alikes"). Each folder is indexed on its own and
# deduplicated with the defaults, as a user would; every file that lands in a group was put
# there by a pair of different pictures (the folders hold no copies). Prints, per domain:
# files, files grouped, groups, files grouped per 1,000, and the same with
# --no-content-check (the encoder's score alone), and the time of each dedup.
# Usage: bench/dedup-domains.sh DISTRACTORS_DIR [WORKDIR]   (MODEL=FILE: that model)
set -euo pipefail
cd "$(dirname "$0")/.."
L=${LOOKALIKE:-target/release/lookalike}
D=${1:?usage: bench/dedup-domains.sh DISTRACTORS_DIR [WORKDIR]}
W=${2:-target/bench-domains}
M=()
if [ -n "${MODEL:-}" ]; then M=(--model "$MODEL"); fi
mkdir -p "$W"
printf '%-11s %6s %8s %7s %9s %10s %8s %9s\n' domain files grouped groups per-1000 no-check per-1000 dedup-s
for dir in "$D"/*/; do
    name=$(basename "$dir")
    files=$(find "$dir" -type f | wc -l)
    rm -rf "${W:?}/$name" && mkdir -p "$W/$name"
    "$L" index "$dir" --index "$W/$name/index" -q "${M[@]}" > /dev/null
    start=$EPOCHREALTIME
    "$L" dedup --index "$W/$name/index" --json "${M[@]}" > "$W/$name/dedup.json"
    end=$EPOCHREALTIME
    "$L" dedup --index "$W/$name/index" --json --no-content-check "${M[@]}" > "$W/$name/no-check.json"
    python3 - "$name" "$files" "$W/$name/dedup.json" "$W/$name/no-check.json" "$start" "$end" <<'PY'
import json, sys
name, files, with_check, without = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
took = float(sys.argv[6]) - float(sys.argv[5])
def grouped(path):
    groups = json.load(open(path))["groups"]
    return sum(len(g["members"]) for g in groups), len(groups)
(n, g), (n2, _) = grouped(with_check), grouped(without)
print(f"{name:<11} {files:6d} {n:8d} {g:7d} {1000 * n / files:9.1f} {n2:10d} {1000 * n2 / files:8.1f} {took:9.1f}")
PY
done
