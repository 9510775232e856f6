//! Candidate pairs and their scores: the self-join (a range search over the graph's links
//! as `vectors.flat` stores them, the graph itself not loaded), the normalised similarity
//! against the model's background set, the pixel check's bonus, the threshold, and then
//! the content check ([`super::content_check`]) on the pairs left.

use super::content_check::{check_content, pair_key};
use super::contents::Content;
use super::{DedupOptions, NORMALISED_MIN_COSINE, VERIFIED_MIN_COSINE};
use crate::dedup::matching::Agreement;
use crate::dedup::verifier::Verdict;
use crate::error::Result;
use crate::index::cluster::ClusterIndex;
use crate::index::flat::FlatVectors;
use crate::index::store::Hash;
use crate::index::{Index, Lookup};
use crate::ingest::thumbnail::{verified, Pattern, Thumbnail};
use crate::model::background::normalised;
use crate::model::{Head, Task};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// Similar images kept per image.
const NEIGHBOURS: usize = 32;

/// Searches a Milvus store answers at once for [`scored_pairs_in`].
const SEARCHES_IN_FLIGHT: usize = 8;

/// Points whose links the self-join follows from one image, at most (see [`similar_pairs`]).
const EXPANDED: usize = 4 * NEIGHBOURS;

/// The pairs of contents that are duplicates by their score (and, with the content check,
/// by their local features), with what grouping needs to know about them.
pub(super) struct ScoredPairs {
    /// `(i, j, score, cosine)` by position in the contents, each pair possibly in both
    /// directions.
    pub(super) pairs: Vec<(usize, usize, f32, f32)>,
    /// Background levels by position, when pairs are scored by normalised similarity.
    levels: Option<Vec<f32>>,
    /// Pairs the content check found to be two shots of one scene, not one picture (the
    /// verifier's no with a scene in common, or capture times that differ), like `pairs`.
    pub(super) shots: Vec<(usize, usize, f32, f32)>,
    /// The content check's evidence, keyed by [`pair_key`].
    pub(super) agreements: HashMap<(usize, usize), Agreement>,
    /// The pair verifier's verdicts, keyed by [`pair_key`].
    pub(super) verdicts: HashMap<(usize, usize), Verdict>,
}

impl ScoredPairs {
    /// The score of content `i` with itself (what its exact copies score).
    pub(super) fn self_score(&self, i: usize) -> f32 {
        match &self.levels {
            Some(l) => normalised(1.0, l[i], l[i]),
            None => 1.0,
        }
    }
}

/// The pairs of `contents` at or above the threshold of `opts` (not yet checked for content:
/// see [`check_pairs`]).
pub(super) fn scored_pairs(
    index: &mut Index,
    contents: &[Content],
    opts: &DedupOptions,
) -> Result<ScoredPairs> {
    // Self-join by a range search over the graph's links, read from the flat vector file (the
    // graph itself is not loaded): pairs whose cosine reaches the floor, scored below.
    let position: HashMap<u64, usize> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    // Copy decisions compare the copy head's descriptors (the whole vector for a one-head
    // model); the graph links were built on the same head.
    let head = index.meta().model.head(Task::Copy);
    let flat = index.neighbourhood()?;
    // The image of each row of the flat file (`None`: deleted since the graph was built).
    let image_of_row: Vec<Option<usize>> = (0..flat.len())
        .map(|row| position.get(&flat.id(row)).copied())
        .collect();
    let (floor, link_floor) = floors(opts);
    let pairs = similar_pairs(flat, head, floor, link_floor, &image_of_row);
    let row_of: HashMap<usize, usize> = image_of_row
        .iter()
        .enumerate()
        .filter_map(|(row, image)| image.map(|i| (i, row)))
        .collect();
    let levels = background_levels(contents, &pairs, opts, |i| {
        row_of
            .get(&i)
            .map(|&row| head.part_unit(flat.part(row, head)))
    });
    finish(index, contents, pairs, levels, opts)
}

