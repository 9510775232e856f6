//! The approximate nearest-neighbour graph (hnsw_rs) over content vectors, and its snapshot.
//!
//! The graph is two hnsw_rs graphs, *segments*: a point goes to segment `id mod 2`, and each
//! segment is built one point at a time on its own thread, so that identical input always
//! gives identical graphs (hnsw_rs's own parallel insertion does not: points inserted at the
//! same moment may miss each other). A *cross pass* then finds each new point's nearest in
//! the other segment (a read-only search, in parallel, in any order), and a *repair* improves
//! those from the neighbourhood (read-only again). A point's links, which
//! `vectors.flat` keeps and `dedup` follows, are its layer-0 links in its segment and its
//! cross neighbours; a search asks both segments and merges the answers
//! (docs/studies/speed.md, "Building the graph faster and still deterministically").
//!
//! The graph is derived data: sled is the source of truth and the graph can always be rebuilt
//! from it. A snapshot (each segment's two hnsw_rs files, the cross links and
//! `graph.manifest.json`) is saved after each indexing run; the manifest records the sled
//! generation it matches and a checksum of each file, and a snapshot that does not match is
//! never handed to hnsw_rs (which asserts and unwraps on bad files) but rebuilt instead.

use crate::error::{Error, Result};
use crate::index::db::sync_dir;
use hnsw_rs::anndists::dist::Distance;
use hnsw_rs::hnswio::ReloadOptions;
use hnsw_rs::prelude::{AnnT, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Neighbours kept per node and layer.
const MAX_CONNECTIONS: usize = 16;
/// Layers of the hierarchy.
const MAX_LAYERS: usize = 16;
/// Neighbours per point in `vectors.flat`: all of a point's layer-0 links (hnsw_rs keeps up
/// to twice `MAX_CONNECTIONS` there).
pub const FLAT_NEIGHBOURS: usize = 2 * MAX_CONNECTIONS;
/// Candidate list size while building.
const EF_CONSTRUCTION: usize = 100;
/// Segments of the graph (a point's segment is its id modulo this): fixed, so that the
/// graph does not depend on the machine.
const SEGMENTS: usize = 2;
/// Nearest points of the other segment kept per point by the cross pass, and the candidate
/// list size of its searches.
const CROSS_NEIGHBOURS: usize = 8;
const CROSS_EF: usize = 16;
/// Snapshot file base name of segment `s` (hnsw_rs appends `.hnsw.graph` and `.hnsw.data`).
fn basename(segment: usize) -> String {
    format!("graph-{segment}")
}
/// The cross pass's links in the snapshot.
const CROSS_FILE: &str = "graph.cross";
const MANIFEST: &str = "graph.manifest.json";
/// Files of the one-graph layout before segments, removed with a snapshot.
const OLD_FILES: [&str; 2] = ["graph.hnsw.data", "graph.hnsw.graph"];

/// Cosine distance of one head's descriptors within stored vectors (see
/// [`crate::model::Head`]; the whole vector for a one-head model), `1 - cos`, clamped at 0
/// (rounding can make a vector's dot product with itself exceed 1, which hnsw_rs's own
/// `DistDot` asserts against).
///
/// The head is set once, after construction: hnsw_rs reloads a snapshot with the distance's
/// `Default` (its `load_hnsw_with_dist` ignores the memory-mapping option), so a loaded graph
/// gets its head through [`Hnsw::get_distance`]. Unset, the distance is the whole vector's.
#[derive(Debug, Default)]
pub struct DistHeadCosine(std::sync::OnceLock<Head>);

use crate::model::Head;
use crate::vector::dot;

impl DistHeadCosine {
    pub fn new(head: Head) -> Self {
        let d = DistHeadCosine::default();
        d.set(head);
        d
    }

    /// Sets the head if it is not set yet.
    fn set(&self, head: Head) {
        let _ = self.0.set(head);
    }
}

impl Distance<f32> for DistHeadCosine {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        let similarity = match self.0.get() {
            Some(head) => head.similarity(va, vb),
            None => dot(va, vb),
        };
        (1.0 - similarity).max(0.0)
    }
}

/// The vectors a graph holds (`dim` values each) and the head whose cosine it is built on:
/// a two-head model's graph links photos by their copy descriptors, for `dedup`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Space {
    pub dim: usize,
    pub head: Head,
}

