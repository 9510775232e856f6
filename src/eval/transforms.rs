//! The copy generator of `eval copies`: seeded, deterministic edits that match what happens to
//! real photos (recompression, resizing, crops, rotations, colour changes, overlays, borders,
//! and chains of these). Kept independent of the training augmentations on purpose, so that
//! the evaluation measures generalisation.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImageView, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One family of edits; each copy applies one (a chain applies two or three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transform {
    /// JPEG recompression at quality 10-90.
    Jpeg,
    /// Downscaling by a factor of 2 to 8.
    Downscale,
    /// A crop keeping 30-90 % of the area, anywhere in the picture.
    Crop,
    /// Stretching one axis by 0.6-0.8 or 1.25-1.6.
    Aspect,
    Rotate90,
    Rotate180,
    Rotate270,
    /// Rotation by 2-10 degrees either way, corners filled.
    SmallRotation,
    HorizontalFlip,
    /// Brightness, contrast, saturation and hue shifts (one to four of them).
    Color,
    Grayscale,
    /// Gaussian blur, sigma 1-4 % of the short side.
    Blur,
    /// Gaussian noise, sigma 8-40 grey levels.
    Noise,
    /// A line of text covering up to a fifth of the picture.
    Text,
    /// One to three emoji-like faces.
    Emoji,
    /// A solid border or padding of 5-25 % of the side.
    Border,
    /// Two or three of the above in a row.
    Chain,
}

impl Transform {
    pub const ALL: [Transform; 17] = [
        Transform::Jpeg,
        Transform::Downscale,
        Transform::Crop,
        Transform::Aspect,
        Transform::Rotate90,
        Transform::Rotate180,
        Transform::Rotate270,
        Transform::SmallRotation,
        Transform::HorizontalFlip,
        Transform::Color,
        Transform::Grayscale,
        Transform::Blur,
        Transform::Noise,
        Transform::Text,
        Transform::Emoji,
        Transform::Border,
        Transform::Chain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Transform::Jpeg => "jpeg",
            Transform::Downscale => "downscale",
            Transform::Crop => "crop",
            Transform::Aspect => "aspect",
            Transform::Rotate90 => "rotate-90",
            Transform::Rotate180 => "rotate-180",
            Transform::Rotate270 => "rotate-270",
            Transform::SmallRotation => "small-rotation",
            Transform::HorizontalFlip => "flip",
            Transform::Color => "color",
            Transform::Grayscale => "grayscale",
            Transform::Blur => "blur",
            Transform::Noise => "noise",
            Transform::Text => "text",
            Transform::Emoji => "emoji",
            Transform::Border => "border",
            Transform::Chain => "chain",
        }
    }
}

impl serde::Serialize for Transform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Quality of the JPEG every copy is saved as, unless its edit chose another.
pub const COPY_JPEG_QUALITY: u8 = 92;

/// A generated copy: its encoded bytes and a description of the edits.
#[derive(Debug, Clone)]
pub struct Copy {
    pub transform: Transform,
    pub description: String,
    pub jpeg: Vec<u8>,
}

/// The random generator for copy `index` of original `original` under `seed`.
pub fn rng_for(seed: u64, original: usize, index: usize) -> ChaCha8Rng {
    let mixed = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((original as u64) << 20)
        .wrapping_add(index as u64);
    ChaCha8Rng::seed_from_u64(mixed)
}

/// Makes a copy of `img` with `transform`, encoded as JPEG. Deterministic for a given rng state.
pub fn make_copy(img: &DynamicImage, transform: Transform, rng: &mut ChaCha8Rng) -> Copy {
    let mut quality = COPY_JPEG_QUALITY;
    let mut steps = Vec::new();
    let out = if transform == Transform::Chain {
        let n = rng.random_range(2..=3);
        let mut cur = img.clone();
        for _ in 0..n {
            let t = Transform::ALL[rng.random_range(0..Transform::ALL.len() - 1)];
            cur = apply(&cur, t, rng, &mut quality, &mut steps);
        }
        cur
    } else {
        apply(img, transform, rng, &mut quality, &mut steps)
    };
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, quality)
        .encode_image(&out.to_rgb8())
        .expect("encoding to memory succeeds");
    Copy {
        transform,
        description: steps.join(" + "),
        jpeg,
    }
}

