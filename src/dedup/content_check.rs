//! The content check of a pair: each picture decoded again at the working size, local
//! features matched under one geometric map ([`crate::dedup::matching`]), and capture times
//! compared ([`crate::ingest::capture_time`]): two shots are never the same picture.

use super::contents::Content;
use crate::dedup::matching::{Agreement, LocalFeatures, WORK_SIDE};
use crate::ingest::capture_time::CaptureTime;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What the content check found about pairs, keyed by [`pair_key`].
#[derive(Default)]
pub(super) struct Checks {
    /// The local features' agreement of the pairs compared.
    pub(super) agreements: HashMap<(usize, usize), Agreement>,
    /// Pairs of two distinct shots by their files' EXIF capture times
    /// ([`CaptureTime::two_shots`]): not compared.
    pub(super) two_shots: HashSet<(usize, usize)>,
}

/// The local features' agreement ([`crate::dedup::matching`]) of every pair `(i, j, ..)`; a
/// pair of two distinct shots is not compared. Each image's first readable file is decoded
/// once, on the decode threads; a pair with an image that cannot be read now is in neither.
pub(super) fn check_content(contents: &[Content], pairs: &[(usize, usize, f32, f32)]) -> Checks {
    let mut keys: Vec<(usize, usize)> = pairs.iter().map(|&(i, j, _, _)| pair_key(i, j)).collect();
    keys.sort_unstable();
    keys.dedup();
    let pool = crate::ingest::decode::decode_pool(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    );
    let mut checks = Checks::default();
    // Pairs in blocks that need at most FEATURES_HELD pictures' features at once (about
    // 200 KB each), so memory stays bounded in a collection of look-alikes; a picture in
    // pairs of several blocks is decoded once per block.
    let mut rest = keys.as_slice();
    while !rest.is_empty() {
        let mut images = std::collections::HashSet::new();
        let mut end = 0;
        while end < rest.len() && images.len() < FEATURES_HELD {
            images.insert(rest[end].0);
            images.insert(rest[end].1);
            end += 1;
        }
        let (block, next) = rest.split_at(end);
        rest = next;
        let images: Vec<usize> = images.into_iter().collect();
        pool.install(|| {
            let features: HashMap<usize, (LocalFeatures, Option<CaptureTime>)> = images
                .par_iter()
                .filter_map(|&i| {
                    working_picture(&contents[i])
                        .map(|(img, taken)| (i, (LocalFeatures::of(&img), taken)))
                })
                .collect();
            let found: Vec<((usize, usize), Option<Agreement>)> = block
                .par_iter()
                .filter_map(|&(i, j)| {
                    let ((a, taken_a), (b, taken_b)) = (features.get(&i)?, features.get(&j)?);
                    if CaptureTime::two_shots(taken_a.as_ref(), taken_b.as_ref()) {
                        return Some(((i, j), None));
                    }
                    let pixels = (contents[i].pixels(), contents[j].pixels());
                    Some(((i, j), Some(agreement((pixels.0, a), (pixels.1, b)))))
                })
                .collect();
            for (key, found) in found {
                match found {
                    Some(a) => {
                        checks.agreements.insert(key, a);
                    }
                    None => {
                        checks.two_shots.insert(key);
                    }
                }
            }
        });
    }
    checks
}

/// The key of the pair of positions `i` and `j`, in either order.
pub(super) fn pair_key(i: usize, j: usize) -> (usize, usize) {
    (i.min(j), i.max(j))
}

/// Pictures whose features [`check_content`] holds at once, at most.
const FEATURES_HELD: usize = 2048;

/// How two pictures (their pixel counts and features) agree. The picture with more pixels
/// maps onto the other (its corners are the better located ones); a much blurrier picture
/// is compared with the other blurred alike.
pub(super) fn agreement(
    (pixels_a, a): (u64, &LocalFeatures),
    (pixels_b, b): (u64, &LocalFeatures),
) -> Agreement {
    let direct = if pixels_a >= pixels_b {
        a.agreement(b)
    } else {
        b.agreement(a)
    };
    if direct.same_content() {
        return direct;
    }
    if a.blurrier_than(b) {
        a.agreement_blurred(b)
    } else if b.blurrier_than(a) {
        b.agreement_blurred(a)
    } else {
        direct
    }
}

/// The upright picture of a content's first readable file, at most [`WORK_SIDE`] on its
/// longer side, and the file's capture time.
fn working_picture(content: &Content) -> Option<(image::RgbImage, Option<CaptureTime>)> {
    content
        .files
        .iter()
        .find_map(|(path, _, _)| working_file(path))
}

/// The upright picture of a file, at most [`WORK_SIDE`] on its longer side, and its capture
/// time; `None` when it cannot be read or decoded now.
pub(super) fn working_file(path: &Path) -> Option<(image::RgbImage, Option<CaptureTime>)> {
    let bytes = std::fs::read(path).ok()?;
    Some((working_picture_of(&bytes)?, CaptureTime::of(&bytes)))
}

/// The upright picture of a file's bytes, at most [`WORK_SIDE`] on its longer side; `None`
/// when they cannot be decoded.
pub(super) fn working_picture_of(bytes: &[u8]) -> Option<image::RgbImage> {
    let opts = crate::ingest::decode::DecodeOptions::new(WORK_SIDE);
    crate::ingest::decode::decode_upright(bytes, WORK_SIDE, &opts).ok()
}
