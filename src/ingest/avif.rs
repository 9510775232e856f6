//! AVIF still images: the AV1 pictures of a HEIF container decoded by rav1d (a Rust port of
//! dav1d, BSD-2-Clause, built without assembly), assembled and turned upright.
//!
//! Owns the AV1 decode of each coded item (one thread: files are decoded in parallel
//! already), grids of tiles, YUV to RGB (BT.601, BT.709, BT.2020 or identity matrices, full
//! or limited range, 8 to 12 bits; chroma upsampled by nearest sample, as libheif does), and
//! the transformations the container declares in order: clean aperture (`clap`), rotation
//! (`irot`, counter-clockwise quarter turns) and mirroring (`imir`; axis 0 flips top and
//! bottom). The pixel count is checked from the container before anything is decoded.
//! Overlays (`iovl`), derived `iden` items and alpha are not composed: an overlay or an
//! `iden` primary is refused by name, and alpha is ignored.

use heifer::heifer_isobmff::boxes::{ColorInfo, Property};
use heifer::heifer_isobmff::HeifFile;
use image::RgbImage;
use re_rav1d::dav1d::pixel::{MatrixCoefficients, YUVRange};
use re_rav1d::dav1d::{Decoder, PixelLayout, PlanarImageComponent, Settings};

/// Why an AVIF file was not decoded.
#[derive(Debug, thiserror::Error)]
pub enum AvifError {
    #[error("{width}x{height} is over the limit of {max_pixels} pixels")]
    TooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("container: {0}")]
    Container(String),
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("AV1: {0}")]
    Av1(String),
}

