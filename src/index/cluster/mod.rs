//! An index kept in a Milvus collection ([`super::milvus`]) instead of the embedded sled
//! store and graph: for collections past one machine, filled by many workers at once.
//!
//! One row per indexed file: the query head's descriptor as the row's vector, and as
//! dynamic fields the path, size, modification time, content hash, picture size, the copy
//! head's descriptor (two-head models) and the path's `bucket` (a stable hash of the
//! path, 0 to 65,535). A worker given `--shard K/N` indexes the files whose bucket is
//! K - 1 modulo N, and only reads and removes rows of those buckets, so that N workers
//! never touch each other's rows and together make the collection one worker would.
//!
//! Review decisions on duplicate groups live in a collection of their own beside it
//! ([`review`]), as the folder keeps them outside its generation.
//!
//! Invariants: the collection is the source of truth (no file record is kept beside it); a row is
//! written whole by one insert; a file's new row is inserted before its old one is deleted,
//! so that a worker killed at any point loses no record, and the next run deletes the
//! older rows of a path written twice; a run starts by waiting until every earlier write is
//! visible (Milvus shows writes to reads after a short delay) and ends when its own are.
//! Identical files each have their row (their descriptors are copied, not recomputed).

use super::milvus::{self, Milvus, StoreUrl, BUCKETS};
use super::pipeline::{self, IndexOptions, IndexReport, Outcome, Work};
use super::records::{path_bytes, path_from_bytes, ContentRecord, FileRecord, Hash};
use super::Lookup;
use super::Neighbor;
use crate::error::{Error, Result};
use crate::ingest::decode::{self, DecodeOptions};
use crate::ingest::scan;
use crate::ingest::thumbnail::Thumbnail;
use crate::model::{Encoder, ModelInfo, Task};
use crate::problem::SkipReason;
use crate::progress::Progress;
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

mod check;
mod review;
mod semantic;

pub use review::REVIEW_SUFFIX;
pub use semantic::{HeldModel, SEMANTIC_INFIX};

/// The suffix of the collection of copy descriptors beside a collection.
pub const COPIES_SUFFIX: &str = "__copy";

/// The fewest rows a search asks for: Milvus's HNSW search explores as many candidates as
/// it is asked for, and asking for 18 found 97.3 % of the true top-10 of 200,000 pictures,
/// asking for 64 all of them (docs/scale.md).
const MIN_ASKED: usize = 64;

/// The fields of a row that describe its file (everything but the descriptors).
const FILE_FIELDS: [&str; 7] = ["path", "size", "mtime", "hash", "w", "h", "bucket"];

/// One worker's part of the files: `K/N`, the K-th of N (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl std::str::FromStr for Shard {
    type Err = Error;

    fn from_str(text: &str) -> Result<Shard> {
        let bad = || {
            Error::InvalidArgument(format!(
                "shard {text:?}: expected K/N with 1 <= K <= N <= {BUCKETS}"
            ))
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || k > n || n > BUCKETS {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// The whole collection: one worker.
    pub const ALL: Shard = Shard { k: 1, n: 1 };

    fn owns(&self, bucket: u32) -> bool {
        bucket % self.n == self.k - 1
    }

    /// Milvus's filter for the shard's rows (empty: every row).
    fn filter(&self) -> String {
        if self.n == 1 {
            String::new()
        } else {
            format!("bucket % {} == {}", self.n, self.k - 1)
        }
    }
}

/// The bucket of a path: the first four bytes of the BLAKE3 hash of its bytes, modulo
/// [`BUCKETS`]. Stable across machines and versions.
pub fn bucket_of(path: &Path) -> u32 {
    let hash = blake3::hash(&path_bytes(path));
    let b = hash.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) % BUCKETS
}

/// A path as a row holds it: the text itself, or `b64:` and its bytes in base64 when it is
/// not UTF-8 (a path is absolute, so it never starts so).
fn path_text(path: &Path) -> String {
    let bytes = path_bytes(path);
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            use base64::Engine;
            format!(
                "b64:{}",
                base64::engine::general_purpose::STANDARD.encode(e.into_bytes())
            )
        }
    }
}

fn path_of_text(text: &str) -> PathBuf {
    use base64::Engine;
    match text.strip_prefix("b64:").map(|b| {
        base64::engine::general_purpose::STANDARD
            .decode(b)
            .unwrap_or_default()
    }) {
        Some(bytes) => path_from_bytes(&bytes),
        None => PathBuf::from(text),
    }
}

fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Hash> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A row's file, as read back.
#[derive(Debug, Clone)]
struct RowFile {
    pk: i64,
    path: PathBuf,
    record: FileRecord,
}