/// [`scored_pairs`] for an index kept in a Milvus collection: where the index folder
/// follows the graph's links, each picture's neighbours by the copy head at the link floor
/// or above come from a range search, all of them when fewer than [`EXPANDED`] are, else
/// the [`EXPANDED`] nearest (the fallback of a picture with very many look-alikes).
pub(super) fn scored_pairs_in(
    cluster: &ClusterIndex,
    contents: &[Content],
    opts: &DedupOptions,
) -> Result<ScoredPairs> {
    let position: HashMap<Hash, usize> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash, i))
        .collect();
    let units = cluster.copy_vectors()?;
    let (floor, link_floor) = floors(opts);
    let link_floor = link_floor.min(floor);
    // One search per picture, several in flight (the time is the server's and the network's).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(SEARCHES_IN_FLIGHT)
        .build()
        .map_err(|e| crate::error::Error::InvalidArgument(format!("search threads: {e}")))?;
    let found: Vec<Vec<(usize, usize, f32)>> = pool.install(|| {
        contents
            .par_iter()
            .enumerate()
            .map(|(i, c)| {
                let Some(unit) = units.get(&c.hash) else {
                    return Ok(Vec::new());
                };
                let mut best: HashMap<usize, f32> = HashMap::new();
                for (hash, cos) in cluster.copy_neighbours(unit, link_floor, EXPANDED)? {
                    match position.get(&hash) {
                        Some(&j) if j != i && cos >= link_floor => {
                            let b = best.entry(j).or_insert(cos);
                            *b = b.max(cos);
                        }
                        _ => {}
                    }
                }
                let mut found: Vec<(usize, f32)> = best.into_iter().collect();
                found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                found.truncate(NEIGHBOURS);
                Ok(found.into_iter().map(|(j, cos)| (i, j, cos)).collect())
            })
            .collect::<Result<_>>()
    })?;
    let pairs: Vec<(usize, usize, f32)> = found.into_iter().flatten().collect();
    let levels = background_levels(contents, &pairs, opts, |i| {
        units
            .get(&contents[i].hash)
            .map(|u| std::borrow::Cow::Borrowed(u.as_slice()))
    });
    finish(cluster, contents, pairs, levels, opts)
}

/// The cosine floor of the pairs looked at, and of the graph's direct links (lower with the
/// content check, which vouches for pairs the pixel check alone would not).
fn floors(opts: &DedupOptions) -> (f32, f32) {
    match (&opts.background, opts.pixel_check) {
        (Some(_), true) => (NORMALISED_MIN_COSINE, VERIFIED_MIN_COSINE),
        (Some(_), false) => (NORMALISED_MIN_COSINE, NORMALISED_MIN_COSINE),
        (None, _) => (opts.threshold, opts.threshold),
    }
}

/// Background levels, by position, of the images in a pair or with several files, when
/// pairs are scored by normalised similarity (`unit`: an image's copy-head unit vector).
fn background_levels<'a>(
    contents: &[Content],
    pairs: &[(usize, usize, f32)],
    opts: &DedupOptions,
    unit: impl Fn(usize) -> Option<std::borrow::Cow<'a, [f32]>>,
) -> Option<Vec<f32>> {
    opts.background.as_ref().map(|bg| {
        let mut needed: Vec<bool> = contents.iter().map(|c| c.files.len() > 1).collect();
        for &(i, j, _) in pairs {
            needed[i] = true;
            needed[j] = true;
        }
        let wanted: Vec<(usize, std::borrow::Cow<[f32]>)> = (0..contents.len())
            .filter(|&i| needed[i])
            .filter_map(|i| unit(i).map(|u| (i, u)))
            .collect();
        let vectors: Vec<&[f32]> = wanted.iter().map(|(_, v)| v.as_ref()).collect();
        let mut levels = vec![1.0; contents.len()];
        for (&(i, _), level) in wanted.iter().zip(bg.par_levels(&vectors)) {
            levels[i] = level;
        }
        levels
    })
}

