//! Decoded YUV planes (HEVC or AV1) to 8-bit RGB: BT.601, BT.709, BT.2020 or identity
//! matrices, full or limited range, 8 to 12 bits, 4:0:0 to 4:4:4, chroma taken from the
//! nearest sample (as libheif does: a bilinear filter with the vertical siting of HEVC's
//! default chroma location wrong was measurably further from the source pictures).

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
    pub fn paint(
        &self,
        out: &mut RgbImage,
        (x0, y0): (u32, u32),
        (width, height): (u32, u32),
        colour: Option<(u16, bool)>,
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
        let w = self.width.min(width).min(out.width().saturating_sub(x0)) as usize;
        let h = self.height.min(height).min(out.height().saturating_sub(y0)) as usize;
        let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
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
                let rgb = if self.chroma_width == 0 {
                    [clamp((at(luma_row, x) - y_off) * y_gain); 3]
                } else {
                    // Identity: the planes are G, B, R.
                    let c = x >> sx;
                    let v = |plane: &[u16], i: usize| clamp(at(plane, i) * 255.0 / max);
                    [v(cr_row, c), v(luma_row, x), v(cb_row, c)]
                };
                px.copy_from_slice(&rgb);
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
