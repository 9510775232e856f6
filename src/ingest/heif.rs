//! HEIF files (iPhone HEIC photos, and AVIF): the container read, the primary picture
//! decoded upright, in pure Rust.
//!
//! Owns the container (heifer's reader): the codec of the primary item, the pixel limit
//! checked from the container's sizes before anything is decoded, grids of tiles, the
//! colour the container declares, and the transformations in order: clean aperture
//! (`clap`), rotation (`irot`, counter-clockwise quarter turns), mirroring (`imir`; axis 0
//! flips top and bottom). The EXIF orientation inside a HEIF file is therefore never applied
//! (an iPhone photo carries both). Coded pictures are decoded to YUV planes by heifer's HEVC
//! decoder or by [`crate::ingest::avif`] (AV1) and converted by [`crate::ingest::yuv`];
//! HEIC overlays, `iden` pictures and pictures with alpha are decoded whole by heifer; an
//! AVIF's alpha plane (one AV1 item of the picture's size) is decoded here, and the picture
//! returned with it for [`crate::ingest::decode`] to composite.
//!
//! HEVC has no reduced-size decoding, so a 12 MP HEIC takes 0.3-1 s to decode on one core.
//! The file's own thumbnail (`thmb`, 320x240 in phones' photos) is not used instead: on
//! 24 camera photos it moved the copy descriptor by 0.035 cosine on average and by up to
//! 0.093 (docs/studies/formats.md), enough to lose a HEIC's own JPEG export.

use super::yuv::Yuv;
use crate::problem::SkipReason;
use heifer::heifer_isobmff::boxes::{ColorInfo, Property};
use heifer::heifer_isobmff::HeifFile;
use image::{DynamicImage, RgbImage, RgbaImage};

/// The codec of a HEIF file's primary picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// HEVC: HEIC.
    Hevc,
    /// AV1: AVIF.
    Av1,
}

/// The codec of the primary picture and its size as stored (before rotation).
fn inspect(file: &HeifFile<'_>) -> Result<(Codec, u32, u32), SkipReason> {
    let primary = file.primary_item().map_err(container_error)?;
    let kind = primary.item_type.0;
    let coded = match &kind {
        b"grid" => file
            .referenced_items(primary.id, b"dimg")
            .first()
            .and_then(|&tile| file.item(tile).ok())
            .map(|tile| tile.item_type.0),
        _ => Some(kind),
    };
    let codec = match coded.as_ref() {
        Some(b"hvc1") => Codec::Hevc,
        Some(b"av01") => Codec::Av1,
        _ if matches!(&kind, b"iovl" | b"iden") => Codec::Hevc,
        Some(other) => {
            return Err(SkipReason::Unsupported(format!(
                "HEIF with \"{}\" pictures",
                String::from_utf8_lossy(other).trim()
            )))
        }
        None => return Err(SkipReason::Decode("HEIF grid without tiles".into())),
    };
    let size = if &kind == b"grid" {
        file.grid(primary.id)
            .ok()
            .map(|g| (g.output_width, g.output_height))
    } else {
        file.image_size(primary.id).ok().flatten()
    };
    let (width, height) =
        size.ok_or_else(|| SkipReason::Decode("HEIF picture without a size (ispe)".into()))?;
    Ok((codec, width, height))
}

