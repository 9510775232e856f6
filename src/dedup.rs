//! Duplicate grouping: exact copies (same content hash), near-exact copies (the same picture
//! resized or recompressed: very high similarity) and similar images (edits and crops, down
//! to the threshold), found by a range search from every image over the HNSW graph's links
//! as `vectors.flat` stores them (a self-join that neither loads the graph nor compares all
//! pairs), scored by normalised similarity and the pixel check ([`crate::thumbnail`]).
//!
//! Groups never chain: every member is similar to the group's keeper, not merely to another
//! member. Keepers are chosen by a [`Keep`] policy; files under a reference folder are always
//! keepers and are marked so that no action ever touches them. [`copy_of`] takes the same
//! decision for one picture that need not be indexed (a [`Probe`]) and one indexed file:
//! `query --copies`.

use crate::background::{normalised, Background};
use crate::capture_time::CaptureTime;
use crate::decode::PreparedImage;
use crate::error::Result;
use crate::flat::FlatVectors;
use crate::index::Index;
use crate::matching::{Agreement, LocalFeatures, WORK_SIDE};
use crate::model::{Head, Task};
use crate::store::{FileRecord, Hash};
use crate::thumbnail::{verified, Pattern, Thumbnail};
use rayon::prelude::*;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Default near-duplicate threshold for models without a background set (cosine
/// similarity): the embedded encoder's copy-head cosine threshold at precision 0.99 in
/// `lookalike eval copies` (0.9222, rounded up; see README, "Choosing the threshold").
pub const DEFAULT_THRESHOLD: f32 = 0.93;
/// Default threshold of the normalised similarity (see [`crate::background`]), used when the
/// model carries a background set: the embedded encoder's copy-head threshold at precision
/// 0.99 in `lookalike eval copies` (method `encoder-norm`, 0.1446; 0.1451 on seed 2), rounded
/// up.
pub const DEFAULT_NORMALISED_THRESHOLD: f32 = 0.15;
/// Default threshold with the pixel check (normalised similarity plus the thumbnails' bonus,
/// see [`crate::thumbnail::verified`]): the embedded encoder's copy-head threshold at
/// precision 0.99 in `lookalike eval copies` (method `encoder-verified`, 0.1928; 0.1929 on
/// seed 2), rounded up.
pub const DEFAULT_VERIFIED_THRESHOLD: f32 = 0.20;
/// With normalised scoring, a pair must also reach this cosine similarity: photos unlike
/// every background photo have low levels, and would otherwise pass on a low cosine (99.6 %
/// of the true pairs `dedup` groups on the copy-detection set-up are above it; BENCHMARKS.md).
pub const NORMALISED_MIN_COSINE: f32 = 0.70;
/// With the pixel check, an image's own graph links down to this cosine are candidates too,
/// and count only when the thumbnails vouch for them: the copies the encoder loses most (a
/// strong blur: 18 of 38 blurred copies fall below 0.70, 6 of all 646 copies below 0.50;
/// BENCHMARKS.md, "The pixel check"). They are not followed further (the range search runs
/// above [`NORMALISED_MIN_COSINE`]).
pub const VERIFIED_MIN_COSINE: f32 = 0.50;
/// Default near-exact limit: a copy whose small RGB thumbnail differs from its keeper's by
/// at most this many levels on average, and nowhere by much more (see [`NEAR_EXACT_PEAK`]),
/// and whose aspect ratio is the same, is the same picture resized or recompressed (see
/// README, "Tiers").
pub const DEFAULT_NEAR_EXACT: f32 = 4.0;
/// Side of the RGB thumbnails compared for the near-exact tier.
const FINGERPRINT_SIDE: u32 = 32;
/// A near-exact copy's thumbnail pixels (99th percentile) stay within this many times the
/// near-exact limit of the keeper's.
const NEAR_EXACT_PEAK: f32 = 6.0;
/// Similar images kept per image.
const NEIGHBOURS: usize = 32;
/// Points whose links the self-join follows from one image, at most (see [`similar_pairs`]).
const EXPANDED: usize = 4 * NEIGHBOURS;

/// How close a member is to its keeper. Ordered from closest to loosest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The same bytes.
    Exact,
    /// The same picture resized or recompressed: same aspect ratio, thumbnails within the
    /// near-exact limit.
    NearExact,
    /// Similarity at or above the threshold: edited, cropped, rotated.
    Similar,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Exact, Tier::NearExact, Tier::Similar];

    /// The tier of a name as [`Tier::name`] writes it.
    pub fn parse(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Exact => "exact",
            Tier::NearExact => "near-exact",
            Tier::Similar => "similar",
        }
    }

    /// The name used in JSON and the HTML report (`near_exact`).
    pub fn key(self) -> &'static str {
        match self {
            Tier::Exact => "exact",
            Tier::NearExact => "near_exact",
            Tier::Similar => "similar",
        }
    }
}

