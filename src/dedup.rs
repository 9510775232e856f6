//! Duplicate grouping: exact copies (same content hash) and near-duplicates (embedding
//! similarity at or above a threshold), found by searching the HNSW graph from every image
//! (a self-join), never by comparing all pairs.
//!
//! Groups never chain: every member is similar to the group's keeper, not merely to another
//! member. Keepers are chosen first by resolution, then file size, then age.

use crate::error::Result;
use crate::index::Index;
use crate::store::{FileRecord, Hash};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// Default near-duplicate threshold (cosine similarity): the embedded encoder's threshold at
/// precision 0.99 in `lookalike eval copies` (see README, "Choosing the threshold").
pub const DEFAULT_THRESHOLD: f32 = 0.94;
/// Neighbours examined per image.
const NEIGHBOURS: usize = 32;

/// Exact copies only, or also near-duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// Every member has the same bytes.
    Exact,
    /// At least one member differs in content but is similar to the keeper.
    Near,
}

/// One file of a group.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub path: PathBuf,
    /// Cosine similarity to the keeper (1 for the keeper and its exact copies).
    pub similarity: f32,
    /// Same bytes as the keeper.
    pub exact: bool,
    pub keeper: bool,
    pub width: u32,
    pub height: u32,
    pub size: u64,
}

/// A duplicate group; `members[0]` is the keeper.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub kind: GroupKind,
    pub members: Vec<Member>,
}

struct Content {
    hash: Hash,
    id: u64,
    width: u32,
    height: u32,
    /// Paths with their records, best keeper candidate first.
    files: Vec<(PathBuf, FileRecord)>,
}

impl Content {
    fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
    fn oldest(&self) -> i64 {
        self.files
            .iter()
            .map(|(_, r)| r.mtime_ns)
            .min()
            .unwrap_or(i64::MAX)
    }
    fn size(&self) -> u64 {
        self.files.first().map_or(0, |(_, r)| r.size)
    }
}

/// Finds duplicate groups at `threshold`.
pub fn find_duplicates(index: &mut Index, threshold: f32) -> Result<Vec<Group>> {
    // Files grouped by content.
    let mut by_hash: HashMap<Hash, Vec<(PathBuf, FileRecord)>> = HashMap::new();
    for item in index.store().files() {
        let (path, rec) = item?;
        by_hash.entry(rec.hash).or_default().push((path, rec));
    }
    let mut contents: Vec<Content> = Vec::with_capacity(by_hash.len());
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(by_hash.len());
    for item in index.store().contents() {
        let (hash, rec) = item?;
        let Some(mut files) = by_hash.remove(&hash) else {
            continue;
        };
        // Keeper among identical files: oldest, then shortest path, then name.
        files.sort_by(|a, b| {
            a.1.mtime_ns
                .cmp(&b.1.mtime_ns)
                .then(a.0.as_os_str().len().cmp(&b.0.as_os_str().len()))
                .then(a.0.cmp(&b.0))
        });
        contents.push(Content {
            hash,
            id: rec.id,
            width: rec.width,
            height: rec.height,
            files,
        });
        vectors.push(rec.vector);
    }

    // Self-join through the graph: similar pairs above the threshold, in both directions.
    let position: HashMap<u64, usize> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let graph = index.graph()?;
    let pairs: Vec<Vec<(usize, usize, f32)>> = vectors
        .par_iter()
        .enumerate()
        .map(|(i, v)| {
            graph
                .search(v, NEIGHBOURS, 2 * NEIGHBOURS)
                .into_iter()
                .filter(|h| h.similarity >= threshold)
                .filter_map(|h| position.get(&h.id).map(|&j| (i, j, h.similarity)))
                .filter(|&(i, j, _)| i != j)
                .collect()
        })
        .collect();
    let mut similar: Vec<HashMap<usize, f32>> = vec![HashMap::new(); contents.len()];
    for (i, j, s) in pairs.into_iter().flatten() {
        similar[i].insert(j, s);
        similar[j].insert(i, s);
    }

    // Keepers in order of preference; each takes the unassigned images similar to it.
    let mut order: Vec<usize> = (0..contents.len()).collect();
    order.sort_by(|&a, &b| {
        let (ca, cb) = (&contents[a], &contents[b]);
        cb.pixels()
            .cmp(&ca.pixels())
            .then(cb.size().cmp(&ca.size()))
            .then(ca.oldest().cmp(&cb.oldest()))
            .then(ca.files[0].0.cmp(&cb.files[0].0))
    });
    let mut assigned = vec![false; contents.len()];
    let mut groups = Vec::new();
    for &k in &order {
        if assigned[k] {
            continue;
        }
        assigned[k] = true;
        let mut others: Vec<(usize, f32)> = similar[k]
            .iter()
            .filter(|(j, _)| !assigned[**j])
            .map(|(j, s)| (*j, *s))
            .collect();
        others.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (j, _) in &others {
            assigned[*j] = true;
        }
        if others.is_empty() && contents[k].files.len() < 2 {
            continue;
        }
        let kind = if others.is_empty() {
            GroupKind::Exact
        } else {
            GroupKind::Near
        };
        let keeper = &contents[k];
        let mut members = Vec::new();
        for (n, (path, rec)) in keeper.files.iter().enumerate() {
            members.push(member(keeper, path, rec, 1.0, true, n == 0));
        }
        for (j, s) in others {
            let c = &contents[j];
            for (path, rec) in &c.files {
                members.push(member(
                    c,
                    path,
                    rec,
                    s.min(1.0),
                    c.hash == keeper.hash,
                    false,
                ));
            }
        }
        groups.push(Group { kind, members });
    }
    groups.sort_by(|a, b| a.members[0].path.cmp(&b.members[0].path));
    Ok(groups)
}

fn member(
    c: &Content,
    path: &std::path::Path,
    rec: &FileRecord,
    similarity: f32,
    exact: bool,
    keeper: bool,
) -> Member {
    Member {
        path: path.to_path_buf(),
        similarity,
        exact,
        keeper,
        width: c.width,
        height: c.height,
        size: rec.size,
    }
}
