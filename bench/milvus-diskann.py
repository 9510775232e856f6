"""Milvus's disk index beside its in-memory HNSW, on the collection bench/milvus-scale.sh
made: the same query descriptors copied into a collection indexed with DISKANN; the index
build time, query p50/p99 and recall@10 against an exact scan (numpy) for both, and the
server's resident memory with each loaded.

    PYTHONPATH=target/pymilvus python3 bench/milvus-diskann.py scale_200000 [HOST:PORT]

Needs pymilvus (bench/milvus-scale.sh installs it under target/pymilvus) and a running
server holding the collection.
"""
import os
import subprocess
import sys
import time

import numpy as np
from pymilvus import (Collection, CollectionSchema, DataType, FieldSchema, connections,
                      utility)

NAME = sys.argv[1]
HOST, PORT = (sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:19530").split(":")
QUERIES = 1000
K = 10
connections.connect(host=HOST, port=PORT)


def server_rss_mb():
    pid = subprocess.run(["pgrep", "-f", "milvus run standalone"], capture_output=True,
                         text=True).stdout.split()
    if not pid:
        return float("nan")
    with open(f"/proc/{pid[0]}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


source = Collection(NAME)
source.load()
ids, vectors = [], []
start = time.time()
for lo in range(0, 65536, 1024):
    rows = source.query(f"bucket >= {lo} and bucket < {lo + 1024}",
                        output_fields=["id", "vector"], limit=16384)
    assert len(rows) < 16384, "a range filled the query window"
    for r in rows:
        ids.append(r["id"])
        vectors.append(r["vector"])
X = np.asarray(vectors, dtype=np.float32)
ids = np.asarray(ids, dtype=np.int64)
print(f"read {len(ids)} descriptors of {X.shape[1]} dimensions in {time.time() - start:.1f} s")

disk_name = NAME + "_diskann"
if utility.has_collection(disk_name):
    utility.drop_collection(disk_name)
schema = CollectionSchema([
    FieldSchema("id", DataType.INT64, is_primary=True, auto_id=False),
    FieldSchema("vector", DataType.FLOAT_VECTOR, dim=X.shape[1]),
])
disk = Collection(disk_name, schema)
start = time.time()
for i in range(0, len(ids), 10000):
    disk.insert([ids[i:i + 10000].tolist(), X[i:i + 10000].tolist()])
disk.flush()
print(f"DISKANN collection: {len(ids)} rows inserted over gRPC in {time.time() - start:.1f} s")
start = time.time()
disk.create_index("vector", {"index_type": "DISKANN", "metric_type": "COSINE", "params": {}})
utility.wait_for_index_building_complete(disk_name)
print(f"DISKANN index built in {time.time() - start:.1f} s")

queries = X[:: max(1, len(X) // QUERIES)][:QUERIES]
start = time.time()
exact = []
for chunk in np.array_split(queries, 20):
    scores = chunk @ X.T
    exact.extend(ids[np.argpartition(-scores, K, axis=1)[:, :K]])
print(f"exact top-{K} of {len(queries)} queries in {time.time() - start:.1f} s")


def measure(collection, label, params):
    collection.load()
    collection.search([queries[0].tolist()], "vector", params, limit=K)
    times, found = [], 0
    for q, truth in zip(queries, exact):
        t = time.time()
        hits = collection.search([q.tolist()], "vector", params, limit=K)[0]
        times.append((time.time() - t) * 1e3)
        found += len(set(hits.ids) & set(truth.tolist()))
    times.sort()
    print(f"{label}: p50 {times[len(times) // 2]:.2f} ms, p99 {times[int(len(times) * 0.99)]:.2f} ms, "
          f"recall@{K} {found / (K * len(queries)):.4f}; server resident {server_rss_mb():.0f} MB")
    collection.release()


source.release()
measure(source, "HNSW (AUTOINDEX), default search", {"metric_type": "COSINE", "params": {}})
measure(source, "HNSW (AUTOINDEX), ef 64", {"metric_type": "COSINE", "params": {"ef": 64}})
measure(disk, "DISKANN, default search", {"metric_type": "COSINE", "params": {}})
measure(disk, "DISKANN, search_list 64", {"metric_type": "COSINE", "params": {"search_list": 64}})
if not os.environ.get("KEEP"):
    disk.drop()
source.load()  # lookalike reads the collection loaded
