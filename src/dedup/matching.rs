//! Local features and their geometric agreement: the content check of a copy decision.
//!
//! Owns the local features of a picture (oriented FAST corners with rotated BRIEF
//! descriptors, ORB-like, on a small grey version at several scales, of the picture and of
//! its mirror image), matching them between two pictures (Hamming distance, ratio test) and
//! fitting one affine map to the matches by RANSAC. An edited copy (resized, recompressed,
//! cropped, rotated, recoloured, captioned, framed) keeps its original's corners where they
//! were, up to one affine map, so many matches agree on it and they cover the picture; two
//! different pictures of the same kind of thing (two trousers on white, two faces before
//! one backdrop, two patches of one texture) share a layout but not their corners, so few
//! matches agree. Under the map, the detailed patches of the two pictures must then
//! correlate too (a shared outline or template is not enough). A much blurrier picture is
//! compared with the other blurred alike, since blur erases the corners it would match. It
//! never decides alone: [`crate::dedup`] asks it only about pairs the encoder already finds
//! similar.

use super::features::Feature;
pub use super::features::{LocalFeatures, WORK_SIDE};
use image::GrayImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Hamming distance (of 256 bits) above which two descriptors never match.
const MAX_DISTANCE: u32 = 80;

/// A match must be clearly better than the second best (Lowe's ratio test).
const RATIO: f32 = 0.8;

/// RANSAC rounds.
const ROUNDS: usize = 400;

/// A match agrees with an affine map when it lands within this share of the working side.
const TOLERANCE: f32 = 0.02;

/// Matches that agree with one map for two pictures to show the same content.
pub const MIN_INLIERS: usize = 16;

/// ... and the agreeing corners must cover this share of the smaller picture's area (their
/// bounding box, in either picture): a shared logo or caption is not a copy.
pub const MIN_COVERAGE: f32 = 0.15;

/// ... and this share of the overlap's detailed patches must agree ([`Agreement::patches`]).
pub const MIN_PATCHES: f32 = 0.6;

/// Side of the compared patches, in working pixels.
const PATCH: u32 = 16;

/// A patch has detail when its grey levels vary by this much (standard deviation) in either
/// picture.
const DETAIL: f32 = 6.0;

/// Patches agree when their normalised cross-correlation reaches this.
const PATCH_AGREES: f32 = 0.6;

/// ... and agree strictly (the pixels kept, not only the shapes) from this.
const STRICT_AGREES: f32 = 0.9;

/// How well two pictures' features agree on one affine map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Agreement {
    /// Matches (ratio test passed).
    pub matches: u32,
    /// Matches that agree with the best affine map.
    pub inliers: u32,
    /// Area of the agreeing corners' bounding box, as a share of the picture (the smaller of
    /// the two pictures' shares).
    pub coverage: f32,
    /// Whether the map mirrors the picture.
    pub mirrored: bool,
    /// Of the patches of the overlap with detail in either picture, the share whose
    /// details agree once the map is applied (1 for an untouched copy; a template shared by
    /// two different receipts, or one outline shared by two drawings, leaves most of the
    /// rest disagreeing).
    pub patches: f32,
    /// What the patches and the map say beyond that, for the pair verifier
    /// ([`crate::dedup::verifier`]); all zero when too few matches agree on a map.
    #[serde(skip)]
    pub detail: MapDetail,
}

/// The map of an [`Agreement`] and its patch comparison in more detail.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MapDetail {
    /// Detailed patches compared.
    pub detailed: u32,
    /// Of those, the share correlating at 0.9 or more (an edit that keeps the pixels: a
    /// crop, a resize, a recompression).
    pub strict: f32,
    /// The median correlation of the detailed patches.
    pub median: f32,
    /// The share of the first picture's patches that the map takes inside the second (1
    /// when nothing is cropped away).
    pub overlap: f32,
    /// The bounding box of the disagreeing detailed patches, as a share of the patches
    /// compared (a caption or a sticker: small; a subject that moved, another receipt: large).
    pub disagreeing_extent: f32,
    /// The map's scale (square root of its determinant), rotation (degrees, 0-180) and
    /// stretch (its larger singular value over its smaller).
    pub scale: f32,
    pub rotation: f32,
    pub stretch: f32,
    /// Compared after blurring the sharper picture alike.
    pub blurred: bool,
    /// How far the agreeing matches land from where the map takes them (root mean square,
    /// in units of the tolerance): one picture's corners fit one map closely, a scene shot
    /// again (parallax, a subject that moved) less so.
    pub residual: f32,
    /// The largest 4-connected region of disagreeing detailed patches, as a share of the
    /// patches compared, and the number of such regions of two patches or more.
    pub largest_region: f32,
    pub regions: u32,
    /// Over the disagreeing patches, the median of |ln| of the ratio of their detail (grey
    /// level spread) in the two pictures: an overlay puts detail on one side only, a
    /// subject that moved leaves detail on both.
    pub imbalance: f32,
}

