//! Pretrained models beside the main one in a Milvus store: one collection per model
//! (`NAME__sem_` and the first 12 hex digits of its weights' hash), a row per file with the
//! model's image vector, its path, content hash and bucket. Filled after the main model's
//! rows by `index --model PRETRAINED --store`, searched by `search --store`.
//!
//! Like the copy descriptors' collection it follows the main one: rows of files the main
//! collection no longer holds (or holds with another content) are deleted, files without a
//! row are embedded; identical files are embedded once.

use super::{path_of_text, ClusterIndex, Shard};
use crate::error::{Error, Result};
use crate::index::milvus::{self, Milvus};
use crate::index::semantic::{embed_chunk, SemanticReport};
use crate::index::Neighbor;
use crate::ingest::decode;
use crate::model::pretrained::{Pretrained, PretrainedInfo};
use crate::progress::Progress;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Between a collection's name and a pretrained model's hash, in the name of the
/// collection of its vectors.
pub const SEMANTIC_INFIX: &str = "__sem_";

/// Contents decoded and embedded at a time.
const CHUNK: usize = 16;

/// A pretrained model whose vectors a collection holds, and the folder it was loaded from.
#[derive(Debug, Clone)]
pub struct HeldModel {
    pub info: PretrainedInfo,
    pub dir: PathBuf,
    /// Seconds since the Unix epoch when its collection was made.
    pub made: u64,
}

impl ClusterIndex {
    fn semantic_collection(&self, info: &PretrainedInfo) -> Milvus {
        let hash = info.weights_hash.get(..12).unwrap_or(&info.weights_hash);
        self.milvus
            .sibling(&format!("{}{SEMANTIC_INFIX}{hash}", self.url().collection))
    }

    /// The pretrained models the collection holds vectors of, oldest first.
    pub fn semantic_models(&self) -> Result<Vec<HeldModel>> {
        let prefix = format!("{}{SEMANTIC_INFIX}", self.url().collection);
        let mut held = Vec::new();
        for name in self.milvus.collections()? {
            if !name.starts_with(&prefix) {
                continue;
            }
            let about = self.milvus.sibling(&name).about()?;
            let info = about
                .get("pretrained")
                .and_then(|v| serde_json::from_value::<PretrainedInfo>(v.clone()).ok());
            if let (Some(info), Some(dir)) = (info, about.get("dir").and_then(Value::as_str)) {
                held.push(HeldModel {
                    info,
                    dir: PathBuf::from(dir),
                    made: about.get("made").and_then(Value::as_u64).unwrap_or(0),
                });
            }
        }
        held.sort_by_key(|m| m.made);
        Ok(held)
    }

    /// Embeds with the model `info` (loaded from `dir` by `load`, only if there is anything
    /// to embed) every file of `shard` the main collection holds and the model's collection
    /// does not, and deletes the model's rows of files the main collection no longer holds.
    #[allow(clippy::too_many_arguments)]
    pub fn update_semantic(
        &self,
        info: &PretrainedInfo,
        dir: &Path,
        load: impl FnOnce() -> Result<Pretrained>,
        shard: Shard,
        threads: usize,
        max_pixels: u64,
        interrupt: Option<Arc<AtomicBool>>,
        progress: &dyn Progress,
    ) -> Result<SemanticReport> {
        let start = Instant::now();
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let collection = self.semantic_collection(info);
        let made = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        collection.open_or_create_as(
            &info.id(),
            &info.weights_hash,
            info.dim,
            json!({ "pretrained": info, "dir": dir.to_string_lossy(), "made": made }),
        )?;
        collection.barrier(info.dim)?;
        let super::Following {
            missing,
            gone,
            present,
        } = self.follow(&collection, shard, &["path", "hash", "bucket"])?;
        collection.delete(&gone)?;
        // The files to embed, by content: one decode and one vector per content.
        let mut by_content: HashMap<&str, Vec<&Value>> = HashMap::new();
        for row in &missing {
            if let Some(hash) = row.get("hash").and_then(Value::as_str) {
                by_content.entry(hash).or_default().push(row);
            }
        }
        let mut missing: Vec<(&str, Vec<&Value>)> = by_content.into_iter().collect();
        missing.sort_by(|a, b| a.0.cmp(b.0));
        let mut report = SemanticReport {
            model: info.id(),
            present,
            ..SemanticReport::default()
        };
        if missing.is_empty() {
            // Whoever reads next sees the deletions.
            collection.barrier(info.dim)?;
            report.elapsed_s = start.elapsed().as_secs_f64();
            return Ok(report);
        }
        let model = load()?;
        let model = &model;
        progress.start(&format!("embedding with {}", info.name), missing.len());
        let pool = decode::decode_pool(threads);
        for chunk in missing.chunks(CHUNK) {
            if interrupt
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed))
            {
                report.interrupted = true;
                break;
            }
            let paths: Vec<Vec<PathBuf>> = chunk
                .iter()
                .map(|(_, rows)| {
                    rows.iter()
                        .filter_map(|r| r.get("path")?.as_str().map(path_of_text))
                        .collect()
                })
                .collect();
            let files: Vec<&[PathBuf]> = paths.iter().map(Vec::as_slice).collect();
            let vectors = embed_chunk(model, &files, &pool, max_pixels, &mut report, progress)?;
            let mut rows = Vec::new();
            for (vector, (_, files)) in vectors.into_iter().zip(chunk) {
                let Some(vector) = vector else { continue };
                for file in files {
                    rows.push(json!({
                        "vector": vector,
                        "path": file["path"],
                        "hash": file["hash"],
                        "bucket": file["bucket"],
                    }));
                }
            }
            collection.insert(&rows)?;
            progress.advance(chunk.len());
        }
        collection.barrier(info.dim)?;
        report.elapsed_s = start.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The `k` files whose vectors of `info` are most similar to `query` (a unit vector of
    /// that model), best first; files gone from disk are left out.
    pub fn semantic_nearest(
        &self,
        info: &PretrainedInfo,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<Neighbor>> {
        if query.len() != info.dim {
            return Err(Error::InvalidArgument(format!(
                "query vector has {} dimensions, {} has {}",
                query.len(),
                info.id(),
                info.dim
            )));
        }
        let collection = self.semantic_collection(info);
        let mut want = (k + 8).max(super::MIN_ASKED);
        loop {
            let hits = collection.search(query, want, "", &["path"])?;
            let total = hits.len();
            let out = super::neighbours_on_disk(&hits);
            if out.len() >= k || total < want || want >= milvus::QUERY_WINDOW {
                let mut out = out;
                out.truncate(k);
                return Ok(out);
            }
            want = (want * 2).min(milvus::QUERY_WINDOW);
        }
    }
}
