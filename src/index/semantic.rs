//! Pretrained models beside the main one: their vectors, kept up to date, and exact search
//! over them.
//!
//! Owns embedding every content that lacks a vector of a pretrained model (after a run of
//! [`crate::index::pipeline::update`], or when a model is added to an existing index: only
//! the new model runs) and searching those vectors exhaustively by cosine similarity. The
//! main model's vectors, the graph and `dedup` are untouched: a pretrained model serves
//! `query` and `search`, the main model keeps serving copy detection.

use crate::error::Result;
use crate::index::pipeline::{Progress, Skipped};
use crate::index::store::Hash;
use crate::index::{Index, Neighbor};
use crate::ingest::decode;
use crate::model::pretrained::{Pretrained, PretrainedInfo};
use crate::problem::SkipReason;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What one run of [`update`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SemanticReport {
    /// `name@hash12` of the model.
    pub model: String,
    /// Contents embedded by the model in this run.
    pub embedded: usize,
    /// Contents that already had a vector.
    pub present: usize,
    #[serde(skip)]
    pub skipped: Vec<Skipped>,
    pub interrupted: bool,
    pub elapsed_s: f64,
}

/// Images decoded and embedded at a time.
const CHUNK: usize = 16;

/// The contents that lack a vector of a model, with their files, and how many have one:
/// found without loading the model, so that a model with nothing to do is never loaded.
pub struct Pending {
    present: usize,
    missing: Vec<(Hash, Vec<PathBuf>)>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
    }

    /// The report of a model with nothing to embed.
    pub fn up_to_date(&self, info: &PretrainedInfo) -> SemanticReport {
        SemanticReport {
            model: info.id(),
            present: self.present,
            ..Default::default()
        }
    }
}

/// What the model `info` has yet to embed in the index (every content, for a model the
/// index does not hold yet).
pub fn pending(index: &Index, info: &PretrainedInfo) -> Result<Pending> {
    let store = index.store();
    let slot = store
        .semantic_models()?
        .into_iter()
        .find(|m| m.info == *info)
        .map(|m| m.slot);
    let mut pending = Pending {
        present: 0,
        missing: Vec::new(),
    };
    for item in store.contents() {
        let (hash, _) = item?;
        match slot {
            Some(slot) if store.has_semantic(slot, &hash)? => pending.present += 1,
            _ => pending.missing.push((hash, store.paths_of(&hash)?)),
        }
    }
    Ok(pending)
}

/// Embeds, with `model`, the contents [`pending`] found, and records the model (from `dir`)
/// in the index.
#[allow(clippy::too_many_arguments)]
pub fn update(
    index: &Index,
    model: &Pretrained,
    dir: &Path,
    pending: Pending,
    threads: usize,
    max_pixels: u64,
    interrupt: Option<Arc<AtomicBool>>,
    progress: &dyn Progress,
) -> Result<SemanticReport> {
    let start = Instant::now();
    let store = index.store();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let record = store.add_semantic_model(model.info(), &dir)?;
    let mut report = pending.up_to_date(model.info());
    let missing = pending.missing;
    progress.start(
        &format!("embedding with {}", model.info().name),
        missing.len(),
    );
    let pool = decode::decode_pool(threads);
    for chunk in missing.chunks(CHUNK) {
        if interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            report.interrupted = true;
            break;
        }
        let files: Vec<&[PathBuf]> = chunk.iter().map(|(_, paths)| paths.as_slice()).collect();
        let vectors = embed_chunk(model, &files, &pool, max_pixels, &mut report, progress)?;
        let rows: Vec<(Hash, Vec<f32>)> = chunk
            .iter()
            .zip(vectors)
            .filter_map(|((hash, _), vector)| Some((*hash, vector?)))
            .collect();
        if !rows.is_empty() {
            store.put_semantic(record.slot, &rows)?;
        }
        progress.advance(chunk.len());
    }
    report.elapsed_s = start.elapsed().as_secs_f64();
    Ok(report)
}

/// The vectors of a chunk of contents by `model`, each from the first of its `files` that
/// decodes (decoded on `pool`), counted as embedded; `None` for a content none of whose files
/// can be read, reported as skipped.
pub(crate) fn embed_chunk(
    model: &Pretrained,
    files: &[&[PathBuf]],
    pool: &rayon::ThreadPool,
    max_pixels: u64,
    report: &mut SemanticReport,
    progress: &dyn Progress,
) -> Result<Vec<Option<Vec<f32>>>> {
    let prepared: Vec<Prepared> = pool.install(|| {
        files
            .par_iter()
            .map(|paths| prepare_any(model, paths, max_pixels))
            .collect()
    });
    let mut out = Vec::with_capacity(files.len());
    for outcome in model.embed_prepared(prepared)? {
        match outcome {
            Ok(vector) => {
                report.embedded += 1;
                out.push(Some(vector));
            }
            Err((path, reason)) => {
                progress.skipped(&path, &reason);
                report.skipped.push(Skipped {
                    path,
                    reason: reason.to_string(),
                    kind: reason,
                });
                out.push(None);
            }
        }
    }
    Ok(out)
}

/// A content's model input, or the file that failed and why.
type Prepared = std::result::Result<Vec<f32>, (PathBuf, SkipReason)>;

/// The model's input for a content, from the first of its files that decodes.
fn prepare_any(model: &Pretrained, paths: &[PathBuf], max_pixels: u64) -> Prepared {
    let mut last = None;
    for path in paths {
        match model.prepare_file(path, max_pixels) {
            Ok(pixels) => return Ok(pixels),
            Err(reason) => last = Some((path.clone(), reason)),
        }
    }
    Err(last.unwrap_or_else(|| {
        (
            PathBuf::new(),
            SkipReason::Unreadable("no file holds this content any more".into()),
        )
    }))
}

/// The `k` contents most similar to `query` (a unit vector of the model in `slot`), by
/// exact search over every vector, as paths with their cosine similarity. `offset` skips
/// the first results (paging).
pub fn nearest(
    index: &Index,
    slot: u8,
    query: &[f32],
    k: usize,
    offset: usize,
) -> Result<Vec<Neighbor>> {
    let store = index.store();
    let mut scored: Vec<(f32, Hash)> = Vec::new();
    for item in store.semantic_vectors(slot) {
        let (hash, v) = item?;
        if v.len() == query.len() {
            scored.push((crate::vector::dot(&v, query), hash));
        }
    }
    let want = (k + offset).min(scored.len());
    if want == 0 {
        return Ok(Vec::new());
    }
    scored.select_nth_unstable_by(want - 1, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(want);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::new();
    for (similarity, hash) in scored.into_iter().skip(offset) {
        for path in store.paths_of(&hash)? {
            out.push(Neighbor { path, similarity });
        }
    }
    Ok(out)
}