impl Agreement {
    /// Whether the pictures show the same content: enough agreeing matches spread over
    /// them, and enough of their detailed patches agreeing under the map.
    pub fn same_content(&self) -> bool {
        self.corners_agree() && self.patches >= MIN_PATCHES
    }

    /// Whether the pictures show one scene, if not one picture: half the matches that one
    /// picture needs agree on one map, spread as widely (another shot of a burst, a retake
    /// before one backdrop, another page of one template).
    pub fn same_scene(&self) -> bool {
        self.inliers as usize >= MIN_INLIERS / 2 && self.coverage >= MIN_COVERAGE
    }

    /// Whether enough matched corners agree on one map, spread widely enough.
    fn corners_agree(&self) -> bool {
        self.inliers as usize >= MIN_INLIERS && self.coverage >= MIN_COVERAGE
    }
}

impl LocalFeatures {
    /// Whether `self` may be a blurred copy of the picture of `other`: it is less than half
    /// as sharp. [`LocalFeatures::agreement_blurred`] then compares them like for like.
    pub fn blurrier_than(&self, other: &LocalFeatures) -> bool {
        self.sharpness < BLURRIER * other.sharpness
    }

    /// How well a much blurrier picture (`self`) agrees with the picture of `sharp` blurred
    /// to match it: the best of `BLUR_SIGMAS` (blur erases the fine corners the sharp
    /// picture's features are made of, so they are compared at the blurred picture's
    /// sharpness).
    pub fn agreement_blurred(&self, sharp: &LocalFeatures) -> Agreement {
        let mut best = Agreement::default();
        for sigma in BLUR_SIGMAS {
            let blurred =
                LocalFeatures::of_grey(imageproc::filter::gaussian_blur_f32(&sharp.grey, sigma));
            let mut a = blurred.agreement(self);
            a.detail.blurred = true;
            if (a.same_content(), a.inliers) > (best.same_content(), best.inliers) {
                best = a;
            }
            if blurred.sharpness < self.sharpness {
                break;
            }
        }
        best
    }

    /// How well `self` and `other` agree, directly or with `other` mirrored (the better).
    pub fn agreement(&self, other: &LocalFeatures) -> Agreement {
        let direct = fit(self, &self.direct, other, &other.direct, false);
        if direct.same_content() {
            return direct;
        }
        let mirrored = fit(self, &self.direct, other, &other.mirrored, true);
        if (mirrored.inliers, mirrored.matches) > (direct.inliers, direct.matches) {
            mirrored
        } else {
            direct
        }
    }
}

/// A picture is taken for a blurred copy when it has less than this share of the other's
/// sharpness.
const BLURRIER: f32 = 0.5;

/// Blurs (Gaussian sigma, in working pixels) tried on the sharper picture of such a pair,
/// mildest first, until it is as blurred as the other (an edited copy blurred by 1 % to 4 %
/// of its short side: 2.4 to 9.6 px; by 4 % of a 3:2 picture's long side: 12.8 px).
const BLUR_SIGMAS: [f32; 5] = [1.5, 3.0, 6.0, 10.0, 14.0];

