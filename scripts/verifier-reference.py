#!/usr/bin/env python3
"""Reference outputs of the pair verifier, computed independently of the Rust code.

Reads a verifier (JSON written by `lookalike verifier train`) and pairs CSV files (from
`lookalike verifier pairs`), takes every Nth pair so that each domain and both labels are
represented, and evaluates the trees in plain Python (float64): the probability that each
pair is one picture. Writes the features and probabilities as JSON; a unit test
(`dedup::verifier`) checks that the Rust inference gives the same numbers.

usage: verifier-reference.py VERIFIER.json OUT.json PAIRS.csv...
"""
import csv
import json
import math
import sys


def margin(verifier, x):
    total = verifier["bias"]
    for tree in verifier["trees"]:
        nodes = tree["nodes"]
        at = 0
        while nodes[at].get("feature") is not None:
            node = nodes[at]
            at = node["left"] if x[node["feature"]] < node["split"] else node["right"]
        total += nodes[at]["value"]
    return total


def main():
    verifier_path, out_path, pair_files = sys.argv[1], sys.argv[2], sys.argv[3:]
    verifier = json.load(open(verifier_path))
    names = verifier["features"]
    cases = []
    for path in pair_files:
        rows = list(csv.DictReader(open(path)))
        for label in ("1", "0"):
            chosen = [r for r in rows if r["copy"] == label and r["same_content"] == "1"]
            step = max(1, len(chosen) // 3)
            for r in chosen[::step][:3]:
                x = [float(r[n]) for n in names]
                p = 1.0 / (1.0 + math.exp(-margin(verifier, x)))
                cases.append({"domain": r["domain"], "copy": label == "1", "features": x, "probability": p})
    json.dump({"verifier": verifier["name"], "cases": cases}, open(out_path, "w"), indent=1)
    print(f"{len(cases)} cases written to {out_path}")


if __name__ == "__main__":
    main()
