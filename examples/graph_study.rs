//! A study of deterministic ways to build the HNSW graph faster than one point at a time:
//! the graph split into segments (points assigned by id), each built one point at a time on
//! its own thread, then a cross pass that searches every point's nearest in the other
//! segments (read-only, so in any order), optionally *repaired* once from the neighbourhood
//! (each point's cross links improved with the cross links of its own links and the own
//! links of its cross links). Prints per setting: build rate, recall@10 of merged searches
//! against exact search, planted near-copies left unlinked, and whether two builds gave the
//! same links.
//!
//! ```text
//! cargo run --release --example graph_study -- 20000
//! GRAPH_STUDY="2,100,8,16,0;2,100,8,16,1" GRAPH_STUDY_SAME=0 \
//!     cargo run --release --example graph_study -- 400000
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

/// A point's links: ids with their similarity.
type Links = Vec<(u64, f32)>;

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

    fn search(&self, q: &[f32], k: usize, ef: usize) -> Links {
        let mut all: Links = self
            .segments
            .iter()
            .flat_map(|g| g.search(q, k, ef))
            .map(|n| (n.d_id as u64, 1.0 - n.distance))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    /// Every point's layer-0 links in its own segment, by id.
    fn own_links(&self, count: usize) -> Vec<Links> {
        let mut own: Vec<Links> = vec![Vec::new(); count];
        for g in &self.segments {
            for p in g.get_point_indexation().into_iter() {
                own[p.get_origin_id()] = p
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
        own
    }

    /// Every point's `cross` nearest in the other segments (searched with `cross_ef`); with
    /// `repair`, then improved once from the neighbourhood: the cross links of the point's
    /// own links, and the own links of its cross links, the best `cross` kept.
    fn cross_links(
        &self,
        items: &[(Vec<f32>, u64)],
        own: &[Links],
        cross: usize,
        cross_ef: usize,
        repair: bool,
    ) -> Vec<Links> {
        let s_count = self.segments.len();
        if s_count == 1 {
            return vec![Vec::new(); items.len()];
        }
        let found: Vec<Links> = items
            .par_iter()
            .map(|(v, id)| {
                let mut l: Links = Vec::new();
                for (s, g) in self.segments.iter().enumerate() {
                    if s != *id as usize % s_count {
                        l.extend(
                            g.search(v, cross, cross_ef)
                                .into_iter()
                                .map(|n| (n.d_id as u64, 1.0 - n.distance)),
                        );
                    }
                }
                best(l, cross)
            })
            .collect();
        if !repair {
            return found;
        }
        items
            .par_iter()
            .map(|(v, id)| {
                let me = *id as usize;
                let mut seen: std::collections::HashSet<u64> =
                    found[me].iter().map(|x| x.0).collect();
                let mut l = found[me].clone();
                let candidates = own[me]
                    .iter()
                    .flat_map(|(n, _)| found[*n as usize].iter())
                    .chain(found[me].iter().flat_map(|(c, _)| own[*c as usize].iter()));
                for (c, _) in candidates {
                    if *c as usize % s_count != me % s_count && seen.insert(*c) {
                        l.push((*c, dot(v, &items[*c as usize].0)));
                    }
                }
                best(l, cross)
            })
            .collect()
    }
}

/// The `k` best links, best first, ties by id.
fn best(mut l: Links, k: usize) -> Links {
    l.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    l.truncate(k);
    l
}

/// Every point's links as `vectors.flat` keeps them: own and cross, the best 32.
fn links(own: &[Links], cross: &[Links]) -> Vec<Vec<u64>> {
    own.iter()
        .zip(cross)
        .map(|(o, c)| {
            best(o.iter().chain(c).copied().collect(), 32)
                .into_iter()
                .map(|x| x.0)
                .collect()
        })
        .collect()
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
        "segments  ef_c  cross  cross_ef  repair  build_s  links_s  points/s  recall@10(ef64)  unlinked  same"
    );
    // GRAPH_STUDY="SEGMENTS,EF_C,CROSS,CROSS_EF,REPAIR;..." picks the settings (REPAIR 0 or
    // 1); GRAPH_STUDY_SAME=0 skips the second build that checks the links are identical.
    let settings: Vec<(usize, usize, usize, usize, bool)> = match std::env::var("GRAPH_STUDY") {
        Ok(list) => list
            .split(';')
            .map(|s| {
                let f: Vec<usize> = s
                    .split(',')
                    .map(|x| x.trim().parse().expect("a number"))
                    .collect();
                assert_eq!(f.len(), 5, "SEGMENTS,EF_C,CROSS,CROSS_EF,REPAIR");
                (f[0], f[1], f[2], f[3], f[4] == 1)
            })
            .collect(),
        Err(_) => vec![
            (1, 200, 0, 0, false),
            (2, 200, 16, 64, false),
            (2, 200, 8, 64, false),
            (1, 100, 0, 0, false),
            (2, 100, 16, 64, false),
            (2, 100, 8, 64, false),
            (3, 100, 8, 64, false),
            (2, 100, 8, 16, false),
            (2, 100, 8, 16, true),
        ],
    };
    let check_same = std::env::var("GRAPH_STUDY_SAME").as_deref() != Ok("0");
    let mut built: Option<Built> = None;
    for (segments, ef_c, cross, cross_ef, repair) in settings {
        if built.as_ref().map(|b| b.setting) != Some((segments, ef_c)) {
            drop(built.take());
            let t = Instant::now();
            let graph = Segmented::build(&items, segments, ef_c);
            let own = graph.own_links(items.len());
            built = Some(Built {
                setting: (segments, ef_c),
                seconds: t.elapsed().as_secs_f64(),
                graph,
                own,
            });
        }
        let Built {
            graph: g,
            seconds: build,
            own,
            ..
        } = built.as_ref().expect("built");
        let t = Instant::now();
        let cross_l = g.cross_links(&items, own, cross, cross_ef, repair);
        let linking = t.elapsed().as_secs_f64();
        let links = links(own, &cross_l);
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
        let same = if check_same {
            let again = Segmented::build(&items, segments, ef_c);
            let own_again = again.own_links(items.len());
            let l = links_of(&again, &items, &own_again, cross, cross_ef, repair);
            if l == links {
                "yes"
            } else {
                "no"
            }
        } else {
            "-"
        };
        println!(
            "{segments:>8} {ef_c:>5} {cross:>6} {cross_ef:>9} {:>6} {build:>8.1} {linking:>8.1} {:>9.0} {:>16.4} {unlinked:>9} {same:>5}",
            if repair { "yes" } else { "no" },
            items.len() as f64 / (build + linking),
            hits as f64 / (QUERIES * 10) as f64,
        );
    }
}

/// The segments built last: for which (segments, ef_construction), in how many seconds, and
/// every point's own links.
struct Built {
    setting: (usize, usize),
    graph: Segmented,
    seconds: f64,
    own: Vec<Links>,
}

fn links_of(
    g: &Segmented,
    items: &[(Vec<f32>, u64)],
    own: &[Links],
    cross: usize,
    cross_ef: usize,
    repair: bool,
) -> Vec<Vec<u64>> {
    links(own, &g.cross_links(items, own, cross, cross_ef, repair))
}
