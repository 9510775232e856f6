//! The indexing pipeline: scan → read and hash → decode → embed → store → graph.
//!
//! An index of an earlier built-in model is first moved to this one ([`super::upgrade`]).
//!
//! Files whose size and mtime match their record are not opened. Others are read and hashed
//! on a pool of decode threads; a hash already in the index (a copy, a moved or renamed file)
//! is recorded without decoding or embedding. New contents are decoded in parallel while the
//! encoder embeds batches on the calling thread; each batch is committed atomically and
//! flushed before the next. Files that vanished are dropped at the end, and contents no file
//! holds any more are deleted.

use crate::error::Result;
use crate::index::store::{ChangeSet, ContentRecord, FileRecord, Hash};
use crate::index::Index;
use crate::ingest::decode::{self, DecodeOptions, PreparedImage, Sniffed};
use crate::ingest::scan::{self, FoundFile, ScanOptions};
use crate::model::Encoder;
use crate::problem::SkipReason;
pub use crate::progress::{NoProgress, Progress};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How to index.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub scan: ScanOptions,
    /// New images per commit (the encoder runs them in smaller chunks).
    pub batch_size: usize,
    /// Decode threads.
    pub threads: usize,
    /// Images with more pixels are refused before decoding.
    pub max_pixels: u64,
    /// Set from outside (a Ctrl-C handler) to stop early: the batch in hand is committed,
    /// the rest is left for the next run, and the report says `interrupted`.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            scan: ScanOptions::default(),
            batch_size: 32,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_pixels: decode::DEFAULT_MAX_PIXELS,
            interrupt: None,
        }
    }
}

/// A skipped file and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
    pub kind: SkipReason,
}

/// What one indexing run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexReport {
    /// Regular files found under the roots.
    pub scanned: usize,
    /// Images decoded and embedded.
    pub embedded: usize,
    /// Files whose record still holds (same size and mtime, or same content).
    pub unchanged: usize,
    /// Files found at a new path with the content of a path that vanished.
    pub renamed: usize,
    /// New files whose content was already indexed under another path (copies).
    pub copies: usize,
    /// Records dropped because their file vanished (or is no longer an indexable image).
    pub removed: usize,
    /// Files that are not images and do not claim to be (no image extension); not reported.
    pub ignored: usize,
    pub skipped: Vec<Skipped>,
    /// Why the graph was rebuilt, if it was.
    pub graph_rebuilt: Option<String>,
    /// Stopped early by [`IndexOptions::interrupt`]; what was committed stays.
    pub interrupted: bool,
    /// The index was built with an earlier built-in model and moved to this one first
    /// (see [`super::upgrade`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgraded: Option<super::upgrade::UpgradeReport>,
    pub elapsed_s: f64,
}

/// The outcome of reading one file on a decode thread.
pub(super) enum Outcome {
    /// Not an image and not named like one.
    Ignored,
    /// Could not be indexed; the hash is known when the bytes were read.
    Skipped(SkipReason, Option<Hash>),
    /// Same bytes as recorded: only size/mtime changed.
    Touched(FileRecord),
    /// Content already in the index (or claimed by another file of this run).
    Known(FileRecord),
    /// New content, decoded.
    Decoded(FileRecord, PreparedImage),
}

pub(super) struct Work<'a> {
    pub(super) file: &'a FoundFile,
    pub(super) old: Option<FileRecord>,
    /// Given to `index` by name (not found in a folder): if it is not an image, that is
    /// reported rather than ignored.
    pub(super) named: bool,
}

/// Whether a content is already indexed (its file is then recorded without decoding).
pub(super) type Known<'a> = dyn Fn(&Hash) -> Result<bool> + Sync + 'a;

