#!/usr/bin/env python3
"""What retraining the verifier on review decisions gains, measured on a held-out third.

A simulated reviewer works through `lookalike serve` on the scratch index of one domain
that `lookalike verifier pairs` built (its pairs CSV says which pairs are one picture): a
group whose pairs are all one picture is accepted, a group whose pairs are all two pictures
is marked "not duplicates", and a group that mixes both is left undecided (a careful
person would neither accept it, which would remove another shot, nor call copies not
duplicates). Then `lookalike
verifier adapt --dry-run --json` retrains the base verifier on two thirds of the decided
groups and counts the errors on the rest before and after.

For an honest base, pass a verifier trained without this domain (`lookalike verifier train`
on the other domains' pairs). Usage:
  bench/review_adapt.py INDEX PAIRS_CSV BASE_VERIFIER [PORT]
(LOOKALIKE=path of the binary, default target/release/lookalike). Python standard library
only.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


def api(port, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
        req.add_header("X-Lookalike", "1")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)


def main():
    source, pairs_csv, base = sys.argv[1:4]
    # Decisions are written to a copy: the scratch index stays as it was.
    work = tempfile.mkdtemp()
    index = os.path.join(work, "index")
    shutil.copytree(source, index)
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 8799
    exe = os.environ.get("LOOKALIKE", "target/release/lookalike")
    label = {}
    with open(pairs_csv) as f:
        for row in csv.DictReader(f):
            one = row["copy"] == "1"
            label[(row["a"], row["b"])] = one
            label[(row["b"], row["a"])] = one
    server = subprocess.Popen(
        [exe, "serve", "--index", index, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        groups = None
        for _ in range(600):
            try:
                groups = api(port, "/api/groups?limit=100000")
                if groups.get("state") == "ready":
                    break
            except OSError:
                pass
            time.sleep(1)
        decided = {"accepted": 0, "not-duplicates": 0, "mixed": 0, "unlabelled": 0}
        for g in groups["groups"]:
            paths = [m["path"] for m in g["members"]]
            known = [
                label[(a, b)]
                for i, a in enumerate(paths)
                for b in paths[i + 1 :]
                if (a, b) in label
            ]
            if not known:
                decided["unlabelled"] += 1
                continue
            if all(known):
                verdict = "accepted"
            elif not any(known):
                verdict = "not-duplicates"
            else:
                decided["mixed"] += 1
                continue
            api(port, "/api/decisions", {"group": g["id"], "verdict": verdict})
            decided[verdict] += 1
    finally:
        server.terminate()
        server.wait()
    out = subprocess.run(
        [exe, "verifier", "adapt", "--index", index, "--dry-run", "--json", "--verifier", base],
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.rmtree(work)
    report = json.loads(out.stdout)["report"]
    print(json.dumps({"groups": decided, "report": report}))


if __name__ == "__main__":
    main()
