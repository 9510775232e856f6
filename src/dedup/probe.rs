//! The copy decision for one picture that need not be indexed (`query --copies`): whether
//! an indexed file is a copy of it, decided as `dedup` decides a pair.

use super::content_check::{agreement, working_file, working_picture_of};
use super::pairs::{bonus_reach, decoded_thumbnail, with_pixel_check};
use super::{DedupOptions, NORMALISED_MIN_COSINE, VERIFIED_MIN_COSINE};
use crate::dedup::matching::{Agreement, LocalFeatures};
use crate::dedup::verifier::Verdict;
use crate::error::Result;
use crate::index::store::Hash;
use crate::index::Lookup;
use crate::ingest::capture_time::CaptureTime;
use crate::ingest::decode::PreparedImage;
use crate::ingest::thumbnail::{Pattern, Thumbnail};
use crate::model::background::normalised;
use crate::model::Task;
use serde::Serialize;
use std::path::Path;

/// A picture asked about by `query --copies` (it need not be indexed): what deciding whether
/// an indexed file is a copy of it takes ([`copy_of`]).
pub struct Probe {
    hash: Hash,
    vector: Vec<f32>,
    pattern: Pattern,
    /// Upright size of the picture.
    size: (u32, u32),
    /// `None` when the picture cannot be decoded at the working size.
    features: Option<LocalFeatures>,
    taken: Option<CaptureTime>,
}

impl Probe {
    /// The probe of a file's `bytes`, its picture prepared for the encoder and its stored
    /// vector (both heads).
    pub fn new(bytes: &[u8], prepared: &PreparedImage, vector: Vec<f32>) -> Probe {
        Probe {
            hash: *blake3::hash(bytes).as_bytes(),
            vector,
            pattern: Thumbnail::of(prepared).pattern(),
            size: (prepared.width, prepared.height),
            features: working_picture_of(bytes).map(|img| LocalFeatures::of(&img)),
            taken: CaptureTime::of(bytes),
        }
    }
}

/// Why an indexed file is a copy of a [`Probe`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyEvidence {
    /// The same bytes.
    pub exact: bool,
    /// The score the threshold applied to (1 for the same bytes).
    pub score: f32,
    /// The content check's evidence (`None` for the same bytes, or without the check).
    pub agreement: Option<Agreement>,
    /// The pair verifier's verdict (`None` for the same bytes, or without the check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifier: Option<Verdict>,
}

/// Whether the indexed file `path` is a copy of `probe`, decided as [`super::find_duplicates`]
/// decides a pair (`opts`: threshold, scoring, content check): the same bytes, or a score
/// at or above the threshold and, with the content check, pictures that agree and capture
/// times that do not say two shots. `None`: not a copy, or not indexed or readable now.
pub fn copy_of(
    index: &dyn Lookup,
    opts: &DedupOptions,
    probe: &Probe,
    path: &Path,
) -> Result<Option<CopyEvidence>> {
    let Some((file, content)) = index.picture(path)? else {
        return Ok(None);
    };
    if file.hash == probe.hash {
        return Ok(Some(CopyEvidence {
            exact: true,
            score: 1.0,
            agreement: None,
            verifier: None,
        }));
    }
    let head = index.model().head(Task::Copy);
    let cos = head.similarity(&probe.vector, &content.vector);
    let score = match &opts.background {
        None => cos,
        Some(bg) => {
            let (a, b) = (head.unit(&probe.vector), head.unit(&content.vector));
            let levels = bg.levels(&[a.as_ref(), b.as_ref()]);
            let score = normalised(cos, levels[0], levels[1]);
            if !opts.pixel_check {
                if cos < NORMALISED_MIN_COSINE {
                    f32::NEG_INFINITY
                } else {
                    score
                }
            } else if cos < VERIFIED_MIN_COSINE {
                f32::NEG_INFINITY
            } else {
                let thumbnails = if score >= bonus_reach(opts.threshold) {
                    let side = index.model().input_size as u32;
                    index
                        .thumbnail(&file.hash)?
                        .or_else(|| decoded_thumbnail(path, side))
                        .map(|t| probe.pattern.similarity(&t.pattern()))
                } else {
                    None
                };
                with_pixel_check(score, cos, thumbnails)
            }
        }
    };
    if score < opts.threshold {
        return Ok(None);
    }
    if !opts.content_check {
        return Ok(Some(CopyEvidence {
            exact: false,
            score,
            agreement: None,
            verifier: None,
        }));
    }
    let Some(features) = &probe.features else {
        return Ok(None);
    };
    let Some((picture, taken)) = working_file(path) else {
        return Ok(None);
    };
    if CaptureTime::two_shots(probe.taken.as_ref(), taken.as_ref()) {
        return Ok(None);
    }
    let pixels = |(w, h): (u32, u32)| w as u64 * h as u64;
    let found = agreement(
        (pixels(probe.size), features),
        (
            pixels((content.width, content.height)),
            &LocalFeatures::of(&picture),
        ),
    );
    if !found.same_content() {
        return Ok(None);
    }
    // The same decision as `dedup`'s (`pairs::check_pairs`): the pair verifier after the rule.
    let (yes, verdict) = opts.verifier().judge(
        &found,
        score,
        cos,
        probe.size,
        (content.width, content.height),
    );
    Ok(yes.then_some(CopyEvidence {
        exact: false,
        score,
        agreement: Some(found),
        verifier: Some(verdict),
    }))
}
