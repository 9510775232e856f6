//! The pixel check: a 16x16 grey thumbnail of every photo (256 bytes, kept in the index),
//! compared under the eight quarter-turn rotations and mirror images by normalised
//! cross-correlation. An edited copy keeps its original's coarse layout of light and dark
//! (blurred, recompressed, recoloured, rotated by quarter turns, flipped, resized); a
//! distinct photo of the same scene (a burst shot, the same subject twice) rarely does,
//! even when the encoder scores it as high as a copy.
//!
//! Copy detection scores a pair by [`verified`]: the encoder's normalised similarity plus a
//! bonus for thumbnails that agree beyond [`BONUS_FROM`]. Measured on the `eval copies`
//! set-up (docs/studies/quality.md, "The pixel check"); the constants were chosen on a second set of
//! copies (seed 2), not on the one reported.

use crate::ingest::decode::PreparedImage;

/// Side of the thumbnail in pixels.
pub const SIDE: usize = 16;
/// Bytes of a stored thumbnail.
pub const BYTES: usize = SIDE * SIDE;
/// Thumbnail correlations above this add to a pair's score.
pub const BONUS_FROM: f32 = 0.7;
/// Weight of the correlation above [`BONUS_FROM`] (so the bonus is at most 0.3).
pub const BONUS_WEIGHT: f32 = 1.0;

/// A grey thumbnail of the whole (squashed, upright) picture, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail(pub [u8; BYTES]);

impl Thumbnail {
    /// The thumbnail of a prepared image: the mean luma (BT.601) of each of the 16x16 cells.
    pub fn of(img: &PreparedImage) -> Thumbnail {
        let side = img.side as usize;
        let mut out = [0u8; BYTES];
        for cy in 0..SIDE {
            let (y0, y1) = cell(cy, side);
            for cx in 0..SIDE {
                let (x0, x1) = cell(cx, side);
                let mut sum = 0u64;
                for y in y0..y1 {
                    for px in img.rgb[(y * side + x0) * 3..(y * side + x1) * 3].chunks_exact(3) {
                        sum += 299 * px[0] as u64 + 587 * px[1] as u64 + 114 * px[2] as u64;
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)).max(1) as u64 * 1000;
                out[cy * SIDE + cx] = ((sum + n / 2) / n).min(255) as u8;
            }
        }
        Thumbnail(out)
    }

    /// A stored thumbnail, if `bytes` is one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Thumbnail> {
        Some(Thumbnail(bytes.try_into().ok()?))
    }

    /// The thumbnail prepared for comparison ([`Pattern::similarity`]).
    pub fn pattern(&self) -> Pattern {
        let mean = self.0.iter().map(|&v| v as f32).sum::<f32>() / BYTES as f32;
        let mut v = [0f32; BYTES];
        for (o, &p) in v.iter_mut().zip(&self.0) {
            *o = p as f32 - mean;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 1e-3 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            v = [0.0; BYTES];
        }
        Pattern(v)
    }

    /// [`Pattern::similarity`] of the two thumbnails' patterns.
    pub fn similarity(&self, other: &Thumbnail) -> f32 {
        self.pattern().similarity(&other.pattern())
    }
}

/// A thumbnail with its mean removed, at unit length; all zero for a flat picture (it
/// correlates with nothing). Made once per photo, compared with many.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern([f32; BYTES]);

impl Pattern {
    /// The best normalised cross-correlation of the two thumbnails over the eight rotations
    /// and mirror images of `other`, in [-1, 1]; 0 when either picture is flat.
    pub fn similarity(&self, other: &Pattern) -> f32 {
        let (a, b) = (&self.0, &other.0);
        let mut best = f32::NEG_INFINITY;
        for t in 0..8 {
            let mut dot = 0.0;
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let (sx, sy) = dihedral(t, x, y);
                    dot += a[y * SIDE + x] * b[sy * SIDE + sx];
                }
            }
            best = best.max(dot);
        }
        best
    }
}

/// The pixel range of cell `c` of [`SIDE`] along a side of `side` pixels.
fn cell(c: usize, side: usize) -> (usize, usize) {
    let start = c * side / SIDE;
    let end = ((c + 1) * side / SIDE).max(start + 1).min(side);
    (start.min(side.saturating_sub(1)), end)
}