fn apply(
    img: &DynamicImage,
    t: Transform,
    rng: &mut ChaCha8Rng,
    quality: &mut u8,
    steps: &mut Vec<String>,
) -> DynamicImage {
    let (w, h) = img.dimensions();
    let short = w.min(h) as f32;
    let (out, step) = match t {
        Transform::Jpeg => {
            *quality = rng.random_range(10..=90);
            (img.clone(), format!("jpeg q{quality}"))
        }
        Transform::Downscale => {
            let f: f32 = rng.random_range(2.0..8.0);
            let (nw, nh) = (
                ((w as f32 / f) as u32).max(8),
                ((h as f32 / f) as u32).max(8),
            );
            (
                img.resize_exact(nw, nh, FilterType::Triangle),
                format!("downscale 1/{f:.1}"),
            )
        }
        Transform::Crop => {
            let area: f32 = rng.random_range(0.3..0.9);
            let ratio: f32 = rng.random_range(0.75..1.33);
            let cw = ((w as f32 * (area * ratio).sqrt()).min(w as f32) as u32).max(8);
            let ch = ((h as f32 * (area / ratio).sqrt()).min(h as f32) as u32).max(8);
            let x = rng.random_range(0..=w - cw);
            let y = rng.random_range(0..=h - ch);
            (
                img.crop_imm(x, y, cw, ch),
                format!(
                    "crop {:.0}% at {x},{y}",
                    100.0 * (cw * ch) as f32 / (w * h) as f32
                ),
            )
        }
        Transform::Aspect => {
            let s: f32 = if rng.random_bool(0.5) {
                rng.random_range(0.6..0.8)
            } else {
                rng.random_range(1.25..1.6)
            };
            let (nw, nh) = if rng.random_bool(0.5) {
                ((w as f32 * s) as u32, h)
            } else {
                (w, (h as f32 * s) as u32)
            };
            (
                img.resize_exact(nw.max(8), nh.max(8), FilterType::Triangle),
                format!("aspect {nw}x{nh}"),
            )
        }
        Transform::Rotate90 => (img.rotate90(), "rotate 90".into()),
        Transform::Rotate180 => (img.rotate180(), "rotate 180".into()),
        Transform::Rotate270 => (img.rotate270(), "rotate 270".into()),
        Transform::SmallRotation => {
            let deg: f32 =
                rng.random_range(2.0..10.0) * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let fill = random_color(rng);
            (
                DynamicImage::ImageRgb8(rotate(&img.to_rgb8(), deg, fill)),
                format!("rotate {deg:.1} deg"),
            )
        }
        Transform::HorizontalFlip => (img.fliph(), "flip".into()),
        Transform::Color => {
            let mut cur = img.clone();
            let mut parts = Vec::new();
            let pick: u8 = rng.random_range(1..16);
            if pick & 1 != 0 {
                let b = rng.random_range(-60..=60);
                cur = cur.brighten(b);
                parts.push(format!("brightness {b:+}"));
            }
            if pick & 2 != 0 {
                let c: f32 = rng.random_range(-40.0..40.0);
                cur = cur.adjust_contrast(c);
                parts.push(format!("contrast {c:+.0}"));
            }
            if pick & 4 != 0 {
                let s: f32 = rng.random_range(0.0..2.0);
                cur = DynamicImage::ImageRgb8(saturate(&cur.to_rgb8(), s));
                parts.push(format!("saturation x{s:.2}"));
            }
            if pick & 8 != 0 {
                let deg = rng.random_range(-90..=90);
                cur = cur.huerotate(deg);
                parts.push(format!("hue {deg:+}"));
            }
            (cur, parts.join(", "))
        }
        Transform::Grayscale => (DynamicImage::ImageLuma8(img.to_luma8()), "grayscale".into()),
        Transform::Blur => {
            let sigma = short * rng.random_range(0.01..0.04);
            (img.fast_blur(sigma), format!("blur sigma {sigma:.1}"))
        }
        Transform::Noise => {
            let sigma: f32 = rng.random_range(8.0..40.0);
            let mut rgb = img.to_rgb8();
            for v in rgb.iter_mut() {
                *v = (*v as f32 + sigma * gaussian(rng)).clamp(0.0, 255.0) as u8;
            }
            (
                DynamicImage::ImageRgb8(rgb),
                format!("noise sigma {sigma:.0}"),
            )
        }
        Transform::Text => {
            let mut rgb = img.to_rgb8();
            let len = rng.random_range(4..=12);
            let text: String = (0..len)
                .map(|_| {
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !?#"[rng.random_range(0..40)] as char
                })
                .collect();
            let scale = ((h as f32 * rng.random_range(0.05..0.15)) / 8.0).max(1.0) as u32;
            let x = rng.random_range(0..=w.saturating_sub(scale * 8 * len as u32 / 2).max(1) - 1);
            let y = rng.random_range(0..=h.saturating_sub(scale * 8).max(1) - 1);
            draw_text(&mut rgb, &text, x, y, scale, random_color(rng));
            (DynamicImage::ImageRgb8(rgb), format!("text \"{text}\""))
        }
        Transform::Emoji => {
            let mut rgb = img.to_rgb8();
            let n = rng.random_range(1..=3);
            for _ in 0..n {
                let r = (short * rng.random_range(0.06..0.18)) as i64;
                let cx = rng.random_range(0..w) as i64;
                let cy = rng.random_range(0..h) as i64;
                draw_face(&mut rgb, cx, cy, r.max(3), random_color(rng));
            }
            (DynamicImage::ImageRgb8(rgb), format!("{n} emoji"))
        }
        Transform::Border => {
            let f: f32 = rng.random_range(0.05..0.25);
            let (bx, by) = if rng.random_bool(0.5) {
                ((w as f32 * f) as u32, (h as f32 * f) as u32)
            } else if rng.random_bool(0.5) {
                ((w as f32 * f) as u32, 0)
            } else {
                (0, (h as f32 * f) as u32)
            };
            let mut canvas = RgbImage::from_pixel(w + 2 * bx, h + 2 * by, random_color(rng));
            imageops::overlay(&mut canvas, &img.to_rgb8(), bx as i64, by as i64);
            (DynamicImage::ImageRgb8(canvas), format!("border {bx}x{by}"))
        }
        Transform::Chain => unreachable!("chains are expanded by make_copy"),
    };
    steps.push(step);
    out
}