impl RowFile {
    fn of(row: &Value) -> Option<RowFile> {
        Some(RowFile {
            pk: milvus::primary_key(row)?,
            path: path_of_text(row.get("path")?.as_str()?),
            record: FileRecord {
                size: row.get("size")?.as_u64()?,
                // Text: Milvus keeps a dynamic field's numbers as doubles, which would round
                // nanoseconds (rows of before 2026-12-07 hold a number, and are rewritten once).
                mtime_ns: match row.get("mtime")? {
                    Value::String(text) => text.parse().ok()?,
                    number => number.as_i64()?,
                },
                hash: unhex(row.get("hash")?.as_str()?)?,
            },
        })
    }
}

/// A content's row fields beside its file's: picture size and descriptors.
#[derive(Debug, Clone)]
struct RowContent {
    width: u32,
    height: u32,
    vector: Vec<f32>,
    copy: Option<Vec<f32>>,
}

/// A JSON array of numbers as floats.
fn floats(v: &Value) -> Option<Vec<f32>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect()
}

impl RowContent {
    fn of(row: &Value) -> Option<RowContent> {
        Some(RowContent {
            width: row.get("w")?.as_u64()? as u32,
            height: row.get("h")?.as_u64()? as u32,
            vector: floats(row.get("vector")?)?,
            copy: row.get("copy").and_then(floats),
        })
    }
}

/// A follower collection against the main one ([`ClusterIndex::follow`]).
struct Following {
    /// Main rows it has no row of.
    missing: Vec<Value>,
    /// Primary keys of its rows no main row calls for (a file's second row included).
    gone: Vec<i64>,
    /// Main rows it has a row of.
    present: usize,
}

/// A row's file as a follower collection keys it: path text and content hash text.
fn row_key(row: &Value) -> Option<(String, String)> {
    Some((
        row.get("path")?.as_str()?.to_string(),
        row.get("hash")?.as_str()?.to_string(),
    ))
}

/// The row of a file: its record, its content's descriptors, and its bucket.
fn file_row(path: &Path, record: &FileRecord, content: &RowContent) -> Value {
    let mut row = json!({
        "vector": content.vector,
        "path": path_text(path),
        "size": record.size,
        "mtime": record.mtime_ns.to_string(),
        "hash": hex(&record.hash),
        "w": content.width,
        "h": content.height,
        "bucket": bucket_of(path),
    });
    if let Some(copy) = &content.copy {
        row["copy"] = json!(copy);
    }
    row
}

/// What `info` says of an index in a Milvus collection.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterStats {
    pub store: String,
    /// The model whose vectors the collection holds (`name@hash`), and their dimension.
    pub model: String,
    pub dim: u64,
    /// Rows: files indexed by every worker.
    pub files: u64,
    /// Rows of the copy descriptors' collection (two-head models).
    pub copy_rows: Option<u64>,
}

/// The figures of the collection of `url`, whatever model made it.
pub fn stats(url: &StoreUrl) -> Result<ClusterStats> {
    let milvus = Milvus::connect(url)?;
    let about = milvus.about()?;
    let copies = milvus.sibling(&format!("{}{COPIES_SUFFIX}", url.collection));
    let copy_rows = match copies.about() {
        Ok(_) => Some(copies.count("bucket >= 0")?),
        Err(_) => None,
    };
    Ok(ClusterStats {
        store: url.to_string(),
        model: about["model"].as_str().unwrap_or("?").to_string(),
        dim: about["dim"].as_u64().unwrap_or(0),
        files: milvus.count("bucket >= 0")?,
        copy_rows,
    })
}

/// An index in a Milvus collection.
pub struct ClusterIndex {
    milvus: Milvus,
    /// A two-head model's copy descriptors as vectors of their own, to be searched by
    /// (`NAME__copy`): derived from the main collection's rows.
    copies: Option<Milvus>,
    model: ModelInfo,
    /// The review decisions (`NAME__review`), read on first use.
    review: Mutex<Option<review::ReviewRows>>,
}

impl ClusterIndex {
    /// Opens the collection of `url` for `model`, making it if it does not exist.
    pub fn open_or_create(url: &StoreUrl, model: &ModelInfo) -> Result<ClusterIndex> {
        ClusterIndex::connect(url, model, true)
    }

    /// Opens the existing collection of `url`, refusing one of another model.
    pub fn open(url: &StoreUrl, model: &ModelInfo) -> Result<ClusterIndex> {
        ClusterIndex::connect(url, model, false)
    }

