"""Planted pairs a `dedup --json` report groups (bench/scale.sh, bench/milvus-scale.sh).

    python3 bench/planted_pairs.py DEDUP.json PLANTED.tsv [LABEL]

PLANTED.tsv: two paths per line, tab-separated (examples/synthetic_index.rs writes it).
"""
import json
import sys

report = json.load(open(sys.argv[1]))
groups = [{m["path"] for m in g["members"]} for g in report["groups"]]
planted = [tuple(l.rstrip("\n").split("\t")) for l in open(sys.argv[2])]
group_of = {p: i for i, g in enumerate(groups) for p in g}
found = sum(1 for a, b in planted if a in group_of and group_of.get(a) == group_of.get(b))
extra = sum(len(g) for g in groups) - 2 * found
label = f"{sys.argv[3]}: " if len(sys.argv) > 3 else ""
print(f"{label}planted pairs found: {found}/{len(planted)}; {len(groups)} groups; "
      f"files in groups beyond the planted pairs: {extra}")