/// The groups with only the members of `tiers` (and their keepers): a group left without a
/// copy to act on is dropped; each group's tier is recomputed.
pub fn restrict_to_tiers(groups: Vec<Group>, tiers: &[Tier]) -> Vec<Group> {
    groups
        .into_iter()
        .filter_map(|mut g| {
            g.members.retain(|m| m.keeper || tiers.contains(&m.tier));
            g.tier = g.members.iter().skip(1).map(|m| m.tier).max()?;
            g.members.iter().skip(1).any(|m| !m.reference).then_some(g)
        })
        .collect()
}

/// Files that duplicate a keeper, and their bytes.
pub fn totals(groups: &[Group]) -> (usize, u64) {
    let copies = groups.iter().flat_map(|g| g.members.iter().skip(1));
    (copies.clone().count(), copies.map(|m| m.size).sum())
}

/// Which image of a group is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// Highest resolution, then largest file, then oldest.
    #[default]
    Best,
    /// Largest file, then highest resolution, then oldest.
    Largest,
    /// Oldest modification time.
    Oldest,
    /// Newest modification time.
    Newest,
    /// Shortest path (fewest bytes), then alphabetical.
    ShortestPath,
}

impl Keep {
    pub const NAMES: [&'static str; 5] = ["best", "largest", "oldest", "newest", "shortest-path"];

    pub fn parse(name: &str) -> Option<Keep> {
        Some(match name {
            "best" => Keep::Best,
            "largest" => Keep::Largest,
            "oldest" => Keep::Oldest,
            "newest" => Keep::Newest,
            "shortest-path" => Keep::ShortestPath,
            _ => return None,
        })
    }
}

/// How to group.
#[derive(Debug, Clone)]
pub struct DedupOptions {
    /// Pairs at or above it are similar: a normalised similarity (plus the pixel check's
    /// bonus with `pixel_check`) with a `background`, a cosine similarity without.
    pub threshold: f32,
    /// The model's background set: pairs are scored by normalised similarity.
    pub background: Option<Arc<Background>>,
    /// With a background set, add the pixel check's bonus ([`crate::thumbnail`]) to pairs
    /// whose thumbnails agree.
    pub pixel_check: bool,
    /// Near-exact limit: mean absolute difference of the thumbnails, in levels of the RGB thumbnails.
    pub near_exact: f32,
    pub keep: Keep,
    /// Files under these folders are always keepers and never acted on.
    pub references: Vec<PathBuf>,
    /// Group two different contents only when their local features agree on one geometric
    /// map ([`crate::matching`]): the same picture, not merely the same kind of picture.
    pub content_check: bool,
}

impl DedupOptions {
    /// What the threshold applies to: `verified` (normalised similarity plus the pixel
    /// check), `normalised` (a background set without the pixel check) or `cosine`.
    pub fn scoring(&self) -> &'static str {
        match (&self.background, self.pixel_check) {
            (Some(_), true) => "verified",
            (Some(_), false) => "normalised",
            (None, _) => "cosine",
        }
    }
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            threshold: DEFAULT_THRESHOLD,
            background: None,
            pixel_check: true,
            near_exact: DEFAULT_NEAR_EXACT,
            keep: Keep::Best,
            references: Vec::new(),
            content_check: true,
        }
    }
}

/// One file of a group.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub path: PathBuf,
    /// Cosine similarity to the keeper (1 for the keeper and its exact copies).
    pub similarity: f32,
    /// What the threshold was compared with: the normalised similarity to the keeper with a
    /// background set, else the cosine similarity.
    pub score: f32,
    /// How close it is to the keeper (the keeper itself: `exact`).
    pub tier: Tier,
    pub keeper: bool,
    /// Under a reference folder: never acted on.
    pub reference: bool,
    pub width: u32,
    pub height: u32,
    pub size: u64,
    /// Modification time recorded when indexed (ns since the epoch).
    pub mtime_ns: i64,
    /// How the member's local features agree with the keeper's (with the content check, for
    /// members of a different content than the keeper).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement: Option<Agreement>,
}

/// A duplicate group; `members[0]` is the keeper.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The loosest tier among the members.
    pub tier: Tier,
    pub members: Vec<Member>,
}

struct Content {
    id: u64,
    hash: Hash,
    width: u32,
    height: u32,
    /// Paths with their records and whether each is a reference, keeper candidate first.
    files: Vec<(PathBuf, FileRecord, bool)>,
}

