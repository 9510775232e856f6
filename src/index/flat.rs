//! The flat vector file `INDEX/vectors.flat`: every graph point's id, vector and graph
//! neighbours, written with the graph snapshot, memory-mapped for exact search by one-off
//! queries and for `dedup`'s self-join, neither of which then loads the graph.
//!
//! A fresh process that answers one query would spend most of its time loading the HNSW
//! graph (hnsw_rs parses it point by point: about a second per 100,000 points); scanning
//! the mapped vectors takes milliseconds at that size, and its results are exact. Like the
//! graph, the file is derived from sled: it is used only when its header names the store's
//! current generation and its size matches the count it declares; otherwise callers fall
//! back to the graph, which rewrites it.
//!
//! The neighbours of a row are its layer-0 links in the HNSW graph (the graph's own
//! approximate nearest neighbours, found while it was built), as rows of this file with their
//! similarity, best first: loading a million-point graph takes hnsw_rs about 17 s and 4.9 GB,
//! reading its links from here takes nothing.
//!
//! The vectors are stored part by part: a two-head model's query parts of every row, then
//! their copy parts (see [`Head`]), so that a search or `dedup`, which compare one head, read
//! (and keep in memory) only that head's part of the file: a third of the vectors for
//! `dedup` with the built-in model.
//!
//! Layout, little-endian: `b"LKFLAT03"`, generation `u64`, dimension `u32`, neighbours per
//! row `k` (`u32`), count `u64`, split `u32` (where the second part starts: the dimension
//! when there is one part), four zero bytes; then `count` ids (`u64`); then `count * split`
//! values (`f32`) of the first part, `count * (dimension - split)` of the second; then
//! `count * k` neighbours, each a row (`u32`, `u32::MAX` for none) and its similarity (`f32`).

use crate::error::{Error, Result};
use crate::model::Head;
use memmap2::Mmap;
use rayon::prelude::*;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "vectors.flat";
const MAGIC: &[u8; 8] = b"LKFLAT03";
/// Marks an unused neighbour slot.
const NO_ROW: u32 = u32::MAX;
const HEADER: usize = 40;

/// Path of the flat vector file inside an index folder.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// One point to write: its id, its vector and its graph neighbours as `(id, similarity)`.
pub struct FlatPoint<'a> {
    pub id: u64,
    pub vector: &'a [f32],
    pub neighbours: Vec<(u64, f32)>,
}

/// How the stored vectors are cut into parts: `dim` values, the second part from `split`
/// (a two-head model's copy head; `dim` when there is one part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub dim: usize,
    pub split: usize,
}

impl Parts {
    /// Vectors of `dim` values in one part.
    pub fn whole(dim: usize) -> Parts {
        Parts { dim, split: dim }
    }
}

/// Writes the file atomically (temporary file, fsync, rename). `points` is walked once per
/// section (ids, each part of the vectors, neighbours), so nothing is buffered beyond the
/// writer and the map from ids to rows; at most `k` neighbours are kept per point, the most
/// similar, and neighbours that are not points of the file are left out.
pub fn write<'a>(
    dir: &Path,
    generation: u64,
    parts: Parts,
    k: usize,
    count: usize,
    points: impl Iterator<Item = FlatPoint<'a>> + Clone,
) -> Result<()> {
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let io = |e| Error::io(&tmp, e);
    if count >= NO_ROW as usize {
        return Err(Error::InvalidArgument(format!(
            "{count} vectors are more than the flat vector file holds"
        )));
    }
    let Parts { dim, split } = parts;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(io)?);
    out.write_all(MAGIC).map_err(io)?;
    out.write_all(&generation.to_le_bytes()).map_err(io)?;
    out.write_all(&(dim as u32).to_le_bytes()).map_err(io)?;
    out.write_all(&(k as u32).to_le_bytes()).map_err(io)?;
    out.write_all(&(count as u64).to_le_bytes()).map_err(io)?;
    out.write_all(&(split as u32).to_le_bytes()).map_err(io)?;
    out.write_all(&[0; 4]).map_err(io)?;
    let mut rows = std::collections::HashMap::with_capacity(count);
    for p in points.clone() {
        out.write_all(&p.id.to_le_bytes()).map_err(io)?;
        rows.insert(p.id, rows.len() as u32);
    }
    assert_eq!(
        rows.len(),
        count,
        "flat file: point count (ids must be distinct)"
    );
    for part in [0..split, split..dim] {
        for p in points.clone() {
            assert_eq!(p.vector.len(), dim, "vector of another dimension");
            for x in &p.vector[part.clone()] {
                out.write_all(&x.to_le_bytes()).map_err(io)?;
            }
        }
    }
    for p in points {
        let mut links: Vec<(u32, f32)> = p
            .neighbours
            .iter()
            .filter(|(id, _)| *id != p.id)
            .filter_map(|(id, s)| rows.get(id).map(|&r| (r, *s)))
            .collect();
        links.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        links.truncate(k);
        links.resize(k, (NO_ROW, 0.0));
        for (row, s) in links {
            out.write_all(&row.to_le_bytes()).map_err(io)?;
            out.write_all(&s.to_le_bytes()).map_err(io)?;
        }
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let target = path(dir);
    std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    Ok(())
}