    fn connect(url: &StoreUrl, model: &ModelInfo, create: bool) -> Result<ClusterIndex> {
        let milvus = Milvus::connect(url)?;
        let dim = model.head(Task::Query).len;
        if create {
            milvus.open_or_create(model, dim)?;
        } else {
            milvus.open(model, dim)?;
        }
        let copies = if model.has_two_heads() {
            let copies = milvus.sibling(&format!("{}{COPIES_SUFFIX}", url.collection));
            // Derived: made whenever it is missing, even by a reader.
            copies.open_or_create(model, model.copy_dim)?;
            Some(copies)
        } else {
            None
        };
        Ok(ClusterIndex {
            milvus,
            copies,
            model: model.clone(),
            review: Mutex::new(None),
        })
    }

    pub fn url(&self) -> &StoreUrl {
        self.milvus.url()
    }

    /// The dimension of the rows' vectors (the query head's).
    fn dim(&self) -> usize {
        self.model.head(Task::Query).len
    }

    /// The rows of a shard's files, the newest row of each path (older rows of a path
    /// written twice by a killed run are returned apart, to be deleted).
    fn shard_files(&self, shard: Shard) -> Result<(HashMap<PathBuf, RowFile>, Vec<i64>)> {
        let mut latest: HashMap<PathBuf, RowFile> = HashMap::new();
        let mut stale = Vec::new();
        for row in self.milvus.list(&shard.filter(), &FILE_FIELDS)? {
            let Some(file) = RowFile::of(&row) else {
                continue;
            };
            match latest.get(&file.path) {
                Some(old) if old.pk > file.pk => stale.push(file.pk),
                Some(old) => {
                    stale.push(old.pk);
                    latest.insert(file.path.clone(), file);
                }
                None => {
                    latest.insert(file.path.clone(), file);
                }
            }
        }
        Ok((latest, stale))
    }

    /// The picture size and descriptors of the row `pk`.
    fn content_of(&self, pk: i64) -> Result<Option<RowContent>> {
        let rows = self
            .milvus
            .query(&format!("id == {pk}"), &["w", "h", "vector", "copy"], 1)?;
        Ok(rows.first().and_then(RowContent::of))
    }

    /// The descriptors a row keeps of a stored vector: the query head's part, and the copy
    /// head's for a two-head model.
    fn descriptors(&self, vector: &[f32]) -> (Vec<f32>, Option<Vec<f32>>) {
        let query = self.model.head(Task::Query).unit(vector).into_owned();
        let copy = self
            .model
            .has_two_heads()
            .then(|| self.model.head(Task::Copy).unit(vector).into_owned());
        (query, copy)
    }

    /// Every indexed file (the newest row of each path) and every content as `(hash, id,
    /// width, height)`, in hash order; a content's id is its place in that order.
    #[allow(clippy::type_complexity)]
    pub fn files_and_contents(
        &self,
    ) -> Result<(Vec<(PathBuf, FileRecord)>, Vec<(Hash, u64, u32, u32)>)> {
        let latest = newest_described(&self.milvus.list("", &FILE_FIELDS)?, |_| true);
        let mut sizes: HashMap<Hash, (u32, u32)> = HashMap::new();
        let mut files = Vec::with_capacity(latest.len());
        for (path, (record, w, h)) in latest {
            sizes.insert(record.hash, (w, h));
            files.push((path, record));
        }
        files.sort_by_key(|f| path_bytes(&f.0));
        let mut contents: Vec<(Hash, u32, u32)> = sizes
            .into_iter()
            .map(|(hash, (w, h))| (hash, w, h))
            .collect();
        contents.sort_by_key(|c| c.0);
        let contents = contents
            .into_iter()
            .enumerate()
            .map(|(id, (hash, w, h))| (hash, id as u64, w, h))
            .collect();
        Ok((files, contents))
    }

