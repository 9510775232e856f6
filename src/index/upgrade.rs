//! Moving an index of an earlier built-in model to this version's: every content embedded
//! again, resumably, without ever letting a search see vectors of two models.
//!
//! The move starts by recording its target (`Mupgrade`); from then on every content written
//! is marked (`U` records, in the same atomic batch as its vector), and [`Index::open`]
//! refuses searches. Contents are embedded again from the first of their files that still
//! holds their bytes, in committed batches, so an interrupted move resumes where it stopped.
//! A content none of whose files holds its bytes any more is dropped with its file records:
//! the indexing run that follows finds those files as new or gone, as usual. When no
//! content is left, one batch makes the target the index's model and drops the marks; the
//! graph and the flat vector file are then rebuilt from the new vectors.

use crate::error::Result;
use crate::index::store::{ChangeSet, ContentRecord, Hash, Store};
use crate::index::Index;
use crate::ingest::decode::{self, DecodeOptions, PreparedImage};
use crate::ingest::thumbnail::Thumbnail;
use crate::model::Encoder;
use crate::problem::SkipReason;
use crate::progress::Progress;
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a move to a new model did.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeReport {
    /// The model the index was built with, and the one it holds now (`name@hash12`).
    pub from: String,
    pub to: String,
    /// Contents embedded again in this run.
    pub embedded: usize,
    /// Contents left when the run began (a resumed move counts only what was left).
    pub pending: usize,
    /// Contents dropped because none of their files holds their bytes any more (their
    /// files are indexed afresh by the run, if they are still there).
    pub dropped: usize,
    /// Stopped by [`UpgradeOptions::interrupt`] before the end: the next run continues.
    pub interrupted: bool,
}

/// Contents to embed at once (decoded in parallel, then committed together).
const CHUNK: usize = 32;

/// How to move an index (the indexing run's own settings).
#[derive(Debug, Clone)]
pub struct UpgradeOptions {
    /// Decode threads.
    pub threads: usize,
    /// Images with more pixels are refused before decoding.
    pub max_pixels: u64,
    /// Set from outside to stop between batches; the next run continues.
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// The contents [`upgrade`] would embed again (`0` when `encoder` takes over nothing),
/// from the counters and the marks alone (no content record is read).
pub fn pending(index: &Index, encoder: &Encoder) -> Result<usize> {
    if !index.needs_upgrade_to(encoder.info()) {
        return Ok(0);
    }
    // Marks of a move to another model are dropped when this one begins.
    let done = match &index.meta().upgrade {
        Some(target) if target == encoder.info() => index.store().upgraded_count(),
        _ => 0,
    };
    Ok(index.meta().contents.saturating_sub(done) as usize)
}

/// Moves `index` to `encoder`, the built-in model, if it was built with an earlier one;
/// `None` when there is nothing to move.
pub fn upgrade(
    index: &mut Index,
    encoder: &Encoder,
    opts: &UpgradeOptions,
    progress: &dyn Progress,
) -> Result<Option<UpgradeReport>> {
    if !index.needs_upgrade_to(encoder.info()) {
        return Ok(None);
    }
    let from = index.meta().model.id();
    index.store().begin_upgrade(encoder.info())?;
    let todo = index.store().contents_to_upgrade()?;
    let mut report = UpgradeReport {
        from,
        to: encoder.info().id(),
        embedded: 0,
        pending: todo.len(),
        dropped: 0,
        interrupted: false,
    };
    let decode_opts = DecodeOptions {
        max_pixels: opts.max_pixels,
        ..DecodeOptions::new(encoder.info().input_size as u32)
    };
    let pool = decode::decode_pool(opts.threads);
    progress.start("embedding again", todo.len());
    for chunk in todo.chunks(CHUNK) {
        if opts
            .interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
        {
            report.interrupted = true;
            break;
        }
        let store = index.store();
        let decoded: Vec<Result<std::result::Result<PreparedImage, SkipReason>>> =
            pool.install(|| {
                chunk
                    .par_iter()
                    .map(|(hash, _)| decode_content(store, hash, &decode_opts))
                    .collect()
            });
        let mut images = Vec::new();
        let mut placed = Vec::new();
        let mut changes = ChangeSet::default();
        for ((hash, id), d) in chunk.iter().zip(decoded) {
            match d? {
                Ok(img) => {
                    images.push(img);
                    placed.push((*hash, *id));
                }
                Err(_) => drop_content(store, hash, &mut changes, &mut report)?,
            }
        }
        let vectors = encoder.embed(&images)?;
        for (((hash, id), img), vector) in placed.into_iter().zip(&images).zip(vectors) {
            match vector {
                Some(vector) => {
                    changes.put_content(
                        hash,
                        ContentRecord {
                            id,
                            width: img.width,
                            height: img.height,
                            vector,
                        },
                    );
                    changes.put_thumbnail(hash, Thumbnail::of(img));
                    report.embedded += 1;
                }
                None => drop_content(store, &hash, &mut changes, &mut report)?,
            }
        }
        if !changes.is_empty() {
            store.commit(changes)?;
        }
        progress.advance(chunk.len());
    }
    if !report.interrupted {
        index.store().finish_upgrade()?;
        index.refresh_meta()?;
        // The graph and the flat file hold the old vectors (and their dimension).
        index.compact_graph()?;
    }
    Ok(Some(report))
}

/// The content's picture, decoded from the first of its files that still holds its bytes.
fn decode_content(
    store: &Store,
    hash: &Hash,
    opts: &DecodeOptions,
) -> Result<std::result::Result<PreparedImage, SkipReason>> {
    let mut last = SkipReason::Vanished;
    for path in store.paths_of(hash)? {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                last = SkipReason::from_io_after_scan(&e);
                continue;
            }
        };
        if blake3::hash(&bytes).as_bytes() != hash {
            last = SkipReason::Unreadable("changed since it was indexed".into());
            continue;
        }
        return Ok(decode::prepare(&bytes, opts));
    }
    Ok(Err(last))
}

