//! Resampling exactly as the reference implementations do it, so that a model sees the
//! inputs it was trained with.
//!
//! Owns two filters: Pillow's bicubic resize of 8-bit images (separable, antialiased:
//! the kernel widens with the scale, `a = -0.5`, coefficients in 22-bit fixed point,
//! horizontal pass then vertical, each rounded to 8 bits), which Hugging Face image
//! processors use; and PyTorch's bicubic interpolation of float grids (`align_corners =
//! False`, `a = -0.75`, with or without antialiasing), which DINOv2 uses to fit its
//! position embeddings to the input size.

/// One output sample's input window: the first input index and the weights.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Window {
    pub start: usize,
    pub weights: Vec<f64>,
}

/// Pillow's (and PyTorch's antialiased) bicubic kernel, `a = -0.5`.
fn cubic_aa(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The windows of an antialiased bicubic resize from `input` to `output` samples, as
/// Pillow's `precompute_coeffs` (and PyTorch's `_compute_weights_aa`) computes them:
/// normalised to sum 1, the support widened by the downscaling factor.
pub(crate) fn windows_aa(input: usize, output: usize) -> Vec<Window> {
    let scale = input as f64 / output as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    (0..output)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).min(input as i64) as usize;
            let mut weights: Vec<f64> = (lo..hi)
                .map(|x| cubic_aa((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            Window { start: lo, weights }
        })
        .collect()
}

/// PyTorch's plain bicubic interpolation (`align_corners = False`, `a = -0.75`): four
/// taps, the edge samples repeated beyond the border.
pub(crate) fn windows_bicubic(input: usize, output: usize) -> Vec<Window> {
    const A: f64 = -0.75;
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|i| {
            let real = scale * (i as f64 + 0.5) - 0.5;
            let floor = real.floor();
            let t = real - floor;
            let taps = [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)];
            // Taps beyond the border fall on the edge sample: fold them into dense weights.
            let last = input as i64 - 1;
            let mut weights = vec![0.0; input];
            for (k, w) in taps.iter().enumerate() {
                let x = (floor as i64 - 1 + k as i64).clamp(0, last) as usize;
                weights[x] += w;
            }
            let lo = weights.iter().position(|w| *w != 0.0).unwrap_or(0);
            let hi = weights
                .iter()
                .rposition(|w| *w != 0.0)
                .map_or(lo, |h| h + 1);
            Window {
                start: lo,
                weights: weights[lo..hi].to_vec(),
            }
        })
        .collect()
}

/// Pillow's fixed-point precision for 8-bit images.
const PRECISION_BITS: u32 = 32 - 8 - 2;

fn fixed_point(windows: &[Window]) -> Vec<(usize, Vec<i32>)> {
    let one = (1u32 << PRECISION_BITS) as f64;
    windows
        .iter()
        .map(|w| {
            let k = w
                .weights
                .iter()
                .map(|&c| {
                    if c < 0.0 {
                        (-0.5 + c * one) as i32
                    } else {
                        (0.5 + c * one) as i32
                    }
                })
                .collect();
            (w.start, k)
        })
        .collect()
}

fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes an RGB image (`width * height * 3` bytes) to `out_w x out_h` exactly as Pillow's
/// `Image.resize(size, Image.BICUBIC)` does.
pub fn resize_rgb_pillow(
    rgb: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<u8> {
    assert_eq!(rgb.len(), width * height * 3, "RGB buffer size");
    let horizontal = out_w != width;
    let vertical = out_h != height;
    let rows = fixed_point(&windows_aa(height, out_h));
    // Only the input rows the vertical pass reads are resized horizontally (as Pillow).
    let (first, last) = if vertical {
        let first = rows.iter().map(|(s, _)| *s).min().unwrap_or(0);
        let last = rows
            .iter()
            .map(|(s, k)| s + k.len())
            .max()
            .unwrap_or(height);
        (first, last)
    } else {
        (0, height)
    };
    let mid: Vec<u8>;
    let (src, src_w) = if horizontal {
        let cols = fixed_point(&windows_aa(width, out_w));
        let mut out = vec![0u8; (last - first) * out_w * 3];
        for (y, out_row) in (first..last).zip(out.chunks_exact_mut(out_w * 3)) {
            let in_row = &rgb[y * width * 3..(y + 1) * width * 3];
            for ((start, k), px) in cols.iter().zip(out_row.chunks_exact_mut(3)) {
                let mut acc = [1i32 << (PRECISION_BITS - 1); 3];
                for (i, &c) in k.iter().enumerate() {
                    let p = &in_row[(start + i) * 3..(start + i) * 3 + 3];
                    for ch in 0..3 {
                        acc[ch] += p[ch] as i32 * c;
                    }
                }
                for ch in 0..3 {
                    px[ch] = clip8(acc[ch]);
                }
            }
        }
        mid = out;
        (&mid[..], out_w)
    } else {
        (&rgb[first * width * 3..last * width * 3], width)
    };
    if !vertical {
        return src.to_vec();
    }
    let mut out = vec![0u8; out_h * src_w * 3];
    for ((start, k), out_row) in rows.iter().zip(out.chunks_exact_mut(src_w * 3)) {
        for (x, px) in out_row.iter_mut().enumerate() {
            let mut acc = 1i32 << (PRECISION_BITS - 1);
            for (i, &c) in k.iter().enumerate() {
                acc += src[(start - first + i) * src_w * 3 + x] as i32 * c;
            }
            *px = clip8(acc);
        }
    }
    out
}

/// Resamples a `(channels, in_h, in_w)` float grid to `(channels, out_h, out_w)`, one axis
/// then the other, with the given windows for each axis.
pub(crate) fn resample_grid(
    grid: &[f32],
    channels: usize,
    (in_h, in_w): (usize, usize),
    rows: &[Window],
    cols: &[Window],
) -> Vec<f32> {
    let (out_h, out_w) = (rows.len(), cols.len());
    let mut wide = vec![0f32; channels * in_h * out_w];
    for c in 0..channels {
        for y in 0..in_h {
            let row = &grid[(c * in_h + y) * in_w..(c * in_h + y + 1) * in_w];
            for (x, w) in cols.iter().enumerate() {
                let v: f64 = w
                    .weights
                    .iter()
                    .enumerate()
                    .map(|(i, k)| k * row[w.start + i] as f64)
                    .sum();
                wide[(c * in_h + y) * out_w + x] = v as f32;
            }
        }
    }
    let mut out = vec![0f32; channels * out_h * out_w];
    for c in 0..channels {
        for (y, w) in rows.iter().enumerate() {
            for x in 0..out_w {
                let v: f64 = w
                    .weights
                    .iter()
                    .enumerate()
                    .map(|(i, k)| k * wide[(c * in_h + w.start + i) * out_w + x] as f64)
                    .sum();
                out[(c * out_h + y) * out_w + x] = v as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_sum_to_one_and_stay_inside() {
        for (input, output) in [(37, 16), (16, 37), (640, 224), (5, 5), (1, 3)] {
            for w in windows_aa(input, output)
                .into_iter()
                .chain(windows_bicubic(input, output))
            {
                let total: f64 = w.weights.iter().sum();
                assert!((total - 1.0).abs() < 1e-9, "{input}->{output}: {total}");
                assert!(w.start + w.weights.len() <= input);
            }
        }
    }

    #[test]
    fn same_size_is_identity() {
        let grid: Vec<f32> = (0..2 * 4 * 4).map(|i| i as f32 * 0.37).collect();
        let out = resample_grid(
            &grid,
            2,
            (4, 4),
            &windows_bicubic(4, 4),
            &windows_bicubic(4, 4),
        );
        for (a, b) in grid.iter().zip(&out) {
            assert!((a - b).abs() < 1e-5);
        }
        let rgb: Vec<u8> = (0..5 * 3 * 3).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(resize_rgb_pillow(&rgb, 5, 3, 5, 3), rgb);
    }

    #[test]
    fn flat_image_stays_flat() {
        let rgb = [10u8, 200, 77].repeat(40 * 30);
        let out = resize_rgb_pillow(&rgb, 40, 30, 13, 9);
        assert_eq!(out, [10u8, 200, 77].repeat(13 * 9));
    }
}
