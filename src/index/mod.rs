//! The index: what lookalike keeps about a collection, and the pipeline that fills it.
//!
//! Owns the sled store ([`store`], `db`: the source of truth), the HNSW graph ([`graph`])
//! and the flat vector file ([`flat`]) derived from it, the one-process lock ([`lock`]), and
//! the incremental indexing pipeline ([`pipeline`]).
//!
//! Invariants: sled is the source of truth and the graph and `vectors.flat` are derived
//! (rebuilt whenever their manifest or header does not name the current generation); every
//! commit is one atomic batch; an index belongs to one model; one process at a time.
//!
//! Entry points: [`Index::open`], [`Index::open_or_create`], [`pipeline::update`],
//! [`Index::nearest`], [`Index::neighbourhood`] (dedup's self-join), [`Index::compact`],
//! [`Index::verify`], [`Index::stats`].

pub mod cluster;
mod db;
pub mod flat;
pub mod graph;
pub mod lock;
pub mod milvus;
pub mod pipeline;
pub mod records;
pub mod semantic;
pub mod store;
pub mod upgrade;

use crate::error::{Error, Result};
use crate::index::flat::FlatVectors;
use crate::index::graph::{Graph, SnapshotProblem, Space};
use crate::index::lock::{IndexLock, Wait};
use crate::index::store::{ChangeSet, ContentRecord, FileRecord, Hash, Meta, Store};
use crate::ingest::thumbnail::Thumbnail;
use crate::model::{ModelInfo, Task};
use std::path::{Path, PathBuf};

/// Default folder of the index, relative to the working directory.
pub const DEFAULT_INDEX_DIR: &str = "index";

/// An indexed file that is similar to a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbor {
    pub path: PathBuf,
    /// Cosine similarity to the query, in [-1, 1].
    pub similarity: f32,
}

/// What `query` and a copy decision read of an index, the index folder ([`Index`]) or a
/// Milvus collection ([`cluster::ClusterIndex`]).
pub trait Lookup {
    /// The model whose vectors the index holds.
    fn model(&self) -> &ModelInfo;
    /// The `k` indexed files nearest to a vector by the head for `task`, best first.
    fn nearest_by(&mut self, vector: &[f32], k: usize, task: Task) -> Result<Vec<Neighbor>>;
    /// The file's record and its content's (the vector in the stored layout, both heads of
    /// a two-head model), if the file is indexed.
    fn picture(&self, path: &Path) -> Result<Option<(FileRecord, ContentRecord)>>;
    /// The content's thumbnail for the pixel check, if the index keeps one.
    fn thumbnail(&self, hash: &Hash) -> Result<Option<Thumbnail>>;
}

impl Lookup for Index {
    fn model(&self) -> &ModelInfo {
        &self.meta.model
    }

    fn nearest_by(&mut self, vector: &[f32], k: usize, task: Task) -> Result<Vec<Neighbor>> {
        Index::nearest_by(self, vector, k, task)
    }

    fn picture(&self, path: &Path) -> Result<Option<(FileRecord, ContentRecord)>> {
        self.store.picture(path)
    }

    fn thumbnail(&self, hash: &Hash) -> Result<Option<Thumbnail>> {
        self.store.thumbnail(hash)
    }
}

/// An open index. Only one process can hold it at a time ([`crate::index::lock`]).
pub struct Index {
    dir: PathBuf,
    _lock: IndexLock,
    store: Store,
    meta: Meta,
    graph: Option<Graph>,
    /// The mapped flat vector file, when a search used it.
    flat: Option<FlatVectors>,
    /// Why the graph was rebuilt on open instead of loaded, if it was.
    rebuilt_because: Option<SnapshotProblem>,
}

/// What [`Index::compact`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactReport {
    /// Records of files that no longer exist, dropped.
    pub files_removed: usize,
    /// Contents (vectors) no file holds any more, dropped.
    pub contents_removed: usize,
    /// Graph points before and after the rebuild.
    pub points_before: usize,
    pub points_after: usize,
    /// Size of the database on disk before and after it was rewritten compactly.
    pub database_bytes_before: u64,
    pub database_bytes_after: u64,
}

