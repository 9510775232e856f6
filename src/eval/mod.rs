//! Measuring quality: retrieval on labelled folders and copy detection on generated copies,
//! for the encoder and the baselines users know (perceptual hashes, raw pixels).
//!
//! Owns the metrics ([`metrics`], pure functions), the compared methods ([`methods`]), the
//! seeded copy generator ([`transforms`]), the two evaluations ([`retrieval`], [`copies`])
//! and the precision-recall plot ([`plot`]). Searches are exhaustive and in memory, so that a
//! figure measures the descriptor, not the graph; nothing here changes an index or a model.
//!
//! Entry points: [`retrieval::evaluate`], [`copies::evaluate`], [`describe_all`].

pub mod copies;
pub mod methods;
pub mod metrics;
pub mod pairs;
pub mod plot;
pub mod retrieval;
pub mod transforms;

use crate::error::{Error, Result};
use crate::model::describe::for_each_chunk;
use crate::model::{Encoder, Task};
use crate::problem::SkipReason;
use crate::progress::Progress;
use methods::{Descriptor, Method};
use std::path::{Path, PathBuf};

pub use crate::model::describe::Source;

/// Descriptors of many images for each method, `descriptors[m][i]` (`None` for an image that
/// could not be decoded), and those images with the reason.
pub struct Described {
    pub descriptors: Vec<Vec<Option<Descriptor>>>,
    pub skipped: Vec<(usize, SkipReason)>,
}

/// Decodes and describes `sources` with every method (see [`methods::describe`] for `task`),
/// in chunks, decoding in parallel ([`crate::model::describe::for_each_chunk`]).
pub fn describe_all(
    sources: &[Source],
    methods: &[Method],
    encoder: &Encoder,
    task: Task,
    stage: &str,
    progress: &dyn Progress,
) -> Result<Described> {
    let mut descriptors: Vec<Vec<Option<Descriptor>>> =
        vec![Vec::with_capacity(sources.len()); methods.len()];
    let skipped = for_each_chunk(
        sources,
        encoder,
        stage,
        progress,
        |images, positions, len| {
            let ds = methods::describe(methods, encoder, task, &images)?;
            for (m, per_method) in ds.into_iter().enumerate() {
                let mut slots: Vec<Option<Descriptor>> = vec![None; len];
                for (d, &i) in per_method.into_iter().zip(&positions) {
                    slots[i] = Some(d);
                }
                descriptors[m].extend(slots);
            }
            Ok(())
        },
    )?;
    Ok(Described {
        descriptors,
        skipped,
    })
}

/// [`image_files`] of several folders, one after the other.
pub fn image_files_in(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in dirs {
        files.extend(image_files(dir)?);
    }
    Ok(files)
}

/// Regular files under `dir`, sorted, that are named like images; a folder under it that
/// cannot be read, or a link loop, is an error naming it.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    // A folder that cannot be read (or a link loop) is an error: a measurement or a training
    // run on part of the set, silently, would mislead. A link to nothing, or a file gone
    // since it was listed, is passed over.
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if e.io_error().map(|e| e.kind()) == Some(std::io::ErrorKind::NotFound) => {
                continue
            }
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let text = e.to_string();
                return Err(match e.into_io_error() {
                    Some(source) => Error::Io { path, source },
                    None => Error::InvalidArgument(text),
                });
            }
        };
        if entry.file_type().is_file() && crate::ingest::decode::has_image_extension(entry.path()) {
            files.push(entry.into_path());
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_link_to_nothing_is_passed_over_and_a_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("cats")).unwrap();
        std::fs::write(root.join("cats/a.jpg"), b"x").unwrap();
        std::os::unix::fs::symlink(root.join("gone.jpg"), root.join("cats/b.jpg")).unwrap();
        assert_eq!(
            super::image_files(root).unwrap(),
            vec![root.join("cats/a.jpg")]
        );
        std::os::unix::fs::symlink(root, root.join("cats/loop")).unwrap();
        let e = super::image_files(root).unwrap_err().to_string();
        assert!(e.contains("loop"), "{e}");
    }
}