/// Drops a content that cannot be embedded again, with its file records.
fn drop_content(
    store: &Store,
    hash: &Hash,
    changes: &mut ChangeSet,
    report: &mut UpgradeReport,
) -> Result<()> {
    let paths: Vec<PathBuf> = store.paths_of(hash)?;
    for path in paths {
        changes.remove_file(path);
    }
    changes.remove_content(*hash);
    report.dropped += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::index::lock::Wait;
    use crate::index::pipeline::{self, IndexOptions, NoProgress};
    use std::path::Path;

    /// Sets the interrupt flag once the first chunk is committed.
    struct StopAfterFirstChunk(Arc<AtomicBool>);
    impl Progress for StopAfterFirstChunk {
        fn advance(&self, _n: usize) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    /// An interrupted move leaves the index refused by searches, and the next run resumes
    /// it where it stopped; one content whose file changed is dropped and indexed afresh.
    #[test]
    fn an_interrupted_move_is_refused_then_resumed() {
        let tmp = tempfile::tempdir().unwrap();
        let photos = tmp.path().join("photos");
        std::fs::create_dir_all(&photos).unwrap();
        for k in 0..40u32 {
            let img = image::RgbImage::from_fn(64, 48, |x, y| {
                image::Rgb([
                    ((x * (k % 7 + 1) * 3) % 256) as u8,
                    ((y * (k / 7 + 2) * 5) % 256) as u8,
                    (((x ^ y) * (k + 3)) % 256) as u8,
                ])
            });
            img.save(photos.join(format!("{k:02}.png"))).unwrap();
        }
        let dir = tmp.path().join("index");
        let previous = Encoder::from_file(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models/lookalike-two-heads-lite0-f16.safetensors"),
        )
        .unwrap();
        let current = Encoder::default_model().unwrap();
        let roots = [photos.clone()];
        {
            let mut index = Index::open_or_create(&dir, previous.info(), Wait::No).unwrap();
            let r = pipeline::update(
                &mut index,
                &previous,
                &roots,
                &IndexOptions::default(),
                &NoProgress,
            )
            .unwrap();
            assert_eq!(r.embedded, 40);
        }
        // One file changes after it was indexed (same size and time are not checked here:
        // its bytes no longer hash to the content).
        image::RgbImage::from_pixel(64, 48, image::Rgb([200, 10, 10]))
            .save(photos.join("00.png"))
            .unwrap();

        let flag = Arc::new(AtomicBool::new(false));
        let opts = IndexOptions {
            interrupt: Some(flag.clone()),
            ..IndexOptions::default()
        };
        let dropped = {
            let mut index = Index::open_or_create(&dir, current.info(), Wait::No).unwrap();
            assert_eq!(pending(&index, &current).unwrap(), 40);
            let r = pipeline::update(
                &mut index,
                &current,
                &roots,
                &opts,
                &StopAfterFirstChunk(flag.clone()),
            )
            .unwrap();
            assert!(r.interrupted);
            let u = r.upgraded.unwrap();
            assert_eq!((u.pending, u.embedded + u.dropped), (40, 32));
            assert!(u.interrupted);
            u.dropped as u64
        };
        match Index::open(&dir, Wait::No) {
            Err(Error::UpgradeUnfinished {
                done, total, roots, ..
            }) => {
                assert_eq!((done, total), (32 - dropped, 40 - dropped));
                assert!(roots.contains("photos"), "{roots}");
            }
            other => panic!("expected UpgradeUnfinished, got {:?}", other.map(|_| ())),
        }
        // The previous model may not write into a half-moved index.
        assert!(matches!(
            Index::open_or_create(&dir, previous.info(), Wait::No),
            Err(Error::UpgradeUnfinished { .. })
        ));

        let mut index = Index::open_or_create(&dir, current.info(), Wait::No).unwrap();
        let r = pipeline::update(
            &mut index,
            &current,
            &roots,
            &IndexOptions::default(),
            &NoProgress,
        )
        .unwrap();
        let u = r.upgraded.unwrap();
        assert_eq!((u.pending, u.embedded + u.dropped), (8, 8));
        assert_eq!(u.dropped as u64 + dropped, 1, "the changed file's content");
        // The changed file comes back as a new content.
        assert_eq!(r.embedded, 1);
        drop(index);
        let mut index = Index::open(&dir, Wait::No).unwrap();
        assert_eq!(index.meta().model, *current.info());
        assert_eq!(index.meta().contents, 40);
        assert!(index.verify().unwrap().is_empty());
        for item in index.store().contents() {
            assert_eq!(item.unwrap().1.vector.len(), current.info().dim);
        }
        assert_eq!(index.store().upgraded_count(), 0);
    }
}
