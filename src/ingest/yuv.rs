//! Decoded YUV planes (HEVC or AV1) to 8-bit RGB: BT.601, BT.709, BT.2020 or identity
//! matrices, full or limited range, 8 to 12 bits, 4:0:0 to 4:4:4, chroma taken from the
//! nearest sample (as libheif does: a bilinear filter with the vertical siting of HEVC's
//! default chroma location wrong was measurably further from the source pictures).
//!
//! A picture can also be converted reduced by 2, 4 or 8: each output pixel is the mean of
//! its block of samples in every plane, converted once (the conversion is affine, so this is
//! the mean of the converted block up to clamping). This is the HEIF counterpart of a JPEG's
//! DCT-scaled decoding: a 12 MP picture for a 224-pixel encoder input is never converted
//! whole.

use image::RgbImage;

/// One decoded picture's planes, widened to 16 bits.
pub struct Yuv {
    pub width: u32,
    pub height: u32,
    /// Bits per sample (8, 10 or 12).
    pub bits: u32,
    /// Chroma subsampling as shifts: (1, 1) for 4:2:0, (1, 0) for 4:2:2, (0, 0) for 4:4:4.
    pub shift: (u32, u32),
    /// (matrix coefficients as in H.273, full range) that the coded stream signals.
    pub signalled: (u16, bool),
    /// Y, then Cb and Cr (empty for monochrome).
    pub planes: [Vec<u16>; 3],
    /// Width of the chroma planes (0 for monochrome).
    pub chroma_width: usize,
}

impl Yuv {
    /// Converts to RGB into `out` at (`x0`, `y0`), clipped to `out` and to `width x height`;
    /// `colour` (the container's nclx) overrides what the stream signals.
    ///
    /// With `factor` above 1 the picture is reduced by it: (`x0`, `y0`) are in `out`'s
    /// (reduced) pixels, `width x height` in the picture's own, and each output pixel is the
    /// mean of its `factor x factor` block (a partial block at the right and bottom edges).
    pub fn paint(
        &self,
        out: &mut RgbImage,
        (x0, y0): (u32, u32),
        (width, height): (u32, u32),
        colour: Option<(u16, bool)>,
        factor: u32,
    ) {
        let (matrix, full) = colour.unwrap_or(self.signalled);
        let (kr, kb) = match matrix {
            1 => (0.2126, 0.0722),
            9 | 10 => (0.2627, 0.0593),
            _ => (0.299, 0.114),
        };
        let bits = self.bits.clamp(8, 16);
        let max = ((1u32 << bits) - 1) as f32;
        let half = (1u32 << (bits - 1)) as f32;
        let scale = (1u32 << (bits - 8)) as f32;
        let (y_off, y_gain, c_gain) = if full {
            (0.0, 255.0 / max, 255.0 / max)
        } else {
            (
                16.0 * scale,
                255.0 / (219.0 * scale),
                255.0 / (224.0 * scale),
            )
        };
        let kg = 1.0 - kr - kb;
        let (g_cr, g_cb) = (2.0 * (1.0 - kr) * kr / kg, 2.0 * (1.0 - kb) * kb / kg);
        let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        // One sample (or a block's mean) in floating point: what the fixed-point rows below
        // do not cover, and every reduced picture.
        let convert = |[y, cb, cr]: [f32; 3]| -> [u8; 3] {
            if self.chroma_width == 0 {
                [clamp((y - y_off) * y_gain); 3]
            } else if matrix == 0 {
                // Identity: the planes are G, B, R.
                [cr, y, cb].map(|v| clamp(v * 255.0 / max))
            } else {
                let luma = (y - y_off) * y_gain;
                let (u, v) = ((cb - half) * c_gain, (cr - half) * c_gain);
                [
                    clamp(luma + 2.0 * (1.0 - kr) * v),
                    clamp(luma - g_cr * v - g_cb * u),
                    clamp(luma + 2.0 * (1.0 - kb) * u),
                ]
            }
        };
        if factor > 1 {
            self.paint_reduced(out, (x0, y0), (width, height), factor, convert);
            return;
        }
        let w = self.width.min(width).min(out.width().saturating_sub(x0)) as usize;
        let h = self.height.min(height).min(out.height().saturating_sub(y0)) as usize;
        let one = (1u32 << FRACTION) as f32;
        let fixed = Fixed {
            y_off: y_off.round() as i32,
            y_mul: (y_gain * one).round() as i32,
            half: half as i32,
            r_cr: (2.0 * (1.0 - kr) * c_gain * one).round() as i32,
            g_cr: (g_cr * c_gain * one).round() as i32,
            g_cb: (g_cb * c_gain * one).round() as i32,
            b_cb: (2.0 * (1.0 - kb) * c_gain * one).round() as i32,
        };
        let (sx, sy) = self.shift;
        let out_width = out.width() as usize;
        let buffer: &mut [u8] = out;
        for y in 0..h {
            let start = ((y0 as usize + y) * out_width + x0 as usize) * 3;
            let Some(row) = buffer.get_mut(start..start + w * 3) else {
                return;
            };
            let luma_row = self.planes[0].get(y * self.width as usize..).unwrap_or(&[]);
            let chroma_start = (y >> sy) * self.chroma_width;
            let cb_row = self.planes[1].get(chroma_start..).unwrap_or(&[]);
            let cr_row = self.planes[2].get(chroma_start..).unwrap_or(&[]);
            let at = |plane: &[u16], i: usize| plane.get(i).copied().unwrap_or(0) as f32;
            if self.chroma_width > 0 && matrix != 0 {
                // The common case, in fixed point (14 fractional bits).
                convert_row(row, luma_row, (cb_row, cr_row), sx, &fixed);
                continue;
            }
            for (x, px) in row.chunks_exact_mut(3).enumerate() {
                let c = x >> sx;
                px.copy_from_slice(&convert([at(luma_row, x), at(cb_row, c), at(cr_row, c)]));
            }
        }
    }

