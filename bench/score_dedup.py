#!/usr/bin/env python3
"""Scores duplicate groups on the `eval copies` set-up (see bench/dedup-copies.sh).

The folder holds originals/X.jpg, copies/X__TRANSFORM.jpg (edited copies of X, written by
`lookalike eval copies --save-copies`) and distractors/**. Two files are true duplicates when
they derive from the same original. Every pair inside a reported group counts once:
pairwise precision = true pairs / reported pairs; recall per transform = share of the copies
X__T that share a group with their original X.

usage: score_dedup.py lookalike DEDUP.json COPIES_DIR   (from `lookalike dedup --json`)
       score_dedup.py czkawka RESULT.json COPIES_DIR     (from czkawka_cli's JSON output)
"""
import json
import os
import sys
from collections import defaultdict
from itertools import combinations


def source(path):
    """The original a file derives from, or None for a distractor."""
    parts = path.replace("\\", "/").split("/")
    name = os.path.splitext(parts[-1])[0]
    if "originals" in parts:
        return name
    if "copies" in parts and "__" in name:
        return name.split("__")[0]
    return None


def transform(path):
    name = os.path.splitext(os.path.basename(path))[0]
    return name.split("__")[1] if "__" in name else None


def load_lookalike(path):
    doc = json.load(open(path))
    return [[m["path"] for m in g["members"]] for g in doc["groups"]]


def load_czkawka(path):
    doc = json.load(open(path))
    # A list of groups, each a list of {"path": ...}; some versions nest by image size.
    groups = []

    def walk(node):
        if isinstance(node, list) and node and all(isinstance(x, dict) and "path" in x for x in node):
            groups.append([x["path"] for x in node])
        elif isinstance(node, list):
            for x in node:
                walk(x)
        elif isinstance(node, dict):
            for x in node.values():
                walk(x)

    walk(doc)
    return groups


def main():
    kind, path, copies_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    groups = load_lookalike(path) if kind == "lookalike" else load_czkawka(path)
    true_pairs = reported = 0
    found = defaultdict(set)  # transform -> originals whose copy shares a group with them
    for g in groups:
        for a, b in combinations(g, 2):
            reported += 1
            sa, sb = source(a), source(b)
            if sa is not None and sa == sb:
                true_pairs += 1
        originals = {source(p) for p in g if "originals" in p.split("/")}
        for p in g:
            t, s = transform(p), source(p)
            if t and s in originals:
                found[t].add(s)
    precision = true_pairs / reported if reported else float("nan")
    print(f"{kind}: {len(groups)} groups, {reported} pairs, pairwise precision {precision:.4f}")
    per = defaultdict(int)
    for f in os.listdir(copies_dir):
        t = transform(f)
        if t:
            per[t] += 1
    total_found = sum(len(v) for v in found.values())
    total = sum(per.values())
    print(f"recall overall {total_found}/{total} = {total_found / max(total, 1):.3f}")
    for t in sorted(per):
        print(f"  {t:15s} {len(found[t]):3d}/{per[t]:3d} = {len(found[t]) / per[t]:.3f}")


if __name__ == "__main__":
    main()
