//! What the server answers from: an index folder, held for the server's life, or an index
//! in a Milvus collection (`--store`). The one place in `serve` that tells the two apart;
//! the handlers and jobs ask a [`Library`] and never which it is.

use crate::dedup::decisions::{self, Reviewed};
use crate::dedup::{self, DedupOptions, Probe};
use crate::error::Result;
use crate::index::cluster::{self, ClusterIndex, Shard};
use crate::index::pipeline::{self, IndexOptions, IndexReport};
use crate::index::store::{ContentRecord, DecisionBook, FileRecord, Store};
use crate::index::{Index, Lookup, Neighbor};
use crate::model::{Encoder, Task};
use crate::progress::Progress;
use crate::text::path_text;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The index a server answers from.
pub struct Library {
    kind: Kind,
    /// The local folder: the index folder, or beside a Milvus index, where the journals of
    /// the actions taken from the web app are kept.
    dir: PathBuf,
}

enum Kind {
    Folder {
        /// Searching and re-indexing take turns.
        index: Mutex<Index>,
        /// The index's database (thread-safe; reads and decisions need no turn).
        store: Store,
    },
    Cluster {
        cluster: ClusterIndex,
        /// Bumped by each re-index this server runs (the groups are found again).
        generation: AtomicU64,
    },
}

impl Library {
    /// An index folder, opened (and checked against the encoder) by the caller.
    pub fn folder(index: Index) -> Library {
        Library {
            dir: index.dir().to_path_buf(),
            kind: Kind::Folder {
                store: index.store().clone(),
                index: Mutex::new(index),
            },
        }
    }

    /// An index in a Milvus collection, opened for the encoder's model by the caller; the
    /// journals of actions go under `dir` (`DIR/journal`, as `dedup --store` writes them).
    pub fn cluster(cluster: ClusterIndex, dir: PathBuf) -> Library {
        Library {
            dir,
            kind: Kind::Cluster {
                cluster,
                generation: AtomicU64::new(0),
            },
        }
    }

    /// The local folder (see [`Library::cluster`]).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index folder, for blocking work (call from a blocking thread).
    fn lock(index: &Mutex<Index>) -> MutexGuard<'_, Index> {
        index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the review decisions are kept.
    pub fn book(&self) -> &dyn DecisionBook {
        match &self.kind {
            Kind::Folder { store, .. } => store,
            Kind::Cluster { cluster, .. } => cluster,
        }
    }

    /// An indexed file's record and its content's.
    pub fn picture(&self, path: &Path) -> Result<Option<(FileRecord, ContentRecord)>> {
        match &self.kind {
            Kind::Folder { store, .. } => store.picture(path),
            Kind::Cluster { cluster, .. } => cluster.picture(path),
        }
    }

    /// The records and picture sizes of indexed files, in the order given (`None` for a
    /// file not indexed); a Milvus index answers in one query.
    pub fn describe(&self, paths: &[&Path]) -> Result<Vec<Option<(FileRecord, u32, u32)>>> {
        match &self.kind {
            Kind::Folder { .. } => paths
                .iter()
                .map(|p| Ok(self.picture(p)?.map(|(f, c)| (f, c.width, c.height))))
                .collect(),
            Kind::Cluster { cluster, .. } => {
                let mut found = cluster.describe(paths)?;
                Ok(paths.iter().map(|p| found.remove(*p)).collect())
            }
        }
    }

    /// An indexed file's record.
    pub fn file(&self, path: &Path) -> Result<Option<FileRecord>> {
        match &self.kind {
            Kind::Folder { store, .. } => store.file(path),
            Kind::Cluster { cluster, .. } => cluster.file(path),
        }
    }

    /// The `k` indexed files nearest to `vector` by the head for `task`, best first.
    pub fn nearest_by(&self, vector: &[f32], k: usize, task: Task) -> Result<Vec<Neighbor>> {
        match &self.kind {
            Kind::Folder { index, .. } => Library::lock(index).nearest_by(vector, k, task),
            Kind::Cluster { cluster, .. } => cluster.nearest_by(vector, k, task),
        }
    }