    /// The copy head's unit descriptor of every content.
    pub fn copy_vectors(&self) -> Result<HashMap<Hash, Vec<f32>>> {
        let collection = self.copies.as_ref().unwrap_or(&self.milvus);
        let mut out = HashMap::new();
        // A page at a time: rows as JSON take ten times the room of their floats.
        collection.list_each("", &["hash", "vector"], |rows| {
            for row in rows {
                let Some(hash) = row.get("hash").and_then(Value::as_str).and_then(unhex) else {
                    continue;
                };
                if let Some(v) = row.get("vector").and_then(floats) {
                    out.insert(hash, v);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The contents of the files at cosine `floor` or more from a copy-head unit
    /// descriptor (a range search), with their cosine, best first: all of them when fewer
    /// than `limit` are, else the `limit` nearest.
    pub fn copy_neighbours(
        &self,
        unit: &[f32],
        floor: f32,
        limit: usize,
    ) -> Result<Vec<(Hash, f32)>> {
        let collection = self.copies.as_ref().unwrap_or(&self.milvus);
        let mut rows = collection.search_within(unit, floor, limit, &["hash"])?;
        if rows.is_empty() {
            // Milvus 2.3.5 now and then answers a range search with no rows at all (seen
            // at 200,000 rows, after a long run of searches: 3 planted pairs of 1,000
            // missed). A stored descriptor always finds itself, so an empty answer is
            // asked again as a top-k search, cut at the floor here.
            rows = collection.search(unit, limit, "", &["hash"])?;
        }
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some((
                    unhex(row.get("hash")?.as_str()?)?,
                    row.get("distance")?.as_f64()? as f32,
                ))
            })
            .filter(|&(_, cosine)| cosine >= floor)
            .collect())
    }

    /// A row's descriptors as the index folder stores a vector: the query head's alone, or
    /// for a two-head model both halves, each scaled to length 1/sqrt 2 ([`crate::model::Head`]).
    fn stored_layout(&self, content: &RowContent) -> Vec<f32> {
        match &content.copy {
            Some(copy) if self.model.has_two_heads() => {
                let k = std::f32::consts::FRAC_1_SQRT_2;
                content.vector.iter().chain(copy).map(|x| x * k).collect()
            }
            _ => content.vector.clone(),
        }
    }

    /// Indexes the files of `roots` that belong to `shard`, incrementally: unchanged files
    /// (same size and modification time as their row) are not opened, identical files are
    /// not embedded again, rows of files gone from the roots are deleted. Each batch of new
    /// rows is one insert per 500 rows; a killed run is finished by the next.
    pub fn update(
        &self,
        encoder: &Encoder,
        roots: &[PathBuf],
        shard: Shard,
        opts: &IndexOptions,
        progress: &dyn Progress,
    ) -> Result<IndexReport> {
        let start = Instant::now();
        if encoder.info() != &self.model {
            return Err(Error::StoreModelMismatch {
                collection: self.url().to_string(),
                store_model: self.model.id(),
                current_model: encoder.info().id(),
            });
        }
        let mut report = IndexReport::default();
        let scan = scan::scan(roots, opts.scan)?;
        let files: Vec<&scan::FoundFile> = scan
            .files
            .iter()
            .filter(|f| shard.owns(bucket_of(&f.path)))
            .collect();
        report.scanned = files.len();
        for (path, reason) in &scan.problems {
            pipeline::skip(&mut report, progress, path, reason.clone());
        }
        // What an earlier run wrote, killed or not, must be seen before it is listed.
        self.milvus.barrier(self.dim())?;
        let (rows, stale) = self.shard_files(shard)?;
        self.milvus.delete(&stale)?;

        // Contents this shard already holds: a file with one of them is not decoded.
        let held: HashMap<Hash, i64> = rows.values().map(|r| (r.record.hash, r.pk)).collect();
        let named: HashSet<&Path> = scan.roots.iter().map(PathBuf::as_path).collect();
        let mut work = Vec::new();
        for file in &files {
            let old = rows.get(&file.path).map(|r| r.record.clone());
            match &old {
                Some(r) if r.size == file.size && r.mtime_ns == file.mtime_ns => {
                    report.unchanged += 1
                }
                _ => work.push(Work {
                    file,
                    old,
                    named: named.contains(file.path.as_path()),
                }),
            }
        }
        let found: HashSet<&Path> = files.iter().map(|f| f.path.as_path()).collect();
        let vanished: Vec<&RowFile> = rows
            .values()
            .filter(|r| scan.roots.iter().any(|root| r.path.starts_with(root)))
            .filter(|r| !found.contains(r.path.as_path()))
            .collect();
        progress.start("indexing", work.len());

        let decode_opts = DecodeOptions {
            max_pixels: opts.max_pixels,
            ..DecodeOptions::new(encoder.info().input_size as u32)
        };
        let claimed: Mutex<HashSet<Hash>> = Mutex::new(HashSet::new());
        let batch_size = opts.batch_size.max(1);
        let mut batch = Batch::default();
        // Contents embedded or read back in this run, for the files that share them.
        let mut contents: HashMap<Hash, RowContent> = HashMap::new();
        let mut failed: HashMap<Hash, SkipReason> = HashMap::new();
        let mut waiting: Vec<(PathBuf, FileRecord, Option<i64>)> = Vec::new();
        let pool = decode::decode_pool(opts.threads);
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Outcome)>(batch_size * 2);
        let cancelled = AtomicBool::new(false);
        std::thread::scope(|scope| -> Result<()> {
            let (work, claimed, cancelled, held) = (&work, &claimed, &cancelled, &held);
            scope.spawn(move || {
                pool.install(|| {
                    work.par_iter().enumerate().for_each_with(tx, |tx, (i, w)| {
                        if cancelled.load(Ordering::Relaxed) {
                            return;
                        }
                        let known = |hash: &Hash| Ok(held.contains_key(hash));
                        let _ = tx.send((i, pipeline::read_one(w, &known, claimed, &decode_opts)));
                    })
                })
            });
            let interrupted = || {
                opts.interrupt
                    .as_ref()
                    .is_some_and(|flag| flag.load(Ordering::Relaxed))
            };
            let consume = || -> Result<()> {
                for (i, outcome) in rx {
                    if interrupted() {
                        report.interrupted = true;
                        break;
                    }
                    let w = &work[i];
                    let path = &w.file.path;
                    let old_pk = rows.get(path).map(|r| r.pk);
                    let decoded = matches!(outcome, Outcome::Decoded(..));
                    match outcome {
                        Outcome::Ignored => report.ignored += 1,
                        Outcome::Skipped(reason, hash) => {
                            if let Some(hash) = hash {
                                failed.insert(hash, reason.clone());
                            }
                            if let Some(pk) = old_pk {
                                batch.gone.push(pk);
                                report.removed += 1;
                            }
                            pipeline::skip(&mut report, progress, path, reason);
                        }
                        Outcome::Touched(rec) | Outcome::Known(rec) => {
                            if w.old.as_ref().is_some_and(|o| o.hash == rec.hash) {
                                report.unchanged += 1;
                            } else {
                                report.copies += 1;
                            }
                            waiting.push((path.clone(), rec, old_pk));
                        }
                        Outcome::Decoded(rec, img) => {
                            batch.files.push((path.clone(), rec, old_pk));
                            batch.images.push(img);
                        }
                    }
                    if !decoded {
                        progress.advance(1);
                    }
                    if batch.images.len() >= batch_size {
                        self.commit(
                            &mut batch,
                            encoder,
                            &mut contents,
                            &mut failed,
                            &mut report,
                            progress,
                        )?;
                    }
                }
                self.commit(
                    &mut batch,
                    encoder,
                    &mut contents,
                    &mut failed,
                    &mut report,
                    progress,
                )?;
                Ok(())
            };
            let result = consume();
            if result.is_err() || report.interrupted {
                cancelled.store(true, Ordering::Relaxed);
            }
            result
        })?;

        // Files whose content was embedded in this run or is held by another row.
        for (path, rec, old_pk) in waiting {
            if let Some(reason) = failed.get(&rec.hash) {
                pipeline::skip(&mut report, progress, &path, reason.clone());
                continue;
            }
            let content = match contents.entry(rec.hash) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    // Not held either: claimed by a file whose batch an interruption stopped.
                    let Some(&pk) = held.get(&rec.hash) else {
                        continue;
                    };
                    match self.content_of(pk)? {
                        Some(c) => e.insert(c),
                        None => continue,
                    }
                }
            };
            batch.rows.push(file_row(&path, &rec, content));
            batch.gone.extend(old_pk);
        }
        for row in vanished {
            batch.gone.push(row.pk);
            report.removed += 1;
        }
        self.milvus.insert(&batch.rows)?;
        self.milvus.delete(&batch.gone)?;
        // Whoever reads next sees the whole run.
        self.milvus.barrier(self.dim())?;
        self.derive_copies(shard)?;
        report.elapsed_s = start.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Copies the records of an index folder (files and their descriptors) of `shard` into
    /// the collection, as `update` would write them, without reading a picture: for moving
    /// an index to Milvus, or filling one from folders indexed apart. Rows whose file record
    /// is the folder's are kept; rows of files the folder does not hold are not touched.
    pub fn import(
        &self,
        index: &super::Index,
        shard: Shard,
        progress: &dyn Progress,
    ) -> Result<ImportReport> {
        let start = Instant::now();
        let meta = index.meta();
        if let Some(target) = &meta.upgrade {
            return Err(Error::InvalidArgument(format!(
                "{}: the index is being moved to {}; `lookalike index` finishes that first",
                index.dir().display(),
                target.id()
            )));
        }
        if meta.model != self.model {
            return Err(Error::StoreModelMismatch {
                collection: self.url().to_string(),
                store_model: self.model.id(),
                current_model: meta.model.id(),
            });
        }
        self.milvus.barrier(self.dim())?;
        let (rows, stale) = self.shard_files(shard)?;
        self.milvus.delete(&stale)?;
        let files: Vec<(PathBuf, FileRecord)> = index
            .store()
            .files()
            .filter(|f| f.as_ref().map_or(true, |(p, _)| shard.owns(bucket_of(p))))
            .collect::<Result<_>>()?;
        let mut report = ImportReport {
            files: files.len(),
            ..ImportReport::default()
        };
        progress.start("copying records", files.len());
        for chunk in files.chunks(IMPORT_CHUNK) {
            let mut new_rows = Vec::new();
            let mut replaced = Vec::new();
            for (path, record) in chunk {
                let old = rows.get(path);
                if old.is_some_and(|r| r.record == *record) {
                    report.unchanged += 1;
                    continue;
                }
                let Some(content) = index.store().content(&record.hash)? else {
                    report.missing += 1;
                    continue;
                };
                let (vector, copy) = self.descriptors(&content.vector);
                let content = RowContent {
                    width: content.width,
                    height: content.height,
                    vector,
                    copy,
                };
                new_rows.push(file_row(path, record, &content));
                replaced.extend(old.map(|r| r.pk));
            }
            self.milvus.insert(&new_rows)?;
            self.milvus.delete(&replaced)?;
            report.written += new_rows.len();
            progress.advance(chunk.len());
        }
        self.milvus.barrier(self.dim())?;
        report.written_s = start.elapsed().as_secs_f64();
        self.derive_copies(shard)?;
        report.elapsed_s = start.elapsed().as_secs_f64();
        Ok(report)
    }

