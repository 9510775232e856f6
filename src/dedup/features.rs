//! Local features of a picture for the content check: oriented FAST corners with rotated
//! BRIEF descriptors (ORB-like) on a small grey version at several scales, of the picture
//! and of its mirror image, and the working picture they were taken from.

use image::imageops::FilterType;
use image::{GrayImage, RgbImage};
use imageproc::corners::{corners_fast9, Corner};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;

/// Longer side of the grey picture the features are taken from.
pub const WORK_SIDE: u32 = 320;

/// Pyramid levels, each smaller by [`LEVEL_SCALE`].
const LEVELS: usize = 4;

const LEVEL_SCALE: f32 = std::f32::consts::SQRT_2;

/// Features kept per picture (strongest corners, spread over the levels by area).
const MAX_FEATURES: usize = 500;

/// Radius of the patch a feature describes (and of its orientation measure).
const PATCH_RADIUS: i32 = 15;

/// FAST thresholds tried in turn until a level has enough corners (blurred pictures have few
/// strong ones).
const FAST_THRESHOLDS: [u8; 3] = [20, 10, 5];

/// One feature: position in the working picture (level 0 coordinates) and its descriptor.
#[derive(Debug, Clone, Copy)]
pub(super) struct Feature {
    pub(super) x: f32,
    pub(super) y: f32,
    pub(super) bits: [u64; 4],
}

/// The local features of one picture and of its mirror image.
#[derive(Debug, Clone)]
pub struct LocalFeatures {
    pub(super) width: f32,
    pub(super) height: f32,
    pub(super) direct: Vec<Feature>,
    pub(super) mirrored: Vec<Feature>,
    /// Mean absolute difference of neighbouring pixels of the working picture: a blurred
    /// copy has a fraction of its original's.
    pub(super) sharpness: f32,
    /// The working picture, for a comparison blurred alike.
    pub(super) grey: GrayImage,
    /// The working picture, lightly smoothed, for the patch comparison.
    pub(super) smooth: GrayImage,
}

impl LocalFeatures {
    /// The features of an upright RGB picture (any size; it is shrunk to [`WORK_SIDE`]).
    pub fn of(img: &RgbImage) -> LocalFeatures {
        LocalFeatures::of_grey(working_grey(img))
    }

    pub(super) fn of_grey(grey: GrayImage) -> LocalFeatures {
        let mut flipped = grey.clone();
        image::imageops::flip_horizontal_in_place(&mut flipped);
        let (direct, smooth) = features(&grey);
        LocalFeatures {
            width: grey.width() as f32,
            height: grey.height() as f32,
            direct,
            mirrored: features(&flipped).0,
            sharpness: sharpness(&grey),
            grey,
            smooth,
        }
    }
}

/// Mean absolute difference of horizontally and vertically neighbouring pixels.
fn sharpness(grey: &GrayImage) -> f32 {
    let (w, h) = grey.dimensions();
    let mut sum = 0u64;
    for y in 0..h.saturating_sub(1) {
        for x in 0..w.saturating_sub(1) {
            let v = grey.get_pixel(x, y)[0];
            sum += v.abs_diff(grey.get_pixel(x + 1, y)[0]) as u64
                + v.abs_diff(grey.get_pixel(x, y + 1)[0]) as u64;
        }
    }
    sum as f32 / (2 * w.saturating_sub(1).max(1) * h.saturating_sub(1).max(1)) as f32
}

/// Grey (BT.601) version of `img` with its longer side [`WORK_SIDE`] (never enlarged by more
/// than that).
fn working_grey(img: &RgbImage) -> GrayImage {
    let grey = image::imageops::grayscale(img);
    let (w, h) = grey.dimensions();
    let long = w.max(h).max(1) as f32;
    let f = WORK_SIDE as f32 / long;
    let (nw, nh) = (
        ((w as f32 * f).round() as u32).max(1),
        ((h as f32 * f).round() as u32).max(1),
    );
    if (nw, nh) == (w, h) {
        grey
    } else {
        shrink(&grey, nw, nh)
    }
}