impl Space {
    /// How `vectors.flat` cuts these vectors: the graph's head (the copy head, after the query
    /// head) as a part of its own when it is not the whole vector.
    pub fn parts(&self) -> crate::index::flat::Parts {
        crate::index::flat::Parts {
            dim: self.dim,
            split: if self.head.start == 0 {
                self.dim
            } else {
                self.head.start
            },
        }
    }

    /// Whole vectors of `dim` values.
    pub fn whole(dim: usize) -> Space {
        Space {
            dim,
            head: Head::whole(dim),
        }
    }
}

/// One search hit: a graph id and its cosine similarity (of the graph's head) to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub similarity: f32,
}

/// What `graph.manifest.json` records about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The sled generation the snapshot holds exactly.
    pub generation: u64,
    /// Points in the graph, live or since deleted.
    pub points: usize,
    pub dim: usize,
    /// BLAKE3 of each snapshot file, by file name.
    pub files: Vec<(String, String)>,
    /// Points in each segment (none in a snapshot of the one-graph layout before segments,
    /// which is rebuilt).
    #[serde(default)]
    pub segments: Vec<usize>,
}

type Segment = Hnsw<'static, f32, DistHeadCosine>;

/// A point's links: graph ids with their cosine similarity.
type Links = Vec<(u64, f32)>;

/// A point of a segment, with its vector and links.
type Point = std::sync::Arc<hnsw_rs::hnsw::Point<'static, f32>>;

/// The HNSW graph of an index.
pub struct Graph {
    segments: Vec<Segment>,
    /// Each point's nearest in the other segment, by id (the cross pass).
    cross: std::collections::BTreeMap<u64, Links>,
    space: Space,
}

/// Why a snapshot was not loaded (it is then rebuilt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotProblem {
    Missing,
    Stale {
        snapshot: u64,
        store: u64,
    },
    Damaged(String),
    /// Written by an earlier version, in a layout this one does not read.
    EarlierLayout,
}

impl std::fmt::Display for SnapshotProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotProblem::Missing => write!(f, "no graph snapshot"),
            SnapshotProblem::Stale { snapshot, store } => write!(
                f,
                "graph snapshot is of generation {snapshot}, the database is at {store}"
            ),
            SnapshotProblem::Damaged(d) => write!(f, "graph snapshot is damaged ({d})"),
            SnapshotProblem::EarlierLayout => {
                write!(f, "graph snapshot is of an earlier version's layout")
            }
        }
    }
}

fn file_hash(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap(path)?;
    Ok(hasher.finalize().to_hex().to_string())
}

fn new_segment(space: Space, capacity: usize) -> Segment {
    Hnsw::new(
        MAX_CONNECTIONS,
        capacity.max(1000),
        MAX_LAYERS,
        EF_CONSTRUCTION,
        DistHeadCosine::new(space.head),
    )
}

/// The neighbours of a segment's answer, as graph ids and cosine similarities.
fn hits_of(found: Vec<hnsw_rs::prelude::Neighbour>) -> impl Iterator<Item = (u64, f32)> {
    found.into_iter().map(|n| (n.d_id as u64, 1.0 - n.distance))
}