    /// What a collection that follows the main one (copy descriptors, a pretrained
    /// model's vectors: a row per file, keyed by path and content hash) lacks and holds in
    /// excess for `shard`; `fields` (naming path and hash) are read of the main rows.
    fn follow(&self, follower: &Milvus, shard: Shard, fields: &[&str]) -> Result<Following> {
        let mut main: HashMap<(String, String), Value> = HashMap::new();
        for row in self.milvus.list(&shard.filter(), fields)? {
            if let Some(k) = row_key(&row) {
                main.insert(k, row);
            }
        }
        let files = main.len();
        let mut gone = Vec::new();
        for row in follower.list(&shard.filter(), &["path", "hash"])? {
            let Some(pk) = milvus::primary_key(&row) else {
                continue;
            };
            // The first row of a file takes it off the list; any other is in excess.
            match row_key(&row).and_then(|k| main.remove(&k)) {
                Some(_) => {}
                None => gone.push(pk),
            }
        }
        Ok(Following {
            present: files - main.len(),
            missing: main.into_values().collect(),
            gone,
        })
    }

    /// Brings the collection of copy descriptors in line with the main one for `shard`: a
    /// row for each file's content, copied from the main row's copy descriptor, and none
    /// else. It is derived, so whatever a killed run left there is put right here.
    fn derive_copies(&self, shard: Shard) -> Result<()> {
        let Some(copies) = &self.copies else {
            return Ok(());
        };
        let Following { missing, gone, .. } = self.follow(copies, shard, &["path", "hash"])?;
        let missing: Vec<i64> = missing.iter().filter_map(milvus::primary_key).collect();
        for chunk in missing.chunks(milvus::INSERT_CHUNK) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let rows = self.milvus.query(
                &format!("id in [{}]", list.join(",")),
                &["path", "hash", "bucket", "copy"],
                chunk.len(),
            )?;
            let derived: Vec<Value> = rows
                .iter()
                .filter_map(|row| {
                    Some(json!({
                        "vector": row.get("copy")?,
                        "path": row.get("path")?,
                        "hash": row.get("hash")?,
                        "bucket": row.get("bucket")?,
                    }))
                })
                .collect();
            copies.insert(&derived)?;
        }
        copies.delete(&gone)?;
        copies.barrier(self.model.copy_dim)
    }

    /// Embeds a batch's images and writes their rows, then deletes the rows they replace;
    /// the change in the shard's row count.
    fn commit(
        &self,
        batch: &mut Batch,
        encoder: &Encoder,
        contents: &mut HashMap<Hash, RowContent>,
        failed: &mut HashMap<Hash, SkipReason>,
        report: &mut IndexReport,
        progress: &dyn Progress,
    ) -> Result<()> {
        if batch.images.is_empty() {
            return Ok(());
        }
        let vectors = encoder.embed(&batch.images)?;
        progress.advance(batch.images.len());
        let mut rows = Vec::new();
        let mut replaced = Vec::new();
        for ((path, rec, old_pk), (img, vector)) in batch
            .files
            .drain(..)
            .zip(batch.images.drain(..).zip(vectors))
        {
            let Some(vector) = vector else {
                failed.insert(rec.hash, SkipReason::BadEmbedding);
                pipeline::skip(report, progress, &path, SkipReason::BadEmbedding);
                continue;
            };
            let (query, copy) = self.descriptors(&vector);
            let content = RowContent {
                width: img.width,
                height: img.height,
                vector: query,
                copy,
            };
            rows.push(file_row(&path, &rec, &content));
            contents.insert(rec.hash, content);
            replaced.extend(old_pk);
            report.embedded += 1;
        }
        self.milvus.insert(&rows)?;
        self.milvus.delete(&replaced)?;
        Ok(())
    }

    /// The newest row of `path`, with `fields` (looked up by its bucket: no path in a
    /// filter, which Milvus would evaluate on every row).
    fn newest_row(&self, path: &Path, fields: &[&str]) -> Result<Option<Value>> {
        let text = path_text(path);
        let rows = self.milvus.query(
            &format!("bucket == {}", bucket_of(path)),
            fields,
            milvus::QUERY_WINDOW,
        )?;
        Ok(rows
            .into_iter()
            .filter(|r| r.get("path").and_then(Value::as_str) == Some(text.as_str()))
            .max_by_key(milvus::primary_key))
    }

    /// The records and picture sizes of indexed files, by path (those not indexed left
    /// out): one query for all of them, by their buckets.
    pub fn describe(&self, paths: &[&Path]) -> Result<HashMap<PathBuf, (FileRecord, u32, u32)>> {
        if paths.is_empty() {
            return Ok(HashMap::new());
        }
        let buckets: HashSet<u32> = paths.iter().map(|p| bucket_of(p)).collect();
        let list: Vec<String> = buckets.iter().map(u32::to_string).collect();
        let rows = self.milvus.query(
            &format!("bucket in [{}]", list.join(",")),
            &FILE_FIELDS,
            milvus::QUERY_WINDOW,
        )?;
        let wanted: HashSet<&Path> = paths.iter().copied().collect();
        Ok(newest_described(&rows, |path| wanted.contains(path)))
    }

    /// The record of an indexed file.
    pub fn file(&self, path: &Path) -> Result<Option<FileRecord>> {
        Ok(self
            .newest_row(path, &FILE_FIELDS)?
            .as_ref()
            .and_then(RowFile::of)
            .map(|f| f.record))
    }

    /// The `k` indexed files nearest to `vector` (a stored vector's layout, unit length) by
    /// the head for `task`, best first; files gone from disk are left out. Identical files
    /// follow one another in path order.
    pub fn nearest_by(&self, vector: &[f32], k: usize, task: Task) -> Result<Vec<Neighbor>> {
        if vector.len() != self.model.dim {
            return Err(Error::InvalidArgument(format!(
                "query vector has {} dimensions, the index {}",
                vector.len(),
                self.model.dim
            )));
        }
        let collection = match (task, &self.copies) {
            (Task::Copy, Some(copies)) => copies,
            _ => &self.milvus,
        };
        let query = self.model.head(task).unit(vector).into_owned();
        let mut want = (k + 8).max(MIN_ASKED);
        loop {
            let hits = collection.search(&query, want, "", &["path"])?;
            let total = hits.len();
            let mut out = neighbours_on_disk(&hits);
            if out.len() >= k || total < want || want >= milvus::QUERY_WINDOW {
                out.truncate(k);
                return Ok(out);
            }
            want = (want * 2).min(milvus::QUERY_WINDOW);
        }
    }
}

