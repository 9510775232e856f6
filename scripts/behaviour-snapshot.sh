#!/usr/bin/env bash
# Writes the JSON answers of `index`, `info`, `query`, `dedup` and `eval` on a fixed corpus
# (the bundled samples and the test fixtures), and the help of every command, into OUTDIR,
# with the fields that change from run to run (timings, the index's size on disk, temporary
# paths) taken out, so that two builds can be compared byte for byte:
#
#   scripts/behaviour-snapshot.sh target/behaviour-before     # on the old commit
#   scripts/behaviour-snapshot.sh target/behaviour-after      # on the new one
#   diff -r target/behaviour-before target/behaviour-after
#
# Uses target/release/lookalike (LOOKALIKE=... for another binary).
set -euo pipefail
cd "$(dirname "$0")/.."
L=${LOOKALIKE:-target/release/lookalike}
OUT=${1:?usage: scripts/behaviour-snapshot.sh OUTDIR}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT" "$WORK/corpus"
cp -r samples/photos samples/copies "$WORK/corpus/"
cp -r tests/fixtures/lookalike "$WORK/corpus/t-shirts"
cp tests/fixtures/reference/*.png "$WORK/corpus/photos/"

# Drops timing and size fields and writes the corpus's temporary path as CORPUS.
normalise() {
    python3 -c '
import json, sys
work = sys.argv[1]
VOLATILE = {"elapsed_s", "seconds", "size_on_disk_bytes", "images_per_second", "took_s",
            "embed_s", "decode_s", "search_s", "time_s", "wall_s"}
def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items() if k not in VOLATILE and not k.endswith("_ms")}
    if isinstance(v, list):
        return [clean(x) for x in v]
    if isinstance(v, str):
        return v.replace(work, "WORK")
    return v
print(json.dumps(clean(json.load(sys.stdin)), indent=1, sort_keys=True))
' "$WORK"
}

idx=(--index "$WORK/index")
"$L" index "$WORK/corpus" "${idx[@]}" --json -q | normalise > "$OUT/index.json"
"$L" index "$WORK/corpus" "${idx[@]}" --json -q | normalise > "$OUT/index-again.json"
"$L" info "${idx[@]}" --json | normalise > "$OUT/info.json"
"$L" query "$WORK/corpus/copies/chelsea-half-size.jpg" "$WORK/corpus/t-shirts/t-shirt-1.jpg" \
    "${idx[@]}" -k 5 --json -q | normalise > "$OUT/query.json"
"$L" query "$WORK/corpus/copies/coffee-quality-25.jpg" "${idx[@]}" -k 5 --copies --json -q \
    | normalise > "$OUT/query-copies.json"
"$L" dedup "${idx[@]}" --json -q | normalise > "$OUT/dedup.json"
"$L" dedup "${idx[@]}" --json -q --no-content-check | normalise > "$OUT/dedup-no-check.json"
"$L" dedup "${idx[@]}" --json -q --cosine | normalise > "$OUT/dedup-cosine.json"
"$L" eval retrieval "$WORK/corpus" --json -q | normalise > "$OUT/eval-retrieval.json"
"$L" eval copies "$WORK/corpus/photos" --json -q | normalise > "$OUT/eval-copies.json"
# The help of every command.
for cmd in "" index query dedup undo embed info compact verify train calibrate combine eval \
    "eval retrieval" "eval copies"; do
    # shellcheck disable=SC2086
    "$L" $cmd --help > "$OUT/help-${cmd// /-}.txt"
done
echo "wrote $(ls "$OUT" | wc -l) files to $OUT"
