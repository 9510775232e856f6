#!/usr/bin/env bash
# Indexing time of two builds, run in turn (A B A B ...) so that a drift of the machine's
# speed falls on both: each run indexes DIR into a fresh index. Prints the median wall and
# CPU seconds of each and the median of the per-pair ratios A/B.
#
#   bench/index-ab.sh A_BINARY B_BINARY DIR [RUNS]     (default 30 pairs, after one warm-up)
set -euo pipefail
A=$(realpath "$1"); B=$(realpath "$2"); DIR=$(realpath "$3"); RUNS=${4:-30}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cat "$DIR"/* > /dev/null 2>&1 || true
one() { # binary -> "wall cpu"
    rm -rf "$W/ix"
    /usr/bin/time -f "%e %U %S" -o "$W/t" "$1" index "$DIR" --index "$W/ix" -q > /dev/null 2>&1 || true
    awk '{print $1, $2 + $3}' "$W/t"
}
one "$A" > /dev/null; one "$B" > /dev/null
for _ in $(seq "$RUNS"); do
    echo "$(one "$A") $(one "$B")"
done > "$W/runs"
python3 - "$W/runs" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs)
aw, ac, bw, bc = (med([r[i] for r in rows]) for i in range(4))
print(f"{len(rows)} pairs; A wall {aw:.3f} s, CPU {ac:.3f} s; B wall {bw:.3f} s, CPU {bc:.3f} s")
print(f"A/B median of pair ratios: wall {med([r[0] / r[2] for r in rows]):.3f}, "
      f"CPU {med([r[1] / r[3] for r in rows]):.3f}")
PY