/// The record and picture size of each path's newest row among `rows` (a path written twice
/// by a killed run has an older row too), for the paths `keep` accepts.
fn newest_described(
    rows: &[Value],
    keep: impl Fn(&Path) -> bool,
) -> HashMap<PathBuf, (FileRecord, u32, u32)> {
    let mut latest: HashMap<PathBuf, (i64, FileRecord, u32, u32)> = HashMap::new();
    for row in rows {
        let (Some(file), Some(w), Some(h)) = (
            RowFile::of(row),
            row.get("w").and_then(Value::as_u64),
            row.get("h").and_then(Value::as_u64),
        ) else {
            continue;
        };
        if keep(&file.path) && latest.get(&file.path).is_none_or(|(pk, ..)| *pk < file.pk) {
            latest.insert(file.path, (file.pk, file.record, w as u32, h as u32));
        }
    }
    latest
        .into_iter()
        .map(|(path, (_, record, w, h))| (path, (record, w, h)))
        .collect()
}

/// The files of search hits that are still on disk, best first, identical files one after
/// another in path order.
fn neighbours_on_disk(hits: &[Value]) -> Vec<Neighbor> {
    let mut out: Vec<Neighbor> = hits
        .iter()
        .filter_map(|row| {
            Some(Neighbor {
                path: path_of_text(row.get("path")?.as_str()?),
                similarity: row.get("distance")?.as_f64()? as f32,
            })
        })
        .filter(|n| std::fs::symlink_metadata(&n.path).is_ok())
        .collect();
    out.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then_with(|| path_bytes(&a.path).cmp(&path_bytes(&b.path)))
    });
    out
}