/// What `info` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IndexStats {
    pub path: PathBuf,
    pub format_version: u32,
    pub model: ModelInfo,
    pub model_id: String,
    pub files: u64,
    pub distinct_images: u64,
    pub dim: usize,
    pub generation: u64,
    pub graph_points: usize,
    pub size_on_disk_bytes: u64,
}

fn dir_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

impl Index {
    /// Opens an existing index (for querying); its graph is loaded on first use. If another
    /// process holds the index, waits as `wait` says, then fails with [`Error::Busy`].
    pub fn open(dir: &Path, wait: Wait) -> Result<Index> {
        if !Store::exists(dir)? {
            return Err(Error::NoIndex {
                path: dir.to_path_buf(),
            });
        }
        let lock = IndexLock::acquire(dir, wait)?;
        let store = Store::open(dir)?;
        let meta = store.meta()?.ok_or_else(|| Error::Corrupt {
            path: dir.to_path_buf(),
            detail: "the database has no metadata".into(),
        })?;
        let index = Index::opened(dir, lock, store, meta);
        // Its vectors are of two models until `index` finishes the move: nothing may
        // search or group them.
        match index.unfinished_upgrade() {
            Some(e) => Err(e),
            None => Ok(index),
        }
    }

    /// The error that refuses an index part way through its move to another model, if it is.
    fn unfinished_upgrade(&self) -> Option<Error> {
        let target = self.meta.upgrade.as_ref()?;
        Some(Error::UpgradeUnfinished {
            path: self.dir.clone(),
            target: target.id(),
            done: self.store.upgraded_count(),
            total: self.meta.contents,
            roots: self.roots_text(),
        })
    }

    /// The folders given to `index`, as a command line would name them (`DIR...` when the
    /// index does not record them).
    pub(crate) fn roots_text(&self) -> String {
        let roots = self.store.roots().unwrap_or_default();
        if roots.is_empty() {
            return "DIR...".into();
        }
        let mut text: Vec<String> = roots.iter().map(|r| crate::text::shell_word(r)).collect();
        if self.dir != Path::new(DEFAULT_INDEX_DIR) {
            text.push(format!("--index {}", crate::text::shell_word(&self.dir)));
        }
        text.join(" ")
    }

    /// An index just opened: nothing loaded beside the store.
    fn opened(dir: &Path, lock: IndexLock, store: Store, meta: Meta) -> Index {
        Index {
            dir: dir.to_path_buf(),
            _lock: lock,
            store,
            meta,
            graph: None,
            flat: None,
            rebuilt_because: None,
        }
    }