/// Best first, ties by id.
fn by_similarity(a: &(u64, f32), b: &(u64, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

impl Graph {
    /// An empty graph for vectors of `space`, sized for about `capacity` points.
    pub fn new(space: Space, capacity: usize) -> Graph {
        Graph {
            segments: (0..SEGMENTS)
                .map(|_| new_segment(space, capacity / SEGMENTS))
                .collect(),
            cross: Default::default(),
            space,
        }
    }

    /// Builds a graph from `(vector, id)` pairs.
    pub fn build(space: Space, items: &[(Vec<f32>, u64)]) -> Graph {
        let mut g = Graph::new(space, items.len());
        g.insert(items);
        g
    }

    /// Adds points: each segment's, in the order given, one after the other on a thread of
    /// its own, so that each is linked to the nearest ones already there and the same points
    /// in the same order always give the same graph (hnsw_rs draws the layers from a fixed
    /// seed); then the new points' cross neighbours, and their repair.
    pub fn insert(&mut self, items: &[(Vec<f32>, u64)]) {
        let (segments, dim) = (&self.segments, self.space.dim);
        std::thread::scope(|scope| {
            for (s, segment) in segments.iter().enumerate() {
                scope.spawn(move || {
                    for (v, id) in items.iter().filter(|(_, id)| segment_of(*id) == s) {
                        debug_assert_eq!(v.len(), dim);
                        segment.insert_slice((v.as_slice(), *id as usize));
                    }
                });
            }
        });
        use rayon::prelude::*;
        let cross: Vec<(u64, Links)> = items
            .par_iter()
            .map(|(v, id)| (*id, self.cross_neighbours(v, segment_of(*id))))
            .collect();
        self.cross.extend(cross);
        let points = self.points_by_id();
        let repaired: Vec<(u64, Links)> = items
            .par_iter()
            .map(|(v, id)| (*id, self.repaired_cross(v, *id, &points)))
            .collect();
        self.cross.extend(repaired);
    }

    /// The cross neighbours of new point `id` (at `v`) improved once from its neighbourhood:
    /// the cross neighbours of its own layer-0 links and the layer-0 links of its cross
    /// neighbours are scored too, and the best [`CROSS_NEIGHBOURS`] kept. The cross pass's
    /// short searches miss a point's nearest in a large segment now and then (a planted copy
    /// in 8 % of the pairs at 500,000 points a segment); its neighbours have mostly found it.
    /// Reads only the graph and the cross links as the cross pass left them, so it runs in
    /// any order and the result stays the same.
    fn repaired_cross(
        &self,
        v: &[f32],
        id: u64,
        points: &std::collections::HashMap<u64, Point>,
    ) -> Links {
        let head = self.space.head;
        let own_segment = segment_of(id);
        let layer0 = |p: u64| -> Vec<u64> {
            points
                .get(&p)
                .and_then(|p| p.get_neighborhood_id().into_iter().next())
                .map(|l| l.iter().map(|n| n.d_id as u64).collect())
                .unwrap_or_default()
        };
        let mut links = self.cross.get(&id).cloned().unwrap_or_default();
        let mut seen: std::collections::HashSet<u64> = links.iter().map(|l| l.0).collect();
        let from_own = layer0(id)
            .into_iter()
            .flat_map(|n| self.cross.get(&n).into_iter().flatten().map(|l| l.0));
        let from_cross: Vec<u64> = links.iter().flat_map(|l| layer0(l.0)).collect();
        for c in from_own.chain(from_cross) {
            if segment_of(c) == own_segment || !seen.insert(c) {
                continue;
            }
            if let Some(p) = points.get(&c) {
                links.push((c, head.similarity(v, p.get_v())));
            }
        }
        links.sort_by(by_similarity);
        links.truncate(CROSS_NEIGHBOURS);
        links
    }

    /// The nearest points to `v` in the segments other than `own`.
    fn cross_neighbours(&self, v: &[f32], own: usize) -> Links {
        let mut found: Links = self
            .segments
            .iter()
            .enumerate()
            .filter(|&(s, segment)| s != own && segment.get_nb_point() > 0)
            .flat_map(|(_, segment)| hits_of(segment.search(v, CROSS_NEIGHBOURS, CROSS_EF)))
            .collect();
        found.sort_by(by_similarity);
        found.truncate(CROSS_NEIGHBOURS);
        found
    }

    /// Every point of the graph, segment after segment.
    fn points(&self) -> Vec<Point> {
        self.segments
            .iter()
            // hnsw_rs's point iterator panics on an empty graph.
            .filter(|segment| segment.get_nb_point() > 0)
            .flat_map(|segment| segment.get_point_indexation().into_iter())
            .collect()
    }

    /// Every point of the graph by id.
    fn points_by_id(&self) -> std::collections::HashMap<u64, Point> {
        self.points()
            .into_iter()
            .map(|p| (p.get_origin_id() as u64, p))
            .collect()
    }

    /// Points in the graph (including ones deleted from the store since).
    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| s.get_nb_point()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest points to a unit vector, best first: each segment searched with
    /// `ef`, the answers merged.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<Hit> {
        if self.is_empty() || k == 0 {
            return Vec::new();
        }
        let mut hits: Links = self
            .segments
            .iter()
            .filter(|segment| segment.get_nb_point() > 0)
            .flat_map(|segment| hits_of(segment.search(query, k, ef.max(k))))
            .collect();
        hits.sort_by(by_similarity);
        hits.truncate(k);
        hits.into_iter()
            .map(|(id, similarity)| Hit { id, similarity })
            .collect()
    }

    /// Writes the snapshot into `dir` atomically: files are written to a fresh temporary
    /// folder, synced, renamed into place, and the manifest is renamed last.
    pub fn save(&self, dir: &Path, generation: u64) -> Result<()> {
        let tmp = dir.join("graph.tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let counts: Vec<usize> = self.segments.iter().map(|s| s.get_nb_point()).collect();
        // hnsw_rs cannot dump an empty graph: an empty segment has no files, and an empty
        // snapshot is a manifest alone.
        let names = if self.is_empty() {
            Vec::new()
        } else {
            for (s, segment) in self.segments.iter().enumerate() {
                if counts[s] > 0 {
                    dump_segment(segment, &tmp, &basename(s))?;
                }
            }
            let cross: Vec<(&u64, &Links)> = self.cross.iter().collect();
            let path = tmp.join(CROSS_FILE);
            std::fs::write(&path, bincode::serialize(&cross).expect("serialises"))
                .map_err(|e| Error::io(&path, e))?;
            snapshot_files(&counts)
        };
        let mut files = Vec::new();
        for name in names.iter().cloned() {
            let from = tmp.join(&name);
            File::open(&from)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&from, e))?;
            let hash = file_hash(&from).map_err(|e| Error::io(&from, e))?;
            files.push((name, hash));
        }
        let manifest = Manifest {
            generation,
            points: self.len(),
            dim: self.space.dim,
            files,
            segments: counts,
        };
        let manifest_tmp = tmp.join(MANIFEST);
        let mut f = File::create(&manifest_tmp).map_err(|e| Error::io(&manifest_tmp, e))?;
        f.write_all(&serde_json::to_vec_pretty(&manifest).expect("manifest serialises"))
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(&manifest_tmp, e))?;
        // Remove the old manifest first: between here and the final rename the snapshot
        // reads as missing, never as a mix of old and new files.
        let manifest_path = dir.join(MANIFEST);
        if manifest_path.exists() {
            std::fs::remove_file(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        }
        remove_files(dir, &every_snapshot_file())?;
        for name in &names {
            std::fs::rename(tmp.join(name), dir.join(name))
                .map_err(|e| Error::io(dir.join(name), e))?;
        }
        std::fs::rename(&manifest_tmp, &manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        // The flat vector file last: until it is renamed in, the old one names an older
        // generation and is not used.
        self.write_flat(dir, generation)?;
        sync_dir(dir)?;
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(())
    }

    /// Writes `vectors.flat` (see [`crate::index::flat`]): every point's id, vector and
    /// links (its layer-0 links and its cross neighbours, the best [`FLAT_NEIGHBOURS`]).
    pub fn write_flat(&self, dir: &Path, generation: u64) -> Result<()> {
        let points = self.points();
        crate::index::flat::write(
            dir,
            generation,
            self.space.parts(),
            FLAT_NEIGHBOURS,
            points.len(),
            points.iter().map(|p| {
                let id = p.get_origin_id() as u64;
                let mut links: Links = p
                    .get_neighborhood_id()
                    .first()
                    .map(|layer0| {
                        layer0
                            .iter()
                            .map(|n| (n.d_id as u64, 1.0 - n.distance))
                            .collect()
                    })
                    .unwrap_or_default();
                links.extend(self.cross.get(&id).into_iter().flatten().copied());
                links.sort_by(by_similarity);
                links.dedup_by_key(|l| l.0);
                links.truncate(FLAT_NEIGHBOURS);
                crate::index::flat::FlatPoint {
                    id,
                    vector: p.get_v(),
                    neighbours: links,
                }
            }),
        )
    }

    /// Loads the snapshot in `dir` if it exists, is intact and matches `generation` and
    /// `space`'s dimension.
    pub fn load(dir: &Path, generation: u64, space: Space) -> Result<Graph, SnapshotProblem> {
        let dim = space.dim;
        let manifest_path = dir.join(MANIFEST);
        let bytes = match std::fs::read(&manifest_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SnapshotProblem::Missing)
            }
            Err(e) => return Err(SnapshotProblem::Damaged(e.to_string())),
        };
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| SnapshotProblem::Damaged(format!("manifest: {e}")))?;
        if manifest.generation != generation {
            return Err(SnapshotProblem::Stale {
                snapshot: manifest.generation,
                store: generation,
            });
        }
        if manifest.dim != dim {
            return Err(SnapshotProblem::Damaged(format!(
                "dimension {} instead of {dim}",
                manifest.dim
            )));
        }
        if manifest.segments.is_empty() {
            return Err(SnapshotProblem::EarlierLayout);
        }
        if manifest.segments.len() != SEGMENTS
            || manifest.segments.iter().sum::<usize>() != manifest.points
        {
            return Err(SnapshotProblem::Damaged(format!(
                "{} segments holding {} points, instead of {SEGMENTS} holding {}",
                manifest.segments.len(),
                manifest.segments.iter().sum::<usize>(),
                manifest.points
            )));
        }
        if manifest.points == 0 && manifest.files.is_empty() {
            return Ok(Graph::new(space, 0));
        }
        let expected: Vec<String> = snapshot_files(&manifest.segments);
        let listed: Vec<&String> = manifest.files.iter().map(|(n, _)| n).collect();
        if listed != expected.iter().collect::<Vec<_>>() {
            return Err(SnapshotProblem::Damaged(
                "manifest lists other files".into(),
            ));
        }
        for (name, hash) in &manifest.files {
            let actual = file_hash(&dir.join(name))
                .map_err(|e| SnapshotProblem::Damaged(format!("{name}: {e}")))?;
            if &actual != hash {
                return Err(SnapshotProblem::Damaged(format!(
                    "{name}: checksum mismatch"
                )));
            }
        }
        // Intact and current: hand it to hnsw_rs.
        let mut segments = Vec::with_capacity(SEGMENTS);
        for (s, &points) in manifest.segments.iter().enumerate() {
            segments.push(if points == 0 {
                new_segment(space, 0)
            } else {
                load_segment(dir, &basename(s), space, points)?
            });
        }
        let cross_path = dir.join(CROSS_FILE);
        let cross: Vec<(u64, Links)> = std::fs::read(&cross_path)
            .map_err(|e| e.to_string())
            .and_then(|b| bincode::deserialize(&b).map_err(|e| e.to_string()))
            .map_err(|e| SnapshotProblem::Damaged(format!("{CROSS_FILE}: {e}")))?;
        Ok(Graph {
            segments,
            cross: cross.into_iter().collect(),
            space,
        })
    }

    /// Points in the snapshot in `dir` if its manifest names `generation` (files not checked:
    /// that happens when it is loaded).
    pub fn snapshot_points(dir: &Path, generation: u64) -> Option<usize> {
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).ok()?).ok()?;
        (manifest.generation == generation).then_some(manifest.points)
    }

    /// Moves a snapshot that is current at generation `from` to generation `to`, for commits
    /// that changed no vector: the manifest is rewritten (temporary file, rename) and the
    /// flat vector file's header updated. The snapshot files themselves are untouched.
    pub fn restamp(dir: &Path, from: u64, to: u64) -> Result<()> {
        let manifest_path = dir.join(MANIFEST);
        let bytes = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        let mut manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path: manifest_path.clone(),
                detail: format!("graph manifest: {e}"),
            })?;
        if manifest.generation != from {
            return Err(Error::Corrupt {
                path: manifest_path,
                detail: format!(
                    "graph manifest is for generation {}, expected {from}",
                    manifest.generation
                ),
            });
        }
        manifest.generation = to;
        let tmp = dir.join(format!("{MANIFEST}.tmp"));
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&serde_json::to_vec_pretty(&manifest).expect("manifest serialises"))
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        crate::index::flat::restamp(dir, from, to)?;
        sync_dir(dir)
    }

    /// Removes the snapshot (and the flat vector file) so that the next open rebuilds the graph.
    pub fn remove_snapshot(dir: &Path) -> Result<()> {
        crate::index::flat::remove(dir)?;
        let mut names = every_snapshot_file();
        names.push(MANIFEST.to_string());
        remove_files(dir, &names)
    }
}