impl Lookup for ClusterIndex {
    fn model(&self) -> &ModelInfo {
        &self.model
    }

    fn nearest_by(&mut self, vector: &[f32], k: usize, task: Task) -> Result<Vec<Neighbor>> {
        ClusterIndex::nearest_by(self, vector, k, task)
    }

    /// The newest row of the path, its descriptors put back in the stored layout.
    fn picture(&self, path: &Path) -> Result<Option<(FileRecord, ContentRecord)>> {
        let mut fields = FILE_FIELDS.to_vec();
        fields.extend(["vector", "copy"]);
        let Some(row) = self.newest_row(path, &fields)? else {
            return Ok(None);
        };
        let (Some(file), Some(content)) = (RowFile::of(&row), RowContent::of(&row)) else {
            return Ok(None);
        };
        Ok(Some((
            file.record,
            ContentRecord {
                id: file.pk as u64,
                width: content.width,
                height: content.height,
                vector: self.stored_layout(&content),
            },
        )))
    }

    /// A Milvus store keeps no thumbnails: the pixel check decodes the file again.
    fn thumbnail(&self, _hash: &Hash) -> Result<Option<Thumbnail>> {
        Ok(None)
    }
}

/// Rows written per round of [`ClusterIndex::import`] (inserted, then the rows they
/// replace deleted).
const IMPORT_CHUNK: usize = 5_000;