    /// The copies of the probe among the `candidates` nearest files by the copy head, best
    /// first, each with whether it is byte-identical.
    pub fn copies_of(
        &self,
        opts: &DedupOptions,
        probe: &Probe,
        vector: &[f32],
        candidates: usize,
    ) -> Result<Vec<(Neighbor, bool)>> {
        let check = |nearest: Vec<Neighbor>, lookup: &dyn Lookup| {
            let mut copies = Vec::new();
            for n in nearest {
                if let Some(e) = dedup::copy_of(lookup, opts, probe, &n.path)? {
                    copies.push((n, e.exact));
                }
            }
            Ok(copies)
        };
        match &self.kind {
            Kind::Folder { index, .. } => {
                let mut index = Library::lock(index);
                let nearest = index.nearest_by(vector, candidates, Task::Copy)?;
                check(nearest, &*index)
            }
            Kind::Cluster { cluster, .. } => {
                check(cluster.nearest_by(vector, candidates, Task::Copy)?, cluster)
            }
        }
    }

    /// What the groups found are current for: the index folder's generation, or the count
    /// of this server's re-indexes of a Milvus index.
    pub fn generation(&self) -> Option<u64> {
        match &self.kind {
            Kind::Folder { store, .. } => store.meta().ok().flatten().map(|m| m.generation),
            Kind::Cluster { generation, .. } => Some(generation.load(Ordering::SeqCst)),
        }
    }

    /// The duplicate groups, named (decisions not applied), and the generation they are
    /// current for.
    pub fn find_groups(&self, opts: &DedupOptions) -> Result<(u64, Vec<Reviewed>)> {
        match &self.kind {
            Kind::Folder { index, store } => {
                // The index is needed for the candidates only: searching goes on during the
                // content check, which decodes pictures.
                let (generation, candidates) = {
                    let mut index = Library::lock(index);
                    let generation = index.meta().generation;
                    (generation, dedup::candidates(&mut index, opts)?)
                };
                let groups = candidates.into_groups(opts);
                Ok((generation, decisions::name_groups(store, groups)?))
            }
            Kind::Cluster {
                cluster,
                generation,
            } => {
                let generation = generation.load(Ordering::SeqCst);
                let named = dedup::candidates_in(cluster, opts)?.into_unreviewed(opts)?;
                Ok((generation, named))
            }
        }
    }

    /// The folders the index records having been built from (a Milvus index records none:
    /// its workers may each see the photos under other paths).
    pub fn recorded_roots(&self) -> Result<Vec<PathBuf>> {
        match &self.kind {
            Kind::Folder { store, .. } => store.roots(),
            Kind::Cluster { .. } => Ok(Vec::new()),
        }
    }

    /// Why nothing can be re-indexed when no folder is known, and what to do.
    pub fn no_roots(&self) -> &'static str {
        match &self.kind {
            Kind::Folder { .. } => {
                "the index records no folders to re-index (indexes written before 2026-12-05 \
                 do not): run `lookalike index DIR` once, or start `serve` with the folders"
            }
            Kind::Cluster { .. } => {
                "a Milvus index records no folders (each worker may see the photos under \
                 other paths): start `serve --store URL DIR...` with the folders to re-index"
            }
        }
    }

    /// Re-indexes `roots` (all of a Milvus index's files: one worker).
    pub fn reindex(
        &self,
        encoder: &Encoder,
        roots: &[PathBuf],
        opts: &IndexOptions,
        progress: &dyn Progress,
    ) -> Result<IndexReport> {
        match &self.kind {
            Kind::Folder { index, .. } => {
                pipeline::update(&mut Library::lock(index), encoder, roots, opts, progress)
            }
            Kind::Cluster {
                cluster,
                generation,
            } => {
                let report = cluster.update(encoder, roots, Shard::ALL, opts, progress);
                generation.fetch_add(1, Ordering::SeqCst);
                report
            }
        }
    }

    /// `info`'s figures as JSON.
    pub fn stats(&self) -> Result<Value> {
        match &self.kind {
            Kind::Folder { index, .. } => {
                let stats = Library::lock(index).stats()?;
                let mut v = serde_json::to_value(&stats).expect("serialises");
                v["path"] = json!(path_text(&stats.path));
                Ok(v)
            }
            Kind::Cluster { cluster, .. } => {
                let stats = cluster::stats(cluster.url())?;
                let mut v = serde_json::to_value(&stats).expect("serialises");
                v["path"] = json!(stats.store);
                v["model_id"] = json!(stats.model);
                Ok(v)
            }
        }
    }
}
