//! Warm ANN search: latency and recall@10 against exact search, for several `ef`, on the HNSW
//! graph lookalike builds (same parameters and distance), with synthetic clustered vectors.
//!
//! ```text
//! cargo bench --bench ann                      # 100,000 points of 256 dimensions
//! LOOKALIKE_ANN_POINTS=20000 cargo bench --bench ann
//! ```
//! Prints the build rate, then per `ef`: microseconds per query (one thread) and recall@10.

#[path = "common/synthetic.rs"]
mod synthetic;

use lookalike::index::graph::Graph;
use lookalike::vector::dot;
use rayon::prelude::*;
use std::time::Instant;

const DIM: usize = 256;
const QUERIES: usize = 1000;
const K: usize = 10;

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this file without it:
    // then only a small smoke run.
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let points: usize = std::env::var("LOOKALIKE_ANN_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if benchmarking { 100_000 } else { 2_000 });
    let mut gen = synthetic::Generator::new(points, DIM, 7);
    // Spread 1.0: points of a cluster at cosine ~0.5 of each other, so the true neighbours
    // are not obvious; queries are fresh points of the same clusters.
    let items: Vec<(Vec<f32>, u64)> = (0..points).map(|i| (gen.point(1.0), i as u64)).collect();
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| gen.point(1.0)).collect();

    let t = Instant::now();
    let graph = Graph::build(lookalike::index::graph::Space::whole(DIM), &items);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "built {points} x {DIM} in {secs:.1} s: {:.0} points/s on {} threads",
        points as f64 / secs,
        rayon::current_num_threads()
    );

    let t = Instant::now();
    let exact: Vec<Vec<u64>> = queries
        .par_iter()
        .map(|q| {
            let mut scored: Vec<(f32, u64)> =
                items.iter().map(|(v, id)| (dot(q, v), *id)).collect();
            scored.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
            scored[..K].iter().map(|s| s.1).collect()
        })
        .collect();
    println!(
        "exact search: {:.2} ms per query ({} threads)",
        t.elapsed().as_secs_f64() * 1e3 / QUERIES as f64,
        rayon::current_num_threads()
    );

    println!("   ef   µs/query   recall@{K}");
    for ef in [10, 16, 24, 32, 48, 64, 96, 128, 256] {
        // One thread, as a single query runs.
        let t = Instant::now();
        let found: Vec<Vec<u64>> = queries
            .iter()
            .map(|q| graph.search(q, K, ef).iter().map(|h| h.id).collect())
            .collect();
        let micros = t.elapsed().as_secs_f64() * 1e6 / QUERIES as f64;
        let hits: usize = found
            .iter()
            .zip(&exact)
            .map(|(f, e)| f.iter().filter(|id| e.contains(id)).count())
            .sum();
        println!(
            "{ef:>5} {micros:>10.0} {:>11.4}",
            hits as f64 / (QUERIES * K) as f64
        );
    }
}