/// Writes a segment's hnsw_rs files into `dir` as `name.hnsw.*`.
fn dump_segment(segment: &Segment, dir: &Path, name: &str) -> Result<()> {
    let dumped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        segment.file_dump(dir, name)
    }));
    let detail = match dumped {
        Ok(Ok(written)) if written == name => return Ok(()),
        Ok(Ok(written)) => format!("graph dump chose an unexpected name {written}"),
        Ok(Err(e)) => format!("graph dump failed: {e}"),
        Err(_) => "graph dump failed (could not create its files)".into(),
    };
    Err(Error::Corrupt {
        path: dir.to_path_buf(),
        detail,
    })
}

/// Loads the segment `name` of an intact snapshot in `dir`, which must hold `points`.
fn load_segment(
    dir: &Path,
    name: &str,
    space: Space,
    points: usize,
) -> Result<Segment, SnapshotProblem> {
    // The loaded graph borrows its loader, which must therefore outlive it; the loader is
    // small and lives as long as the process.
    let mut io: Option<&'static mut HnswIo> = Some(Box::leak(Box::new(HnswIo::new_with_options(
        dir,
        name,
        // The vectors stay in the memory-mapped data file instead of being copied to the
        // heap (a snapshot file is only ever replaced by rename, so the mapped pages never
        // change).
        ReloadOptions::default().set_mmap(true),
    ))));
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let io = io.take().expect("loader is used once");
        HnswIo::load_hnsw::<f32, DistHeadCosine>(io)
    }));
    let segment = match loaded {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return Err(SnapshotProblem::Damaged(e.to_string())),
        Err(_) => return Err(SnapshotProblem::Damaged("graph loader crashed".into())),
    };
    segment.get_distance().set(space.head);
    if segment.get_nb_point() != points {
        return Err(SnapshotProblem::Damaged(format!(
            "{name}: {} points instead of {points}",
            segment.get_nb_point()
        )));
    }
    Ok(segment)
}

