//! The approximate nearest-neighbour graph (hnsw_rs) over content vectors, and its snapshot.
//!
//! The graph is derived data: sled is the source of truth and the graph can always be rebuilt
//! from it. A snapshot (two hnsw_rs files plus `graph.manifest.json`) is saved after each
//! indexing run; the manifest records the sled generation it matches and a checksum of each
//! file, and a snapshot that does not match is never handed to hnsw_rs (which asserts and
//! unwraps on bad files) but rebuilt instead.

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
const EF_CONSTRUCTION: usize = 200;
/// Snapshot file base name (hnsw_rs appends `.hnsw.graph` and `.hnsw.data`).
const BASENAME: &str = "graph";
const MANIFEST: &str = "graph.manifest.json";

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
}

/// The HNSW graph of an index.
pub struct Graph {
    hnsw: Hnsw<'static, f32, DistHeadCosine>,
    dim: usize,
}

/// Why a snapshot was not loaded (it is then rebuilt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotProblem {
    Missing,
    Stale { snapshot: u64, store: u64 },
    Damaged(String),
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
        }
    }
}

fn file_hash(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap(path)?;
    Ok(hasher.finalize().to_hex().to_string())
}

impl Graph {
    /// An empty graph for vectors of `space`, sized for about `capacity` points.
    pub fn new(space: Space, capacity: usize) -> Graph {
        Graph {
            hnsw: Hnsw::new(
                MAX_CONNECTIONS,
                capacity.max(1000),
                MAX_LAYERS,
                EF_CONSTRUCTION,
                DistHeadCosine::new(space.head),
            ),
            dim: space.dim,
        }
    }

    /// Builds a graph from `(vector, id)` pairs.
    pub fn build(space: Space, items: &[(Vec<f32>, u64)]) -> Graph {
        let mut g = Graph::new(space, items.len());
        g.insert(items);
        g
    }

    /// Adds points, one after the other. hnsw_rs can insert in parallel (about twice as fast
    /// on two cores), but points inserted at the same moment do not see each other: two
    /// copies of one photo in one batch could end up unlinked, and then `dedup`, which follows
    /// the links, missed them in some builds and not in others. One at a time, each point
    /// is linked to the nearest ones already there, and the same points in the same order
    /// always give the same graph (hnsw_rs draws the layers from a fixed seed).
    pub fn insert(&mut self, items: &[(Vec<f32>, u64)]) {
        for (v, id) in items {
            debug_assert_eq!(v.len(), self.dim);
            self.hnsw.insert_slice((v.as_slice(), *id as usize));
        }
    }

