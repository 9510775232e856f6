#!/usr/bin/env bash
# Whether two builds (or two models) decide copies alike: `dedup --json` byte for byte, and
# `query --copies --json` compared mark by mark (each result path with its copy mark and
# evidence; the order and the similarities are the query head's), on the bundled samples and
# on the copy set of bench/dedup-copies.sh (camera photos, their edited copies, Imagenette
# val), whose pairwise figures are printed for each.
#
#   bench/copy-decisions.sh BEFORE_BINARY [AFTER_BINARY] [WORKDIR]
#
# AFTER_BINARY defaults to target/release/lookalike. Needs the datasets unpacked as
# BENCHMARKS.md says.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$(realpath "$1")
AFTER=$(realpath "${2:-target/release/lookalike}")
W=${3:-target/bench-copy-decisions}
rm -rf "$W" && mkdir -p "$W"

# The samples: every photo and copy queries the index of all of them.
queries=(samples/photos/* samples/copies/*)
for side in before after; do
    L=$BEFORE; [ "$side" = after ] && L=$AFTER
    "$L" index samples --index "$W/$side-samples" -q || true
    "$L" dedup --index "$W/$side-samples" --json > "$W/$side-samples-dedup.json"
    "$L" query --index "$W/$side-samples" --copies --json -k 20 "${queries[@]}" > "$W/$side-samples-query.json"
done

# The copy set, as bench/dedup-copies.sh builds it (in one folder for both, so that the
# paths are the same); the originals query it.
for side in before after; do
    L=$BEFORE; [ "$side" = after ] && L=$AFTER
    LOOKALIKE=$L bash bench/dedup-copies.sh "$W/set" > "$W/$side-set-scores.txt"
    cp "$W/set/lookalike.json" "$W/$side-set-dedup.json"
    "$L" query --index "$W/set/index" --copies --json -k 20 "$W/set"/set/originals/*.[jJ][pP][gG] \
        > "$W/$side-set-query.json"
done

python3 - "$W" <<'EOF'
import json, sys
w = sys.argv[1]

def marks(path):
    """{(query, result path): (copy, evidence)}."""
    out = {}
    for r in json.load(open(path))["results"]:
        for n in r["neighbors"]:
            out[(r["query"], n["path"])] = (n["copy"], json.dumps(n.get("copy_evidence"), sort_keys=True))
    return out

for name, what in [("samples", "samples-query.json"), ("copy set", "set-query.json")]:
    ma, mb = marks(f"{w}/before-{what}"), marks(f"{w}/after-{what}")
    both = set(ma) & set(mb)
    differ = [k for k in both if ma[k] != mb[k]]
    copies_a = {k for k, v in ma.items() if v[0]}
    copies_b = {k for k, v in mb.items() if v[0]}
    print(f"query --copies, {name}: {len(ma)} / {len(mb)} results listed before / after, "
          f"{len(both)} in both, {len(differ)} of them marked differently; "
          f"copies marked {len(copies_a)} / {len(copies_b)}, "
          f"only before {len(copies_a - copies_b)}, only after {len(copies_b - copies_a)}")
EOF
for f in samples-dedup.json set-dedup.json; do
    if cmp -s "$W/before-$f" "$W/after-$f"; then
        echo "dedup --json, ${f%-dedup.json}: identical"
    else
        echo "dedup --json, ${f%-dedup.json}: DIFFERENT"
    fi
done
echo "--- before"; cat "$W/before-set-scores.txt"
echo "--- after"; cat "$W/after-set-scores.txt"