/// The primary picture as 8-bit RGB, upright.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<RgbImage, AvifError> {
    let file = HeifFile::parse(bytes).map_err(container)?;
    let primary = file.primary_item().map_err(container)?;
    let (tiles, width, height, columns) = match &primary.item_type.0 {
        b"av01" => {
            let (w, h) = file
                .image_size(primary.id)
                .map_err(container)?
                .ok_or_else(|| AvifError::Container("picture without a size (ispe)".into()))?;
            (vec![primary.id], w, h, 1)
        }
        b"grid" => {
            let grid = file.grid(primary.id).map_err(container)?;
            let tiles = file.referenced_items(primary.id, b"dimg").to_vec();
            if tiles.len() != grid.rows as usize * grid.columns as usize || tiles.is_empty() {
                return Err(AvifError::Container(format!(
                    "a {}x{} grid with {} tiles",
                    grid.columns,
                    grid.rows,
                    tiles.len()
                )));
            }
            (
                tiles,
                grid.output_width,
                grid.output_height,
                grid.columns as usize,
            )
        }
        b"iovl" => return Err(AvifError::Unsupported("an overlay (iovl)".into())),
        b"iden" => return Err(AvifError::Unsupported("a derived (iden) picture".into())),
        other => {
            return Err(AvifError::Unsupported(format!(
                "a \"{}\" picture",
                String::from_utf8_lossy(other)
            )))
        }
    };
    if width == 0 || height == 0 || width as u64 * height as u64 > max_pixels {
        return Err(AvifError::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
    let colour = colour_of(&file, primary.id).or_else(|| colour_of(&file, tiles[0]));
    let mut out = RgbImage::new(width, height);
    let (mut x, mut y, mut row_height) = (0u32, 0u32, 0u32);
    for (i, &tile) in tiles.iter().enumerate() {
        let data = file.item_data(tile).map_err(container)?;
        if data.is_empty() {
            return Err(AvifError::Container(format!("item {tile} has no data")));
        }
        let picture = decode_av1(&data, max_pixels)?;
        if tiles.len() == 1 && (picture.width, picture.height) < (width, height) {
            return Err(AvifError::Container(format!(
                "a {}x{} AV1 picture for a {width}x{height} image",
                picture.width, picture.height
            )));
        }
        picture.paint(&mut out, x, y, colour);
        row_height = row_height.max(picture.height);
        x += picture.width;
        if (i + 1) % columns == 0 {
            (x, y, row_height) = (0, y + row_height, 0);
        }
    }
    transform(out, &file, primary.id)
}

/// The container's colour description of an item: matrix coefficients and full range.
fn colour_of(file: &HeifFile<'_>, id: u32) -> Option<(u16, bool)> {
    file.item_properties(id).ok()?.find_map(|p| match p {
        Property::Color(ColorInfo::Nclx {
            matrix, full_range, ..
        }) => Some((*matrix, *full_range)),
        _ => None,
    })
}

fn container(e: impl std::fmt::Display) -> AvifError {
    AvifError::Container(e.to_string())
}

/// One decoded AV1 picture, its planes widened to 16 bits.
struct Yuv {
    width: u32,
    height: u32,
    bits: u32,
    layout: PixelLayout,
    /// (matrix coefficients as in H.273, full range) from the AV1 sequence header.
    signalled: (u16, bool),
    planes: [Vec<u16>; 3],
    /// Width of the chroma planes.
    chroma_width: usize,
}

/// Decodes the OBUs of one coded item on the calling thread.
fn decode_av1(obus: &[u8], max_pixels: u64) -> Result<Yuv, AvifError> {
    let av1 = |e: re_rav1d::dav1d::Error| AvifError::Av1(e.to_string());
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
                return Err(AvifError::Av1("the data holds no picture".into()))
            }
            Err(e) => return Err(av1(e)),
        }
    }
    let picture = picture.ok_or_else(|| AvifError::Av1("the decoder gave no picture".into()))?;
    let (width, height) = (picture.width(), picture.height());
    if width as u64 * height as u64 > max_pixels {
        return Err(AvifError::TooLarge {
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
    let plane = |c: PlanarImageComponent, w: u32, h: u32| -> Result<Vec<u16>, AvifError> {
        let data = picture.plane(c);
        let stride = picture.stride(c) as usize;
        let row_bytes = w as usize * if wide { 2 } else { 1 };
        let mut out = Vec::with_capacity(w as usize * h as usize);
        for row in 0..h as usize {
            let start = row * stride;
            let line = data
                .get(start..start + row_bytes)
                .ok_or_else(|| AvifError::Av1("a plane shorter than its picture".into()))?;
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
    Ok(Yuv {
        width,
        height,
        bits: picture.bit_depth() as u32,
        layout,
        signalled: (matrix, full),
        planes: [luma, u, v],
        chroma_width: cw as usize,
    })
}

impl Yuv {
    /// Converts to RGB into `out` at (`x0`, `y0`), clipped to `out`; `colour` (the
    /// container's) overrides what the AV1 stream signals.
    fn paint(&self, out: &mut RgbImage, x0: u32, y0: u32, colour: Option<(u16, bool)>) {
        let (matrix, full) = colour.unwrap_or(self.signalled);
        let (kr, kb) = match matrix {
            1 => (0.2126, 0.0722),
            9 | 10 => (0.2627, 0.0593),
            _ => (0.299, 0.114),
        };
        let max = ((1u32 << self.bits) - 1) as f32;
        let half = (1u32 << (self.bits - 1)) as f32;
        let scale = (1u32 << (self.bits - 8)) as f32;
        let (y_off, y_gain, c_gain) = if full {
            (0.0, 255.0 / max, 255.0 / max)
        } else {
            (
                16.0 * scale,
                255.0 / (219.0 * scale),
                255.0 / (224.0 * scale),
            )
        };
        let (sx, sy) = match self.layout {
            PixelLayout::I420 => (1, 1),
            PixelLayout::I422 => (1, 0),
            _ => (0, 0),
        };
        let (kg_r, kg_b) = (
            2.0 * (1.0 - kr) * kr / (1.0 - kr - kb),
            2.0 * (1.0 - kb) * kb / (1.0 - kr - kb),
        );
        let w = self.width.min(out.width().saturating_sub(x0));
        let h = self.height.min(out.height().saturating_sub(y0));
        let clamp = |v: f32| v.round().clamp(0.0, 255.0) as u8;
        for y in 0..h as usize {
            for x in 0..w as usize {
                let luma = (self.planes[0][y * self.width as usize + x] as f32 - y_off) * y_gain;
                let rgb = if self.chroma_width == 0 {
                    [clamp(luma); 3]
                } else {
                    let c = (y >> sy) * self.chroma_width + (x >> sx);
                    let cb = (self.planes[1][c] as f32 - half) * c_gain;
                    let cr = (self.planes[2][c] as f32 - half) * c_gain;
                    if matrix == 0 {
                        // Identity: the planes are G, B, R.
                        let g = self.planes[0][y * self.width as usize + x] as f32 * 255.0 / max;
                        let b = self.planes[1][c] as f32 * 255.0 / max;
                        let r = self.planes[2][c] as f32 * 255.0 / max;
                        [clamp(r), clamp(g), clamp(b)]
                    } else {
                        let r = luma + 2.0 * (1.0 - kr) * cr;
                        let b = luma + 2.0 * (1.0 - kb) * cb;
                        let g = luma - kg_r * cr - kg_b * cb;
                        [clamp(r), clamp(g), clamp(b)]
                    }
                };
                out.put_pixel(x0 + x as u32, y0 + y as u32, image::Rgb(rgb));
            }
        }
    }
}

/// Applies the item's transformative properties in the order they are associated.
fn transform(mut img: RgbImage, file: &HeifFile<'_>, id: u32) -> Result<RgbImage, AvifError> {
    for property in file.item_properties(id).map_err(container)? {
        img = match *property {
            Property::CleanAperture {
                width,
                height,
                horiz_offset,
                vert_offset,
            } => clean_aperture(img, width, height, horiz_offset, vert_offset)?,
            Property::Rotation(q) => match q % 4 {
                1 => image::imageops::rotate270(&img),
                2 => image::imageops::rotate180(&img),
                3 => image::imageops::rotate90(&img),
                _ => img,
            },
            Property::Mirror(true) => image::imageops::flip_vertical(&img),
            Property::Mirror(false) => image::imageops::flip_horizontal(&img),
            _ => img,
        };
    }
    Ok(img)
}

/// The clean aperture: a centred crop, sizes and offsets as fractions.
fn clean_aperture(
    img: RgbImage,
    width: (u32, u32),
    height: (u32, u32),
    horiz: (i32, u32),
    vert: (i32, u32),
) -> Result<RgbImage, AvifError> {
    let frac = |(n, d): (i64, i64)| {
        if d == 0 {
            None
        } else {
            Some(n as f64 / d as f64)
        }
    };
    let bad = || AvifError::Container("a clean aperture outside the picture".into());
    let w = frac((width.0 as i64, width.1 as i64)).ok_or_else(bad)?;
    let h = frac((height.0 as i64, height.1 as i64)).ok_or_else(bad)?;
    let dx = frac((horiz.0 as i64, horiz.1 as i64)).ok_or_else(bad)?;
    let dy = frac((vert.0 as i64, vert.1 as i64)).ok_or_else(bad)?;
    let left = ((img.width() as f64 - 1.0) / 2.0 + dx - (w - 1.0) / 2.0).round();
    let top = ((img.height() as f64 - 1.0) / 2.0 + dy - (h - 1.0) / 2.0).round();
    let (w, h) = (w.round(), h.round());
    if left < 0.0
        || top < 0.0
        || w < 1.0
        || h < 1.0
        || left + w > img.width() as f64
        || top + h > img.height() as f64
    {
        return Err(bad());
    }
    Ok(image::imageops::crop_imm(&img, left as u32, top as u32, w as u32, h as u32).to_image())
}
