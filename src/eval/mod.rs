//! Measuring quality: retrieval on labelled folders and copy detection on generated copies,
//! for the encoder and the baselines users know (perceptual hashes, raw pixels).

pub mod copies;
pub mod methods;
pub mod metrics;
pub mod plot;
pub mod retrieval;
pub mod transforms;

use crate::decode::{self, DecodeOptions, PreparedImage};
use crate::error::{Error, Result};
use crate::model::{Encoder, Task};
use crate::problem::SkipReason;
use crate::progress::Progress;
use methods::{Descriptor, Method};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Images decoded and described per chunk, so that memory stays bounded.
const CHUNK: usize = 64;

/// Where an image comes from.
pub enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// Descriptors of many images for each method, `descriptors[m][i]` (`None` for an image that
/// could not be decoded), and those images with the reason.
pub struct Described {
    pub descriptors: Vec<Vec<Option<Descriptor>>>,
    pub skipped: Vec<(usize, SkipReason)>,
}

/// Decodes and describes `sources` with every method (see [`methods::describe`] for `task`),
/// in chunks, decoding in parallel.
pub fn describe_all(
    sources: &[Source],
    methods: &[Method],
    encoder: &Encoder,
    task: Task,
    stage: &str,
    progress: &dyn Progress,
) -> Result<Described> {
    let opts = DecodeOptions::new(encoder.info().input_size as u32);
    let pool = decode::decode_pool(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut descriptors: Vec<Vec<Option<Descriptor>>> =
        vec![Vec::with_capacity(sources.len()); methods.len()];
    let mut skipped = Vec::new();
    progress.start(stage, sources.len());
    for (c, chunk) in sources.chunks(CHUNK).enumerate() {
        let prepared: Vec<std::result::Result<PreparedImage, SkipReason>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|s| match s {
                    Source::File(p) => decode::prepare_file(p, &opts),
                    Source::Bytes(b) => decode::prepare(b, &opts),
                })
                .collect()
        });
        let mut ok_images = Vec::new();
        let mut ok_index = Vec::new();
        for (i, p) in prepared.into_iter().enumerate() {
            match p {
                Ok(img) => {
                    ok_images.push(img);
                    ok_index.push(i);
                }
                Err(reason) => {
                    if let Source::File(path) = &chunk[i] {
                        progress.skipped(path, &reason);
                    }
                    skipped.push((c * CHUNK + i, reason));
                }
            }
        }
        let ds = methods::describe(methods, encoder, task, &ok_images)?;
        for (m, per_method) in ds.into_iter().enumerate() {
            let mut slots: Vec<Option<Descriptor>> = vec![None; chunk.len()];
            for (d, &i) in per_method.into_iter().zip(&ok_index) {
                slots[i] = Some(d);
            }
            descriptors[m].extend(slots);
        }
        progress.advance(chunk.len());
    }
    Ok(Described {
        descriptors,
        skipped,
    })
}

/// The encoder's unit descriptor for `task` of each file, in order: `None` for a file that
/// could not be decoded or whose embedding is unusable (all zero). Decoded and embedded in
/// bounded chunks by [`describe_all`].
pub fn encoder_vectors(
    files: &[&Path],
    encoder: &Encoder,
    task: Task,
    stage: &str,
    progress: &dyn Progress,
) -> Result<Vec<Option<Vec<f32>>>> {
    let sources: Vec<Source> = files.iter().map(|p| Source::File(p)).collect();
    let described = describe_all(&sources, &[Method::Encoder], encoder, task, stage, progress)?;
    Ok(described
        .descriptors
        .into_iter()
        .next()
        .unwrap_or_default()
        .into_iter()
        .map(|d| match d {
            Some(Descriptor::Vector(v)) if v.iter().any(|&x| x != 0.0) => Some(v),
            _ => None,
        })
        .collect())
}

/// [`image_files`] of several folders, one after the other.
pub fn image_files_in(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in dirs {
        files.extend(image_files(dir)?);
    }
    Ok(files)
}

/// Regular files under `dir`, sorted, that are named like images.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && decode::has_image_extension(e.path()))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    Ok(files)
}
