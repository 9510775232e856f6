//! A study of deterministic ways to build the HNSW graph faster than one point at a time:
//! the graph split into segments (points assigned by id), each built one point at a time on
//! its own thread, then a cross pass that searches every point's nearest in the other
//! segments (read-only, so in any order). Prints per setting: build rate, recall@10 of
//! merged searches against exact search, planted near-copies left unlinked, and whether two
//! builds gave the same links.
//!
//! ```text
//! cargo run --release --example graph_study -- 20000
//! ```

#[path = "../benches/common/synthetic.rs"]
mod synthetic;

use hnsw_rs::prelude::Hnsw;
use lookalike::index::graph::DistHeadCosine;
use lookalike::model::Head;
use lookalike::vector::dot;
use rayon::prelude::*;
use std::time::Instant;

const DIM: usize = 256;
const M: usize = 16;
const LAYERS: usize = 16;
const QUERIES: usize = 500;
const PAIRS: usize = 1000;

struct Segmented {
    segments: Vec<Hnsw<'static, f32, DistHeadCosine>>,
}

impl Segmented {
    fn build(items: &[(Vec<f32>, u64)], segments: usize, ef_c: usize) -> Segmented {
        let graphs: Vec<Hnsw<'static, f32, DistHeadCosine>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..segments)
                .map(|s| {
                    scope.spawn(move || {
                        let g = Hnsw::new(
                            M,
                            items.len() / segments + 1000,
                            LAYERS,
                            ef_c,
                            DistHeadCosine::new(Head::whole(DIM)),
                        );
                        for (v, id) in items.iter().filter(|(_, id)| *id as usize % segments == s) {
                            g.insert_slice((v.as_slice(), *id as usize));
                        }
                        g
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        Segmented { segments: graphs }
    }

    fn search(&self, q: &[f32], k: usize, ef: usize) -> Vec<(u64, f32)> {
        let mut all: Vec<(u64, f32)> = self
            .segments
            .iter()
            .flat_map(|g| g.search(q, k, ef))
            .map(|n| (n.d_id as u64, 1.0 - n.distance))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    /// Every point's links: its layer-0 links in its segment and, with more than one
    /// segment, its `cross` nearest in each other segment (searched with `cross_ef`); the
    /// best 32 kept.
    fn links(&self, items: &[(Vec<f32>, u64)], cross: usize, cross_ef: usize) -> Vec<Vec<u64>> {
        let s_count = self.segments.len();
        let mut own: Vec<Vec<(u64, f32)>> = vec![Vec::new(); items.len()];
        for g in &self.segments {
            for p in g.get_point_indexation().into_iter() {
                let id = p.get_origin_id();
                own[id] = p
                    .get_neighborhood_id()
                    .first()
                    .map(|l| {
                        l.iter()
                            .map(|n| (n.d_id as u64, 1.0 - n.distance))
                            .collect()
                    })
                    .unwrap_or_default();
            }
        }
        items
            .par_iter()
            .map(|(v, id)| {
                let mut l = own[*id as usize].clone();
                if s_count > 1 {
                    for (s, g) in self.segments.iter().enumerate() {
                        if s == *id as usize % s_count {
                            continue;
                        }
                        l.extend(
                            g.search(v, cross, cross_ef)
                                .into_iter()
                                .map(|n| (n.d_id as u64, 1.0 - n.distance)),
                        );
                    }
                }
                l.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                l.truncate(32);
                l.into_iter().map(|x| x.0).collect()
            })
            .collect()
    }
}

fn main() {
    let points: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let mut gen = synthetic::Generator::new(points, DIM, 7);
    // Points with a planted near-copy right after its original every points/PAIRS.
    let mut items: Vec<(Vec<f32>, u64)> = Vec::with_capacity(points + PAIRS);
    let mut pairs = Vec::new();
    let every = points / PAIRS;
    for i in 0..points {
        let v = gen.point(1.0);
        let id = items.len() as u64;
        if i % every == 0 && pairs.len() < PAIRS {
            let copy = gen.around(&v, 0.15);
            items.push((v, id));
            items.push((copy, id + 1));
            pairs.push((id, id + 1));
        } else {
            items.push((v, id));
        }
    }
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| gen.point(1.0)).collect();
    let exact: Vec<Vec<u64>> = queries
        .par_iter()
        .map(|q| {
            let mut s: Vec<(f32, u64)> = items.iter().map(|(v, id)| (dot(q, v), *id)).collect();
            s.select_nth_unstable_by(10, |a, b| b.0.total_cmp(&a.0));
            s[..10].iter().map(|x| x.1).collect()
        })
        .collect();
    println!(
        "{} points x {DIM}, {} planted pairs; {} threads",
        items.len(),
        pairs.len(),
        rayon::current_num_threads()
    );
    println!(
        "segments  ef_c  cross  cross_ef  build_s  links_s  points/s  recall@10(ef64)  unlinked  same"
    );
    let settings: Vec<(usize, usize, usize, usize)> = match std::env::var("GRAPH_STUDY").as_deref()
    {
        Ok("cross") => vec![
            (2, 100, 8, 16),
            (2, 100, 8, 32),
            (2, 200, 8, 16),
            (4, 100, 8, 16),
        ],
        _ => vec![
            (1, 200, 0, 0),
            (2, 200, 16, 64),
            (2, 200, 8, 64),
            (1, 100, 0, 0),
            (2, 100, 16, 64),
            (2, 100, 8, 64),
            (3, 100, 8, 64),
        ],
    };
    for (segments, ef_c, cross, cross_ef) in settings {
        let t = Instant::now();
        let g = Segmented::build(&items, segments, ef_c);
        let build = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let links = g.links(&items, cross, cross_ef);
        let linking = if segments > 1 {
            t.elapsed().as_secs_f64()
        } else {
            0.0
        };
        let hits: usize = queries
            .iter()
            .zip(&exact)
            .map(|(q, e)| {
                g.search(q, 10, 64)
                    .iter()
                    .filter(|h| e.contains(&h.0))
                    .count()
            })
            .sum();
        let unlinked = pairs
            .iter()
            .filter(|(a, b)| !links[*a as usize].contains(b) && !links[*b as usize].contains(a))
            .count();
        let again = Segmented::build(&items, segments, ef_c).links(&items, cross, cross_ef);
        println!(
            "{segments:>8} {ef_c:>5} {cross:>6} {cross_ef:>9} {build:>8.1} {linking:>8.1} {:>9.0} {:>16.4} {unlinked:>9} {:>5}",
            items.len() as f64 / (build + linking),
            hits as f64 / (QUERIES * 10) as f64,
            again == links
        );
    }
}
