#!/usr/bin/env python3
"""Scores duplicate groups on the `eval copies` set-up (see bench/dedup-copies.sh).

The folder holds originals/X.jpg, copies/X__TRANSFORM.jpg (edited copies of X, written by
`lookalike eval copies --save-copies`) and distractors/**. Two files are true duplicates when
they derive from the same original. Every pair inside a reported group counts once:
pairwise precision = true pairs / reported pairs; recall per transform = share of the copies
X__T that share a group with their original X.

usage: score_dedup.py COPIES_DIR KIND:LABEL:FILE...
  KIND lookalike: FILE from `lookalike dedup --json`; KIND czkawka: czkawka_cli's JSON output.
Prints one table, a column per result: groups, pairs, pairwise precision, recall per edit.
Members of lookalike's similar-shot tier (another shot of a scene, listed for review and
never acted on by default) are not counted as grouped; the tier table counts them apart.
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


# Tiers that actions leave alone unless named: another shot of a scene is not a duplicate,
# so its members are not counted as grouped (they are reported on their own).
REVIEW_ONLY = ("similar_shot",)


def load_lookalike(path):
    doc = json.load(open(path))
    return [[m["path"] for m in g["members"] if m["tier"] not in REVIEW_ONLY] for g in doc["groups"]]


def lookalike_tiers(path):
    """Tier given to each copy that shares a group with its original (lookalike only)."""
    doc = json.load(open(path))
    tiers = {}
    for g in doc["groups"]:
        originals = {source(m["path"]) for m in g["members"] if "originals" in m["path"].split("/")}
        for m in g["members"]:
            if transform(m["path"]) and source(m["path"]) in originals:
                tiers[m["path"]] = m["tier"]
    return tiers


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


def score(groups):
    """(groups, reported pairs, pairwise precision, {transform: originals found})."""
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
    return len(groups), reported, precision, found


def main():
    copies_dir, results = sys.argv[1], sys.argv[2:]
    per = defaultdict(int)
    for f in os.listdir(copies_dir):
        t = transform(f)
        if t:
            per[t] += 1
    total = sum(per.values())
    labels, scores = [], []
    for spec in results:
        kind, label, path = spec.split(":", 2)
        groups = load_lookalike(path) if kind == "lookalike" else load_czkawka(path)
        labels.append(label)
        scores.append(score(groups))
    width = max(14, *(len(l) for l in labels))
    row = lambda name, cells: print(f"{name:16s}" + "".join(f"{c:>{width + 2}}" for c in cells))
    row("", labels)
    row("groups", [str(s[0]) for s in scores])
    row("pairs", [str(s[1]) for s in scores])
    row("precision", [f"{s[2]:.4f}" for s in scores])
    row(f"recall ({total})", [f"{sum(len(v) for v in s[3].values()) / max(total, 1):.3f}" for s in scores])
    for t in sorted(per):
        row(f"  {t}", [f"{len(s[3][t]) / per[t]:.3f}" for s in scores])
    # How lookalike's tiers split the copies it found, per edit (the near-exact tier is meant
    # for resized and recompressed copies only).
    for spec in results:
        kind, label, path = spec.split(":", 2)
        if kind != "lookalike":
            continue
        tiers = lookalike_tiers(path)
        print(f"\n{label}: tier of the copies found (exact / near-exact / copy; similar-shot, not counted as found)")
        for t in sorted(per):
            found = [v for p, v in tiers.items() if transform(p) == t]
            counts = [sum(v == k for v in found) for k in ("exact", "near_exact", "copy", "similar_shot")]
            print(f"  {t:16s}" + " / ".join(f"{c:3d}" for c in counts))


if __name__ == "__main__":
    main()