/// The BRIEF test pattern: 256 pairs of offsets, drawn once from a fixed seed (isotropic
/// Gaussian, sigma a fifth of the patch side, clipped so that every rotation stays inside
/// the patch).
fn pattern() -> &'static [[(f32, f32); 2]; 256] {
    static PATTERN: OnceLock<[[(f32, f32); 2]; 256]> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut rng = ChaCha8Rng::seed_from_u64(0x6c6f6f6b);
        let sigma = (2 * PATCH_RADIUS + 1) as f32 / 5.0;
        let limit = (PATCH_RADIUS - 2) as f32;
        let mut point = || loop {
            // Box-Muller.
            let (u, v): (f32, f32) = (rng.random::<f32>().max(1e-7), rng.random());
            let r = (-2.0 * u.ln()).sqrt() * sigma;
            let (x, y) = (
                r * (std::f32::consts::TAU * v).cos(),
                r * (std::f32::consts::TAU * v).sin(),
            );
            if x * x + y * y <= limit * limit {
                return (x, y);
            }
        };
        std::array::from_fn(|_| [point(), point()])
    })
}

/// Features of one grey working picture, over the pyramid, and the picture smoothed (their
/// descriptors compare smoothed pixels).
fn features(grey: &GrayImage) -> (Vec<Feature>, GrayImage) {
    let (w, h) = grey.dimensions();
    let areas: Vec<f32> = (0..LEVELS)
        .map(|l| LEVEL_SCALE.powi(-2 * l as i32))
        .collect();
    let total: f32 = areas.iter().sum();
    let mut out = Vec::with_capacity(MAX_FEATURES);
    let mut smooth_grey = None;
    for (level, area) in areas.iter().enumerate() {
        let scale = LEVEL_SCALE.powi(level as i32);
        let (lw, lh) = (
            (w as f32 / scale).round() as u32,
            (h as f32 / scale).round() as u32,
        );
        let border = PATCH_RADIUS as u32 + 1;
        if lw <= 2 * border + 2 || lh <= 2 * border + 2 {
            break;
        }
        let shrunk;
        let img = if level == 0 {
            grey
        } else {
            shrunk = shrink(grey, lw, lh);
            &shrunk
        };
        let quota = ((MAX_FEATURES as f32 * area / total).round() as usize).max(8);
        let corners = strongest_corners(img, border, quota);
        let smooth = smooth(img);
        for c in corners {
            let angle = orientation(&smooth, c.x as i32, c.y as i32);
            out.push(Feature {
                // Pixel centres: (i + 0.5) at a level is (i + 0.5) * scale at level 0.
                x: (c.x as f32 + 0.5) * scale - 0.5,
                y: (c.y as f32 + 0.5) * scale - 0.5,
                bits: describe(&smooth, c.x as i32, c.y as i32, angle),
            });
        }
        if level == 0 {
            smooth_grey = Some(smooth);
        }
    }
    let smooth_grey = smooth_grey.unwrap_or_else(|| smooth(grey));
    (out, smooth_grey)
}

/// Up to `quota` FAST-9 corners at least `border` pixels inside, strongest first, locally
/// maximal (no stronger corner within 3 pixels).
fn strongest_corners(img: &GrayImage, border: u32, quota: usize) -> Vec<Corner> {
    let (w, h) = img.dimensions();
    let mut corners = Vec::new();
    for threshold in FAST_THRESHOLDS {
        corners = corners_fast9(img, threshold);
        corners.retain(|c| c.x >= border && c.y >= border && c.x < w - border && c.y < h - border);
        if corners.len() >= quota {
            break;
        }
    }
    let mut corners = imageproc::suppress::local_maxima(&corners, 3);
    corners.sort_by(|a, b| b.score.total_cmp(&a.score));
    corners.truncate(quota);
    corners
}

/// Orientation of the patch around (x, y): the direction of its intensity centroid.
fn orientation(img: &GrayImage, x: i32, y: i32) -> f32 {
    let (w, raw) = (img.width() as i32, img.as_raw());
    let (mut m10, mut m01) = (0i32, 0i32);
    for dy in -PATCH_RADIUS..=PATCH_RADIUS {
        let span = ((PATCH_RADIUS * PATCH_RADIUS - dy * dy) as f32).sqrt() as i32;
        let row = ((y + dy) * w + x) as usize;
        let mut sum = 0i32;
        for dx in -span..=span {
            let v = raw[(row as i32 + dx) as usize] as i32;
            m10 += dx * v;
            sum += v;
        }
        m01 += dy * sum;
    }
    (m01 as f32).atan2(m10 as f32)
}

