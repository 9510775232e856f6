#!/usr/bin/env bash
# The Milvus store beside the index folder on one synthetic index (bench/scale.sh's data:
# clustered descriptors of both heads, 1,000 planted near-duplicate pairs, each picture
# an empty placeholder file):
#   - the index folder: records stored, graph built (synthetic_index);
#   - Milvus: the same records copied in (`index --from-index`: insert rate), then the
#     time until every row is flushed and indexed (HNSW, Milvus's AUTOINDEX);
#   - query p50/p99 and recall@10 against an exact scan, both stores, 1,000 queries
#     (examples/store_latency.rs);
#   - `dedup --json --no-content-check` from both: wall time, peak memory, planted pairs
#     found (the placeholders hold no pixels, so the content check is left out);
#   - the server's resident memory.
#
#   bench/milvus-scale.sh [COUNT]          (default: 200000)
#
# Starts the Milvus standalone server from the PyPI package in WORK (default
# target/milvus-scale) and stops it at the end, unless MILVUS=HOST:PORT names a running
# one. Needs python3 (the index progress is read with pymilvus, installed under target/).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-200000}
cargo build --release --quiet --bin lookalike --example synthetic_index --example store_latency
L=$(realpath target/release/lookalike)
W=${WORK:-target/milvus-scale}
mkdir -p "$W" && W=$(realpath "$W")
D=$W/n$COUNT

python3 scripts/milvus-standalone.py install
if [ ! -d target/pymilvus/pymilvus ]; then
    python3 -m pip install -q --target target/pymilvus pymilvus==2.3.7 "marshmallow<4" ||
        python3 -m pip install -q --break-system-packages --target target/pymilvus pymilvus==2.3.7 "marshmallow<4"
fi
if [ -z "${MILVUS:-}" ]; then
    python3 scripts/milvus-standalone.py start "$W/milvus"
    trap 'python3 scripts/milvus-standalone.py stop "$W/milvus"' EXIT
    MILVUS=127.0.0.1:19530
fi
NAME=scale_$COUNT
STORE=milvus://$MILVUS/$NAME
export MILVUS NAME

echo "== index folder: $COUNT synthetic pictures"
if [ ! -e "$D/index/vectors.flat" ]; then
    rm -rf "$D" && mkdir -p "$D"
    /usr/bin/time -f "synthetic_index: %e s wall, peak RSS %M KB" \
        target/release/examples/synthetic_index "$D" "$COUNT" 1000
fi
du -sh "$D/index"

echo "== Milvus: the same records copied in"
PYTHONPATH=target/pymilvus python3 - <<'EOF'
import os
from pymilvus import connections, utility
host, port = os.environ["MILVUS"].split(":")
connections.connect(host=host, port=port)
for name in (os.environ["NAME"], os.environ["NAME"] + "__copy"):
    if utility.has_collection(name):
        utility.drop_collection(name)
EOF
/usr/bin/time -f "index --from-index: %e s wall, peak RSS %M KB" \
    "$L" --store "$STORE" index --from-index "$D/index" --json -q > "$D/import.json"
python3 - "$D/import.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['written']} rows written and visible in {r['written_s']:.1f} s "
      f"({r['written'] / r['written_s']:.0f} rows/s); with the copy collection derived "
      f"{r['elapsed_s']:.1f} s ({2 * r['written'] / r['elapsed_s']:.0f} rows/s over both)")
EOF
PYTHONPATH=target/pymilvus python3 - <<'EOF'
import os, time
from pymilvus import connections, utility, Collection
host, port = os.environ["MILVUS"].split(":")
connections.connect(host=host, port=port)
start = time.time()
for name in (os.environ["NAME"], os.environ["NAME"] + "__copy"):
    Collection(name).flush()
print(f"flushed in {time.time() - start:.1f} s")
for name in (os.environ["NAME"], os.environ["NAME"] + "__copy"):
    while True:
        p = utility.index_building_progress(name)
        if p["total_rows"] > 0 and p["indexed_rows"] >= p["total_rows"]:
            break
        time.sleep(1)
    print(f"{name}: {p['indexed_rows']} rows indexed {time.time() - start:.1f} s after the copy ended")
EOF

echo "== queries: 1,000 stored descriptors by the query head"
target/release/examples/store_latency "$D/index" "$STORE" 1000

echo "== dedup --no-content-check"
/usr/bin/time -f "index folder: %e s wall, %U s user, peak RSS %M KB" \
    "$L" dedup --index "$D/index" --json --no-content-check > "$D/dedup-folder.json"
/usr/bin/time -f "Milvus: %e s wall, %U s user, peak RSS %M KB" \
    "$L" --store "$STORE" dedup --json --no-content-check > "$D/dedup-milvus.json"
for store in folder milvus; do
    python3 bench/planted_pairs.py "$D/dedup-$store.json" "$D/planted.tsv" "$store"
done
python3 - "$D/dedup-folder.json" "$D/dedup-milvus.json" <<'EOF'
import json, sys
groups = [{frozenset(m["path"] for m in g["members"]) for g in json.load(open(f))["groups"]}
          for f in sys.argv[1:]]
print("the two stores' groups: " + ("the same files" if groups[0] == groups[1] else
      f"{len(groups[0] ^ groups[1])} groups differ"))
EOF
PID=$(pgrep -f "milvus run standalone" | head -1 || true)
[ -n "$PID" ] && echo "Milvus server resident memory: $(( $(ps -o rss= -p "$PID") / 1024 )) MB"
