#!/usr/bin/env bash
# Load on `lookalike serve` over a synthetic index of 100,000 vectors (bench/scale.sh's, with
# an empty placeholder file per point), from the load client examples/serve_load.rs: client
# threads, each on one HTTP/1.1 keep-alive connection, on loopback only, every run bounded in
# count and in time:
#   - query latency (p50, p90, p99, max) and throughput at 1, 8 and 32 concurrent clients,
#       by an indexed file: GET /api/query?path=...&k=10 (a scan of the stored vectors, no
#         decoding), 2,000 queries a level, paths in a seeded random order;
#       by upload: POST /api/query?k=10 with a sample photo (decode, embedding, scan),
#         200, 400 and 800 queries;
#     target: p99 of the by-path queries within 250 ms at 8 clients on 2 cores;
#   - the server's memory (VmRSS) before and after 10,000 by-path queries (8 clients), and
#     after 10,000 more: the first 10,000 warm the caches (the vectors' pages, the allocator,
#     the worker threads), the second must leave it unchanged (every run also prints the
#     server's VmRSS before and after it).
#
#   bench/serve-load.sh
#
# Needs Linux (/proc) and a release build (made here, with the examples synthetic_index and
# serve_load). WORK=DIR keeps the index in DIR/n100000, as bench/scale.sh does (default: a
# temporary folder, removed at the end); the index must have been built under DIR's real path
# (the server answers for canonical paths only). Needs curl and python3 (to wait for the
# server's start-up work). COUNT=N for another size, PHOTO=FILE for
# another upload. The client runs on the same cores as the server: on a 2-core machine its
# own work (small) is in the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin lookalike --example synthetic_index --example serve_load
L=$(realpath target/release/lookalike)
LOAD=$(realpath target/release/examples/serve_load)
PHOTO=$(realpath "${PHOTO:-samples/photos/rocket.jpg}")
COUNT=${COUNT:-100000}
TMP=
SERVER=
cleanup() {
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
if [ -n "${WORK:-}" ]; then mkdir -p "$WORK"; W=$(realpath "$WORK"); else TMP=$(mktemp -d); W=$(realpath "$TMP"); fi

D=$W/n$COUNT
echo "== $COUNT vectors"
if [ ! -e "$D/index/vectors.flat" ]; then
    rm -rf "$D" && mkdir -p "$D"
    target/release/examples/synthetic_index "$D" "$COUNT" 1000
fi
# The index records the placeholders by absolute path.
find "$D/files" -type f -name '*.jpg' | sort > "$W/paths.txt"
echo "$(wc -l < "$W/paths.txt") indexed paths; upload: $PHOTO ($(stat -c %s "$PHOTO") bytes)"

"$L" serve --index "$D/index" --listen 127.0.0.1:0 > "$W/serve.out" 2> "$W/serve.err" &
SERVER=$!
URL=
for _ in $(seq 600); do   # up to 60 s to open the index
    URL=$(head -n 1 "$W/serve.out" | sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9][0-9]*/\)$|\1|p')
    [ -n "$URL" ] && break
    if ! kill -0 "$SERVER" 2>/dev/null; then
        echo "the server stopped:" >&2; cat "$W/serve.out" "$W/serve.err" >&2; exit 1
    fi
    sleep 0.1
done
if [ -z "$URL" ]; then
    echo "no 'listening on http://127.0.0.1:PORT/' line from the server in 60 s:" >&2
    cat "$W/serve.out" "$W/serve.err" >&2
    exit 1
fi
echo "server $SERVER at $URL"

LOG=$W/serve-load.log
: > "$LOG"
# Each run also prints the server's VmRSS before and after it.
load() { "$LOAD" --url "$URL" --k 10 --mode similar --pid "$SERVER" "$@" | tee -a "$LOG"; }
# The first run of that kind at that many clients (the memory runs come later).
p99() { sed -n "s/^$1 queries: clients $2,.* p99 \([0-9.]*\) .*/\1/p" "$LOG" | head -n 1; }
rss() { awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s %s ", $1, $2} END {print ""}' "/proc/$SERVER/status"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER/status"; }

# The server finds the duplicate groups at start (holding the index for the candidate pairs,
# then checking their pictures): queries are timed once that is done.
for _ in $(seq 3000); do
    STATE=$(curl -s "${URL}api/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["groups"]["state"])' 2>/dev/null || true)
    case "$STATE" in ready|failed) break ;; esac
    sleep 0.2
done
echo "duplicate groups at start: $STATE; server $(rss)"

echo "-- warm-up"
load --clients 2 --requests 200 --paths "$W/paths.txt" --seed 7 --max-seconds 60 > /dev/null
load --clients 1 --requests 5 --upload "$PHOTO" --max-seconds 60 > /dev/null

echo "-- by path (GET /api/query?path=...)"
for C in 1 8 32; do
    load --clients "$C" --requests 2000 --paths "$W/paths.txt" --seed "$C" --max-seconds 120
done

echo "-- by upload (POST /api/query, $(basename "$PHOTO"))"
for CN in 1:200 8:400 32:800; do
    load --clients "${CN%%:*}" --requests "${CN##*:}" --upload "$PHOTO" --max-seconds 120
done

echo "-- memory: 2 x 10,000 by-path queries, 8 clients"
sleep 1
R0=$(rss_kb); echo "server at start:          $(rss)"
load --clients 8 --requests 10000 --paths "$W/paths.txt" --seed 100 --max-seconds 600
sleep 1
R1=$(rss_kb); echo "after 10,000 queries:     $(rss)"
load --clients 8 --requests 10000 --paths "$W/paths.txt" --seed 101 --max-seconds 600
sleep 1
R2=$(rss_kb); echo "after 20,000 queries:     $(rss)"

echo "== summary ($COUNT vectors, $(nproc) cores)"
P99=$(p99 path 8)
if awk -v p="$P99" 'BEGIN {exit !(p <= 250)}'; then V="met"; else V="MISSED"; fi
echo "p99 by path at 8 clients: $P99 ms (target 250 ms: $V); by upload at 8 clients: $(p99 upload 8) ms"
GROWTH=$((R2 - R1))
# Within 4 MiB (allocator and thread-stack noise) counts as unchanged.
if [ "$GROWTH" -le 4096 ]; then V="unchanged"; else V="GREW"; fi
echo "server VmRSS: $R0 kB at start, $R1 kB after 10,000 queries (warm), $R2 kB after 20,000:" \
    "growth over the second 10,000 $GROWTH kB ($V)"
if grep -qv '^note: Ctrl-C' "$W/serve.err"; then echo "server stderr:"; cat "$W/serve.err"; fi