/// Moves the file from generation `from` to `to` (commits that changed no vector) by
/// rewriting the header in place: safe because the index lock keeps every other process
/// (and so every other mapping) out. A file not at `from` is removed instead.
pub fn restamp(dir: &Path, from: u64, to: u64) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let p = path(dir);
    let mut file = match std::fs::OpenOptions::new().read(true).write(true).open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&p, e)),
    };
    let mut header = [0u8; 16];
    let current = file.read_exact(&mut header).is_ok()
        && &header[..8] == MAGIC
        && u64::from_le_bytes(header[8..16].try_into().unwrap()) == from;
    if !current {
        drop(file);
        return remove(dir);
    }
    file.seek(SeekFrom::Start(8))
        .and_then(|_| file.write_all(&to.to_le_bytes()))
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io(&p, e))
}

/// Removes the file (when the graph snapshot goes).
pub fn remove(dir: &Path) -> Result<()> {
    let p = path(dir);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// The mapped file.
pub struct FlatVectors {
    map: Mmap,
    dim: usize,
    /// Where the second part of the vectors starts (`dim`: one part).
    split: usize,
    /// Neighbours per row.
    k: usize,
    count: usize,
}

impl FlatVectors {
    /// Maps the file if it exists, is for `generation` and vectors cut into `parts`, and has
    /// the size its header declares; `None` otherwise.
    pub fn open(dir: &Path, generation: u64, parts: Parts) -> Option<FlatVectors> {
        let Parts { dim, split } = parts;
        if cfg!(target_endian = "big") {
            return None;
        }
        let file = File::open(path(dir)).ok()?;
        // SAFETY: the file is only ever replaced by rename, never written in place, so the
        // mapped bytes do not change under us.
        let map = unsafe { Mmap::map(&file) }.ok()?;
        if map.len() < HEADER || &map[..8] != MAGIC {
            return None;
        }
        let u64_at = |at: usize| u64::from_le_bytes(map[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(map[at..at + 4].try_into().unwrap());
        let (file_dim, k) = (u32_at(16) as usize, u32_at(20) as usize);
        let count = usize::try_from(u64_at(24)).ok()?;
        let expected = count
            .checked_mul(8 + 4 * dim)
            .and_then(|b| b.checked_add(count.checked_mul(k)?.checked_mul(8)?))
            .and_then(|b| b.checked_add(HEADER))?;
        if u64_at(8) != generation
            || file_dim != dim
            || u32_at(32) as usize != split
            || map.len() != expected
        {
            return None;
        }
        Some(FlatVectors {
            map,
            dim,
            split,
            k,
            count,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The id of row `i`.
    pub fn id(&self, i: usize) -> u64 {
        let at = HEADER + 8 * i;
        u64::from_le_bytes(self.map[at..at + 8].try_into().unwrap())
    }

    /// `head`'s part of every row, one after the other.
    ///
    /// # Panics
    /// If the head is not one of the file's parts (a head of another model).
    fn part_rows(&self, head: Head) -> &[f32] {
        let (offset, len) = if head.start == 0 && head.len == self.split {
            (0, self.split)
        } else if head.start == self.split && head.start + head.len == self.dim {
            (self.count * self.split, self.dim - self.split)
        } else {
            panic!(
                "{head:?} is not a part of the flat file's vectors (split at {})",
                self.split
            )
        };
        &self.vectors()[offset..offset + self.count * len]
    }

    /// `head`'s part of the vector of row `i` (see [`Head::part`]).
    pub fn part(&self, i: usize, head: Head) -> &[f32] {
        &self.part_rows(head)[i * head.len..(i + 1) * head.len]
    }

    /// The graph neighbours of row `i` as `(row, similarity)`, most similar first (rows out
    /// of range, which only a damaged file holds, are left out: the map is never read whole).
    pub fn neighbours(&self, i: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let start = HEADER + self.count * (8 + 4 * self.dim) + i * self.k * 8;
        self.map[start..start + self.k * 8]
            .chunks_exact(8)
            .map(|b| {
                (
                    u32::from_le_bytes(b[..4].try_into().unwrap()),
                    f32::from_le_bytes(b[4..].try_into().unwrap()),
                )
            })
            .take_while(|&(row, _)| row != NO_ROW)
            .map(|(row, s)| (row as usize, s))
            .filter(|&(row, _)| row < self.count)
    }

    fn vectors(&self) -> &[f32] {
        let bytes = &self.map[HEADER + 8 * self.count..];
        // SAFETY: the map is page-aligned and the vectors start at a multiple of 4 bytes;
        // every bit pattern is a valid f32; the length was checked in `open`.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), self.count * self.dim) }
    }

    /// The `k` ids whose vectors are most similar to `query` by `head`'s cosine, best first
    /// (exact; values that are not finite are left out).
    pub fn search(&self, query: &[f32], head: Head, k: usize) -> Vec<(u64, f32)> {
        assert_eq!(query.len(), self.dim, "query of another dimension");
        if k == 0 || self.count == 0 {
            return Vec::new();
        }
        let query = head.part(query);
        let mut scores = vec![0f32; self.count];
        const CHUNK: usize = 4096;
        scores
            .par_chunks_mut(CHUNK)
            .zip(self.part_rows(head).par_chunks(CHUNK * head.len))
            .for_each(|(s, vs)| {
                for (s, v) in s.iter_mut().zip(vs.chunks_exact(head.len)) {
                    *s = head.part_similarity(query, v);
                }
            });
        let mut best: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|(_, s)| s.is_finite())
            .collect();
        if best.len() > k {
            best.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            best.truncate(k);
        }
        let mut hits: Vec<(u64, f32)> = best.into_iter().map(|(i, s)| (self.id(i), s)).collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::dot;

    fn points() -> Vec<(u64, Vec<f32>)> {
        (0..50u64)
            .map(|i| {
                let v: Vec<f32> = (0..8).map(|j| ((i * 7 + j) as f32 * 0.3).sin()).collect();
                (1000 + i, crate::vector::normalised(v).unwrap())
            })
            .collect()
    }

    /// The ids of every point but `id` by falling similarity to it, with their similarity.
    fn ranked(pts: &[(u64, Vec<f32>)], id: u64) -> Vec<(u64, f32)> {
        let v = &pts.iter().find(|p| p.0 == id).unwrap().1;
        let mut r: Vec<(u64, f32)> = pts
            .iter()
            .filter(|p| p.0 != id)
            .map(|p| (p.0, dot(v, &p.1)))
            .collect();
        r.sort_by(|a, b| b.1.total_cmp(&a.1));
        r
    }

    /// Writes [`points`] as generation `generation`, dimension 8, in a fresh folder, each with
    /// neighbours: itself, an id not in the file, and its 5 nearest points in no order.
    fn written(generation: u64) -> (tempfile::TempDir, Vec<(u64, Vec<f32>)>) {
        written_with(generation, 4)
    }

    /// [`written`] with `k` neighbours per row.
    fn written_with(generation: u64, k: usize) -> (tempfile::TempDir, Vec<(u64, Vec<f32>)>) {
        written_as(generation, k, Parts::whole(8))
    }

    /// [`written`] with `k` neighbours per row, for vectors cut into `parts`.
    fn written_as(
        generation: u64,
        k: usize,
        parts: Parts,
    ) -> (tempfile::TempDir, Vec<(u64, Vec<f32>)>) {
        let dir = tempfile::tempdir().unwrap();
        let pts = points();
        let iter = pts.iter().map(|(id, v)| {
            let mut neighbours = ranked(&pts, *id);
            neighbours.truncate(5);
            neighbours.reverse();
            neighbours.push((*id, 1.0));
            neighbours.insert(2, (99_999, 0.999));
            FlatPoint {
                id: *id,
                vector: v.as_slice(),
                neighbours,
            }
        });
        write(dir.path(), generation, parts, k, pts.len(), iter).unwrap();
        (dir, pts)
    }

    #[test]
    fn neighbours_are_rows_best_first_at_most_k() {
        // Not itself, not the unknown id: the k most similar of the 5 given, or all 5.
        for (k, kept) in [(4, 4), (8, 5)] {
            let (dir, pts) = written_with(7, k);
            let flat = FlatVectors::open(dir.path(), 7, Parts::whole(8)).expect("opens");
            for row in [0, 13, 49] {
                let id = flat.id(row);
                assert_eq!(flat.part(row, Head::whole(8)), pts[row].1.as_slice());
                let got: Vec<(u64, f32)> =
                    flat.neighbours(row).map(|(r, s)| (flat.id(r), s)).collect();
                assert_eq!(got, ranked(&pts, id)[..kept].to_vec(), "k {k}, row {row}");
            }
        }
    }

    #[test]
    fn written_file_is_searched_exactly() {
        let (dir, pts) = written(7);
        let flat = FlatVectors::open(dir.path(), 7, Parts::whole(8)).expect("opens");
        assert_eq!(flat.len(), 50);
        let query = &pts[13].1;
        let hits = flat.search(query, Head::whole(8), 5);
        let mut want: Vec<(u64, f32)> = pts.iter().map(|(id, v)| (*id, dot(query, v))).collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].0, 1013);
        for (h, w) in hits.iter().zip(&want) {
            assert_eq!(h.0, w.0);
            assert!((h.1 - w.1).abs() < 1e-6);
        }
        assert_eq!(flat.search(query, Head::whole(8), 500).len(), 50);
    }

    #[test]
    fn stale_short_or_foreign_files_are_not_used() {
        let empty = tempfile::tempdir().unwrap();
        assert!(
            FlatVectors::open(empty.path(), 1, Parts::whole(8)).is_none(),
            "missing"
        );
        let (dir, _) = written(3);
        assert!(
            FlatVectors::open(dir.path(), 4, Parts::whole(8)).is_none(),
            "other generation"
        );
        assert!(
            FlatVectors::open(dir.path(), 3, Parts::whole(16)).is_none(),
            "other dimension"
        );
        let bytes = std::fs::read(path(dir.path())).unwrap();
        std::fs::write(path(dir.path()), &bytes[..bytes.len() - 4]).unwrap();
        assert!(
            FlatVectors::open(dir.path(), 3, Parts::whole(8)).is_none(),
            "truncated"
        );
        let mut earlier = bytes.clone();
        earlier[..8].copy_from_slice(b"LKFLAT02");
        std::fs::write(path(dir.path()), &earlier).unwrap();
        assert!(
            FlatVectors::open(dir.path(), 3, Parts::whole(8)).is_none(),
            "the layout before parts (rewritten from the graph)"
        );
        std::fs::write(path(dir.path()), b"not a vector file at all, really").unwrap();
        assert!(
            FlatVectors::open(dir.path(), 3, Parts::whole(8)).is_none(),
            "garbage"
        );
        remove(dir.path()).unwrap();
        remove(dir.path()).unwrap();
        assert!(!path(dir.path()).exists());
    }

    #[test]
    fn restamping_moves_a_current_file_and_drops_a_stale_one() {
        let (dir, pts) = written(5);
        restamp(dir.path(), 5, 6).unwrap();
        assert!(FlatVectors::open(dir.path(), 5, Parts::whole(8)).is_none());
        let flat = FlatVectors::open(dir.path(), 6, Parts::whole(8)).expect("restamped");
        assert_eq!(flat.search(&pts[3].1, Head::whole(8), 1)[0].0, 1003);
        drop(flat);
        // Not at the generation the caller expected: removed, never trusted.
        restamp(dir.path(), 5, 7).unwrap();
        assert!(!path(dir.path()).exists());
        restamp(dir.path(), 7, 8).unwrap();
    }

    #[test]
    fn each_head_reads_its_own_part_of_a_two_head_file() {
        let (query, copy) = (
            Head {
                start: 0,
                len: 5,
                scale: 2.0,
            },
            Head {
                start: 5,
                len: 3,
                scale: 2.0,
            },
        );
        let parts = Parts { dim: 8, split: 5 };
        let (dir, pts) = written_as(9, 4, parts);
        assert!(
            FlatVectors::open(dir.path(), 9, Parts::whole(8)).is_none(),
            "other split"
        );
        let flat = FlatVectors::open(dir.path(), 9, parts).expect("opens");
        for row in [0, 21, 49] {
            assert_eq!(flat.part(row, query), &pts[row].1[..5]);
            assert_eq!(flat.part(row, copy), &pts[row].1[5..]);
        }
        for head in [query, copy] {
            let q = &pts[30].1;
            let mut want: Vec<(u64, f32)> = pts
                .iter()
                .map(|(id, v)| (*id, head.similarity(q, v)))
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let hits = flat.search(q, head, 6);
            assert_eq!(hits.len(), 6);
            for (h, w) in hits.iter().zip(&want) {
                assert_eq!(h.0, w.0, "{head:?}");
                assert!((h.1 - w.1).abs() < 1e-6);
            }
        }
    }
}
