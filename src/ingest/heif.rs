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
//! HEVC has no reduced-size decoding, so a 12 MP HEIC takes 0.2-0.6 s to decode on one
//! core. A caller that needs only `cover x cover` pixels (the encoder's input, a thumbnail)
//! gets the picture reduced by 2, 4 or 8 where it still covers that, as a JPEG is
//! DCT-scaled: the planes are converted by block means ([`Yuv::paint`]), never whole, and
//! when the reduction is 4 or more HEVC's in-loop filters (deblocking and SAO, about 40 % of
//! the decoding time) are skipped, since they only smooth the edges of coded blocks that
//! the reduction averages anyway (docs/studies/formats.md, "Reduced decoding"). The file's
//! own thumbnail (`thmb`, 320x240 in phones' photos) is not used instead: on 24 real phone
//! photos it moved the copy descriptor by 0.029 cosine on average and by up to 0.109,
//! enough to lose a HEIC's own JPEG export.

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

/// The primary picture, upright, as RGB (or RGBA when it has transparency), reduced by 2, 4
/// or 8 where it still covers `cover x cover` (`cover` 0: whole), with its full upright
/// size. The size is checked against `max_pixels` before decoding.
pub fn decode(
    bytes: &[u8],
    max_pixels: u64,
    cover: u32,
) -> Result<(DynamicImage, (u32, u32)), SkipReason> {
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
    let whole = |img: DynamicImage| {
        let size = (img.width(), img.height());
        (img, size)
    };
    match (&primary.item_type.0, codec) {
        (b"hvc1" | b"grid", Codec::Hevc) if !with_alpha => {
            let factor = reduction(&file, (width, height), cover);
            let (rgb, full) = decode_planes(&file, codec, max_pixels, factor)?;
            Ok((DynamicImage::ImageRgb8(rgb), full))
        }
        (b"av01" | b"grid", Codec::Av1) => {
            // Reduced only without alpha, which is composited at full size.
            let factor = if with_alpha {
                1
            } else {
                reduction(&file, (width, height), cover)
            };
            let (rgb, full) = decode_planes(&file, codec, max_pixels, factor)?;
            Ok((with_av1_alpha(&file, rgb, max_pixels)?, full))
        }
        (_, Codec::Hevc) => decode_hevc(bytes, max_pixels).map(whole),
        (kind, Codec::Av1) => Err(SkipReason::Unsupported(format!(
            "AVIF with a \"{}\" picture",
            String::from_utf8_lossy(kind)
        ))),
    }
}

/// The largest of 8, 4 and 2 by which the primary picture (`width x height` as stored) can
/// be reduced and still cover `cover x cover`, that also divides a grid's tile size (tiles
/// are placed at reduced positions); 1 if none.
fn reduction(file: &HeifFile<'_>, (width, height): (u32, u32), cover: u32) -> u32 {
    if cover == 0 {
        return 1;
    }
    let tile = file.primary_item().ok().and_then(|primary| {
        if &primary.item_type.0 != b"grid" {
            return None;
        }
        let first = *file.referenced_items(primary.id, b"dimg").first()?;
        file.image_size(first).ok().flatten()
    });
    [8, 4, 2]
        .into_iter()
        .find(|&f| {
            width / f >= cover
                && height / f >= cover
                && tile.is_none_or(|(tw, th)| tw % f == 0 && th % f == 0)
        })
        .unwrap_or(1)
}

/// The primary picture (one coded item, or a grid of them) decoded to planes, converted
/// (reduced by `factor`) and turned upright, with its full upright size.
fn decode_planes(
    file: &HeifFile<'_>,
    codec: Codec,
    max_pixels: u64,
    factor: u32,
) -> Result<(RgbImage, (u32, u32)), SkipReason> {
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
    let mut out = RgbImage::new(width.div_ceil(factor), height.div_ceil(factor));
    let (mut x, mut y, mut row_height) = (0u32, 0u32, 0u32);
    for (i, &tile) in tiles.iter().enumerate() {
        let yuv = match codec {
            Codec::Hevc => hevc_planes(file, tile, max_pixels, factor >= 4)?,
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
        yuv.paint(&mut out, (x / factor, y / factor), size, colour, factor);
        row_height = row_height.max(size.1);
        x += size.0;
        if (i + 1) % columns == 0 {
            (x, y, row_height) = (0, y + row_height, 0);
        }
    }
    transform(out, file, primary.id, (width, height), factor)
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
    let (grey, _) = transform(grey, file, primary, (plane.width, plane.height), 1)?;
    if grey.dimensions() != rgb.dimensions() {
        return Ok(DynamicImage::ImageRgb8(rgb));
    }
    let rgba = RgbaImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        image::Rgba([r, g, b, grey.get_pixel(x, y).0[0]])
    });
    Ok(DynamicImage::ImageRgba8(rgba))
}

