//! Query latency and recall of the two stores on one index (bench/milvus-scale.sh): the
//! index folder written by `synthetic_index` and the same records copied into a Milvus
//! collection (`lookalike index --from-index`).
//!
//! ```text
//! cargo run --release --example store_latency -- INDEX_DIR milvus://HOST:PORT/NAME [QUERIES]
//! ```
//! Queries with `QUERIES` stored descriptors (spread over the index, default 1,000) by the
//! query head, through each store's `nearest_by`, one at a time, and prints each store's
//! p50 and p99 latency and its recall@10 against an exact scan of every descriptor.

use lookalike::index::cluster::ClusterIndex;
use lookalike::index::lock::Wait;
use lookalike::index::Lookup;
use lookalike::model::Task;
use lookalike::Index;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

const K: usize = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, url, queries) = match args.as_slice() {
        [dir, url] => (PathBuf::from(dir), url.clone(), 1000),
        [dir, url, q] => (PathBuf::from(dir), url.clone(), q.parse().expect("QUERIES")),
        _ => {
            eprintln!("usage: store_latency INDEX_DIR milvus://HOST:PORT/NAME [QUERIES]");
            std::process::exit(2);
        }
    };
    let mut index = Index::open(&dir, Wait::No).expect("index folder");
    let model = index.meta().model.clone();
    let url = url.parse().expect("store address");
    let mut cluster = ClusterIndex::open(&url, &model).expect("collection");
    let head = model.head(Task::Query);

    // Every content with the path that names it (one file per content here).
    let mut path_of: HashMap<lookalike::index::store::Hash, PathBuf> = HashMap::new();
    for file in index.store().files() {
        let (path, record) = file.expect("file record");
        path_of.entry(record.hash).or_insert(path);
    }
    let contents: Vec<(PathBuf, Vec<f32>)> = index
        .store()
        .contents()
        .map(|c| c.expect("content record"))
        .filter_map(|(hash, c)| Some((path_of.get(&hash)?.clone(), c.vector)))
        .collect();
    let step = (contents.len() / queries.max(1)).max(1);
    let chosen: Vec<&(PathBuf, Vec<f32>)> = contents.iter().step_by(step).take(queries).collect();

    let started = Instant::now();
    let exact: Vec<HashSet<&PathBuf>> = chosen
        .par_iter()
        .map(|(_, q)| {
            let mut scored: Vec<(f32, &PathBuf)> = contents
                .iter()
                .map(|(p, v)| (head.similarity(q, v), p))
                .collect();
            scored.select_nth_unstable_by(K - 1, |a, b| b.0.total_cmp(&a.0));
            scored[..K].iter().map(|s| s.1).collect()
        })
        .collect();
    println!(
        "{} queries over {} descriptors, exact top-{K} in {:.1} s",
        chosen.len(),
        contents.len(),
        started.elapsed().as_secs_f64()
    );

    let stores: [(&str, &mut dyn Lookup); 2] =
        [("index folder", &mut index), ("Milvus", &mut cluster)];
    for (name, store) in stores {
        // The first query opens what the store keeps open (the mapped vectors, the
        // connection): timed apart.
        let started = Instant::now();
        store
            .nearest_by(&chosen[0].1, K, Task::Query)
            .expect("first query");
        let first = started.elapsed().as_secs_f64() * 1e3;
        let mut times = Vec::with_capacity(chosen.len());
        let mut found = 0usize;
        for ((_, q), truth) in chosen.iter().zip(&exact) {
            let started = Instant::now();
            let hits = store.nearest_by(q, K, Task::Query).expect("query");
            times.push(started.elapsed().as_secs_f64() * 1e3);
            found += hits.iter().filter(|h| truth.contains(&h.path)).count();
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!(
            "{name}: first query {first:.1} ms, then p50 {:.2} ms, p99 {:.2} ms; recall@{K} {:.4}",
            at(0.50),
            at(0.99),
            found as f64 / (K * chosen.len()) as f64
        );
    }
}