/// The segment of a point.
fn segment_of(id: u64) -> usize {
    (id % SEGMENTS as u64) as usize
}

/// The files of a snapshot whose segments hold `counts` points: each non-empty segment's
/// two, then the cross links.
fn snapshot_files(counts: &[usize]) -> Vec<String> {
    let mut names: Vec<String> = counts
        .iter()
        .enumerate()
        .filter(|&(_, &points)| points > 0)
        .flat_map(|(s, _)| segment_files(s))
        .collect();
    names.push(CROSS_FILE.to_string());
    names
}

fn segment_files(segment: usize) -> [String; 2] {
    let name = basename(segment);
    [format!("{name}.hnsw.data"), format!("{name}.hnsw.graph")]
}

/// Every file a snapshot may hold besides its manifest, of this layout or the one before.
fn every_snapshot_file() -> Vec<String> {
    let mut names = snapshot_files(&[1; SEGMENTS]);
    names.extend(OLD_FILES.iter().map(|n| n.to_string()));
    names
}

fn remove_files(dir: &Path, names: &[String]) -> Result<()> {
    for name in names {
        let p = dir.join(name);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(p, e)),
        }
    }
    Ok(())
}

/// Paths of the snapshot files inside an index folder, of this layout (for documentation and
/// tests).
pub fn snapshot_paths(dir: &Path) -> Vec<PathBuf> {
    snapshot_files(&[1; SEGMENTS])
        .into_iter()
        .chain([MANIFEST.to_string()])
        .map(|n| dir.join(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: with parallel insertion, the two copies of a pair inserted in one batch
    /// were sometimes left unlinked (a third of the builds of the bundled samples lost a
    /// duplicate group).
    #[test]
    fn every_tight_pair_is_linked_and_builds_are_identical() {
        let dim = 32;
        // Six photos and a close copy of each, side by side as a folder would give them.
        let mut items = Vec::new();
        for p in 0..6u64 {
            let base = unit(p, dim);
            let copy = base
                .iter()
                .zip(unit(100 + p, dim))
                .map(|(x, e)| x + 0.02 * e);
            items.push((
                crate::vector::normalised(copy.collect()).unwrap(),
                2 * p + 1,
            ));
            items.push((base, 2 * p));
        }
        let mut first = None;
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            Graph::build(Space::whole(dim), &items)
                .write_flat(dir.path(), 1)
                .unwrap();
            let flat =
                crate::index::flat::FlatVectors::open(dir.path(), 1, Space::whole(dim).parts())
                    .unwrap();
            for row in 0..flat.len() {
                let twin = flat.id(row) ^ 1;
                assert!(
                    flat.neighbours(row).any(|(n, _)| flat.id(n) == twin),
                    "point {} is not linked to its copy {twin}",
                    flat.id(row)
                );
            }
            let bytes = std::fs::read(crate::index::flat::path(dir.path())).unwrap();
            assert!(
                *first.get_or_insert(bytes.clone()) == bytes,
                "builds differ"
            );
        }
    }

    /// Copies added by a later run, all in the other segment from their originals, are
    /// linked to them through the cross pass (the originals' own links are not revisited).
    #[test]
    fn copies_added_later_are_linked_to_their_originals_in_the_other_segment() {
        let dim = 32;
        let originals: Vec<(Vec<f32>, u64)> = (0..40u64).map(|p| (unit(p, dim), 2 * p)).collect();
        let copies: Vec<(Vec<f32>, u64)> = originals
            .iter()
            .map(|(v, id)| {
                let noisy = v.iter().zip(unit(500 + id, dim)).map(|(x, e)| x + 0.02 * e);
                (crate::vector::normalised(noisy.collect()).unwrap(), id + 1)
            })
            .collect();
        let mut g = Graph::build(Space::whole(dim), &originals);
        g.insert(&copies);
        let dir = tempfile::tempdir().unwrap();
        g.write_flat(dir.path(), 1).unwrap();
        let flat = crate::index::flat::FlatVectors::open(dir.path(), 1, Space::whole(dim).parts())
            .unwrap();
        for row in (0..flat.len()).filter(|&r| flat.id(r) % 2 == 1) {
            let original = flat.id(row) - 1;
            assert!(
                flat.neighbours(row).any(|(n, _)| flat.id(n) == original),
                "copy {} is not linked to {original}",
                flat.id(row)
            );
        }
    }

    /// A point whose cross search missed its whole group in the other segment (the cross
    /// links replaced by far points, as a short search in a large segment can leave them)
    /// gets its nearest there back from the repair: its own links' cross links hold them.
    #[test]
    fn the_repair_finds_a_twin_that_the_cross_search_missed() {
        let dim = 32;
        // Ten tight groups of eight near copies (ids spread over both segments), 200 others.
        let mut items: Vec<(Vec<f32>, u64)> = Vec::new();
        for g in 0..10u64 {
            let base = unit(1000 + g, dim);
            for m in 0..8u64 {
                let noisy = base
                    .iter()
                    .zip(unit(2000 + 8 * g + m, dim))
                    .map(|(x, e)| x + 0.05 * e);
                items.push((
                    crate::vector::normalised(noisy.collect()).unwrap(),
                    8 * g + m,
                ));
            }
        }
        items.extend((0..200u64).map(|i| (unit(i, dim), 80 + i)));
        let mut g = Graph::build(Space::whole(dim), &items);
        let points = g.points_by_id();
        let similarity =
            |a: u64, b: u64| crate::vector::dot(&items[a as usize].0, &items[b as usize].0);
        for missed in [0u64, 13, 42, 77] {
            let group = missed / 8;
            let twin = (8 * group..8 * group + 8)
                .filter(|&m| segment_of(m) != segment_of(missed))
                .max_by(|&a, &b| similarity(missed, a).total_cmp(&similarity(missed, b)))
                .unwrap();
            let far: Links = (80..300u64)
                .filter(|&m| segment_of(m) != segment_of(missed))
                .take(CROSS_NEIGHBOURS)
                .map(|m| (m, similarity(missed, m)))
                .collect();
            g.cross.insert(missed, far);
            let repaired = g.repaired_cross(&items[missed as usize].0, missed, &points);
            assert_eq!(repaired.len(), CROSS_NEIGHBOURS);
            assert_eq!(repaired[0].0, twin, "point {missed}: {repaired:?}");
            assert!(repaired
                .iter()
                .all(|&(m, _)| segment_of(m) != segment_of(missed)));
        }
    }

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        crate::vector::normalised(v).unwrap()
    }

    #[test]
    fn finds_itself_first_and_survives_a_snapshot() {
        let dim = 32;
        let items: Vec<(Vec<f32>, u64)> = (0..300).map(|i| (unit(i, dim), i * 3)).collect();
        let g = Graph::build(Space::whole(dim), &items);
        let hits = g.search(&items[17].0, 5, 64);
        assert_eq!(hits[0].id, 51);
        assert!(hits[0].similarity > 0.999);
        assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));

        let dir = tempfile::tempdir().unwrap();
        g.save(dir.path(), 7).unwrap();
        let loaded = Graph::load(dir.path(), 7, Space::whole(dim)).unwrap();
        assert_eq!(loaded.len(), 300);
        assert_eq!(loaded.search(&items[17].0, 5, 64), hits);

        assert_eq!(
            Graph::load(dir.path(), 8, Space::whole(dim)).err(),
            Some(SnapshotProblem::Stale {
                snapshot: 7,
                store: 8
            })
        );
        // A flipped byte in any snapshot file is caught before hnsw_rs reads it.
        for name in ["graph-1.hnsw.data", "graph.cross"] {
            let path = dir.path().join(name);
            let good = std::fs::read(&path).unwrap();
            let mut bytes = good.clone();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
            assert!(
                matches!(
                    Graph::load(dir.path(), 7, Space::whole(dim)),
                    Err(SnapshotProblem::Damaged(_))
                ),
                "{name}"
            );
            std::fs::write(&path, good).unwrap();
        }
        assert!(Graph::load(dir.path(), 7, Space::whole(dim)).is_ok());
        // A snapshot of the one-graph layout of earlier versions is not loaded (the graph
        // is rebuilt from the store).
        let manifest = dir.path().join(MANIFEST);
        let mut old: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        old.as_object_mut().unwrap().remove("segments");
        std::fs::write(&manifest, old.to_string()).unwrap();
        assert_eq!(
            Graph::load(dir.path(), 7, Space::whole(dim)).err(),
            Some(SnapshotProblem::EarlierLayout)
        );
        std::fs::write(dir.path().join("graph.hnsw.data"), b"old").unwrap();
        Graph::remove_snapshot(dir.path()).unwrap();
        assert_eq!(
            Graph::load(dir.path(), 7, Space::whole(dim)).err(),
            Some(SnapshotProblem::Missing)
        );
        // Every file went, the older layout's too.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// A graph with one point has an empty segment, which has no files.
    #[test]
    fn a_graph_with_an_empty_segment_survives_a_snapshot() {
        let dim = 16;
        let dir = tempfile::tempdir().unwrap();
        let g = Graph::build(Space::whole(dim), &[(unit(3, dim), 4)]);
        g.save(dir.path(), 2).unwrap();
        let loaded = Graph::load(dir.path(), 2, Space::whole(dim)).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded.search(&unit(3, dim), 3, 16)[0].id, 4);
        assert!(!dir.path().join("graph-1.hnsw.data").exists());
    }

    #[test]
    fn distance_is_never_negative() {
        let v = unit(1, 64);
        let d = DistHeadCosine::new(Head::whole(64));
        assert_eq!(d.eval(&v, &v), 0.0);
        let w: Vec<f32> = v.iter().map(|x| -x).collect();
        assert!((d.eval(&v, &w) - 2.0).abs() < 1e-5);
    }

    /// A graph over one head of two-part vectors links points by that head alone.
    #[test]
    fn a_head_graph_ranks_by_its_head() {
        let half = 16;
        let k = std::f32::consts::FRAC_1_SQRT_2;
        // Point i: query part unit(i), copy part unit(i / 2): pairs share their copy part.
        let items: Vec<(Vec<f32>, u64)> = (0..200u64)
            .map(|i| {
                let v: Vec<f32> = unit(i, half)
                    .into_iter()
                    .chain(unit(1000 + i / 2, half))
                    .map(|x| x * k)
                    .collect();
                (v, i)
            })
            .collect();
        let space = Space {
            dim: 2 * half,
            head: Head {
                start: half,
                len: half,
                scale: 2.0,
            },
        };
        let g = Graph::build(space, &items);
        // Regression: a reloaded graph keeps its head (hnsw_rs reloads with `Default`).
        let dir = tempfile::tempdir().unwrap();
        g.save(dir.path(), 3).unwrap();
        let loaded = Graph::load(dir.path(), 3, space).unwrap();
        for i in [10u64, 51] {
            let hits = g.search(&items[i as usize].0, 2, 64);
            assert_eq!(loaded.search(&items[i as usize].0, 2, 64), hits);
            let mut ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
            ids.sort();
            assert_eq!(ids, vec![i & !1, i | 1], "{hits:?}");
            assert!(hits.iter().all(|h| h.similarity > 0.999), "{hits:?}");
        }
        // Its whole-vector graph would not: the query parts differ.
        let whole = Graph::build(Space::whole(2 * half), &items);
        let hits = whole.search(&items[10].0, 2, 64);
        assert!(hits[1].similarity < 0.9, "{hits:?}");
    }
}