impl Content {
    fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
    fn oldest(&self) -> i64 {
        self.files.iter().map(|f| f.1.mtime_ns).min().unwrap_or(0)
    }
    fn newest(&self) -> i64 {
        self.files.iter().map(|f| f.1.mtime_ns).max().unwrap_or(0)
    }
    fn size(&self) -> u64 {
        self.files.first().map_or(0, |f| f.1.size)
    }
    fn reference(&self) -> bool {
        self.files.iter().any(|f| f.2)
    }
    fn first_path(&self) -> &Path {
        &self.files[0].0
    }
}

fn path_len(p: &Path) -> usize {
    p.as_os_str().len()
}

/// Order of files with the same bytes: references first, then as the policy prefers.
fn file_order(
    keep: Keep,
    a: &(PathBuf, FileRecord, bool),
    b: &(PathBuf, FileRecord, bool),
) -> Ordering {
    let by_policy = match keep {
        Keep::Newest => b.1.mtime_ns.cmp(&a.1.mtime_ns),
        Keep::ShortestPath => path_len(&a.0).cmp(&path_len(&b.0)),
        Keep::Best | Keep::Largest | Keep::Oldest => a.1.mtime_ns.cmp(&b.1.mtime_ns),
    };
    b.2.cmp(&a.2)
        .then(by_policy)
        .then(path_len(&a.0).cmp(&path_len(&b.0)))
        .then(a.0.cmp(&b.0))
}

/// Order of distinct contents as keepers: references first, then as the policy prefers.
fn content_order(keep: Keep, a: &Content, b: &Content) -> Ordering {
    let best = || {
        b.pixels()
            .cmp(&a.pixels())
            .then(b.size().cmp(&a.size()))
            .then(a.oldest().cmp(&b.oldest()))
    };
    let by_policy = match keep {
        Keep::Best => best(),
        Keep::Largest => b
            .size()
            .cmp(&a.size())
            .then(b.pixels().cmp(&a.pixels()))
            .then(a.oldest().cmp(&b.oldest())),
        Keep::Oldest => a.oldest().cmp(&b.oldest()).then_with(best),
        Keep::Newest => b.newest().cmp(&a.newest()).then_with(best),
        Keep::ShortestPath => path_len(a.first_path())
            .cmp(&path_len(b.first_path()))
            .then_with(best),
    };
    b.reference()
        .cmp(&a.reference())
        .then(by_policy)
        .then(a.first_path().cmp(b.first_path()))
}

