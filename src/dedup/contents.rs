//! The contents `dedup` groups: each distinct content of the index (one vector) with the
//! files that hold it, read from the store, files gone from disk left out, and each
//! content's files in keeper order (references first, then as the policy prefers).

use super::{DedupOptions, Keep};
use crate::error::Result;
use crate::index::store::{FileRecord, Hash};
use crate::index::Index;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub(super) struct Content {
    pub(super) id: u64,
    pub(super) hash: Hash,
    pub(super) width: u32,
    pub(super) height: u32,
    /// Paths with their records and whether each is a reference, keeper candidate first.
    pub(super) files: Vec<(PathBuf, FileRecord, bool)>,
}

impl Content {
    pub(super) fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
    pub(super) fn oldest(&self) -> i64 {
        self.files.iter().map(|f| f.1.mtime_ns).min().unwrap_or(0)
    }
    pub(super) fn newest(&self) -> i64 {
        self.files.iter().map(|f| f.1.mtime_ns).max().unwrap_or(0)
    }
    pub(super) fn size(&self) -> u64 {
        self.files.first().map_or(0, |f| f.1.size)
    }
    pub(super) fn reference(&self) -> bool {
        self.files.iter().any(|f| f.2)
    }
    pub(super) fn first_path(&self) -> &Path {
        &self.files[0].0
    }
}

pub(super) fn path_len(p: &Path) -> usize {
    p.as_os_str().len()
}

/// Order of files with the same bytes: references first, then as the policy prefers.
fn file_order(
    keep: Keep,
    a: &(PathBuf, FileRecord, bool),
    b: &(PathBuf, FileRecord, bool),
) -> Ordering {
    let by_policy = match keep {
        Keep::Newest => b.1.mtime_ns.cmp(&a.1.mtime_ns),
        Keep::ShortestPath => path_len(&a.0).cmp(&path_len(&b.0)),
        Keep::Best | Keep::Largest | Keep::Oldest => a.1.mtime_ns.cmp(&b.1.mtime_ns),
    };
    b.2.cmp(&a.2)
        .then(by_policy)
        .then(path_len(&a.0).cmp(&path_len(&b.0)))
        .then(a.0.cmp(&b.0))
}

/// Every content of `index` that a file on disk still holds, with its files in keeper order.
pub(super) fn load(index: &Index, opts: &DedupOptions) -> Result<Vec<Content>> {
    let is_reference = |p: &Path| opts.references.iter().any(|r| p.starts_with(r));
    // Files grouped by content.
    let mut by_hash: HashMap<Hash, Vec<(PathBuf, FileRecord, bool)>> = HashMap::new();
    for item in index.store().files() {
        let (path, rec) = item?;
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let reference = is_reference(&path);
        by_hash
            .entry(rec.hash)
            .or_default()
            .push((path, rec, reference));
    }
    let mut contents: Vec<Content> = Vec::with_capacity(by_hash.len());
    for item in index.store().contents() {
        let (hash, rec) = item?;
        let Some(mut files) = by_hash.remove(&hash) else {
            continue;
        };
        files.sort_by(|a, b| file_order(opts.keep, a, b));
        contents.push(Content {
            id: rec.id,
            hash,
            width: rec.width,
            height: rec.height,
            files,
        });
    }
    Ok(contents)
}
