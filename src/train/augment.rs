//! Training augmentations: two random views of each photo form a positive pair. Written
//! independently of the `eval copies` generator (different code, different parameter draws),
//! so that the evaluation measures generalisation to edits, not memory of one implementation.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{DynamicImage, Rgb, RgbImage};
use rand::Rng;

/// Probabilities and ranges of the augmentations.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Area fraction range of the random resized crop.
    pub crop_scale: (f32, f32),
    pub flip: f32,
    pub color_jitter: f32,
    pub grayscale: f32,
    /// Gaussian blur (sigma 0.5-5 % of the side, as a box-blur approximation).
    pub blur: f32,
    /// Gaussian noise (sigma 4-40 grey levels).
    #[serde(default)]
    pub noise: f32,
    /// Shrunk by 2-8 times and enlarged back (detail lost as in a thumbnail).
    #[serde(default)]
    pub downscale: f32,
    pub jpeg: f32,
    /// Rotation by 90, 180 or 270 degrees.
    pub rotate: f32,
    /// Rotation by a small angle (3-20 degrees either way), corners filled with a colour.
    #[serde(default)]
    pub tilt: f32,
    /// Solid shapes drawn over the picture.
    pub overlay: f32,
    /// The picture shrunk onto a solid background.
    pub padding: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            crop_scale: (0.25, 1.0),
            flip: 0.5,
            color_jitter: 0.8,
            grayscale: 0.25,
            blur: 0.4,
            noise: 0.15,
            downscale: 0.15,
            jpeg: 0.3,
            rotate: 0.25,
            tilt: 0.2,
            overlay: 0.2,
            padding: 0.15,
        }
    }
}

impl AugmentConfig {
    /// The default set: copy-style edits on top of SimCLR's views, for copy detection.
    pub fn copy() -> Self {
        Self::default()
    }

    /// SimCLR's views only (crop, flip, colour, grayscale): what class-level similarity
    /// learns from, e.g. for small images trained from scratch, where copy-style edits
    /// destroy most of the little detail there is.
    pub fn semantic() -> Self {
        AugmentConfig {
            crop_scale: (0.08, 1.0),
            flip: 0.5,
            color_jitter: 0.8,
            grayscale: 0.2,
            blur: 0.0,
            noise: 0.0,
            downscale: 0.0,
            jpeg: 0.0,
            rotate: 0.0,
            tilt: 0.0,
            overlay: 0.0,
            padding: 0.0,
        }
    }

    /// The preset named `name` (`copy` or `semantic`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "copy" => Some(Self::copy()),
            "semantic" => Some(Self::semantic()),
            _ => None,
        }
    }
}

fn color<R: Rng>(rng: &mut R) -> Rgb<u8> {
    Rgb([rng.random(), rng.random(), rng.random()])
}

/// One random `side x side` view of `img`.
pub fn random_view<R: Rng>(
    img: &RgbImage,
    side: u32,
    cfg: &AugmentConfig,
    rng: &mut R,
) -> RgbImage {
    let (w, h) = img.dimensions();
    // Random resized crop: area fraction and aspect ratio drawn, position uniform.
    let area = rng.random_range(cfg.crop_scale.0..=cfg.crop_scale.1) * (w * h) as f32;
    let ratio = (rng.random_range((0.75f32).ln()..=(1.333f32).ln())).exp();
    let cw = ((area * ratio).sqrt().round() as u32).clamp(1, w);
    let ch = ((area / ratio).sqrt().round() as u32).clamp(1, h);
    let (x, y) = (rng.random_range(0..=w - cw), rng.random_range(0..=h - ch));
    let mut out = imageops::resize(
        &imageops::crop_imm(img, x, y, cw, ch).to_image(),
        side,
        side,
        FilterType::Triangle,
    );

    if rng.random::<f32>() < cfg.flip {
        imageops::flip_horizontal_in_place(&mut out);
    }
    if rng.random::<f32>() < cfg.color_jitter {
        let brightness = rng.random_range(0.6f32..1.4);
        let contrast = rng.random_range(0.6f32..1.4);
        let saturation = rng.random_range(0.4f32..1.6);
        let mean = out
            .pixels()
            .map(|p| p.0.iter().map(|&c| c as f32).sum::<f32>() / 3.0)
            .sum::<f32>()
            / (side * side) as f32;
        for p in out.pixels_mut() {
            let grey = (p[0] as f32 + p[1] as f32 + p[2] as f32) / 3.0;
            for c in p.0.iter_mut() {
                let sat = grey + (*c as f32 - grey) * saturation;
                let con = mean + (sat - mean) * contrast;
                *c = (con * brightness).clamp(0.0, 255.0) as u8;
            }
        }
        if rng.random_bool(0.5) {
            out = DynamicImage::ImageRgb8(out)
                .huerotate(rng.random_range(-30..=30))
                .into_rgb8();
        }
    }
    if rng.random::<f32>() < cfg.grayscale {
        out = DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(out).to_luma8()).into_rgb8();
    }
    if rng.random::<f32>() < cfg.padding {
        let f = rng.random_range(0.6f32..0.95);
        let inner = ((side as f32 * f) as u32).max(1);
        let small = imageops::resize(&out, inner, inner, FilterType::Triangle);
        let mut canvas = RgbImage::from_pixel(side, side, color(rng));
        let (ox, oy) = (
            rng.random_range(0..=side - inner),
            rng.random_range(0..=side - inner),
        );
        imageops::overlay(&mut canvas, &small, ox as i64, oy as i64);
        out = canvas;
    }
    if rng.random::<f32>() < cfg.overlay {
        for _ in 0..rng.random_range(1..=4) {
            let c = color(rng);
            let rw = rng.random_range(side / 12..=side / 3).max(1);
            let rh = rng.random_range(side / 20..=side / 6).max(1);
            let (ox, oy) = (rng.random_range(0..side), rng.random_range(0..side));
            let round = rng.random_bool(0.5);
            for y in oy..(oy + rh).min(side) {
                for x in ox..(ox + rw).min(side) {
                    let inside = !round || {
                        let (dx, dy) = (
                            (x - ox) as f32 / rw as f32 - 0.5,
                            (y - oy) as f32 / rh as f32 - 0.5,
                        );
                        dx * dx + dy * dy <= 0.25
                    };
                    if inside {
                        out.put_pixel(x, y, c);
                    }
                }
            }
        }
    }
    if rng.random::<f32>() < cfg.rotate {
        out = match rng.random_range(0..3) {
            0 => imageops::rotate90(&out),
            1 => imageops::rotate180(&out),
            _ => imageops::rotate270(&out),
        };
    }
    if rng.random::<f32>() < cfg.tilt {
        let degrees = rng.random_range(3f32..20.0) * if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        out = tilt(&out, degrees.to_radians(), color(rng));
    }
    if rng.random::<f32>() < cfg.downscale {
        let small = (side as f32 / rng.random_range(2f32..8.0)).max(1.0) as u32;
        let shrunk = imageops::resize(&out, small, small, FilterType::Triangle);
        out = imageops::resize(&shrunk, side, side, FilterType::Triangle);
    }
    if rng.random::<f32>() < cfg.blur {
        let sigma = side as f32 * rng.random_range(0.005f32..0.05);
        out = imageops::fast_blur(&out, sigma);
    }
    if rng.random::<f32>() < cfg.noise {
        let sigma = rng.random_range(4f32..40.0);
        for c in out.iter_mut() {
            // Sum of four uniforms: close enough to a Gaussian, cheap.
            let n: f32 = (0..4).map(|_| rng.random::<f32>()).sum::<f32>() - 2.0;
            *c = (*c as f32 + n * sigma * 1.732).clamp(0.0, 255.0) as u8;
        }
    }
    if rng.random::<f32>() < cfg.jpeg {
        let mut bytes = Vec::new();
        let q = rng.random_range(15..=90);
        if JpegEncoder::new_with_quality(&mut bytes, q)
            .encode_image(&out)
            .is_ok()
        {
            if let Ok(img) = image::load_from_memory(&bytes) {
                out = img.into_rgb8();
            }
        }
    }
    out
}