/// Finds duplicate groups. Files deleted from disk since they were indexed are left out.
pub fn find_duplicates(index: &mut Index, opts: &DedupOptions) -> Result<Vec<Group>> {
    let is_reference = |p: &Path| opts.references.iter().any(|r| p.starts_with(r));
    // Files grouped by content.
    let mut by_hash: HashMap<Hash, Vec<(PathBuf, FileRecord, bool)>> = HashMap::new();
    for item in index.store().files() {
        let (path, rec) = item?;
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let reference = is_reference(&path);
        by_hash
            .entry(rec.hash)
            .or_default()
            .push((path, rec, reference));
    }
    let mut contents: Vec<Content> = Vec::with_capacity(by_hash.len());
    for item in index.store().contents() {
        let (hash, rec) = item?;
        let Some(mut files) = by_hash.remove(&hash) else {
            continue;
        };
        files.sort_by(|a, b| file_order(opts.keep, a, b));
        contents.push(Content {
            id: rec.id,
            hash,
            width: rec.width,
            height: rec.height,
            files,
        });
    }

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
    let (floor, link_floor) = match (&opts.background, opts.pixel_check) {
        (Some(_), true) => (NORMALISED_MIN_COSINE, VERIFIED_MIN_COSINE),
        (Some(_), false) => (NORMALISED_MIN_COSINE, NORMALISED_MIN_COSINE),
        (None, _) => (opts.threshold, opts.threshold),
    };
    let pairs = similar_pairs(flat, head, floor, link_floor, &image_of_row);
    // Background levels, by position, of the images in a pair or with several files, when
    // pairs are scored by normalised similarity.
    let levels: Option<Vec<f32>> = opts.background.as_ref().map(|bg| {
        let mut needed: Vec<bool> = contents.iter().map(|c| c.files.len() > 1).collect();
        for &(i, j, _) in &pairs {
            needed[i] = true;
            needed[j] = true;
        }
        let wanted: Vec<(usize, usize)> = image_of_row
            .iter()
            .enumerate()
            .filter_map(|(row, image)| image.filter(|&i| needed[i]).map(|i| (i, row)))
            .collect();
        let units: Vec<std::borrow::Cow<[f32]>> = wanted
            .iter()
            .map(|&(_, row)| head.unit(flat.vector(row)))
            .collect();
        let vectors: Vec<&[f32]> = units.iter().map(|v| v.as_ref()).collect();
        let mut levels = vec![1.0; contents.len()];
        for (&(i, _), level) in wanted.iter().zip(bg.par_levels(&vectors)) {
            levels[i] = level;
        }
        levels
    });
    let score = |i: usize, j: usize, cos: f32| match &levels {
        Some(l) => normalised(cos, l[i], l[j]),
        None => cos,
    };
    let mut pairs: Vec<(usize, usize, f32, f32)> = pairs
        .into_iter()
        .map(|(i, j, cos)| (i, j, score(i, j, cos), cos))
        .collect();
    if levels.is_some() && opts.pixel_check {
        add_pixel_bonus(index, &contents, &mut pairs, opts.threshold)?;
    }
    pairs.retain(|&(_, _, s, _)| s >= opts.threshold);
    let agreements = if opts.content_check {
        let agreements = check_content(&contents, &pairs);
        pairs.retain(|&(i, j, _, _)| {
            agreements
                .get(&pair_key(i, j))
                .is_some_and(|a| a.same_content())
        });
        agreements
    } else {
        HashMap::new()
    };
    // Per image: the images similar to it, with (score, cosine).
    let mut similar: Vec<HashMap<usize, (f32, f32)>> = vec![HashMap::new(); contents.len()];
    for (i, j, s, cos) in pairs {
        similar[i].insert(j, (s, cos));
        similar[j].insert(i, (s, cos));
    }

    // Keepers in order of preference; each takes the unassigned images similar to it
    // (reference images are never taken: they keep their own groups). An image with one file
    // and nothing similar to it forms no group and needs no place in the order.
    let mut order: Vec<usize> = (0..contents.len())
        .filter(|&i| !similar[i].is_empty() || contents[i].files.len() > 1)
        .collect();
    order.sort_by(|&a, &b| content_order(opts.keep, &contents[a], &contents[b]));
    let mut assigned = vec![false; contents.len()];
    let mut groups = Vec::new();
    for &k in &order {
        if assigned[k] {
            continue;
        }
        assigned[k] = true;
        let mut others: Vec<(usize, (f32, f32))> = similar[k]
            .iter()
            .filter(|(j, _)| !assigned[**j] && !contents[**j].reference())
            .map(|(j, s)| (*j, *s))
            .collect();
        others.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        for (j, _) in &others {
            assigned[*j] = true;
        }
        let keeper = &contents[k];
        let mut members = Vec::new();
        for (n, (path, rec, reference)) in keeper.files.iter().enumerate() {
            members.push(member(
                keeper,
                path,
                rec,
                *reference,
                (1.0, score(k, k, 1.0)),
                Tier::Exact,
                n == 0,
            ));
        }
        for (j, (s, cos)) in others {
            let c = &contents[j];
            let agreement = agreements.get(&pair_key(k, j)).copied();
            for (path, rec, reference) in &c.files {
                // Similar until the pixels say near-exact (below).
                let sims = (cos.min(1.0), s.min(1.0));
                let mut m = member(c, path, rec, *reference, sims, Tier::Similar, false);
                m.agreement = agreement;
                members.push(m);
            }
        }
        // Only groups with something to act on: a copy that is not a reference.
        if !members.iter().skip(1).any(|m| !m.reference) {
            continue;
        }
        let tier = members
            .iter()
            .skip(1)
            .map(|m| m.tier)
            .max()
            .unwrap_or(Tier::Exact);
        groups.push(Group { tier, members });
    }
    classify_near_exact(&mut groups, opts.near_exact);
    groups.sort_by(|a, b| a.members[0].path.cmp(&b.members[0].path));
    Ok(groups)
}