/// One HEVC item decoded by heifer's decoder, on the calling thread; without the in-loop
/// filters if `skip_filters`.
fn hevc_planes(
    file: &HeifFile<'_>,
    id: u32,
    max_pixels: u64,
    skip_filters: bool,
) -> Result<Yuv, SkipReason> {
    use heifer::heifer_hevc_dec::decoder::{decode_picture, DecodeOptions};
    let stream = file.hevc_bitstream(id).map_err(container_error)?;
    let options = DecodeOptions {
        max_pixels,
        skip_loop_filters: skip_filters,
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

/// A picture of any pixel type.
type Picture<P> = image::ImageBuffer<P, Vec<<P as image::Pixel>::Subpixel>>;

/// Applies the item's transformative properties in the order they are associated to `img`,
/// a picture of `full` pixels reduced by `factor`; returns it with its full size after them.
fn transform<P: image::Pixel + 'static>(
    mut img: Picture<P>,
    file: &HeifFile<'_>,
    id: u32,
    mut full: (u32, u32),
    factor: u32,
) -> Result<(Picture<P>, (u32, u32)), SkipReason> {
    for property in file.item_properties(id).map_err(container_error)? {
        img = match *property {
            Property::CleanAperture {
                width,
                height,
                horiz_offset,
                vert_offset,
            } => {
                let (left, top, w, h) =
                    clean_aperture(full, width, height, horiz_offset, vert_offset)?;
                full = (w, h);
                // The same box in the reduced picture, at least one pixel inside it.
                let (x, y) = (
                    (left / factor).min(img.width() - 1),
                    (top / factor).min(img.height() - 1),
                );
                let w = w.div_ceil(factor).clamp(1, img.width() - x);
                let h = h.div_ceil(factor).clamp(1, img.height() - y);
                image::imageops::crop_imm(&img, x, y, w, h).to_image()
            }
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
        if matches!(*property, Property::Rotation(q) if q % 2 == 1) {
            full = (full.1, full.0);
        }
    }
    Ok((img, full))
}

/// The clean aperture of a `full`-sized picture: a centred crop, sizes and offsets as
/// fractions; returns its left, top, width and height.
fn clean_aperture(
    full: (u32, u32),
    width: (u32, u32),
    height: (u32, u32),
    horiz: (i32, u32),
    vert: (i32, u32),
) -> Result<(u32, u32, u32, u32), SkipReason> {
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
    let left = ((full.0 as f64 - 1.0) / 2.0 + dx - (w - 1.0) / 2.0).round();
    let top = ((full.1 as f64 - 1.0) / 2.0 + dy - (h - 1.0) / 2.0).round();
    let (w, h) = (w.round(), h.round());
    if left < 0.0
        || top < 0.0
        || w < 1.0
        || h < 1.0
        || left + w > full.0 as f64
        || top + h > full.1 as f64
    {
        return Err(bad());
    }
    Ok((left as u32, top as u32, w as u32, h as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/photo-formats/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// PSNR of `small` against the `factor x factor` block means of `whole`.
    fn psnr_against_block_means(small: &RgbImage, whole: &RgbImage, factor: u32) -> f64 {
        let mut error = 0.0;
        for (x, y, px) in small.enumerate_pixels() {
            let block: Vec<_> = (y * factor..((y + 1) * factor).min(whole.height()))
                .flat_map(|by| {
                    (x * factor..((x + 1) * factor).min(whole.width())).map(move |bx| (bx, by))
                })
                .collect();
            for c in 0..3 {
                let mean = block
                    .iter()
                    .map(|&(bx, by)| whole.get_pixel(bx, by).0[c] as f64)
                    .sum::<f64>()
                    / block.len() as f64;
                error += (px.0[c] as f64 - mean).powi(2);
            }
        }
        let mse = error / (3 * small.width() * small.height()) as f64;
        10.0 * (255.0 * 255.0 / mse.max(1e-9)).log10()
    }

    #[test]
    fn a_reduced_decode_is_the_whole_picture_shrunk_and_knows_its_full_size() {
        // (fixture, cover, the reduction expected, the least PSNR against the whole
        // picture's block means; 54-58 dB measured): HEVC reduced by 4 or more skips its
        // in-loop filters, and a reduced picture is converted in floating point.
        let cases = [
            ("chelsea.heic", 24, 8, 45.0),
            ("grid.heic", 32, 4, 45.0),
            ("rotated.heic", 24, 8, 45.0),
            ("astronaut-10bit.heic", 40, 4, 45.0),
            ("chelsea.heic", 100, 2, 50.0),
            ("coffee.avif", 20, 8, 50.0),
            ("grid.avif", 20, 8, 50.0),
            ("rotated.avif", 20, 8, 50.0),
            // Composited with its alpha at full size: never reduced.
            ("alpha.avif", 20, 1, 99.0),
        ];
        for (name, cover, factor, least) in cases {
            let bytes = fixture(name);
            let (whole, full) = decode(&bytes, u64::MAX, 0).unwrap();
            assert_eq!(full, (whole.width(), whole.height()), "{name}");
            let (small, reduced_full) = decode(&bytes, u64::MAX, cover).unwrap();
            assert_eq!(reduced_full, full, "{name}: the full size");
            assert_eq!(
                (small.width(), small.height()),
                (full.0.div_ceil(factor), full.1.div_ceil(factor)),
                "{name} reduced by {factor} for {cover}"
            );
            assert!(small.width().min(small.height()) >= cover.min(full.0.min(full.1)));
            let psnr = psnr_against_block_means(&small.to_rgb8(), &whole.to_rgb8(), factor);
            assert!(
                psnr >= f64::min(least, 90.0),
                "{name}: {psnr:.1} dB against the whole picture's block means"
            );
        }
    }
}