    /// Opens the index for writing with `model`, creating it if needed. An index built with
    /// another model is refused; a busy one is waited for as `wait` says.
    pub fn open_or_create(dir: &Path, model: &ModelInfo, wait: Wait) -> Result<Index> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = IndexLock::acquire(dir, wait)?;
        let store = Store::open(dir)?;
        let meta = match store.meta()? {
            Some(m) => m,
            None => store.init(model)?,
        };
        let index = Index::opened(dir, lock, store, meta);
        // The built-in model of this version takes over an index of an earlier one
        // (`pipeline::update` embeds every photo again first).
        if !model.supersedes(&index.meta.model) {
            index.check_model(model)?;
            if let Some(e) = index.unfinished_upgrade() {
                return Err(e);
            }
        }
        Ok(index)
    }

    /// Whether `model`, the built-in model, must first take over this index of an earlier
    /// built-in model (see [`upgrade`]).
    pub fn needs_upgrade_to(&self, model: &ModelInfo) -> bool {
        model.supersedes(&self.meta.model)
    }

    /// Refuses a model other than the one the index was built with; an index of an earlier
    /// built-in model is refused with the command that moves it to this one.
    pub fn check_model(&self, model: &ModelInfo) -> Result<()> {
        let built = &self.meta.model;
        if model.supersedes(built) {
            return Err(Error::ModelOutdated {
                path: self.dir.clone(),
                index_model: built.id(),
                current_model: model.id(),
                roots: self.roots_text(),
            });
        }
        if built.weights_hash != model.weights_hash || built.dim != model.dim {
            return Err(Error::ModelMismatch {
                path: self.dir.clone(),
                index_model: built.id(),
                current_model: model.id(),
            });
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Re-reads the metadata after commits.
    pub(crate) fn refresh_meta(&mut self) -> Result<()> {
        self.meta = self.store.meta()?.ok_or_else(|| Error::Corrupt {
            path: self.dir.clone(),
            detail: "metadata vanished".into(),
        })?;
        Ok(())
    }

    /// Why the graph had to be rebuilt when it was loaded (`None` if the snapshot was used).
    pub fn graph_rebuilt_because(&self) -> Option<&SnapshotProblem> {
        self.rebuilt_because.as_ref()
    }

    /// The graph, loading the snapshot or rebuilding it from the store (and saving the
    /// rebuilt one) the first time it is needed.
    pub fn graph(&mut self) -> Result<&mut Graph> {
        self.graph_as_of(self.meta.generation)
    }

    /// [`Index::graph`], accepting a snapshot of `generation` (the indexer's: commits since
    /// then changed no vector).
    pub(crate) fn graph_as_of(&mut self, generation: u64) -> Result<&mut Graph> {
        if self.graph.is_none() {
            let space = self.space();
            let graph = match Graph::load(&self.dir, generation, space) {
                Ok(g) => {
                    // A snapshot from before the flat file held neighbours, or one whose flat
                    // file went missing: write it, so that queries and dedup need no graph.
                    if FlatVectors::open(&self.dir, generation, space.parts()).is_none() {
                        g.write_flat(&self.dir, generation)?;
                    }
                    g
                }
                Err(problem) => {
                    let g = self.rebuild_graph()?;
                    // An empty index has nothing worth announcing.
                    if !(problem == SnapshotProblem::Missing && g.is_empty()) {
                        self.rebuilt_because = Some(problem);
                    }
                    g
                }
            };
            self.graph = Some(graph);
        }
        Ok(self.graph.as_mut().expect("graph was just set"))
    }

    /// What the graph is built on: the stored vectors, compared by the copy head (the whole
    /// vector for a one-head model), because `dedup`'s self-join walks its links.
    fn space(&self) -> Space {
        Space {
            dim: self.meta.model.dim,
            head: self.meta.model.head(Task::Copy),
        }
    }

    /// Builds the graph from every content in the store and saves its snapshot.
    pub fn rebuild_graph(&mut self) -> Result<Graph> {
        let items: Vec<(Vec<f32>, u64)> = self
            .store
            .contents()
            .map(|r| r.map(|(_, c)| (c.vector, c.id)))
            .collect::<Result<_>>()?;
        let graph = Graph::build(self.space(), &items);
        graph.save(&self.dir, self.meta.generation)?;
        Ok(graph)
    }

    /// Drops the records of files that no longer exist (and the contents no file holds any
    /// more), rebuilds the graph without the points of deleted contents, and rewrites the
    /// database compactly (see [`Store::rewrite`]). `index` drops records for the folders it
    /// scans; this covers the whole index at once.
    pub fn compact(&mut self) -> Result<CompactReport> {
        let mut report = CompactReport {
            points_before: self.graph()?.len(),
            ..CompactReport::default()
        };
        let mut changes = ChangeSet::default();
        let mut maybe_orphaned = std::collections::HashSet::new();
        for item in self.store.files() {
            let (path, rec) = item?;
            if std::fs::symlink_metadata(&path).is_err() {
                changes.remove_file(path);
                maybe_orphaned.insert(rec.hash);
                report.files_removed += 1;
            }
        }
        if !changes.is_empty() {
            self.store.commit(changes)?;
        }
        let mut changes = ChangeSet::default();
        for hash in maybe_orphaned {
            if self.store.paths_of(&hash)?.is_empty() {
                changes.remove_content(hash);
                report.contents_removed += 1;
            }
        }
        if !changes.is_empty() {
            self.store.commit(changes)?;
        }
        self.refresh_meta()?;
        self.compact_graph()?;
        report.points_after = self.graph()?.len();
        (report.database_bytes_before, report.database_bytes_after) = self.store.rewrite()?;
        Ok(report)
    }

    /// Checks the database's records against each other (see [`Store::verify`]) and the
    /// graph against the database: every live content must be a graph point.
    pub fn verify(&mut self) -> Result<Vec<String>> {
        let mut problems = self.store.verify()?;
        let points = self.graph()?.len();
        if points < self.meta.contents as usize {
            problems.push(format!(
                "the graph has {points} points, fewer than the {} contents",
                self.meta.contents
            ));
        }
        Ok(problems)
    }

    /// Replaces the in-memory graph with a fresh build (drops points of deleted files).
    pub(crate) fn compact_graph(&mut self) -> Result<()> {
        let g = self.rebuild_graph()?;
        self.graph = Some(g);
        Ok(())
    }

    /// Brings the graph snapshot up to the store at the end of an indexing run that began at
    /// `start_generation`. A loaded graph is saved, or rebuilt without its dead points when
    /// they pass a quarter. A graph never loaded had no vector added: its snapshot, if it was
    /// current when the run began, still holds every live point and is restamped with the
    /// new generation (no load, no rewrite); otherwise it is rebuilt from the store.
    pub(crate) fn finish_update(&mut self, start_generation: u64) -> Result<()> {
        self.refresh_meta()?;
        let contents = self.meta.contents as usize;
        let too_many_dead = |points: usize| {
            let dead = points.saturating_sub(contents);
            dead > 0 && dead * 4 > points
        };
        if self.graph.is_none() {
            if self.meta.generation == start_generation {
                return Ok(());
            }
            if let Some(points) = Graph::snapshot_points(&self.dir, start_generation) {
                if !too_many_dead(points) {
                    return Graph::restamp(&self.dir, start_generation, self.meta.generation);
                }
            }
            return self.compact_graph();
        }
        if too_many_dead(self.graph()?.len()) {
            self.compact_graph()
        } else {
            let (dir, generation) = (self.dir.clone(), self.meta.generation);
            self.graph()?.save(&dir, generation)
        }
    }

    /// Whether [`Index::nearest`] can answer without the graph: the flat vector file is
    /// current (maps it). A process that answers a few queries then never loads the graph.
    pub fn can_search_exactly(&mut self) -> bool {
        if self.graph.is_none() && self.flat.is_none() {
            self.flat = FlatVectors::open(&self.dir, self.meta.generation, self.space().parts());
        }
        self.flat.is_some()
    }

    /// The mapped flat vector file with every point's graph neighbours, for a self-join that
    /// never loads the graph. If the file is not current, the graph is loaded (or rebuilt),
    /// which writes it, and let go again (a graph already in memory is kept, and is the
    /// source of the file when it is newer than the one on disk).
    pub fn neighbourhood(&mut self) -> Result<&FlatVectors> {
        let (dir, generation, space) = (self.dir.clone(), self.meta.generation, self.space());
        // A file mapped before the graph was loaded may be older than the graph.
        if self.graph.is_some() || !self.can_search_exactly() {
            self.flat = FlatVectors::open(&dir, generation, space.parts());
        }
        if self.flat.is_none() {
            let had_graph = self.graph.is_some();
            self.graph()?;
            if FlatVectors::open(&dir, generation, space.parts()).is_none() {
                self.graph()?.write_flat(&dir, generation)?;
            }
            if !had_graph {
                self.graph = None;
            }
            self.flat = FlatVectors::open(&dir, generation, space.parts());
        }
        self.flat.as_ref().ok_or_else(|| Error::Corrupt {
            path: crate::index::flat::path(&dir),
            detail: "the flat vector file was written but does not read back".into(),
        })
    }

    /// The `want` best `(id, similarity)` hits: from the graph once it is loaded, else by an
    /// exact scan of the flat vector file if it is current, else from the graph (loading or
    /// rebuilding it).
    fn search(
        &mut self,
        vector: &[f32],
        want: usize,
        task: Task,
    ) -> Result<(Vec<(u64, f32)>, usize)> {
        let head = self.meta.model.head(task);
        // A two-head model's graph links photos by their copy descriptors, not by what a
        // query ranks on: its queries always scan the flat file (written from the graph if
        // it is missing).
        if self.meta.model.has_two_heads() {
            let flat = self.neighbourhood()?;
            return Ok((flat.search(vector, head, want), flat.len()));
        }
        if self.graph.is_none() && self.can_search_exactly() {
            let flat = self.flat.as_ref().expect("checked above");
            return Ok((flat.search(vector, head, want), flat.len()));
        }
        let graph = self.graph()?;
        let hits = graph.search(vector, want, want.max(64));
        Ok((
            hits.into_iter().map(|h| (h.id, h.similarity)).collect(),
            graph.len(),
        ))
    }

    /// The `k` indexed files most similar to a unit vector, best first. Files with identical
    /// content are listed one after another with the same similarity. Files deleted from disk
    /// since they were indexed are left out at once (their records go at the next `index` or
    /// `compact`).
    pub fn nearest(&mut self, vector: &[f32], k: usize) -> Result<Vec<Neighbor>> {
        self.nearest_by(vector, k, Task::Query)
    }

    /// [`Index::nearest`] by the head for `task`: [`Task::Copy`] ranks by the copy
    /// descriptor, where the candidates of a copy decision are (`query --copies`), so that
    /// which copies are found never depends on the query head.
    pub fn nearest_by(&mut self, vector: &[f32], k: usize, task: Task) -> Result<Vec<Neighbor>> {
        if vector.len() != self.meta.model.dim {
            return Err(Error::InvalidArgument(format!(
                "query vector has {} dimensions, the index {}",
                vector.len(),
                self.meta.model.dim
            )));
        }
        let mut want = k + 8;
        loop {
            let (hits, total) = self.search(vector, want, task)?;
            let mut out = Vec::new();
            for &(id, similarity) in &hits {
                // Ids of contents deleted since the graph was built have no hash any more.
                let Some(hash) = self.store.hash_of_id(id)? else {
                    continue;
                };
                for path in self.store.paths_of(&hash)? {
                    if std::fs::symlink_metadata(&path).is_err() {
                        continue;
                    }
                    out.push(Neighbor { path, similarity });
                }
            }
            if out.len() >= k || want >= total {
                out.truncate(k);
                return Ok(out);
            }
            want *= 2;
        }
    }

    /// Paths holding a content.
    pub fn paths_of(&self, hash: &Hash) -> Result<Vec<PathBuf>> {
        self.store.paths_of(hash)
    }

    /// Counts and sizes for `info`. The graph's point count comes from its snapshot's
    /// manifest when that is current (no load); otherwise the graph is loaded or rebuilt.
    pub fn stats(&mut self) -> Result<IndexStats> {
        let graph_points = match &self.graph {
            Some(g) => g.len(),
            None => match Graph::snapshot_points(&self.dir, self.meta.generation) {
                Some(points) => points,
                None => self.graph()?.len(),
            },
        };
        Ok(IndexStats {
            path: self.dir.clone(),
            format_version: self.meta.format_version,
            model: self.meta.model.clone(),
            model_id: self.meta.model.id(),
            files: self.meta.files,
            distinct_images: self.meta.contents,
            dim: self.meta.model.dim,
            generation: self.meta.generation,
            graph_points,
            size_on_disk_bytes: dir_size(&self.dir),
        })
    }
}