/// Adds the pixel check's bonus to every pair `(i, j, normalised score, cosine)` that could
/// reach `threshold` with it, and drops the pairs below [`NORMALISED_MIN_COSINE`] whose
/// thumbnails do not agree beyond [`crate::thumbnail::BONUS_FROM`]. Thumbnails come from the
/// index; an image indexed before thumbnails were kept has its first readable file decoded
/// again (a pair with an image that cannot be read keeps its normalised score).
fn add_pixel_bonus(
    index: &Index,
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
    let side = index.meta().model.input_size as u32;
    let stored: Vec<Option<Thumbnail>> = wanted
        .iter()
        .map(|&i| index.store().thumbnail(&contents[i].hash))
        .collect::<Result<_>>()?;
    // Missing ones are decoded on the decode threads (their contained panics stay quiet).
    let pool =
        crate::decode::decode_pool(std::thread::available_parallelism().map_or(2, |n| n.get()));
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
fn decoded_thumbnail(path: &Path, side: u32) -> Option<Thumbnail> {
    let opts = crate::decode::DecodeOptions::new(side);
    crate::decode::prepare_file(path, &opts)
        .ok()
        .map(|img| Thumbnail::of(&img))
}

/// The lowest normalised score from which the pixel check's bonus can lift a pair to
/// `threshold`: below it the thumbnails are not compared.
fn bonus_reach(threshold: f32) -> f32 {
    threshold - crate::thumbnail::BONUS_WEIGHT * (1.0 - crate::thumbnail::BONUS_FROM)
}

/// A pair's score under the pixel check: its normalised score `score` plus the bonus of
/// its thumbnails' similarity `thumbnails` (`None`: not compared). Below the normalised
/// floor of cosine `cos` only the thumbnails can vouch for a pair.
fn with_pixel_check(score: f32, cos: f32, thumbnails: Option<f32>) -> f32 {
    let vouched = thumbnails.is_some_and(|s| s > crate::thumbnail::BONUS_FROM);
    if cos < NORMALISED_MIN_COSINE && !vouched {
        f32::NEG_INFINITY
    } else if let Some(s) = thumbnails {
        verified(score, s)
    } else {
        score
    }
}

/// The local features' agreement ([`crate::matching`]) of every pair `(i, j, ..)`, keyed by
/// `(min, max)` position; a pair of two distinct shots (their files' EXIF capture times
/// say so: [`CaptureTime::two_shots`]) is not compared and has none. Each image's
/// first readable file is decoded once, on the decode threads; a pair with an image that
/// cannot be read now has no agreement.
fn check_content(
    contents: &[Content],
    pairs: &[(usize, usize, f32, f32)],
) -> HashMap<(usize, usize), Agreement> {
    let mut keys: Vec<(usize, usize)> = pairs.iter().map(|&(i, j, _, _)| pair_key(i, j)).collect();
    keys.sort_unstable();
    keys.dedup();
    let pool =
        crate::decode::decode_pool(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut agreements = HashMap::with_capacity(keys.len());
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
            let found: Vec<((usize, usize), Agreement)> = block
                .par_iter()
                .filter_map(|&(i, j)| {
                    let ((a, taken_a), (b, taken_b)) = (features.get(&i)?, features.get(&j)?);
                    if CaptureTime::two_shots(taken_a.as_ref(), taken_b.as_ref()) {
                        return None;
                    }
                    let pixels = (contents[i].pixels(), contents[j].pixels());
                    Some(((i, j), agreement((pixels.0, a), (pixels.1, b))))
                })
                .collect();
            agreements.extend(found);
        });
    }
    agreements
}

/// The key of the pair of positions `i` and `j`, in either order.
fn pair_key(i: usize, j: usize) -> (usize, usize) {
    (i.min(j), i.max(j))
}

/// Pictures whose features [`check_content`] holds at once, at most.
const FEATURES_HELD: usize = 2048;

/// How two pictures (their pixel counts and features) agree. The picture with more pixels
/// maps onto the other (its corners are the better located ones); a much blurrier picture
/// is compared with the other blurred alike.
fn agreement(
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
fn working_file(path: &Path) -> Option<(image::RgbImage, Option<CaptureTime>)> {
    let bytes = std::fs::read(path).ok()?;
    let opts = crate::decode::DecodeOptions::new(WORK_SIDE);
    let picture = crate::decode::decode_upright(&bytes, WORK_SIDE, &opts).ok()?;
    Some((picture, CaptureTime::of(&bytes)))
}

/// A picture asked about by `query --copies` (it need not be indexed): what deciding whether
/// an indexed file is a copy of it takes ([`copy_of`]).
pub struct Probe {
    hash: Hash,
    vector: Vec<f32>,
    pattern: Pattern,
    pixels: u64,
    /// `None` when the picture cannot be decoded at the working size.
    features: Option<LocalFeatures>,
    taken: Option<CaptureTime>,
}

impl Probe {
    /// The probe of a file's `bytes`, its picture prepared for the encoder and its stored
    /// vector (both heads).
    pub fn new(bytes: &[u8], prepared: &PreparedImage, vector: Vec<f32>) -> Probe {
        let opts = crate::decode::DecodeOptions::new(WORK_SIDE);
        Probe {
            hash: *blake3::hash(bytes).as_bytes(),
            vector,
            pattern: Thumbnail::of(prepared).pattern(),
            pixels: prepared.width as u64 * prepared.height as u64,
            features: crate::decode::decode_upright(bytes, WORK_SIDE, &opts)
                .ok()
                .map(|img| LocalFeatures::of(&img)),
            taken: CaptureTime::of(bytes),
        }
    }
}

/// Why an indexed file is a copy of a [`Probe`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CopyEvidence {
    /// The same bytes.
    pub exact: bool,
    /// The score the threshold applied to (1 for the same bytes).
    pub score: f32,
    /// The content check's evidence (`None` for the same bytes, or without the check).
    pub agreement: Option<Agreement>,
}