/// Scores the pairs (normalised similarity and the pixel check's bonus, when the options
/// say so) and keeps those at or above the threshold.
fn finish(
    index: &dyn Lookup,
    contents: &[Content],
    pairs: Vec<(usize, usize, f32)>,
    levels: Option<Vec<f32>>,
    opts: &DedupOptions,
) -> Result<ScoredPairs> {
    let score = |i: usize, j: usize, cos: f32| match &levels {
        Some(l) => normalised(cos, l[i], l[j]),
        None => cos,
    };
    let mut pairs: Vec<(usize, usize, f32, f32)> = pairs
        .into_iter()
        .map(|(i, j, cos)| (i, j, score(i, j, cos), cos))
        .collect();
    if levels.is_some() && opts.pixel_check {
        add_pixel_bonus(index, contents, &mut pairs, opts.threshold)?;
    }
    pairs.retain(|&(_, _, s, _)| s >= opts.threshold);
    Ok(ScoredPairs {
        pairs,
        levels,
        shots: Vec::new(),
        agreements: HashMap::new(),
        verdicts: HashMap::new(),
    })
}

/// With the content check, keeps the pairs the pair verifier finds to be one picture, and
/// sets apart those of two shots of one scene (a scene in common, or capture times that
/// differ); the rest are dropped. Without it, keeps every pair. Reads the files, not the
/// index.
pub(super) fn check_pairs(
    contents: &[Content],
    mut scored: ScoredPairs,
    opts: &DedupOptions,
) -> ScoredPairs {
    if !opts.content_check {
        return scored;
    }
    let checks = check_content(contents, &scored.pairs);
    let verifier = opts.verifier();
    let mut verdicts: HashMap<(usize, usize), Verdict> = HashMap::new();
    let (mut copies, mut shots) = (Vec::new(), Vec::new());
    for &(i, j, score, cos) in &scored.pairs {
        let key = pair_key(i, j);
        if checks.two_shots.contains(&key) {
            shots.push((i, j, score, cos));
            continue;
        }
        let Some(a) = checks.agreements.get(&key) else {
            continue;
        };
        // The verifier is the rule's second stage: it judges the pairs the rule accepts.
        // A pair listed in both directions is judged once.
        let one_picture = a.same_content()
            && match verdicts.get(&key) {
                Some(v) => v.probability >= verifier.threshold,
                None => {
                    let (ci, cj) = (&contents[key.0], &contents[key.1]);
                    let (yes, verdict) =
                        verifier.judge(a, score, cos, (ci.width, ci.height), (cj.width, cj.height));
                    verdicts.insert(key, verdict);
                    yes
                }
            };
        if one_picture {
            copies.push((i, j, score, cos));
        } else if a.same_scene() {
            shots.push((i, j, score, cos));
        }
    }
    scored.pairs = copies;
    scored.shots = shots;
    scored.agreements = checks.agreements;
    scored.verdicts = verdicts;
    scored
}

/// Adds the pixel check's bonus to every pair `(i, j, normalised score, cosine)` that could
/// reach `threshold` with it, and drops the pairs below [`NORMALISED_MIN_COSINE`] whose
/// thumbnails do not agree beyond [`crate::ingest::thumbnail::BONUS_FROM`]. Thumbnails come from the
/// index; an image indexed before thumbnails were kept has its first readable file decoded
/// again (a pair with an image that cannot be read keeps its normalised score).
fn add_pixel_bonus(
    index: &dyn Lookup,
    contents: &[Content],
    pairs: &mut [(usize, usize, f32, f32)],
    threshold: f32,
) -> Result<()> {
    let reach = bonus_reach(threshold);
    let mut wanted: Vec<usize> = pairs
        .iter()
        .filter(|p| p.2 >= reach)
        .flat_map(|p| [p.0, p.1])
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let side = index.model().input_size as u32;
    let stored: Vec<Option<Thumbnail>> = wanted
        .iter()
        .map(|&i| index.thumbnail(&contents[i].hash))
        .collect::<Result<_>>()?;
    // Missing ones are decoded on the decode threads (their contained panics stay quiet).
    let pool = crate::ingest::decode::decode_pool(
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    );
    let patterns: HashMap<usize, Pattern> = pool.install(|| {
        wanted
            .par_iter()
            .zip(stored)
            .filter_map(|(&i, t)| {
                t.or_else(|| {
                    contents[i]
                        .files
                        .iter()
                        .find_map(|(path, _, _)| decoded_thumbnail(path, side))
                })
                .map(|t| (i, t.pattern()))
            })
            .collect()
    });
    for p in pairs.iter_mut() {
        let agreement = match (patterns.get(&p.0), patterns.get(&p.1)) {
            (Some(a), Some(b)) if p.2 >= reach => Some(a.similarity(b)),
            _ => None,
        };
        p.2 = with_pixel_check(p.2, p.3, agreement);
    }
    Ok(())
}