/// The primary picture, upright, as RGB (or RGBA when it has transparency). The size is
/// checked against `max_pixels` before decoding.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, SkipReason> {
    let file = HeifFile::parse(bytes).map_err(container_error)?;
    let (codec, width, height) = inspect(&file)?;
    if width as u64 * height as u64 > max_pixels {
        return Err(SkipReason::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
    let primary = file.primary_item().map_err(container_error)?;
    let with_alpha = file
        .referencing_items(primary.id, b"auxl")
        .into_iter()
        .any(|aux| is_alpha(&file, aux));
    match (&primary.item_type.0, codec) {
        (b"hvc1" | b"grid", Codec::Hevc) if !with_alpha => {
            decode_planes(&file, codec, max_pixels).map(DynamicImage::ImageRgb8)
        }
        (b"av01" | b"grid", Codec::Av1) => {
            let rgb = decode_planes(&file, codec, max_pixels)?;
            with_av1_alpha(&file, rgb, max_pixels)
        }
        (_, Codec::Hevc) => decode_hevc(bytes, max_pixels),
        (kind, Codec::Av1) => Err(SkipReason::Unsupported(format!(
            "AVIF with a \"{}\" picture",
            String::from_utf8_lossy(kind)
        ))),
    }
}

/// The primary picture (one coded item, or a grid of them) decoded to planes, converted and
/// turned upright.
fn decode_planes(
    file: &HeifFile<'_>,
    codec: Codec,
    max_pixels: u64,
) -> Result<RgbImage, SkipReason> {
    let primary = file.primary_item().map_err(container_error)?;
    let (tiles, width, height, columns) = if &primary.item_type.0 == b"grid" {
        let grid = file.grid(primary.id).map_err(container_error)?;
        let tiles = file.referenced_items(primary.id, b"dimg").to_vec();
        if tiles.len() != grid.rows as usize * grid.columns as usize {
            return Err(SkipReason::Decode(format!(
                "HEIF container: a {}x{} grid with {} tiles",
                grid.columns,
                grid.rows,
                tiles.len()
            )));
        }
        let (w, h) = (grid.output_width, grid.output_height);
        (tiles, w, h, grid.columns as usize)
    } else {
        let (w, h) = file
            .image_size(primary.id)
            .map_err(container_error)?
            .ok_or_else(|| SkipReason::Decode("HEIF picture without a size (ispe)".into()))?;
        (vec![primary.id], w, h, 1)
    };
    let colour = colour_of(file, primary.id).or_else(|| colour_of(file, tiles[0]));
    let mut out = RgbImage::new(width, height);
    let (mut x, mut y, mut row_height) = (0u32, 0u32, 0u32);
    for (i, &tile) in tiles.iter().enumerate() {
        let yuv = match codec {
            Codec::Hevc => hevc_planes(file, tile, max_pixels)?,
            Codec::Av1 => {
                let data = file.item_data(tile).map_err(container_error)?;
                if data.is_empty() {
                    return Err(SkipReason::Decode(format!("HEIF item {tile} has no data")));
                }
                crate::ingest::avif::decode(&data, max_pixels)?
            }
        };
        // A tile's size is its `ispe` (a coded picture may be padded beyond it).
        let size = file
            .image_size(tile)
            .ok()
            .flatten()
            .unwrap_or((yuv.width, yuv.height));
        if tiles.len() == 1 && (yuv.width < width || yuv.height < height) {
            return Err(SkipReason::Decode(format!(
                "a {}x{} coded picture for a {width}x{height} image",
                yuv.width, yuv.height
            )));
        }
        yuv.paint(&mut out, (x, y), size, colour);
        row_height = row_height.max(size.1);
        x += size.0;
        if (i + 1) % columns == 0 {
            (x, y, row_height) = (0, y + row_height, 0);
        }
    }
    transform(out, file, primary.id)
}

/// The picture with its AV1 alpha plane (an `auxl` item of the primary's size, one coded
/// item), turned as the picture is; the picture alone when it has none (an alpha grid is
/// not composed: its picture shows opaque).
fn with_av1_alpha(
    file: &HeifFile<'_>,
    rgb: RgbImage,
    max_pixels: u64,
) -> Result<DynamicImage, SkipReason> {
    let primary = file.primary_id;
    let alpha = file
        .referencing_items(primary, b"auxl")
        .into_iter()
        .find(|&aux| {
            is_alpha(file, aux) && file.item(aux).is_ok_and(|i| &i.item_type.0 == b"av01")
        });
    let Some(alpha) = alpha else {
        return Ok(DynamicImage::ImageRgb8(rgb));
    };
    let data = file.item_data(alpha).map_err(container_error)?;
    let plane = crate::ingest::avif::decode(&data, max_pixels)?;
    // Turned like the picture (the primary's transformations apply to its alpha).
    let mut grey = image::GrayImage::new(plane.width, plane.height);
    let max = ((1u32 << plane.bits.clamp(8, 16)) - 1) as f32;
    for (px, &v) in grey.iter_mut().zip(&plane.planes[0]) {
        *px = (v as f32 * 255.0 / max).round().clamp(0.0, 255.0) as u8;
    }
    let grey = transform(grey, file, primary)?;
    if grey.dimensions() != rgb.dimensions() {
        return Ok(DynamicImage::ImageRgb8(rgb));
    }
    let rgba = RgbaImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        image::Rgba([r, g, b, grey.get_pixel(x, y).0[0]])
    });
    Ok(DynamicImage::ImageRgba8(rgba))
}