/// Whether the indexed file `path` is a copy of `probe`, decided as [`find_duplicates`]
/// decides a pair (`opts`: threshold, scoring, content check): the same bytes, or a score
/// at or above the threshold and, with the content check, pictures that agree and capture
/// times that do not say two shots. `None`: not a copy, or not indexed or readable now.
pub fn copy_of(
    index: &Index,
    opts: &DedupOptions,
    probe: &Probe,
    path: &Path,
) -> Result<Option<CopyEvidence>> {
    let Some(file) = index.store().file(path)? else {
        return Ok(None);
    };
    if file.hash == probe.hash {
        return Ok(Some(CopyEvidence {
            exact: true,
            score: 1.0,
            agreement: None,
        }));
    }
    let Some(content) = index.store().content(&file.hash)? else {
        return Ok(None);
    };
    let head = index.meta().model.head(Task::Copy);
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
                    let side = index.meta().model.input_size as u32;
                    index
                        .store()
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
    let pixels = content.width as u64 * content.height as u64;
    let found = agreement(
        (probe.pixels, features),
        (pixels, &LocalFeatures::of(&picture)),
    );
    Ok(found.same_content().then_some(CopyEvidence {
        exact: false,
        score,
        agreement: Some(found),
    }))
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
                let v = flat.vector(row);
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
                            let cos = head.similarity(v, flat.vector(m));
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

/// An RGB `FINGERPRINT_SIDE`² thumbnail of the upright picture, or `None` if unreadable now.
fn fingerprint(path: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(path).ok()?;
    let opts = crate::decode::DecodeOptions::new(FINGERPRINT_SIDE);
    let img = crate::decode::decode_upright(&bytes, 4 * FINGERPRINT_SIDE, &opts).ok()?;
    let small = image::imageops::resize(
        &img,
        FINGERPRINT_SIDE,
        FINGERPRINT_SIDE,
        image::imageops::FilterType::Triangle,
    );
    Some(small.into_raw())
}

/// How two fingerprints differ, in levels (0-255): the mean absolute difference over every
/// value, and the 99th percentile over pixels of their largest channel difference (a
/// local edit, text or a sticker, moves a few pixels far; recompression moves all a little).
fn fingerprint_distance(a: &[u8], b: &[u8]) -> (f32, f32) {
    let sum: u32 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u32).sum();
    let mean = sum as f32 / a.len().max(1) as f32;
    let mut peaks: Vec<u8> = a
        .chunks_exact(3)
        .zip(b.chunks_exact(3))
        .map(|(p, q)| (0..3).map(|c| p[c].abs_diff(q[c])).max().unwrap_or(0))
        .collect();
    if peaks.is_empty() {
        return (mean, 0.0);
    }
    let k = (peaks.len() * 99 / 100).min(peaks.len() - 1);
    let (_, p99, _) = peaks.select_nth_unstable(k);
    (mean, *p99 as f32)
}

/// Whether a fingerprint distance is that of the same picture resized or recompressed:
/// mean within `limit`, and no local change beyond `NEAR_EXACT_PEAK x limit` (BENCHMARKS.md,
/// "near-exact tier": it keeps grayscale, text and sticker edits out).
fn near_exact(distance: (f32, f32), limit: f32) -> bool {
    distance.0 <= limit && distance.1 <= NEAR_EXACT_PEAK * limit
}

fn same_aspect(a: &Member, b: &Member) -> bool {
    let (ra, rb) = (
        a.width as f64 / a.height.max(1) as f64,
        b.width as f64 / b.height.max(1) as f64,
    );
    (ra / rb - 1.0).abs() <= 0.01
}