/// What [`ClusterIndex::import`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    /// File records of the folder in the shard.
    pub files: usize,
    /// Rows written (new files, and files whose record changed).
    pub written: usize,
    /// Files whose row already held the folder's record.
    pub unchanged: usize,
    /// File records without their content record (a damaged folder: `verify` says more).
    pub missing: usize,
    /// Seconds until every row was written and visible.
    pub written_s: f64,
    /// Seconds in all, with the copy descriptors' collection derived.
    pub elapsed_s: f64,
}

/// New images waiting for the encoder, and rows waiting for the end of the run.
#[derive(Default)]
struct Batch {
    files: Vec<(PathBuf, FileRecord, Option<i64>)>,
    images: Vec<decode::PreparedImage>,
    /// Rows of files whose content was embedded or read back (written at the end).
    rows: Vec<Value>,
    /// Primary keys of rows to delete at the end.
    gone: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_buckets_and_parse_from_k_over_n() {
        let two: Vec<Shard> = ["1/2", "2/2"].iter().map(|s| s.parse().unwrap()).collect();
        for bucket in 0..1000 {
            assert_eq!(two.iter().filter(|s| s.owns(bucket)).count(), 1);
            assert!(Shard::ALL.owns(bucket));
        }
        for bad in ["0/2", "3/2", "2", "a/b", "1/0", "1/70000"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/3".parse::<Shard>().unwrap().filter(), "bucket % 3 == 1");
        assert_eq!(Shard::ALL.filter(), "");
    }

    #[test]
    fn a_path_is_kept_as_text_and_read_back_as_it_was() {
        use std::os::unix::ffi::OsStrExt;
        for path in [
            PathBuf::from("/photos/été/IMG_0001.JPG"),
            PathBuf::from(std::ffi::OsStr::from_bytes(b"/photos/\xff\xfe.jpg")),
        ] {
            let text = path_text(&path);
            assert_eq!(path_of_text(&text), path, "{text}");
        }
        assert!(path_text(Path::new("/a/b.jpg")) == "/a/b.jpg");
    }

    #[test]
    fn a_file_record_is_read_back_to_the_nanosecond() {
        // Regression: a number in a dynamic field comes back as a double, so a modification
        // time kept as one lost its last digits and every rerun rewrote every row.
        let record = FileRecord {
            size: 791_555,
            mtime_ns: 1_796_616_250_847_357_927,
            hash: *blake3::hash(b"x").as_bytes(),
        };
        let content = RowContent {
            width: 4,
            height: 3,
            vector: vec![1.0, 0.0],
            copy: None,
        };
        let mut row = file_row(Path::new("/photos/a.jpg"), &record, &content);
        row["id"] = json!("470981011963056798");
        let back = RowFile::of(&row).unwrap();
        assert_eq!(back.record, record);
        assert_eq!(back.pk, 470981011963056798);
        // A row written before holds the time as a number: still read.
        row["mtime"] = json!(1_796_616_250_847_358_000i64);
        assert_eq!(
            RowFile::of(&row).unwrap().record.mtime_ns,
            1_796_616_250_847_358_000
        );
    }

    #[test]
    fn a_bucket_is_stable_and_hashes_are_read_back() {
        // The same path always falls in the same bucket (workers on other machines agree).
        assert_eq!(
            bucket_of(Path::new("/photos/a.jpg")),
            bucket_of(Path::new("/photos/a.jpg"))
        );
        assert!(bucket_of(Path::new("/photos/a.jpg")) < BUCKETS);
        let hash = *blake3::hash(b"x").as_bytes();
        assert_eq!(unhex(&hex(&hash)), Some(hash));
        assert_eq!(unhex("zz"), None);
    }
}