fn random_color(rng: &mut ChaCha8Rng) -> Rgb<u8> {
    Rgb([rng.random(), rng.random(), rng.random()])
}

/// A standard normal sample (Box-Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Scales the distance of each pixel from its grey value by `s`.
fn saturate(img: &RgbImage, s: f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let grey = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
        for c in p.0.iter_mut() {
            *c = (grey + (*c as f32 - grey) * s).clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Rotation about the centre by `deg` degrees (bilinear), same canvas size, corners `fill`.
fn rotate(img: &RgbImage, deg: f32, fill: Rgb<u8>) -> RgbImage {
    let (w, h) = img.dimensions();
    let (s, c) = deg.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        let sx = c * dx + s * dy + cx - 0.5;
        let sy = -s * dx + c * dy + cy - 0.5;
        if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f32 || sy > (h - 1) as f32 {
            return fill;
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let mut px = [0u8; 3];
        for (ch, v) in px.iter_mut().enumerate() {
            let top = img.get_pixel(x0, y0)[ch] as f32 * (1.0 - fx)
                + img.get_pixel(x1, y0)[ch] as f32 * fx;
            let bottom = img.get_pixel(x0, y1)[ch] as f32 * (1.0 - fx)
                + img.get_pixel(x1, y1)[ch] as f32 * fx;
            *v = (top * (1.0 - fy) + bottom * fy).round() as u8;
        }
        Rgb(px)
    })
}

fn put(img: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, color);
    }
}

/// Draws `text` with the 8x8 bitmap font, each font pixel a `scale x scale` block (also
/// what the tests draw documents with).
pub fn draw_text(img: &mut RgbImage, text: &str, x: u32, y: u32, scale: u32, color: Rgb<u8>) {
    use font8x8::UnicodeFonts;
    for (i, ch) in text.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else {
            continue;
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x as i64 + ((i as u32 * 8 + col) * scale + dx) as i64;
                        let py = y as i64 + (row as u32 * scale + dy) as i64;
                        put(img, px, py, color);
                    }
                }
            }
        }
    }
}

/// A filled disc with two eyes and a mouth.
fn draw_face(img: &mut RgbImage, cx: i64, cy: i64, r: i64, color: Rgb<u8>) {
    let dark = Rgb([20, 20, 20]);
    for dy in -r..=r {
        for dx in -r..=r {
            let d2 = dx * dx + dy * dy;
            if d2 > r * r {
                continue;
            }
            let eye = |ex: i64| {
                let (ex, ey) = (dx - ex, dy + r / 3);
                ex * ex + ey * ey <= (r / 6).max(1).pow(2)
            };
            let mouth = dy > r / 4 && dy < r / 2 && dx.abs() < r / 2;
            let c = if eye(-r / 3) || eye(r / 3) || mouth {
                dark
            } else {
                color
            };
            put(img, cx + dx, cy + dy, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture() -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(320, 240, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
        }))
    }

    #[test]
    fn every_transform_is_deterministic_and_yields_a_sane_image() {
        let img = picture();
        for (i, t) in Transform::ALL.iter().enumerate() {
            let a = make_copy(&img, *t, &mut rng_for(7, 3, i));
            let b = make_copy(&img, *t, &mut rng_for(7, 3, i));
            assert_eq!(a.jpeg, b.jpeg, "{t:?} is not deterministic");
            assert_eq!(a.description, b.description);
            let decoded = image::load_from_memory(&a.jpeg).unwrap_or_else(|e| panic!("{t:?}: {e}"));
            let (w, h) = decoded.dimensions();
            assert!(
                (8..=640).contains(&w) && (8..=640).contains(&h),
                "{t:?}: {w}x{h}"
            );
            assert!(!a.description.is_empty(), "{t:?}");
        }
    }

    #[test]
    fn different_seeds_give_different_copies() {
        let img = picture();
        let a = make_copy(&img, Transform::Crop, &mut rng_for(1, 0, 2));
        let b = make_copy(&img, Transform::Crop, &mut rng_for(2, 0, 2));
        assert_ne!(a.description, b.description);
    }

    #[test]
    fn rotations_swap_dimensions() {
        let img = picture();
        let c = make_copy(&img, Transform::Rotate90, &mut rng_for(1, 0, 0));
        assert_eq!(
            image::load_from_memory(&c.jpeg).unwrap().dimensions(),
            (240, 320)
        );
    }
}