/// One HEVC item decoded by heifer's decoder, on the calling thread.
fn hevc_planes(file: &HeifFile<'_>, id: u32, max_pixels: u64) -> Result<Yuv, SkipReason> {
    use heifer::heifer_hevc_dec::decoder::{decode_picture, DecodeOptions};
    let stream = file.hevc_bitstream(id).map_err(container_error)?;
    let options = DecodeOptions {
        max_pixels,
        ..Default::default()
    };
    let frame = decode_picture(&stream, options)
        .map_err(|e| SkipReason::Decode(format!("HEIC: HEVC: {e}")))?;
    let [luma_width, chroma_width, _] = frame.widths;
    let [luma_height, chroma_height, _] = frame.heights;
    let shift = |luma: u32, chroma: u32| u32::from(chroma > 0 && chroma < luma);
    Ok(Yuv {
        width: luma_width,
        height: luma_height,
        bits: u32::from(frame.bit_depth[0].max(frame.bit_depth[1])),
        shift: (
            shift(luma_width, chroma_width),
            shift(luma_height, chroma_height),
        ),
        signalled: (u16::from(frame.matrix_coeffs), frame.full_range),
        chroma_width: chroma_width as usize,
        planes: frame.planes,
    })
}

/// Whether an auxiliary item is an alpha plane (not a depth map or an HDR gain map).
fn is_alpha(file: &HeifFile<'_>, id: u32) -> bool {
    file.item_properties(id).is_ok_and(|mut props| {
        props.any(|p| {
            matches!(p, Property::AuxiliaryType(kind)
                if kind.ends_with(":alpha") || kind == "urn:mpeg:hevc:2015:auxid:1")
        })
    })
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

/// HEIC through heifer, on the calling thread (files are decoded in parallel already).
fn decode_hevc(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, SkipReason> {
    let options = heifer::Options {
        max_threads: 1,
        max_pixels,
    };
    let img = heifer::decode_rgba8(bytes, &options).map_err(|e| match e {
        heifer::Error::Unsupported(what) => SkipReason::Unsupported(format!("HEIC: {what}")),
        other => SkipReason::Decode(format!("HEIC: {other}")),
    })?;
    let (w, h) = (img.width, img.height);
    let wrong_size = || SkipReason::Decode(format!("HEIC: decoded {w}x{h} with the wrong size"));
    if img.has_alpha {
        RgbaImage::from_raw(w, h, img.data)
            .map(DynamicImage::ImageRgba8)
            .ok_or_else(wrong_size)
    } else {
        let rgb = img
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        RgbImage::from_raw(w, h, rgb)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(wrong_size)
    }
}

fn container_error(e: impl std::fmt::Display) -> SkipReason {
    SkipReason::Decode(format!("HEIF container: {e}"))
}

/// Applies the item's transformative properties in the order they are associated.
fn transform<P: image::Pixel + 'static>(
    mut img: image::ImageBuffer<P, Vec<P::Subpixel>>,
    file: &HeifFile<'_>,
    id: u32,
) -> Result<image::ImageBuffer<P, Vec<P::Subpixel>>, SkipReason> {
    for property in file.item_properties(id).map_err(container_error)? {
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
fn clean_aperture<P: image::Pixel + 'static>(
    img: image::ImageBuffer<P, Vec<P::Subpixel>>,
    width: (u32, u32),
    height: (u32, u32),
    horiz: (i32, u32),
    vert: (i32, u32),
) -> Result<image::ImageBuffer<P, Vec<P::Subpixel>>, SkipReason> {
    let frac = |(n, d): (i64, i64)| {
        if d == 0 {
            None
        } else {
            Some(n as f64 / d as f64)
        }
    };
    let bad = || SkipReason::Decode("HEIF container: a clean aperture outside the picture".into());
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
