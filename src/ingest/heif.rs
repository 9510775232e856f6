//! HEIF files (iPhone HEIC photos, and AVIF): the container read, the primary picture
//! decoded upright, in pure Rust.
//!
//! Owns the choice of codec by the primary item (HEVC `hvc1` and grids of it through
//! `heifer`; AV1 `av01` through [`crate::ingest::avif`]), the pixel limit checked from the
//! container's sizes before anything is decoded, and orientation: HEIF decoders apply the
//! container's rotation and mirroring (`irot`, `imir`) themselves, so the EXIF orientation
//! inside a HEIF file is never applied again (an iPhone photo carries both).
//!
//! HEVC has no reduced-size decoding, so a 12 MP HEIC takes 0.3-1 s to decode on one core.
//! The file's own thumbnail (`thmb`, 320x240 in phones' photos) is not used instead: on
//! 24 camera photos it moved the copy descriptor by 0.035 cosine on average and by up to
//! 0.093 (docs/studies/formats.md), enough to lose a HEIC's own JPEG export.

use crate::problem::SkipReason;
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
pub fn inspect(bytes: &[u8]) -> Result<(Codec, u32, u32), SkipReason> {
    let file = HeifFile::parse(bytes).map_err(container_error)?;
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
    let (codec, width, height) = inspect(bytes)?;
    if width as u64 * height as u64 > max_pixels {
        return Err(SkipReason::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
    match codec {
        Codec::Hevc => decode_hevc(bytes, max_pixels),
        Codec::Av1 => crate::ingest::avif::decode(bytes, max_pixels)
            .map(DynamicImage::ImageRgb8)
            .map_err(|e| match e {
                crate::ingest::avif::AvifError::TooLarge {
                    width,
                    height,
                    max_pixels,
                } => SkipReason::TooLarge {
                    width,
                    height,
                    max_pixels,
                },
                other => SkipReason::Decode(format!("AVIF: {other}")),
            }),
    }
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