/// The pixel check's thumbnail of a file decoded again (for an index that does not keep
/// thumbnails), at the encoder's input size `side`.
pub(super) fn decoded_thumbnail(path: &Path, side: u32) -> Option<Thumbnail> {
    let opts = crate::ingest::decode::DecodeOptions::new(side);
    crate::ingest::decode::prepare_file(path, &opts)
        .ok()
        .map(|img| Thumbnail::of(&img))
}

/// The lowest normalised score from which the pixel check's bonus can lift a pair to
/// `threshold`: below it the thumbnails are not compared.
pub(super) fn bonus_reach(threshold: f32) -> f32 {
    threshold
        - crate::ingest::thumbnail::BONUS_WEIGHT * (1.0 - crate::ingest::thumbnail::BONUS_FROM)
}

/// A pair's score under the pixel check: its normalised score `score` plus the bonus of
/// its thumbnails' similarity `thumbnails` (`None`: not compared). Below the normalised
/// floor of cosine `cos` only the thumbnails can vouch for a pair.
pub(super) fn with_pixel_check(score: f32, cos: f32, thumbnails: Option<f32>) -> f32 {
    let vouched = thumbnails.is_some_and(|s| s > crate::ingest::thumbnail::BONUS_FROM);
    if cos < NORMALISED_MIN_COSINE && !vouched {
        f32::NEG_INFINITY
    } else if let Some(s) = thumbnails {
        verified(score, s)
    } else {
        score
    }
}