/// Where pixel `(x, y)` comes from under transform `t` of the eight (four quarter turns,
/// each optionally mirrored).
fn dihedral(t: usize, x: usize, y: usize) -> (usize, usize) {
    let m = SIDE - 1;
    let (x, y) = if t & 4 != 0 { (m - x, y) } else { (x, y) };
    match t & 3 {
        0 => (x, y),
        1 => (y, m - x),
        2 => (m - x, m - y),
        _ => (m - y, x),
    }
}

/// A pair's copy-detection score: its normalised similarity plus [`BONUS_WEIGHT`] times how
/// far the thumbnails' correlation exceeds [`BONUS_FROM`].
pub fn verified(normalised: f32, thumbnail_similarity: f32) -> f32 {
    normalised + BONUS_WEIGHT * (thumbnail_similarity - BONUS_FROM).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(side: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> PreparedImage {
        let mut rgb = Vec::with_capacity((side * side * 3) as usize);
        for y in 0..side {
            for x in 0..side {
                rgb.extend(f(x, y));
            }
        }
        PreparedImage {
            rgb,
            side,
            width: side,
            height: side,
        }
    }

    /// A picture with no symmetry: a bright blob off centre on a diagonal ramp.
    fn scene(x: u32, y: u32) -> u8 {
        let blob = if (x as i32 - 150).pow(2) + (y as i32 - 60).pow(2) < 900 {
            120
        } else {
            0
        };
        (x / 3 + y / 5 + blob).min(255) as u8
    }

    #[test]
    fn cells_are_mean_luma() {
        let grey = prepared(224, |_, _| [200, 100, 50]);
        let t = Thumbnail::of(&grey);
        let luma = ((299 * 200 + 587 * 100 + 114 * 50) as f32 / 1000.0).round() as u8;
        assert!(t.0.iter().all(|&v| v == luma), "{:?}", &t.0[..4]);
        // Left half black, right half white, at a side that is not a multiple of 16.
        let halves = prepared(50, |x, _| if x < 25 { [0; 3] } else { [255; 3] });
        let t = Thumbnail::of(&halves);
        assert_eq!((t.0[0], t.0[15]), (0, 255));
        assert_eq!(Thumbnail::from_bytes(&t.0), Some(t.clone()));
        assert_eq!(Thumbnail::from_bytes(&t.0[1..]), None);
    }

    #[test]
    fn rotations_mirrors_and_tone_changes_of_a_picture_match_it() {
        let side = 224;
        let original = Thumbnail::of(&prepared(side, |x, y| [scene(x, y); 3]));
        let m = side - 1;
        type Edit = Box<dyn Fn(u32, u32) -> [u8; 3]>;
        let edits: [(&str, Edit); 5] = [
            ("rotated 90", Box::new(move |x, y| [scene(y, m - x); 3])),
            (
                "rotated 180",
                Box::new(move |x, y| [scene(m - x, m - y); 3]),
            ),
            ("mirrored", Box::new(move |x, y| [scene(m - x, y); 3])),
            (
                "darker, less contrast",
                Box::new(|x, y| [(scene(x, y) / 2 + 20); 3]),
            ),
            // Colour moved between channels: the same luma ordering.
            (
                "tinted",
                Box::new(|x, y| [scene(x, y), scene(x, y) / 2, scene(x, y) / 4]),
            ),
        ];
        for (name, f) in &edits {
            let s = original.similarity(&Thumbnail::of(&prepared(side, f)));
            assert!(s > 0.98, "{name}: {s}");
        }
        // A different picture (the blob elsewhere, the ramp the other way) does not.
        let other = Thumbnail::of(&prepared(side, |x, y| {
            [(y / 2 + (m - x) / 7 + if x < 40 && y > 150 { 90 } else { 0 }).min(255) as u8; 3]
        }));
        let s = original.similarity(&other);
        assert!(s < BONUS_FROM, "{s}");
        // A flat picture correlates with nothing, itself included.
        let flat = Thumbnail::of(&prepared(side, |_, _| [90; 3]));
        assert_eq!(flat.similarity(&original), 0.0);
        assert_eq!(flat.similarity(&flat), 0.0);
    }

    #[test]
    fn the_bonus_starts_at_the_threshold() {
        assert_eq!(verified(0.1, 0.5), 0.1);
        assert_eq!(verified(0.1, BONUS_FROM), 0.1);
        assert!((verified(0.1, 1.0) - (0.1 + BONUS_WEIGHT * (1.0 - BONUS_FROM))).abs() < 1e-6);
    }
}