/// `img` rotated by `angle` radians about its centre (bilinear), same size, uncovered corners
/// filled with `fill`.
fn tilt(img: &RgbImage, angle: f32, fill: Rgb<u8>) -> RgbImage {
    let (w, h) = img.dimensions();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let (sin, cos) = angle.sin_cos();
    RgbImage::from_fn(w, h, |x, y| {
        // Inverse mapping: where in the source does this output pixel come from?
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        let sx = cos * dx + sin * dy + cx - 0.5;
        let sy = -sin * dx + cos * dy + cy - 0.5;
        if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f32 || sy > (h - 1) as f32 {
            return fill;
        }
        let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let px = |x, y| img.get_pixel(x, y).0.map(f32::from);
        let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
        Rgb(std::array::from_fn(|k| {
            let top = a[k] + (b[k] - a[k]) * fx;
            let bottom = c[k] + (d[k] - c[k]) * fx;
            (top + (bottom - top) * fy).round() as u8
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn photo() -> RgbImage {
        RgbImage::from_fn(300, 200, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        })
    }

    #[test]
    fn views_are_deterministic_for_a_seed_and_the_right_size() {
        let img = photo();
        let cfg = AugmentConfig::default();
        for seed in 0..20 {
            let a = random_view(&img, 64, &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
            let b = random_view(&img, 64, &cfg, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(a, b, "seed {seed}");
            assert_eq!(a.dimensions(), (64, 64));
        }
        let a = random_view(&img, 64, &cfg, &mut ChaCha8Rng::seed_from_u64(1));
        let b = random_view(&img, 64, &cfg, &mut ChaCha8Rng::seed_from_u64(2));
        assert_ne!(a, b);
    }

    #[test]
    fn tilt_keeps_the_centre_and_fills_the_corners() {
        let img = RgbImage::from_fn(41, 41, |x, y| Rgb([(x * 6) as u8, (y * 6) as u8, 7]));
        let fill = Rgb([1, 2, 3]);
        let t = tilt(&img, 15f32.to_radians(), fill);
        assert_eq!(t.dimensions(), (41, 41));
        assert_eq!(t.get_pixel(20, 20), img.get_pixel(20, 20));
        assert_eq!(*t.get_pixel(0, 0), fill);
        // A zero angle is the identity.
        assert_eq!(tilt(&img, 0.0, fill), img);
    }

    #[test]
    fn tiny_images_and_extreme_settings_are_safe() {
        let img = RgbImage::from_pixel(3, 2, Rgb([10, 20, 30]));
        let all = AugmentConfig {
            crop_scale: (0.01, 1.0),
            flip: 1.0,
            color_jitter: 1.0,
            grayscale: 1.0,
            blur: 1.0,
            noise: 1.0,
            downscale: 1.0,
            jpeg: 1.0,
            rotate: 1.0,
            tilt: 1.0,
            overlay: 1.0,
            padding: 1.0,
        };
        for seed in 0..10 {
            let v = random_view(&img, 16, &all, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(v.dimensions(), (16, 16));
        }
    }
}
