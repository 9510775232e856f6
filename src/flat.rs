//! The flat vector file `INDEX/vectors.flat`: every graph point's id and vector, written
//! with the graph snapshot, memory-mapped for exact search by one-off queries.
//!
//! A fresh process that answers one query would spend most of its time loading the HNSW
//! graph (hnsw_rs parses it point by point: about a second per 100,000 points); scanning
//! the mapped vectors takes milliseconds at that size, and its results are exact. Like the
//! graph, the file is derived from sled: it is used only when its header names the store's
//! current generation and its size matches the count it declares; otherwise callers fall
//! back to the graph, which rewrites it.
//!
//! Layout, little-endian: `b"LKFLAT01"`, generation `u64`, dimension `u32`, 4 zero bytes,
//! count `u64`; then `count` ids (`u64`); then `count * dimension` values (`f32`).

use crate::error::{Error, Result};
use crate::model::kernels::dot;
use memmap2::Mmap;
use rayon::prelude::*;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "vectors.flat";
const MAGIC: &[u8; 8] = b"LKFLAT01";
const HEADER: usize = 32;

/// Path of the flat vector file inside an index folder.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Writes the file atomically (temporary file, fsync, rename); `points` yields `(id, vector)`
/// and is walked twice (ids, then vectors), so nothing is buffered beyond the writer.
pub fn write<'a>(
    dir: &Path,
    generation: u64,
    dim: usize,
    count: usize,
    points: impl Iterator<Item = (u64, &'a [f32])> + Clone,
) -> Result<()> {
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let io = |e| Error::io(&tmp, e);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(io)?);
    out.write_all(MAGIC).map_err(io)?;
    out.write_all(&generation.to_le_bytes()).map_err(io)?;
    out.write_all(&(dim as u32).to_le_bytes()).map_err(io)?;
    out.write_all(&[0; 4]).map_err(io)?;
    out.write_all(&(count as u64).to_le_bytes()).map_err(io)?;
    let mut written = 0;
    for (id, _) in points.clone() {
        out.write_all(&id.to_le_bytes()).map_err(io)?;
        written += 1;
    }
    assert_eq!(written, count, "flat file: point count");
    for (_, v) in points {
        assert_eq!(v.len(), dim, "vector of another dimension");
        for x in v {
            out.write_all(&x.to_le_bytes()).map_err(io)?;
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
    count: usize,
}

impl FlatVectors {
    /// Maps the file if it exists, is for `generation` and `dim`, and has the size its header
    /// declares; `None` otherwise.
    pub fn open(dir: &Path, generation: u64, dim: usize) -> Option<FlatVectors> {
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
        let file_dim = u32::from_le_bytes(map[16..20].try_into().unwrap()) as usize;
        let count = usize::try_from(u64_at(24)).ok()?;
        let expected = count
            .checked_mul(8 + 4 * dim)
            .and_then(|b| b.checked_add(HEADER))?;
        if u64_at(8) != generation || file_dim != dim || map.len() != expected {
            return None;
        }
        Some(FlatVectors { map, dim, count })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn id(&self, i: usize) -> u64 {
        let at = HEADER + 8 * i;
        u64::from_le_bytes(self.map[at..at + 8].try_into().unwrap())
    }

    fn vectors(&self) -> &[f32] {
        let bytes = &self.map[HEADER + 8 * self.count..];
        // SAFETY: the map is page-aligned and the vectors start at a multiple of 4 bytes;
        // every bit pattern is a valid f32; the length was checked in `open`.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), self.count * self.dim) }
    }

    /// The `k` ids with the highest dot product with `query`, best first (exact; values
    /// that are not finite are left out).
    pub fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        assert_eq!(query.len(), self.dim, "query of another dimension");
        if k == 0 || self.count == 0 {
            return Vec::new();
        }
        let mut scores = vec![0f32; self.count];
        const CHUNK: usize = 4096;
        scores
            .par_chunks_mut(CHUNK)
            .zip(self.vectors().par_chunks(CHUNK * self.dim))
            .for_each(|(s, vs)| {
                for (s, v) in s.iter_mut().zip(vs.chunks_exact(self.dim)) {
                    *s = dot(query, v);
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

    fn points() -> Vec<(u64, Vec<f32>)> {
        (0..50u64)
            .map(|i| {
                let v: Vec<f32> = (0..8).map(|j| ((i * 7 + j) as f32 * 0.3).sin()).collect();
                (1000 + i, crate::model::normalised(v).unwrap())
            })
            .collect()
    }

    /// Writes [`points`] as generation `generation`, dimension 8, in a fresh folder.
    fn written(generation: u64) -> (tempfile::TempDir, Vec<(u64, Vec<f32>)>) {
        let dir = tempfile::tempdir().unwrap();
        let pts = points();
        let iter = pts.iter().map(|(id, v)| (*id, v.as_slice()));
        write(dir.path(), generation, 8, pts.len(), iter).unwrap();
        (dir, pts)
    }

    #[test]
    fn written_file_is_searched_exactly() {
        let (dir, pts) = written(7);
        let flat = FlatVectors::open(dir.path(), 7, 8).expect("opens");
        assert_eq!(flat.len(), 50);
        let query = &pts[13].1;
        let hits = flat.search(query, 5);
        let mut want: Vec<(u64, f32)> = pts.iter().map(|(id, v)| (*id, dot(query, v))).collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].0, 1013);
        for (h, w) in hits.iter().zip(&want) {
            assert_eq!(h.0, w.0);
            assert!((h.1 - w.1).abs() < 1e-6);
        }
        assert_eq!(flat.search(query, 500).len(), 50);
    }

    #[test]
    fn stale_short_or_foreign_files_are_not_used() {
        let empty = tempfile::tempdir().unwrap();
        assert!(FlatVectors::open(empty.path(), 1, 8).is_none(), "missing");
        let (dir, _) = written(3);
        assert!(
            FlatVectors::open(dir.path(), 4, 8).is_none(),
            "other generation"
        );
        assert!(
            FlatVectors::open(dir.path(), 3, 16).is_none(),
            "other dimension"
        );
        let bytes = std::fs::read(path(dir.path())).unwrap();
        std::fs::write(path(dir.path()), &bytes[..bytes.len() - 4]).unwrap();
        assert!(FlatVectors::open(dir.path(), 3, 8).is_none(), "truncated");
        std::fs::write(path(dir.path()), b"not a vector file at all, really").unwrap();
        assert!(FlatVectors::open(dir.path(), 3, 8).is_none(), "garbage");
        remove(dir.path()).unwrap();
        remove(dir.path()).unwrap();
        assert!(!path(dir.path()).exists());
    }

    #[test]
    fn restamping_moves_a_current_file_and_drops_a_stale_one() {
        let (dir, pts) = written(5);
        restamp(dir.path(), 5, 6).unwrap();
        assert!(FlatVectors::open(dir.path(), 5, 8).is_none());
        let flat = FlatVectors::open(dir.path(), 6, 8).expect("restamped");
        assert_eq!(flat.search(&pts[3].1, 1)[0].0, 1003);
        drop(flat);
        // Not at the generation the caller expected: removed, never trusted.
        restamp(dir.path(), 5, 7).unwrap();
        assert!(!path(dir.path()).exists());
        restamp(dir.path(), 7, 8).unwrap();
    }
}