fn hamming(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Matches of `a` in `b` that pass the ratio test: pairs of positions.
fn matches(a: &[Feature], b: &[Feature]) -> Vec<Match> {
    let mut out = Vec::new();
    for fa in a {
        let (mut best, mut second, mut at) = (u32::MAX, u32::MAX, 0);
        for (k, fb) in b.iter().enumerate() {
            let d = hamming(&fa.bits, &fb.bits);
            if d < best {
                (second, best, at) = (best, d, k);
            } else if d < second {
                second = d;
            }
        }
        if best <= MAX_DISTANCE && (best as f32) < RATIO * second as f32 {
            out.push(((fa.x, fa.y), (b[at].x, b[at].y)));
        }
    }
    out
}

/// A point of a working picture.
type Point = (f32, f32);

/// A match: a point of the first picture and the point of the second it matched.
type Match = (Point, Point);

/// An affine map `[a b c; d e f]` taking (x, y) to (a x + b y + c, d x + e y + f).
type Affine = [f32; 6];

fn apply(m: &Affine, (x, y): (f32, f32)) -> (f32, f32) {
    (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
}

/// The affine map through three point pairs, if they are not collinear.
fn affine_through(p: [(f32, f32); 3], q: [(f32, f32); 3]) -> Option<Affine> {
    let det = p[0].0 * (p[1].1 - p[2].1) - p[0].1 * (p[1].0 - p[2].0)
        + (p[1].0 * p[2].1 - p[2].0 * p[1].1);
    if det.abs() < 1e-3 {
        return None;
    }
    // Solve [x y 1] * (a, b, c)^T = u for the three points (Cramer's rule), same for v.
    let solve = |u: [f32; 3]| {
        let a = (u[0] * (p[1].1 - p[2].1) - p[0].1 * (u[1] - u[2])
            + (u[1] * p[2].1 - u[2] * p[1].1))
            / det;
        let b = (p[0].0 * (u[1] - u[2]) - u[0] * (p[1].0 - p[2].0)
            + (p[1].0 * u[2] - p[2].0 * u[1]))
            / det;
        let c = (p[0].0 * (p[1].1 * u[2] - p[2].1 * u[1])
            - p[0].1 * (p[1].0 * u[2] - p[2].0 * u[1])
            + u[0] * (p[1].0 * p[2].1 - p[2].0 * p[1].1))
            / det;
        (a, b, c)
    };
    let (a, b, c) = solve([q[0].0, q[1].0, q[2].0]);
    let (d, e, f) = solve([q[0].1, q[1].1, q[2].1]);
    Some([a, b, c, d, e, f])
}

/// The plausible affine map through three of `pairs` that the most of them agree with, by
/// RANSAC (seeded by the number of pairs: the same pairs always get the same answer).
fn ransac(pairs: &[Match], agrees: &dyn Fn(&Affine, &Match) -> bool) -> Option<Affine> {
    if pairs.len() < 3 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(pairs.len() as u64);
    let mut best: Option<(Affine, usize)> = None;
    for _ in 0..ROUNDS {
        let i = rng.random_range(0..pairs.len());
        let j = rng.random_range(0..pairs.len());
        let k = rng.random_range(0..pairs.len());
        if i == j || j == k || i == k {
            continue;
        }
        let Some(m) = affine_through(
            [pairs[i].0, pairs[j].0, pairs[k].0],
            [pairs[i].1, pairs[j].1, pairs[k].1],
        ) else {
            continue;
        };
        if !plausible(&m) {
            continue;
        }
        let count = pairs.iter().filter(|p| agrees(&m, p)).count();
        if best.is_none_or(|(_, c)| count > c) {
            best = Some((m, count));
        }
    }
    best.map(|(m, _)| m)
}

/// The affine map that fits point pairs best (least squares), if they span a plane.
fn least_squares(pairs: &[&Match]) -> Option<Affine> {
    // Normal equations: (X^T X) p = X^T u, X's rows (x, y, 1), in f64.
    let mut xtx = [[0f64; 3]; 3];
    let (mut xtu, mut xtv) = ([0f64; 3], [0f64; 3]);
    for ((x, y), (u, v)) in pairs.iter().map(|p| **p) {
        let row = [x as f64, y as f64, 1.0];
        for r in 0..3 {
            for c in 0..3 {
                xtx[r][c] += row[r] * row[c];
            }
            xtu[r] += row[r] * u as f64;
            xtv[r] += row[r] * v as f64;
        }
    }
    let det3 = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let det = det3(&xtx);
    if det.abs() < 1e-6 {
        return None;
    }
    let solve = |rhs: &[f64; 3]| -> [f32; 3] {
        std::array::from_fn(|k| {
            let mut m = xtx;
            for (r, row) in m.iter_mut().enumerate() {
                row[k] = rhs[r];
            }
            (det3(&m) / det) as f32
        })
    };
    let (p, q) = (solve(&xtu), solve(&xtv));
    Some([p[0], p[1], p[2], q[0], q[1], q[2]])
}

/// Whether a map is a plausible edit: orientation kept (mirror images are matched as such),
/// scale between 1/8 and 8, and axes stretched by at most 2.5 against each other.
fn plausible(m: &Affine) -> bool {
    let det = m[0] * m[4] - m[1] * m[3];
    if det <= 0.0 {
        return false;
    }
    let (big, small) = singular_values(m);
    small > 1.0 / 8.0 && big < 8.0 && big <= 2.5 * small
}

/// The singular values of an affine map's linear part, the larger first.
fn singular_values(m: &Affine) -> (f32, f32) {
    let (p, q) = (m[0] * m[0] + m[3] * m[3], m[1] * m[1] + m[4] * m[4]);
    let r = m[0] * m[1] + m[3] * m[4];
    let mean = (p + q) / 2.0;
    let spread = (((p - q) / 2.0).powi(2) + r * r).sqrt();
    ((mean + spread).sqrt(), (mean - spread).max(0.0).sqrt())
}

/// The best affine map from `a`'s features to `b`'s (`b_mirrored`: `b`'s features are those
/// of its mirror image).
fn fit(
    a: &LocalFeatures,
    fa: &[Feature],
    b: &LocalFeatures,
    fb: &[Feature],
    b_mirrored: bool,
) -> Agreement {
    let pairs = matches(fa, fb);
    let mut best = Agreement {
        matches: pairs.len() as u32,
        mirrored: b_mirrored,
        ..Agreement::default()
    };
    if pairs.len() < MIN_INLIERS {
        return best;
    }
    let tolerance = TOLERANCE * b.width.max(b.height);
    let tol2 = tolerance * tolerance;
    let agrees = |m: &Affine, (p, q): &Match| {
        let (x, y) = apply(m, *p);
        (x - q.0).powi(2) + (y - q.1).powi(2) <= tol2
    };
    let Some(m) = ransac(&pairs, &agrees) else {
        return best;
    };
    let inliers: Vec<&Match> = pairs.iter().filter(|p| agrees(&m, p)).collect();
    let share = |points: &mut dyn Iterator<Item = (f32, f32)>, w: f32, h: f32| {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for (x, y) in points {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
        ((x1 - x0).max(0.0) * (y1 - y0).max(0.0)) / (w * h).max(1.0)
    };
    let in_a = share(&mut inliers.iter().map(|p| p.0), a.width, a.height);
    let in_b = share(&mut inliers.iter().map(|p| p.1), b.width, b.height);
    best.inliers = inliers.len() as u32;
    best.coverage = in_a.min(in_b);
    let residual = |map: &Affine| {
        let sum: f32 = inliers
            .iter()
            .map(|(p, q)| {
                let (x, y) = apply(map, *p);
                (x - q.0).powi(2) + (y - q.1).powi(2)
            })
            .sum();
        (sum / inliers.len().max(1) as f32).sqrt() / tolerance
    };
    // The patches are compared for pairs near the corners' bar too: the verifier learns
    // from them (the decision of `same_content` needs the bar met all the same).
    if best.inliers as usize >= MIN_INLIERS / 2 {
        let refined = least_squares(&inliers).filter(plausible).unwrap_or(m);
        let (patches, detail) = patch_agreement(&a.smooth, &b.smooth, &refined, b_mirrored);
        best.patches = patches;
        best.detail = MapDetail {
            residual: residual(&refined),
            ..detail
        };
    }
    best
}

/// Scale, rotation (degrees, 0-180) and stretch of an affine map's linear part.
fn map_shape(m: &Affine) -> (f32, f32, f32) {
    let det = m[0] * m[4] - m[1] * m[3];
    let (big, small) = singular_values(m);
    let rotation = m[3].atan2(m[0]).to_degrees().abs();
    (det.abs().sqrt(), rotation, big / small.max(1e-6))
}

/// The share of `a`'s detailed patches inside the overlap whose pixels correlate with
/// `b`'s at the places `map` takes them to (`b_mirrored`: the map lands in `b`'s mirror
/// image; 0 when no patch has detail), and the comparison in more detail.
fn patch_agreement(
    a: &GrayImage,
    b: &GrayImage,
    map: &Affine,
    b_mirrored: bool,
) -> (f32, MapDetail) {
    let (bw, bh) = (b.width() as f32, b.height() as f32);
    let sample = |x: f32, y: f32| -> Option<f32> {
        let x = if b_mirrored { bw - 1.0 - x } else { x };
        if x < 0.0 || y < 0.0 || x > bw - 1.0 || y > bh - 1.0 {
            return None;
        }
        let (x0, y0) = (x.floor() as u32, y.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(b.width() - 1), (y0 + 1).min(b.height() - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |x, y| b.get_pixel(x, y)[0] as f32;
        let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
        let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
        Some(top * (1.0 - fy) + bottom * fy)
    };
    let n = (PATCH * PATCH) as f32;
    let detail = DETAIL * DETAIL * n;
    let (mut detailed, mut agreeing, mut strict) = (0u32, 0u32, 0u32);
    let (mut cells, mut inside) = (0u32, 0u32);
    let mut correlations = Vec::new();
    let (columns, rows) = (a.width() / PATCH, a.height() / PATCH);
    let mut disagreeing = vec![false; (columns * rows) as usize];
    let mut imbalances = Vec::new();
    // Bounding box of the disagreeing detailed patches, in cells.
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0u32, 0u32);
    let mut pa = Vec::with_capacity((PATCH * PATCH) as usize);
    let mut pb = Vec::with_capacity((PATCH * PATCH) as usize);
    for cy in 0..a.height() / PATCH {
        'cell: for cx in 0..a.width() / PATCH {
            cells += 1;
            pa.clear();
            pb.clear();
            for y in cy * PATCH..(cy + 1) * PATCH {
                for x in cx * PATCH..(cx + 1) * PATCH {
                    let (u, v) = apply(map, (x as f32, y as f32));
                    let Some(vb) = sample(u, v) else {
                        continue 'cell;
                    };
                    pa.push(a.get_pixel(x, y)[0] as f32);
                    pb.push(vb);
                }
            }
            inside += 1;
            let (ma, mb) = (pa.iter().sum::<f32>() / n, pb.iter().sum::<f32>() / n);
            let (mut saa, mut sbb, mut sab) = (0f32, 0f32, 0f32);
            for (x, y) in pa.iter().zip(&pb) {
                let (da, db) = (x - ma, y - mb);
                saa += da * da;
                sbb += db * db;
                sab += da * db;
            }
            if saa < detail && sbb < detail {
                continue;
            }
            detailed += 1;
            let correlation = if saa > 0.0 && sbb > 0.0 {
                sab / (saa * sbb).sqrt()
            } else {
                0.0
            };
            correlations.push(correlation);
            if correlation >= PATCH_AGREES {
                agreeing += 1;
            } else {
                (x0, y0, x1, y1) = (x0.min(cx), y0.min(cy), x1.max(cx + 1), y1.max(cy + 1));
                disagreeing[(cy * columns + cx) as usize] = true;
                imbalances.push(0.5 * ((saa + 1.0) / (sbb + 1.0)).ln().abs());
            }
            if correlation >= STRICT_AGREES {
                strict += 1;
            }
        }
    }
    let (scale, rotation, stretch) = map_shape(map);
    let mut detail = MapDetail {
        detailed,
        overlap: inside as f32 / cells.max(1) as f32,
        scale,
        rotation,
        stretch,
        ..MapDetail::default()
    };
    if detailed == 0 {
        return (0.0, detail);
    }
    correlations.sort_by(f32::total_cmp);
    detail.median = correlations[correlations.len() / 2];
    detail.strict = strict as f32 / detailed as f32;
    if x1 > x0 {
        detail.disagreeing_extent = ((x1 - x0) * (y1 - y0)) as f32 / inside.max(1) as f32;
    }
    if !imbalances.is_empty() {
        imbalances.sort_by(f32::total_cmp);
        detail.imbalance = imbalances[imbalances.len() / 2];
    }
    let sizes = region_sizes(&disagreeing, columns as usize);
    detail.largest_region = sizes.iter().max().copied().unwrap_or(0) as f32 / inside.max(1) as f32;
    detail.regions = sizes.iter().filter(|&&s| s >= 2).count() as u32;
    (agreeing as f32 / detailed as f32, detail)
}

/// The sizes of the 4-connected regions of `true` cells of a grid `columns` wide.
fn region_sizes(cells: &[bool], columns: usize) -> Vec<usize> {
    let mut seen = vec![false; cells.len()];
    let mut sizes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..cells.len() {
        if !cells[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut size = 0;
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % columns, i / columns);
            let mut visit = |j: usize| {
                if cells[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < columns {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - columns);
            }
            if i + columns < cells.len() {
                visit(i + columns);
            }
        }
        sizes.push(size);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::FilterType;
    use image::{Rgb, RgbImage};

    /// A picture with plenty of corners: rectangles of varied sizes and greys on a gradient.
    fn busy(seed: u64) -> RgbImage {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut img = RgbImage::from_fn(480, 360, |x, y| {
            let v = ((x + y) / 6) as u8;
            Rgb([v, v / 2 + 40, 200 - v / 2])
        });
        for _ in 0..60 {
            let (x, y) = (rng.random_range(0..440), rng.random_range(0..320));
            let (w, h) = (rng.random_range(8..60), rng.random_range(8..60));
            let c = Rgb([rng.random(), rng.random(), rng.random()]);
            for yy in y..(y + h).min(360) {
                for xx in x..(x + w).min(480) {
                    img.put_pixel(xx, yy, c);
                }
            }
        }
        img
    }

    #[test]
    fn an_edited_copy_agrees_and_a_different_picture_does_not() {
        let original = busy(1);
        let a = LocalFeatures::of(&original);
        assert!(a.direct.len() > 100, "{} features", a.direct.len());
        // Cropped to 70 %, resized, mirrored.
        let crop = image::imageops::crop_imm(&original, 40, 30, 336, 252).to_image();
        let small = image::imageops::resize(&crop, 200, 150, FilterType::Triangle);
        let copy = LocalFeatures::of(&small);
        let agreement = a.agreement(&copy);
        assert!(agreement.same_content(), "{agreement:?}");
        assert!(!agreement.mirrored);
        let mirror = image::imageops::flip_horizontal(&original);
        let agreement = a.agreement(&LocalFeatures::of(&mirror));
        assert!(
            agreement.same_content() && agreement.mirrored,
            "{agreement:?}"
        );
        let turned = image::imageops::rotate90(&original);
        assert!(a.agreement(&LocalFeatures::of(&turned)).same_content());
        let other = LocalFeatures::of(&busy(2));
        let agreement = a.agreement(&other);
        assert!(!agreement.same_content(), "{agreement:?}");
    }

    #[test]
    fn a_strongly_blurred_copy_agrees_once_its_original_is_blurred_alike() {
        // A photo has fine texture everywhere, which a blur takes away.
        let textured = |seed| {
            let mut img = busy(seed);
            let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
            for p in img.pixels_mut() {
                let d: i16 = rng.random_range(-25..=25);
                p.0 = p.0.map(|c| (c as i16 + d).clamp(0, 255) as u8);
            }
            img
        };
        let original = textured(3);
        let blurred = imageproc::filter::gaussian_blur_f32(&original, 10.0);
        let a = LocalFeatures::of(&original);
        let copy = LocalFeatures::of(&blurred);
        assert!(
            copy.blurrier_than(&a) && !a.blurrier_than(&copy),
            "sharpness {} vs {}",
            copy.sharpness,
            a.sharpness
        );
        let agreement = copy.agreement_blurred(&a);
        assert!(agreement.same_content(), "{agreement:?}");
        let other = copy.agreement_blurred(&LocalFeatures::of(&textured(4)));
        assert!(!other.same_content(), "{other:?}");
    }

    #[test]
    fn a_flat_picture_has_no_features_and_agrees_with_nothing() {
        let flat = LocalFeatures::of(&RgbImage::from_pixel(300, 200, Rgb([200, 200, 200])));
        assert!(flat.direct.is_empty());
        assert!(!flat.agreement(&flat).same_content());
    }

    #[test]
    fn regions_are_the_4_connected_sets_of_cells() {
        // x x . .
        // . x . x
        // . . . x
        let grid = [
            true, true, false, false, false, true, false, true, false, false, false, true,
        ];
        let mut sizes = region_sizes(&grid, 4);
        sizes.sort_unstable();
        assert_eq!(sizes, vec![2, 3]);
        assert!(region_sizes(&[false; 6], 3).is_empty());
    }

    #[test]
    fn three_point_pairs_give_their_affine_map() {
        let m: Affine = [1.2, -0.3, 5.0, 0.4, 0.9, -7.0];
        let p = [(10.0, 20.0), (200.0, 40.0), (90.0, 180.0)];
        let q = p.map(|x| apply(&m, x));
        let found = affine_through(p, q).unwrap();
        for (x, y) in m.iter().zip(found) {
            assert!((x - y).abs() < 1e-3, "{m:?} vs {found:?}");
        }
        assert!(affine_through([(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)], q).is_none());
    }
}
