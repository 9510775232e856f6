//! Describing many images with an encoder in bounded chunks: decoded in parallel, embedded
//! chunk by chunk, so that memory stays bounded whatever the number of images. The
//! evaluations, the background set and hard-negative mining all describe image sets this way.

use super::{Encoder, Task};
use crate::error::Result;
use crate::ingest::decode::{self, DecodeOptions, PreparedImage};
use crate::problem::SkipReason;
use crate::progress::Progress;
use rayon::prelude::*;
use std::path::Path;

/// Images decoded and described per chunk.
const CHUNK: usize = 64;

/// Where an image comes from.
pub enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

/// Decodes `sources` for `encoder` in chunks, decoding each chunk in parallel, and hands `f`
/// each chunk's decoded images with their positions in the chunk and the chunk's length.
/// Reports progress (`stage`) and every file that could not be decoded; returns those
/// sources with the reason (position in `sources`).
pub fn for_each_chunk(
    sources: &[Source],
    encoder: &Encoder,
    stage: &str,
    progress: &dyn Progress,
    mut f: impl FnMut(Vec<PreparedImage>, Vec<usize>, usize) -> Result<()>,
) -> Result<Vec<(usize, SkipReason)>> {
    let opts = DecodeOptions::new(encoder.info().input_size as u32);
    let pool = decode::decode_pool(std::thread::available_parallelism().map_or(2, |n| n.get()));
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
        f(ok_images, ok_index, chunk.len())?;
        progress.advance(chunk.len());
    }
    Ok(skipped)
}

/// The encoder's unit descriptor for `task` of each file, in order: `None` for a file that
/// could not be decoded or whose embedding is unusable.
pub fn describe_files(
    files: &[&Path],
    encoder: &Encoder,
    task: Task,
    stage: &str,
    progress: &dyn Progress,
) -> Result<Vec<Option<Vec<f32>>>> {
    let sources: Vec<Source> = files.iter().map(|p| Source::File(p)).collect();
    let head = encoder.info().head(task);
    let mut out = Vec::with_capacity(files.len());
    for_each_chunk(
        &sources,
        encoder,
        stage,
        progress,
        |images, positions, len| {
            let mut slots: Vec<Option<Vec<f32>>> = vec![None; len];
            for (v, i) in encoder.embed(&images)?.into_iter().zip(positions) {
                slots[i] = v
                    .map(|v| head.unit(&v).into_owned())
                    .filter(|v| v.iter().any(|&x| x != 0.0));
            }
            out.extend(slots);
            Ok(())
        },
    )?;
    Ok(out)
}
