//! AV1 pictures (the coded items of an AVIF file) decoded by rav1d, the Rust port of dav1d
//! (BSD-2-Clause, built without assembly), to YUV planes. One thread per picture: files are
//! decoded in parallel already. The container, grids and transformations are
//! [`crate::ingest::heif`]'s.

use super::yuv::Yuv;
use crate::problem::SkipReason;
use re_rav1d::dav1d::pixel::{MatrixCoefficients, YUVRange};
use re_rav1d::dav1d::{Decoder, PixelLayout, PlanarImageComponent, Settings};

/// Decodes the OBUs of one coded item on the calling thread.
pub fn decode(obus: &[u8], max_pixels: u64) -> Result<Yuv, SkipReason> {
    let av1 = |e: re_rav1d::dav1d::Error| SkipReason::Decode(format!("AV1: {e}"));
    let mut settings = Settings::new();
    settings.set_n_threads(1);
    settings.set_max_frame_delay(1);
    let mut decoder = Decoder::with_settings(&settings).map_err(av1)?;
    let mut pending = match decoder.send_data(obus.to_vec(), None, None, None) {
        Ok(()) => false,
        Err(e) if e.is_again() => true,
        Err(e) => return Err(av1(e)),
    };
    // Bounded: a damaged stream must end in an error, never in a loop.
    let mut picture = None;
    for _ in 0..64 {
        match decoder.get_picture() {
            Ok(p) => {
                picture = Some(p);
                break;
            }
            Err(e) if e.is_again() && pending => match decoder.send_pending_data() {
                Ok(()) => pending = false,
                Err(e) if e.is_again() => {}
                Err(e) => return Err(av1(e)),
            },
            Err(e) if e.is_again() => {
                return Err(SkipReason::Decode("AV1: the data holds no picture".into()))
            }
            Err(e) => return Err(av1(e)),
        }
    }
    let picture =
        picture.ok_or_else(|| SkipReason::Decode("AV1: the decoder gave no picture".into()))?;
    let (width, height) = (picture.width(), picture.height());
    if width as u64 * height as u64 > max_pixels {
        return Err(SkipReason::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
    let layout = picture.pixel_layout();
    let (cw, ch) = match layout {
        PixelLayout::I420 => (width.div_ceil(2), height.div_ceil(2)),
        PixelLayout::I422 => (width.div_ceil(2), height),
        PixelLayout::I444 => (width, height),
        PixelLayout::I400 => (0, 0),
    };
    let wide = picture.bit_depth() > 8;
    let plane = |c: PlanarImageComponent, w: u32, h: u32| -> Result<Vec<u16>, SkipReason> {
        let data = picture.plane(c);
        let stride = picture.stride(c) as usize;
        let row_bytes = w as usize * if wide { 2 } else { 1 };
        let mut out = Vec::with_capacity(w as usize * h as usize);
        for row in 0..h as usize {
            let start = row * stride;
            let line = data.get(start..start + row_bytes).ok_or_else(|| {
                SkipReason::Decode("AV1: a plane shorter than its picture".into())
            })?;
            if wide {
                out.extend(
                    line.chunks_exact(2)
                        .map(|b| u16::from_le_bytes([b[0], b[1]])),
                );
            } else {
                out.extend(line.iter().map(|&v| v as u16));
            }
        }
        Ok(out)
    };
    let luma = plane(PlanarImageComponent::Y, width, height)?;
    let (u, v) = if cw > 0 {
        (
            plane(PlanarImageComponent::U, cw, ch)?,
            plane(PlanarImageComponent::V, cw, ch)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let matrix = match picture.matrix_coefficients() {
        MatrixCoefficients::Identity => 0,
        MatrixCoefficients::BT709 => 1,
        MatrixCoefficients::BT2020NonConstantLuminance
        | MatrixCoefficients::BT2020ConstantLuminance => 9,
        _ => 6,
    };
    let full = matches!(picture.color_range(), YUVRange::Full);
    let shift = match layout {
        PixelLayout::I420 => (1, 1),
        PixelLayout::I422 => (1, 0),
        PixelLayout::I444 | PixelLayout::I400 => (0, 0),
    };
    Ok(Yuv {
        width,
        height,
        bits: picture.bit_depth() as u32,
        shift,
        signalled: (matrix, full),
        planes: [luma, u, v],
        chroma_width: cw as usize,
    })
}