    /// Every point of the graph.
    fn points(&self) -> Vec<std::sync::Arc<hnsw_rs::hnsw::Point<'static, f32>>> {
        if self.is_empty() {
            // hnsw_rs's point iterator panics on an empty graph.
            return Vec::new();
        }
        self.hnsw.get_point_indexation().into_iter().collect()
    }

    /// Points in the graph (including ones deleted from the store since).
    pub fn len(&self) -> usize {
        self.hnsw.get_nb_point()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest points to a unit vector, best first.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<Hit> {
        if self.is_empty() || k == 0 {
            return Vec::new();
        }
        let mut hits: Vec<Hit> = self
            .hnsw
            .search(query, k, ef.max(k))
            .into_iter()
            .map(|n| Hit {
                id: n.d_id as u64,
                similarity: 1.0 - n.distance,
            })
            .collect();
        hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(&b.id)));
        hits
    }

    /// Writes the snapshot into `dir` atomically: files are written to a fresh temporary
    /// folder, synced, renamed into place, and the manifest is renamed last.
    pub fn save(&self, dir: &Path, generation: u64) -> Result<()> {
        let tmp = dir.join("graph.tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        // hnsw_rs cannot dump an empty graph: an empty snapshot is a manifest alone.
        let names = if self.is_empty() {
            Vec::new()
        } else {
            snapshot_files()
        };
        let dumped = if self.is_empty() {
            Ok(Ok(BASENAME.to_string()))
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.hnsw.file_dump(&tmp, BASENAME)
            }))
        };
        match dumped {
            Ok(Ok(name)) if name == BASENAME => {}
            Ok(Ok(name)) => {
                return Err(Error::Corrupt {
                    path: tmp,
                    detail: format!("graph dump chose an unexpected name {name}"),
                })
            }
            Ok(Err(e)) => {
                return Err(Error::Corrupt {
                    path: tmp,
                    detail: format!("graph dump failed: {e}"),
                })
            }
            Err(_) => {
                return Err(Error::Corrupt {
                    path: tmp,
                    detail: "graph dump failed (could not create its files)".into(),
                })
            }
        }
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
            dim: self.dim,
            files,
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

    /// Writes `vectors.flat` (see [`crate::index::flat`]): every point's id, vector and layer-0
    /// neighbours.
    pub fn write_flat(&self, dir: &Path, generation: u64) -> Result<()> {
        let points = self.points();
        crate::index::flat::write(
            dir,
            generation,
            self.dim,
            FLAT_NEIGHBOURS,
            points.len(),
            points.iter().map(|p| crate::index::flat::FlatPoint {
                id: p.get_origin_id() as u64,
                vector: p.get_v(),
                neighbours: p
                    .get_neighborhood_id()
                    .first()
                    .map(|layer0| {
                        layer0
                            .iter()
                            .map(|n| (n.d_id as u64, 1.0 - n.distance))
                            .collect()
                    })
                    .unwrap_or_default(),
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
        if manifest.points == 0 && manifest.files.is_empty() {
            return Ok(Graph::new(space, 0));
        }
        let expected: Vec<String> = snapshot_files();
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
        // Intact and current: hand it to hnsw_rs. The loaded graph borrows its loader, which
        // must therefore outlive it; the loader is small and lives as long as the process.
        let mut io: Option<&'static mut HnswIo> =
            Some(Box::leak(Box::new(HnswIo::new_with_options(
                dir,
                BASENAME,
                // The vectors stay in the memory-mapped data file instead of being copied
                // to the heap (a snapshot file is only ever replaced by rename, so the mapped
                // pages never change).
                ReloadOptions::default().set_mmap(true),
            ))));
        let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let io = io.take().expect("loader is used once");
            HnswIo::load_hnsw::<f32, DistHeadCosine>(io)
        }));
        let hnsw = match loaded {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => return Err(SnapshotProblem::Damaged(e.to_string())),
            Err(_) => return Err(SnapshotProblem::Damaged("graph loader crashed".into())),
        };
        hnsw.get_distance().set(space.head);
        if hnsw.get_nb_point() != manifest.points {
            return Err(SnapshotProblem::Damaged(format!(
                "{} points instead of {}",
                hnsw.get_nb_point(),
                manifest.points
            )));
        }
        Ok(Graph { hnsw, dim })
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
        for name in snapshot_files().into_iter().chain([MANIFEST.to_string()]) {
            let p = dir.join(name);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(p, e)),
            }
        }
        Ok(())
    }
}

fn snapshot_files() -> Vec<String> {
    vec![
        format!("{BASENAME}.hnsw.data"),
        format!("{BASENAME}.hnsw.graph"),
    ]
}

/// Paths of the snapshot files inside an index folder (for documentation and tests).
pub fn snapshot_paths(dir: &Path) -> Vec<PathBuf> {
    snapshot_files()
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
            let flat = crate::index::flat::FlatVectors::open(dir.path(), 1, dim).unwrap();
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
        // A flipped byte in a snapshot file is caught before hnsw_rs reads it.
        let data = dir.path().join("graph.hnsw.data");
        let mut bytes = std::fs::read(&data).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&data, bytes).unwrap();
        assert!(matches!(
            Graph::load(dir.path(), 7, Space::whole(dim)),
            Err(SnapshotProblem::Damaged(_))
        ));
        Graph::remove_snapshot(dir.path()).unwrap();
        assert_eq!(
            Graph::load(dir.path(), 7, Space::whole(dim)).err(),
            Some(SnapshotProblem::Missing)
        );
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