/// Promotes members that are their keeper's picture resized or recompressed (same aspect
/// ratio, thumbnails within `limit` levels, see [`near_exact`]) from similar to near-exact, and sets each
/// group's tier. Decodes only the keepers and members of groups.
fn classify_near_exact(groups: &mut [Group], limit: f32) {
    groups.par_iter_mut().for_each(|g| {
        let candidates: Vec<usize> = (1..g.members.len())
            .filter(|&i| {
                g.members[i].tier == Tier::Similar && same_aspect(&g.members[0], &g.members[i])
            })
            .collect();
        if !candidates.is_empty() {
            if let Some(keeper) = fingerprint(&g.members[0].path) {
                for i in candidates {
                    let close = fingerprint(&g.members[i].path)
                        .is_some_and(|f| near_exact(fingerprint_distance(&keeper, &f), limit));
                    if close {
                        g.members[i].tier = Tier::NearExact;
                    }
                }
            }
        }
        g.tier = g
            .members
            .iter()
            .skip(1)
            .map(|m| m.tier)
            .max()
            .unwrap_or(Tier::Exact);
    });
}

fn member(
    c: &Content,
    path: &Path,
    rec: &FileRecord,
    reference: bool,
    (similarity, score): (f32, f32),
    tier: Tier,
    keeper: bool,
) -> Member {
    Member {
        path: path.to_path_buf(),
        similarity,
        score,
        tier,
        keeper,
        reference,
        width: c.width,
        height: c.height,
        size: rec.size,
        mtime_ns: rec.mtime_ns,
        agreement: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::dot;
    use image::{Rgb, RgbImage};

    fn photo() -> RgbImage {
        RgbImage::from_fn(400, 300, |x, y| {
            let v = ((x / 20 + y / 15) % 7) as u8 * 30;
            Rgb([v, 255 - v, ((x + y) / 3 % 256) as u8])
        })
    }

    fn member(path: &Path, img: &RgbImage) -> Member {
        Member {
            path: path.to_path_buf(),
            similarity: 0.95,
            score: 0.95,
            tier: Tier::Similar,
            keeper: false,
            reference: false,
            width: img.width(),
            height: img.height(),
            size: 0,
            mtime_ns: 0,
            agreement: None,
        }
    }

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
            .map(|_| crate::model::normalised((0..dim).map(|_| noise()).collect()).unwrap())
            .collect();
        for _ in 0..40 {
            let base: Vec<f32> = (0..dim).map(|_| noise()).collect();
            let base = crate::model::normalised(base).unwrap();
            for _ in 0..6 {
                let copy = base.iter().map(|x| x + 0.03 * noise()).collect();
                vectors.push(crate::model::normalised(copy).unwrap());
            }
        }
        let items: Vec<(Vec<f32>, u64)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as u64))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        crate::ann::Graph::build(crate::ann::Space::whole(dim), &items)
            .write_flat(dir.path(), 1)
            .unwrap();
        let flat = FlatVectors::open(dir.path(), 1, dim).unwrap();
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

    #[test]
    fn normalised_pairs_need_the_cosine_floor_too_lower_with_the_pixel_check() {
        use crate::store::{ChangeSet, ContentRecord};
        let tmp = tempfile::tempdir().unwrap();
        // A one-head model of the default's input size: the vectors below are its descriptors.
        let mut model = crate::model::Encoder::default_model()
            .unwrap()
            .info()
            .clone();
        (model.dim, model.copy_dim) = (256, 0);
        let dim = model.dim;
        let index_dir = tmp.path().join("index");
        let mut index = Index::open_or_create(&index_dir, &model, crate::lock::Wait::No).unwrap();
        let unit = |pairs: &[(usize, f32)]| {
            let mut v = vec![0f32; dim];
            for &(i, x) in pairs {
                v[i] = x;
            }
            crate::model::normalised(v).unwrap()
        };
        // a-b: cosine 0.6 (below the normalised floor, above the pixel check's link floor);
        // c-d: cosine 0.95; the background is orthogonal to all.
        let vectors = [
            unit(&[(0, 1.0)]),
            unit(&[(0, 0.6), (1, 0.8)]),
            unit(&[(2, 1.0)]),
            unit(&[(2, 0.95), (3, 0.312)]),
        ];
        // 0 and 1 show one picture (so their thumbnails agree; the index keeps none, so they
        // are decoded from the files); 2 and 3 are not pictures. `picture(true)` is another
        // picture: no quarter turn or mirror image of the first.
        let picture = |other: bool| {
            let img = image::RgbImage::from_fn(64, 64, |x, y| {
                let v = if other {
                    ((x * y) % 256) as u8
                } else {
                    (x * 3 + y / 2 + if x > 40 && y < 20 { 60 } else { 0 }) as u8
                };
                image::Rgb([v, v / 2, 90])
            });
            let mut bytes = Vec::new();
            img.write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
            bytes
        };
        let mut changes = ChangeSet::default();
        for (i, v) in vectors.iter().enumerate() {
            let path = tmp.path().join(format!("{i}.png"));
            let bytes = if i < 2 { picture(false) } else { b"x".to_vec() };
            std::fs::write(&path, bytes).unwrap();
            let hash: Hash = *blake3::hash(&[i as u8]).as_bytes();
            let rec = ContentRecord {
                id: i as u64,
                width: 10,
                height: 10,
                vector: v.clone(),
            };
            changes.put_content(hash, rec);
            let file = FileRecord {
                size: 1,
                mtime_ns: 0,
                hash,
            };
            changes.put_file(path, file);
        }
        index.store().commit(changes).unwrap();
        let background = Background::from_rows(&unit(&[(9, 1.0)]), dim).unwrap();
        let mut opts = DedupOptions {
            threshold: DEFAULT_NORMALISED_THRESHOLD,
            background: Some(Arc::new(background)),
            pixel_check: false,
            // The scores are under test here, not the pictures (2 and 3 are none).
            content_check: false,
            ..DedupOptions::default()
        };
        let names = |groups: &[Group]| -> Vec<Vec<String>> {
            groups
                .iter()
                .map(|g| {
                    let mut n: Vec<String> = g
                        .members
                        .iter()
                        .map(|m| m.path.file_name().unwrap().to_string_lossy().into_owned())
                        .collect();
                    n.sort();
                    n
                })
                .collect()
        };
        let pair = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        // With the pixel check, a pair below the floor counts when the thumbnails vouch for it.
        opts.pixel_check = true;
        let groups = find_duplicates(&mut index, &opts).unwrap();
        assert_eq!(
            names(&groups),
            [pair("0.png", "1.png"), pair("2.png", "3.png")]
        );
        let vouched = &groups[0].members[1];
        assert!(vouched.score > vouched.similarity, "{vouched:?}");
        // Thumbnails that disagree do not vouch.
        std::fs::write(tmp.path().join("1.png"), picture(true)).unwrap();
        let groups = find_duplicates(&mut index, &opts).unwrap();
        assert_eq!(names(&groups), [pair("2.png", "3.png")]);
        opts.pixel_check = false;
        let groups = find_duplicates(&mut index, &opts).unwrap();
        assert_eq!(names(&groups), [pair("2.png", "3.png")]);
        let copy = &groups[0].members[1];
        assert!((copy.similarity - 0.95).abs() < 1e-3, "{copy:?}");
        assert!(
            (copy.score - copy.similarity).abs() < 1e-3,
            "levels are 0: {copy:?}"
        );
    }

    #[test]
    fn resized_and_recompressed_copies_are_near_exact_edits_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let original = photo();
        let resized =
            image::imageops::resize(&original, 200, 150, image::imageops::FilterType::Triangle);
        let brighter = RgbImage::from_fn(400, 300, |x, y| {
            Rgb(original.get_pixel(x, y).0.map(|c| c.saturating_add(40)))
        });
        let cropped = image::imageops::crop_imm(&original, 0, 0, 300, 225).to_image();
        // Close in grey on average, far in colour or in one place: edits, not re-encodings.
        let grey = image::DynamicImage::ImageRgb8(original.clone())
            .grayscale()
            .to_rgb8();
        let mut sticker = original.clone();
        for (x, y, p) in sticker.enumerate_pixels_mut() {
            if (300..360).contains(&x) && (200..240).contains(&y) {
                *p = Rgb([255, 0, 0]);
            }
        }
        let files = [
            ("original.png", &original),
            ("resized.jpg", &resized),
            ("brighter.png", &brighter),
            ("cropped.png", &cropped),
            ("grey.png", &grey),
            ("sticker.png", &sticker),
        ];
        let mut members = Vec::new();
        for (name, img) in files {
            let path = tmp.path().join(name);
            img.save(&path).unwrap();
            members.push(member(&path, img));
        }
        members[0].keeper = true;
        members[0].tier = Tier::Exact;
        let mut groups = vec![Group {
            tier: Tier::Similar,
            members,
        }];
        classify_near_exact(&mut groups, DEFAULT_NEAR_EXACT);
        let tiers: Vec<Tier> = groups[0].members.iter().map(|m| m.tier).collect();
        assert_eq!(
            tiers,
            vec![
                Tier::Exact,
                Tier::NearExact,
                Tier::Similar,
                Tier::Similar,
                Tier::Similar,
                Tier::Similar
            ]
        );
        assert_eq!(groups[0].tier, Tier::Similar);
    }
}