/// Orientations the test pattern is turned to (as ORB does: a feature's angle is rounded to
/// the nearest).
const ANGLES: usize = 32;

/// The test pattern turned to each of [`ANGLES`] angles, as whole-pixel offsets.
fn turned_patterns() -> &'static [TurnedPattern; ANGLES] {
    static TURNED: OnceLock<Vec<TurnedPattern>> = OnceLock::new();
    let turned = TURNED.get_or_init(|| {
        (0..ANGLES)
            .map(|k| {
                let (s, c) = (std::f32::consts::TAU * k as f32 / ANGLES as f32).sin_cos();
                let turn = |(px, py): (f32, f32)| {
                    (
                        (c * px - s * py).round() as i32,
                        (s * px + c * py).round() as i32,
                    )
                };
                std::array::from_fn(|i| [turn(pattern()[i][0]), turn(pattern()[i][1])])
            })
            .collect()
    });
    turned.as_slice().try_into().expect("one pattern per angle")
}

/// Rotated BRIEF: 256 intensity comparisons of the smoothed patch, the pattern turned by
/// `angle` (to the nearest of [`ANGLES`]).
fn describe(img: &GrayImage, x: i32, y: i32, angle: f32) -> [u64; 4] {
    let k = (angle / std::f32::consts::TAU * ANGLES as f32).round() as i32;
    let tests = &turned_patterns()[k.rem_euclid(ANGLES as i32) as usize];
    let (w, raw) = (img.width() as i32, img.as_raw());
    let at = |(dx, dy): (i32, i32)| raw[((y + dy) * w + x + dx) as usize];
    let mut bits = [0u64; 4];
    for (i, [p, q]) in tests.iter().enumerate() {
        if at(*p) < at(*q) {
            bits[i / 64] |= 1 << (i % 64);
        }
    }
    bits
}

/// `grey` resized to `w x h` (bilinear, SIMD).
fn shrink(grey: &GrayImage, w: u32, h: u32) -> GrayImage {
    use fast_image_resize as fr;
    let resized = fr::images::ImageRef::new(
        grey.width(),
        grey.height(),
        grey.as_raw(),
        fr::PixelType::U8,
    )
    .ok()
    .and_then(|src| {
        let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8);
        let options = fr::ResizeOptions::new()
            .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
        fr::Resizer::new().resize(&src, &mut dst, &options).ok()?;
        GrayImage::from_raw(w, h, dst.into_vec())
    });
    resized.unwrap_or_else(|| image::imageops::resize(grey, w, h, FilterType::Triangle))
}

/// `grey` smoothed by the binomial kernel [1 4 6 4 1] / 16 along both axes (close to a
/// Gaussian of sigma 1), edges repeated.
fn smooth(grey: &GrayImage) -> GrayImage {
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    if w == 0 || h == 0 {
        return grey.clone();
    }
    const K: [u32; 5] = [1, 4, 6, 4, 1];
    let src = grey.as_raw();
    let mut across = vec![0u16; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..w {
            let mut sum = 0u32;
            for (t, k) in K.iter().enumerate() {
                let xx = (x + t).saturating_sub(2).min(w - 1);
                sum += k * row[xx] as u32;
            }
            across[y * w + x] = sum as u16;
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0u32;
            for (t, k) in K.iter().enumerate() {
                let yy = (y + t).saturating_sub(2).min(h - 1);
                sum += k * across[yy * w + x] as u32;
            }
            out[y * w + x] = ((sum + 128) / 256) as u8;
        }
    }
    GrayImage::from_raw(w as u32, h as u32, out).expect("w*h bytes")
}

/// The BRIEF tests turned to one angle, as whole-pixel offsets.
type TurnedPattern = [[(i32, i32); 2]; 256];