    /// [`Yuv::paint`] reduced by `factor`: the block means of the planes, converted by
    /// `convert` (mean Y, Cb, Cr in the planes' own units).
    fn paint_reduced(
        &self,
        out: &mut RgbImage,
        (x0, y0): (u32, u32),
        (width, height): (u32, u32),
        factor: u32,
        convert: impl Fn([f32; 3]) -> [u8; 3],
    ) {
        let f = factor as usize;
        let (out_w, out_h) = (out.width() as usize, out.height() as usize);
        let (x0, y0) = (x0 as usize, y0 as usize);
        // Samples painted: the picture, its stated size and what `out` holds from (x0, y0).
        let w = (self.width.min(width) as usize).min(out_w.saturating_sub(x0) * f);
        let h = (self.height.min(height) as usize).min(out_h.saturating_sub(y0) * f);
        let (ow, oh) = (w.div_ceil(f), h.div_ceil(f));
        let (sx, sy) = (self.shift.0 as usize, self.shift.1 as usize);
        let stride = self.width as usize;
        let buffer: &mut [u8] = out;
        let mut sums = vec![[0u64; 3]; ow];
        let mut counts = vec![0u32; ow];
        for oy in 0..oh {
            sums.iter_mut().for_each(|s| *s = [0; 3]);
            counts.iter_mut().for_each(|c| *c = 0);
            // Every sample of the block counted once, its chroma with it (so a chroma sample
            // weighs as many luma samples as it covers, partial blocks included).
            for y in oy * f..((oy + 1) * f).min(h) {
                let Some(luma) = self.planes[0].get(y * stride..y * stride + w) else {
                    continue;
                };
                let chroma_start = (y >> sy) * self.chroma_width;
                let chroma = |p: usize| self.planes[p].get(chroma_start..).unwrap_or(&[]);
                let (cb, cr) = (chroma(1), chroma(2));
                for (o, xs) in luma.chunks(f).enumerate() {
                    let x = o * f;
                    let sum = &mut sums[o];
                    sum[0] += xs.iter().map(|&v| v as u64).sum::<u64>();
                    if self.chroma_width > 0 {
                        for c in (x..x + xs.len()).map(|x| x >> sx) {
                            sum[1] += cb.get(c).copied().unwrap_or(0) as u64;
                            sum[2] += cr.get(c).copied().unwrap_or(0) as u64;
                        }
                    }
                    counts[o] += xs.len() as u32;
                }
            }
            let start = ((y0 + oy) * out_w + x0) * 3;
            let Some(row) = buffer.get_mut(start..start + ow * 3) else {
                return;
            };
            for (o, px) in row.chunks_exact_mut(3).enumerate() {
                let mean = |p: usize| sums[o][p] as f32 / counts[o].max(1) as f32;
                px.copy_from_slice(&convert([mean(0), mean(1), mean(2)]));
            }
        }
    }
}