/// Pairs of positions `(i, j, cosine)` (`head`'s cosine) with cosine at or above `floor`, at most
/// [`NEIGHBOURS`] per image and each pair possibly in both directions, and the point's own
/// graph links down to `link_floor` (at most `floor`); `image_of_row` maps a row of `flat` to
/// its image (`None`: deleted since the graph was built).
///
/// A range search over the graph's links: from a point, every linked point is scored, and
/// every one that reaches the floor is expanded in turn, best first, up to [`EXPANDED`]
/// points. The graph keeps a point's nearest neighbour but prunes other near ones that are
/// closer to a kept link than to the point, so the rest of a tight group of copies is only
/// reached through its other members. A point none of whose links reaches the floor (most
/// of them) costs nothing: the similarities of its own links are stored.
fn similar_pairs(
    flat: &FlatVectors,
    head: Head,
    floor: f32,
    link_floor: f32,
    image_of_row: &[Option<usize>],
) -> Vec<(usize, usize, f32)> {
    let link_floor = link_floor.min(floor);
    (0..flat.len())
        .into_par_iter()
        .flat_map_iter(|row| {
            let Some(i) = image_of_row[row] else {
                return Vec::new();
            };
            let mut found: Vec<(usize, f32)> = flat
                .neighbours(row)
                .filter(|&(_, cos)| cos >= link_floor)
                .collect();
            let mut frontier: Vec<(usize, f32)> =
                found.iter().filter(|p| p.1 >= floor).copied().collect();
            if !frontier.is_empty() {
                let v = flat.part(row, head);
                let mut seen: std::collections::HashSet<usize> =
                    flat.neighbours(row).map(|(m, _)| m).collect();
                seen.insert(row);
                for _ in 0..EXPANDED {
                    let Some(best) = (0..frontier.len())
                        .max_by(|&a, &b| frontier[a].1.total_cmp(&frontier[b].1))
                    else {
                        break;
                    };
                    let (n, _) = frontier.swap_remove(best);
                    for (m, _) in flat.neighbours(n) {
                        if seen.insert(m) {
                            let cos = head.part_similarity(v, flat.part(m, head));
                            if cos >= floor {
                                found.push((m, cos));
                                frontier.push((m, cos));
                            }
                        }
                    }
                }
            }
            let mut found: Vec<(usize, f32)> = found
                .into_iter()
                .filter_map(|(m, cos)| image_of_row[m].map(|j| (j, cos)))
                .filter(|&(j, _)| j != i)
                .collect();
            found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            found.truncate(NEIGHBOURS);
            found.into_iter().map(|(j, cos)| (i, j, cos)).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::dot;

    /// Regression: with normalised scoring, photos far from every background photo (levels
    /// near 0) once grouped at cosines around 0.5; a pair must also reach the cosine floor.
    #[test]
    fn the_self_join_finds_every_pair_of_tight_groups() {
        use std::collections::HashSet;
        // 2,000 scattered points, then 40 groups of 6 copies of a point (pairwise cosine
        // about 0.94): the graph keeps each point's nearest copy and prunes the rest of its
        // group from its links, which following the links must recover.
        let dim = 64;
        let mut state = 20261201u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut vectors: Vec<Vec<f32>> = (0..2000)
            .map(|_| crate::vector::normalised((0..dim).map(|_| noise()).collect()).unwrap())
            .collect();
        for _ in 0..40 {
            let base: Vec<f32> = (0..dim).map(|_| noise()).collect();
            let base = crate::vector::normalised(base).unwrap();
            for _ in 0..6 {
                let copy = base.iter().map(|x| x + 0.03 * noise()).collect();
                vectors.push(crate::vector::normalised(copy).unwrap());
            }
        }
        let items: Vec<(Vec<f32>, u64)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as u64))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        crate::index::graph::Graph::build(crate::index::graph::Space::whole(dim), &items)
            .write_flat(dir.path(), 1)
            .unwrap();
        let flat = FlatVectors::open(dir.path(), 1, crate::index::flat::Parts::whole(dim)).unwrap();
        let floor = 0.85;
        let every: Vec<Option<usize>> =
            (0..flat.len()).map(|r| Some(flat.id(r) as usize)).collect();
        let found: HashSet<(usize, usize)> =
            similar_pairs(&flat, Head::whole(dim), floor, floor, &every)
                .into_iter()
                .map(|(i, j, cos)| {
                    assert!((cos - dot(&vectors[i], &vectors[j])).abs() < 1e-5);
                    (i.min(j), i.max(j))
                })
                .collect();
        let mut exhaustive = HashSet::new();
        for i in 0..vectors.len() {
            for j in i + 1..vectors.len() {
                if dot(&vectors[i], &vectors[j]) >= floor {
                    exhaustive.insert((i, j));
                }
            }
        }
        assert_eq!(
            exhaustive.len(),
            40 * 15,
            "every pair of a group, nothing else"
        );
        let missed: Vec<_> = exhaustive.difference(&found).collect();
        let extra: Vec<_> = found.difference(&exhaustive).collect();
        assert!(
            missed.is_empty() && extra.is_empty(),
            "missed {missed:?}, extra {extra:?}"
        );
        // Deleted points (no position) are in no pair.
        let even: Vec<Option<usize>> = every.iter().map(|i| i.filter(|i| i % 2 == 0)).collect();
        let kept = similar_pairs(&flat, Head::whole(dim), floor, floor, &even);
        assert!(!kept.is_empty() && kept.iter().all(|&(i, j, _)| i % 2 == 0 && j % 2 == 0));
    }
}