/// Indexes `roots` into `index` with `encoder`, incrementally.
pub fn update(
    index: &mut Index,
    encoder: &Encoder,
    roots: &[PathBuf],
    opts: &IndexOptions,
    progress: &dyn Progress,
) -> Result<IndexReport> {
    let start = Instant::now();
    let mut report = IndexReport {
        upgraded: super::upgrade::upgrade(
            index,
            encoder,
            &super::upgrade::UpgradeOptions {
                threads: opts.threads,
                max_pixels: opts.max_pixels,
                interrupt: opts.interrupt.clone(),
            },
            progress,
        )?,
        ..IndexReport::default()
    };
    if report.upgraded.as_ref().is_some_and(|u| u.interrupted) {
        report.interrupted = true;
        report.elapsed_s = start.elapsed().as_secs_f64();
        return Ok(report);
    }
    index.check_model(encoder.info())?;
    let start_generation = index.meta().generation;

    let scan = scan::scan(roots, opts.scan)?;
    index.store().add_roots(&scan.roots)?;
    report.scanned = scan.files.len();
    for (path, reason) in &scan.problems {
        skip(&mut report, progress, path, reason.clone());
    }

    let store = index.store();
    let named: HashSet<&Path> = scan.roots.iter().map(PathBuf::as_path).collect();
    let mut work = Vec::new();
    for file in &scan.files {
        let old = store.file(&file.path)?;
        match &old {
            Some(r) if r.size == file.size && r.mtime_ns == file.mtime_ns => report.unchanged += 1,
            _ => work.push(Work {
                file,
                old,
                named: named.contains(file.path.as_path()),
            }),
        }
    }
    let found: HashSet<&Path> = scan.files.iter().map(|f| f.path.as_path()).collect();
    let mut vanished: Vec<(PathBuf, FileRecord)> = Vec::new();
    for root in &scan.roots {
        for (path, rec) in store.files_under(root)? {
            if !found.contains(path.as_path()) {
                vanished.push((path, rec));
            }
        }
    }
    let vanished_hashes: HashSet<Hash> = vanished.iter().map(|(_, r)| r.hash).collect();
    progress.start("indexing", work.len());

    let decode_opts = DecodeOptions {
        max_pixels: opts.max_pixels,
        ..DecodeOptions::new(encoder.info().input_size as u32)
    };
    // Contents claimed by a decode thread in this run: later files with the same bytes wait.
    let claimed: Mutex<HashSet<Hash>> = Mutex::new(HashSet::new());
    let mut maybe_orphaned: HashSet<Hash> = HashSet::new();
    let mut pending_copies: Vec<(PathBuf, FileRecord)> = Vec::new();
    let batch_size = opts.batch_size.max(1);
    let mut batch = Batch {
        files: Vec::new(),
        images: Vec::new(),
        changes: ChangeSet::default(),
        next_id: store.next_id()?,
        failed: HashMap::new(),
        start_generation,
    };

    let pool = decode::decode_pool(opts.threads);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Outcome)>(batch_size * 2);
    let cancelled = AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<()> {
        let (work, claimed, cancelled) = (&work, &claimed, &cancelled);
        let store = index.store().clone();
        scope.spawn(move || {
            pool.install(|| {
                work.par_iter().enumerate().for_each_with(tx, |tx, (i, w)| {
                    if cancelled.load(Ordering::Relaxed) {
                        return;
                    }
                    // The receiver only hangs up on a fatal error; nothing left to do then.
                    let known = |hash: &Hash| Ok(store.content(hash)?.is_some());
                    let _ = tx.send((i, read_one(w, &known, claimed, &decode_opts)));
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
                let decoded = matches!(outcome, Outcome::Decoded(..));
                match outcome {
                    Outcome::Ignored => report.ignored += 1,
                    Outcome::Skipped(reason, hash) => {
                        if let Some(hash) = hash {
                            batch.failed.insert(hash, reason.clone());
                        }
                        if let Some(old) = &w.old {
                            // The file is here but its indexed version is stale.
                            batch.changes.remove_file(path.clone());
                            maybe_orphaned.insert(old.hash);
                            report.removed += 1;
                        }
                        skip(&mut report, progress, path, reason);
                    }
                    Outcome::Touched(rec) => {
                        report.unchanged += 1;
                        batch.changes.put_file(path.clone(), rec);
                    }
                    Outcome::Known(rec) => {
                        note_replaced(&w.old, &rec, &mut maybe_orphaned);
                        if index.store().content(&rec.hash)?.is_some() {
                            count_known(&mut report, &vanished_hashes, &rec, w.old.is_none());
                            batch.changes.put_file(path.clone(), rec);
                        } else {
                            pending_copies.push((path.clone(), rec));
                        }
                    }
                    Outcome::Decoded(rec, img) => {
                        note_replaced(&w.old, &rec, &mut maybe_orphaned);
                        batch.files.push((path.clone(), rec));
                        batch.images.push(img);
                    }
                }
                // Decoded images count as done once embedded (in `Batch::commit`).
                if !decoded {
                    progress.advance(1);
                }
                if batch.images.len() >= batch_size || batch.changes.len() >= 4 * batch_size {
                    batch.commit(index, encoder, &mut report, progress)?;
                }
            }
            batch.commit(index, encoder, &mut report, progress)
        };
        let result = consume();
        if result.is_err() || report.interrupted {
            // Stop the decode threads instead of letting them finish the whole list.
            cancelled.store(true, Ordering::Relaxed);
        }
        result
    })?;

    // Copies of contents first seen in this run (unless an interruption came before the
    // content was committed: then the next run picks them up).
    let mut changes = ChangeSet::default();
    for (path, rec) in pending_copies {
        if let Some(reason) = batch.failed.get(&rec.hash) {
            skip(&mut report, progress, &path, reason.clone());
        } else if index.store().content(&rec.hash)?.is_none() {
            continue;
        } else {
            count_known(&mut report, &vanished_hashes, &rec, true);
            changes.put_file(path, rec);
        }
    }
    for (path, rec) in vanished {
        changes.remove_file(path);
        maybe_orphaned.insert(rec.hash);
        report.removed += 1;
    }
    if !changes.is_empty() {
        index.store().commit(changes)?;
    }
    // Contents that no file holds any more.
    let mut changes = ChangeSet::default();
    for hash in maybe_orphaned {
        if index.store().paths_of(&hash)?.is_empty() && index.store().content(&hash)?.is_some() {
            changes.remove_content(hash);
        }
    }
    if !changes.is_empty() {
        index.store().commit(changes)?;
    }
    index.finish_update(start_generation)?;
    report.graph_rebuilt = index.graph_rebuilt_because().map(|p| p.to_string());
    report.elapsed_s = start.elapsed().as_secs_f64();
    Ok(report)
}

pub(super) fn skip(
    report: &mut IndexReport,
    progress: &dyn Progress,
    path: &Path,
    reason: SkipReason,
) {
    progress.skipped(path, &reason);
    report.skipped.push(Skipped {
        path: path.to_path_buf(),
        reason: reason.to_string(),
        kind: reason,
    });
}

fn note_replaced(old: &Option<FileRecord>, new: &FileRecord, orphaned: &mut HashSet<Hash>) {
    if let Some(old) = old {
        if old.hash != new.hash {
            orphaned.insert(old.hash);
        }
    }
}

fn count_known(
    report: &mut IndexReport,
    vanished: &HashSet<Hash>,
    rec: &FileRecord,
    new_path: bool,
) {
    if !new_path {
        report.copies += 1;
    } else if vanished.contains(&rec.hash) {
        report.renamed += 1;
    } else {
        report.copies += 1;
    }
}

/// New images waiting for the encoder, and the bookkeeping to commit with them.
struct Batch {
    files: Vec<(PathBuf, FileRecord)>,
    images: Vec<PreparedImage>,
    changes: ChangeSet,
    next_id: u64,
    /// Contents that could not be indexed, so that their copies get the same reason.
    failed: HashMap<Hash, SkipReason>,
    /// The store's generation when the run began.
    start_generation: u64,
}

impl Batch {
    /// Embeds the images, commits them with the pending changes in one atomic batch, and
    /// adds the new vectors to the graph.
    fn commit(
        &mut self,
        index: &mut Index,
        encoder: &Encoder,
        report: &mut IndexReport,
        progress: &dyn Progress,
    ) -> Result<()> {
        if self.images.is_empty() && self.changes.is_empty() {
            return Ok(());
        }
        let vectors = encoder.embed(&self.images)?;
        progress.advance(self.images.len());
        let mut added = Vec::new();
        for (((path, rec), img), vector) in
            self.files.drain(..).zip(self.images.drain(..)).zip(vectors)
        {
            let Some(vector) = vector else {
                self.failed.insert(rec.hash, SkipReason::BadEmbedding);
                skip(report, progress, &path, SkipReason::BadEmbedding);
                continue;
            };
            let id = self.next_id;
            self.next_id += 1;
            self.changes.put_content(
                rec.hash,
                ContentRecord {
                    id,
                    width: img.width,
                    height: img.height,
                    vector: vector.clone(),
                },
            );
            self.changes
                .put_thumbnail(rec.hash, crate::ingest::thumbnail::Thumbnail::of(&img));
            self.changes.put_file(path, rec);
            added.push((vector, id));
            report.embedded += 1;
        }
        if !added.is_empty() {
            // The graph is loaded when the first new vectors come, before they are committed
            // (a run that adds none never loads it); commits since the run began changed
            // file records only, so the snapshot of that generation is still whole.
            index.graph_as_of(self.start_generation)?;
        }
        index.store().commit(std::mem::take(&mut self.changes))?;
        index.refresh_meta()?;
        if !added.is_empty() {
            index.graph()?.insert(&added);
        }
        Ok(())
    }
}

/// Reads, sniffs, hashes and (if its content is new) decodes one file.
pub(super) fn read_one(
    w: &Work,
    known: &Known,
    claimed: &Mutex<HashSet<Hash>>,
    opts: &DecodeOptions,
) -> Outcome {
    let path = &w.file.path;
    let claims_image = w.named || decode::has_image_extension(path);
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return Outcome::Skipped(SkipReason::from_io_after_scan(&e), None),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Outcome::Skipped(SkipReason::from_io_after_scan(&e), None),
    };
    let mut head = [0u8; decode::SNIFF_LEN];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Outcome::Skipped(SkipReason::from_io_after_scan(&e), None),
        }
    }
    if got == 0 {
        return if claims_image {
            Outcome::Skipped(SkipReason::Empty, None)
        } else {
            Outcome::Ignored
        };
    }
    match decode::sniff(&head[..got]) {
        Sniffed::Unknown if claims_image => return Outcome::Skipped(SkipReason::NotAnImage, None),
        Sniffed::Unknown => return Outcome::Ignored,
        Sniffed::Unsupported(name) => {
            return Outcome::Skipped(SkipReason::Unsupported(name.into()), None)
        }
        Sniffed::Decodable(_) | Sniffed::Heif | Sniffed::CameraRaw => {}
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    bytes.extend_from_slice(&head[..got]);
    if let Err(e) = file.read_to_end(&mut bytes) {
        return Outcome::Skipped(SkipReason::from_io_after_scan(&e), None);
    }
    // Written to while being read: the bytes may mix two versions. The next run reads it
    // again (its record is not updated now).
    match file.metadata() {
        Ok(after)
            if after.len() == bytes.len() as u64
                && scan::mtime_ns(&after) == scan::mtime_ns(&meta) => {}
        Ok(_) => {
            return Outcome::Skipped(
                SkipReason::Unreadable("changed while being read; index again".into()),
                None,
            )
        }
        Err(e) => return Outcome::Skipped(SkipReason::from_io_after_scan(&e), None),
    }
    let record = FileRecord {
        size: bytes.len() as u64,
        mtime_ns: scan::mtime_ns(&meta),
        hash: *blake3::hash(&bytes).as_bytes(),
    };
    if w.old.as_ref().is_some_and(|o| o.hash == record.hash) {
        return Outcome::Touched(record);
    }
    match known(&record.hash) {
        Ok(true) => return Outcome::Known(record),
        Ok(false) => {}
        Err(e) => {
            return Outcome::Skipped(
                SkipReason::Unreadable(format!("index lookup failed: {e}")),
                None,
            )
        }
    }
    if !claimed.lock().expect("claim set").insert(record.hash) {
        return Outcome::Known(record);
    }
    match decode::prepare(&bytes, opts) {
        Ok(img) => Outcome::Decoded(record, img),
        Err(reason) => Outcome::Skipped(reason, Some(record.hash)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::store::Store;
    use crate::model::ModelInfo;

    fn store(dir: &Path) -> Store {
        let store = Store::open(dir).unwrap();
        store
            .init(&ModelInfo {
                name: "test".into(),
                arch: "test".into(),
                input_size: 32,
                dim: 4,
                weights_hash: "0".into(),
                copy_dim: 0,
            })
            .unwrap();
        store
    }

    fn outcome(path: &Path, store: &Store) -> Outcome {
        let file = FoundFile {
            path: path.to_path_buf(),
            size: 0,
            mtime_ns: 0,
        };
        let work = Work {
            file: &file,
            old: None,
            named: false,
        };
        read_one(
            &work,
            &|hash: &Hash| Ok(store.content(hash)?.is_some()),
            &Mutex::new(HashSet::new()),
            &DecodeOptions::new(32),
        )
    }

    #[test]
    fn a_file_deleted_after_the_scan_is_reported_as_vanished() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(&tmp.path().join("index"));
        match outcome(&tmp.path().join("gone.jpg"), &store) {
            Outcome::Skipped(SkipReason::Vanished, None) => {}
            _ => panic!("expected Vanished"),
        }
    }

    #[test]
    fn a_file_rewritten_after_the_scan_is_read_and_hashed_as_it_is_now() {
        let tmp = tempfile::tempdir().unwrap();
        let store = store(&tmp.path().join("index"));
        let path = tmp.path().join("photo.png");
        image::RgbImage::from_pixel(40, 30, image::Rgb([9, 99, 199]))
            .save(&path)
            .unwrap();
        // The scan saw another version (size 0); what is recorded is what was read.
        let bytes = std::fs::read(&path).unwrap();
        match outcome(&path, &store) {
            Outcome::Decoded(rec, img) => {
                assert_eq!(rec.size, bytes.len() as u64);
                assert_eq!(rec.hash, *blake3::hash(&bytes).as_bytes());
                assert_eq!((img.width, img.height), (40, 30));
            }
            _ => panic!("expected Decoded"),
        }
    }
}