/// Fractional bits of the fixed-point conversion.
const FRACTION: u32 = 14;

/// The conversion's factors in fixed point.
struct Fixed {
    y_off: i32,
    y_mul: i32,
    half: i32,
    r_cr: i32,
    g_cr: i32,
    g_cb: i32,
    b_cb: i32,
}

/// One row of YCbCr (chroma subsampled horizontally by `sx`) to RGB.
fn convert_row(row: &mut [u8], luma: &[u16], (cb, cr): (&[u16], &[u16]), sx: u32, f: &Fixed) {
    let round = 1 << (FRACTION - 1);
    let to_u8 = |v: i32| ((v + round) >> FRACTION).clamp(0, 255) as u8;
    for (x, (px, &y)) in row.chunks_exact_mut(3).zip(luma).enumerate() {
        let c = x >> sx;
        let (Some(&u), Some(&v)) = (cb.get(c), cr.get(c)) else {
            return;
        };
        let luma = (y as i32 - f.y_off) * f.y_mul;
        let (u, v) = (u as i32 - f.half, v as i32 - f.half);
        px[0] = to_u8(luma + f.r_cr * v);
        px[1] = to_u8(luma - f.g_cr * v - f.g_cb * u);
        px[2] = to_u8(luma + f.b_cb * u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4:2:0 8-bit picture of `width x height` with smooth, varied planes.
    fn picture(width: u32, height: u32, matrix: u16) -> Yuv {
        // Values kept inside the RGB gamut (no clamping), where the mean of converted
        // samples is the conversion of their mean.
        let plane = |w: u32, h: u32, span: u32, f: fn(u32, u32) -> u32| -> Vec<u16> {
            (0..h)
                .flat_map(|y| (0..w).map(move |x| (f(x, y) % span + 128 - span / 2) as u16))
                .collect()
        };
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        Yuv {
            width,
            height,
            bits: 8,
            shift: (1, 1),
            signalled: (matrix, true),
            planes: [
                plane(width, height, 100, |x, y| 3 * x + 5 * y + (x * y) % 7),
                plane(cw, ch, 40, |x, y| 7 * x + 2 * y),
                plane(cw, ch, 40, |x, y| 4 * x + 9 * y + x % 3),
            ],
            chroma_width: cw as usize,
        }
    }

    #[test]
    fn a_reduced_conversion_is_the_block_mean_of_the_whole_one() {
        // Odd sizes: the last blocks of each row and column are partial.
        let (width, height) = (37, 29);
        for matrix in [1, 6, 0] {
            let yuv = picture(width, height, matrix);
            let mut whole = RgbImage::new(width, height);
            yuv.paint(&mut whole, (0, 0), (width, height), None, 1);
            for factor in [2, 4, 8] {
                let (w, h) = (width.div_ceil(factor), height.div_ceil(factor));
                // Painted at an offset, as a grid's tile is.
                let mut reduced = RgbImage::new(w + 1, h + 2);
                yuv.paint(&mut reduced, (1, 2), (width, height), None, factor);
                for (ox, oy) in (0..h).flat_map(|y| (0..w).map(move |x| (x, y))) {
                    let block: Vec<_> = (oy * factor..((oy + 1) * factor).min(height))
                        .flat_map(|y| {
                            (ox * factor..((ox + 1) * factor).min(width)).map(move |x| (x, y))
                        })
                        .collect();
                    for c in 0..3 {
                        let mean = block
                            .iter()
                            .map(|&(x, y)| whole.get_pixel(x, y).0[c] as f32)
                            .sum::<f32>()
                            / block.len() as f32;
                        let got = reduced.get_pixel(ox + 1, oy + 2).0[c] as f32;
                        assert!(
                            (got - mean).abs() <= 1.5,
                            "matrix {matrix}, factor {factor}, pixel ({ox}, {oy}), channel {c}: {got} against {mean}"
                        );
                    }
                }
                // Nothing is painted outside the picture's place.
                assert_eq!(reduced.get_pixel(0, 0).0, [0, 0, 0]);
            }
        }
    }
}
