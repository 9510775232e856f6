//! Decoding: bytes of an image file to a small square RGB picture ready for an encoder.
//!
//! Owns format sniffing (by content, not by extension), bounded-memory decoding (the pixel
//! count is checked from the header before anything large is allocated), EXIF orientation,
//! alpha compositing on a fixed background, and resizing (solid margins left out, see
//! [`crate::ingest::margins`]). JPEGs are decoded with DCT scaling
//! (at 1/2, 1/4 or 1/8 of their size when the target is much smaller). HEIF files (HEIC,
//! AVIF) go to [`crate::ingest::heif`]; a camera RAW is its largest JPEG preview
//! ([`crate::ingest::raw`]) turned by the RAW's own orientation. A decoder panic is
//! contained and becomes a [`SkipReason`].

pub use super::format::{has_image_extension, is_raw_extension, sniff, Sniffed, SNIFF_LEN};
use super::{heif, raw};
use crate::problem::SkipReason;
use fast_image_resize as fr;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Default limit on decoded pixels: 200 MP, well above any camera, far below a decompression bomb.
pub const DEFAULT_MAX_PIXELS: u64 = 200_000_000;

/// How to decode and prepare images.
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// Side of the square output in pixels (the encoder's input size).
    pub side: u32,
    /// Images with more pixels are refused before decoding.
    pub max_pixels: u64,
    /// Leave solid margins (padding, letterboxing) out of the prepared square
    /// ([`crate::ingest::margins`]).
    pub trim_margins: bool,
}

impl DecodeOptions {
    pub fn new(side: u32) -> Self {
        DecodeOptions {
            side,
            max_pixels: DEFAULT_MAX_PIXELS,
            trim_margins: true,
        }
    }
}

/// A decoded image, oriented upright and resized to a square for the encoder.
#[derive(Debug, Clone)]
pub struct PreparedImage {
    /// `side * side * 3` bytes, RGB, row-major.
    pub rgb: Vec<u8>,
    pub side: u32,
    /// Upright width of the original image.
    pub width: u32,
    /// Upright height of the original image.
    pub height: u32,
}

/// Decodes and prepares an image held in memory. Never panics.
pub fn prepare(bytes: &[u8], opts: &DecodeOptions) -> Result<PreparedImage, SkipReason> {
    contained(|| {
        let source = source_of(bytes)?;
        let (img, width, height, orientation) = decode_stored(bytes, source, opts.side, opts)?;
        prepare_decoded(img, (width, height), orientation, opts)
    })
}

/// A decoded picture (as stored, with its full size) prepared for the encoder.
fn prepare_decoded(
    img: DynamicImage,
    (width, height): (u32, u32),
    orientation: Orientation,
    opts: &DecodeOptions,
) -> Result<PreparedImage, SkipReason> {
    let rgb = flatten_alpha(img);
    let square = resize_square(rgb.as_raw(), rgb.width(), rgb.height(), opts)?;
    Ok(finish(square, width, height, orientation))
}

/// How a file's pictures are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Through the `image` crate (JPEG: DCT-scaled where it can).
    Image(ImageFormat),
    /// HEIC or AVIF.
    Heif,
    /// A camera RAW's largest JPEG preview.
    Raw,
}

/// How an image in memory is decoded, if this build decodes it.
fn source_of(bytes: &[u8]) -> Result<Source, SkipReason> {
    if bytes.is_empty() {
        return Err(SkipReason::Empty);
    }
    match sniff(&bytes[..bytes.len().min(SNIFF_LEN)]) {
        Sniffed::Decodable(ImageFormat::Tiff) if raw::is_raw(bytes) => Ok(Source::Raw),
        Sniffed::Decodable(f) => Ok(Source::Image(f)),
        Sniffed::Heif => Ok(Source::Heif),
        Sniffed::CameraRaw => Ok(Source::Raw),
        Sniffed::Unsupported(name) => Err(SkipReason::Unsupported(name.to_string())),
        Sniffed::Unknown => Err(SkipReason::NotAnImage),
    }
}

/// The picture as stored (not turned), decoded at the smallest size that still covers
/// `cover x cover` where the format allows it (JPEG, RAW previews, HEIF), with the full size
/// as stored and the orientation to apply.
fn decode_stored(
    bytes: &[u8],
    source: Source,
    cover: u32,
    opts: &DecodeOptions,
) -> Result<(DynamicImage, u32, u32, Orientation), SkipReason> {
    match source {
        Source::Image(ImageFormat::Jpeg) => match decode_jpeg_scaled(bytes, cover, opts) {
            Ok(Some((rgb, width, height, orientation))) => {
                Ok((DynamicImage::ImageRgb8(rgb), width, height, orientation))
            }
            Err(e @ SkipReason::TooLarge { .. }) => Err(e),
            // Pixel formats the scaled decoder does not convert (CMYK, 16-bit), or streams
            // it rejects: the general decoder gets a chance and gives the final answer.
            Ok(None) | Err(_) => Ok(full_size(decode_with_limits(
                bytes,
                ImageFormat::Jpeg,
                opts,
            )?)),
        },
        Source::Image(format) => Ok(full_size(decode_with_limits(bytes, format, opts)?)),
        Source::Heif => {
            let (img, (width, height)) = heif::decode(bytes, opts.max_pixels, cover)?;
            Ok((img, width, height, Orientation::NoTransforms))
        }
        Source::Raw => {
            let info = raw::inspect(bytes);
            if let Some((offset, len)) = info.cut_short {
                return Err(SkipReason::Decode(format!(
                    "camera RAW cut short: its {len}-byte JPEG preview at byte {offset} runs past the end ({} bytes)",
                    bytes.len()
                )));
            }
            let preview = info.largest().ok_or_else(|| {
                SkipReason::Unsupported("camera RAW without a JPEG preview".into())
            })?;
            let jpeg = &bytes[preview.offset..preview.offset + preview.len];
            let (img, width, height, _) =
                decode_stored(jpeg, Source::Image(ImageFormat::Jpeg), cover, opts)?;
            // The preview is stored as the sensor saw it; the RAW says how to turn it.
            let orientation = info
                .orientation
                .and_then(|o| Orientation::from_exif(o as u8))
                .unwrap_or(Orientation::NoTransforms);
            Ok((img, width, height, orientation))
        }
    }
}

/// A picture decoded whole, with its size as its full size.
fn full_size(
    (img, orientation): (DynamicImage, Orientation),
) -> (DynamicImage, u32, u32, Orientation) {
    let (width, height) = (img.width(), img.height());
    (img, width, height, orientation)
}

/// Runs a decoder, turning a panic into a [`SkipReason::DecoderPanic`].
fn contained<T>(decode: impl FnOnce() -> Result<T, SkipReason>) -> Result<T, SkipReason> {
    match catch_unwind(AssertUnwindSafe(decode)) {
        Ok(result) => result,
        Err(payload) => Err(SkipReason::DecoderPanic(panic_message(payload.as_ref()))),
    }
}

/// Reads a file and prepares it.
pub fn prepare_file(path: &Path, opts: &DecodeOptions) -> Result<PreparedImage, SkipReason> {
    let bytes = std::fs::read(path).map_err(|e| SkipReason::from_io(&e))?;
    prepare(&bytes, opts)
}

/// Name prefix of the threads that decode; a panic on them is contained and reported as a
/// [`SkipReason::DecoderPanic`], so a front end may keep them quiet.
pub const DECODE_THREAD_PREFIX: &str = "lookalike-decode";

/// A pool of `threads` decode threads named with [`DECODE_THREAD_PREFIX`].
pub fn decode_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("{DECODE_THREAD_PREFIX}-{i}"))
        .build()
        .expect("decode threads start")
}

/// Reads and prepares several files in parallel on decode threads, results in input order.
pub fn prepare_files(
    paths: &[std::path::PathBuf],
    opts: &DecodeOptions,
) -> Vec<Result<PreparedImage, SkipReason>> {
    use rayon::prelude::*;
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(paths.len().max(1));
    decode_pool(threads).install(|| paths.par_iter().map(|p| prepare_file(p, opts)).collect())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

fn check_pixels(width: u32, height: u32, opts: &DecodeOptions) -> Result<(), SkipReason> {
    if width as u64 * height as u64 > opts.max_pixels {
        return Err(SkipReason::TooLarge {
            width,
            height,
            max_pixels: opts.max_pixels,
        });
    }
    if width == 0 || height == 0 {
        return Err(SkipReason::Decode(format!(
            "image has no pixels ({width}x{height})"
        )));
    }
    Ok(())
}

/// A JPEG decoded with DCT-domain downscaling to the smallest of 1/8, 1/4, 1/2 or 1 of its
/// size that still covers `side x side`, as stored (not turned), with its full size and
/// orientation. `Ok(None)`: a pixel format the scaled decoder does not convert (CMYK,
/// 16-bit).
fn decode_jpeg_scaled(
    bytes: &[u8],
    side: u32,
    opts: &DecodeOptions,
) -> Result<Option<(RgbImage, u32, u32, Orientation)>, SkipReason> {
    use jpeg_decoder::PixelFormat;
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(decode_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| SkipReason::Decode("no JPEG header".into()))?;
    let (width, height) = (info.width as u32, info.height as u32);
    check_pixels(width, height, opts)?;
    if !matches!(info.pixel_format, PixelFormat::RGB24 | PixelFormat::L8) {
        return Ok(None);
    }
    let side = side.min(u16::MAX as u32) as u16;
    let (sw, sh) = decoder.scale(side, side).map_err(decode_error)?;
    decoder.set_max_decoding_buffer_size(sw as usize * sh as usize * 3 + 1024);
    let pixels = decoder.decode().map_err(decode_error)?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let info = decoder
        .info()
        .ok_or_else(|| SkipReason::Decode("no JPEG header".into()))?;
    let rgb = match info.pixel_format {
        PixelFormat::L8 => pixels.iter().flat_map(|&v| [v, v, v]).collect(),
        _ => pixels,
    };
    let (sw, sh) = (info.width as u32, info.height as u32);
    let rgb = RgbImage::from_raw(sw, sh, rgb)
        .ok_or_else(|| SkipReason::Decode("decoded JPEG has the wrong size".into()))?;
    Ok(Some((rgb, width, height, orientation)))
}

/// Decodes with the `image` crate under allocation limits; returns the image as stored and
/// its EXIF orientation.
fn decode_with_limits(
    bytes: &[u8],
    format: ImageFormat,
    opts: &DecodeOptions,
) -> Result<(DynamicImage, Orientation), SkipReason> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    // Enough for max_pixels at 16 bits per channel with alpha, and never below the default.
    limits.max_alloc = Some((opts.max_pixels.saturating_mul(8)).max(512 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, opts)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    Ok((img, orientation))
}

/// Decodes a whole image, upright, as RGB (alpha flattened), shrunk to fit in
/// `max_side x max_side` if larger (aspect ratio kept; JPEGs decoded at the smallest DCT
/// scale that covers it). Never panics.
pub fn decode_upright(
    bytes: &[u8],
    max_side: u32,
    opts: &DecodeOptions,
) -> Result<RgbImage, SkipReason> {
    contained(|| {
        let source = source_of(bytes)?;
        let (img, _, _, orientation) = decode_stored(bytes, source, max_side, opts)?;
        let rgb = flatten_alpha(img);
        let (w, h) = rgb.dimensions();
        let rgb = if w.max(h) > max_side {
            let f = max_side as f64 / w.max(h) as f64;
            let (nw, nh) = (
                ((w as f64 * f).round() as u32).clamp(1, max_side),
                ((h as f64 * f).round() as u32).clamp(1, max_side),
            );
            resize_rgb(rgb.as_raw(), w, h, nw, nh)?
        } else {
            rgb
        };
        let mut img = DynamicImage::ImageRgb8(rgb);
        img.apply_orientation(orientation);
        Ok(img.into_rgb8())
    })
}

fn image_error(e: image::ImageError) -> SkipReason {
    match e {
        image::ImageError::Unsupported(u) => SkipReason::Unsupported(u.to_string()),
        image::ImageError::Limits(l) => SkipReason::Decode(format!("over a memory limit: {l}")),
        other => decode_error(other),
    }
}

/// A decoder's message as a one-line reason.
fn decode_error(e: impl std::fmt::Display) -> SkipReason {
    let text = e.to_string();
    SkipReason::Decode(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Background that transparent pixels are composited on: mid grey, neutral for the encoder.
pub const ALPHA_BACKGROUND: u8 = 128;

/// RGB8 of any image; transparent pixels are blended onto [`ALPHA_BACKGROUND`].
fn flatten_alpha(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    let bg = ALPHA_BACKGROUND as u32;
    let data = rgba
        .as_raw()
        .chunks_exact(4)
        .flat_map(|p| {
            let a = p[3] as u32;
            let blend = |c: u8| ((c as u32 * a + bg * (255 - a) + 127) / 255) as u8;
            [blend(p[0]), blend(p[1]), blend(p[2])]
        })
        .collect();
    RgbImage::from_raw(w, h, data).expect("buffer has w*h*3 bytes")
}

/// Resizes RGB8 pixels to `side x side` (aspect ratio not kept: the whole picture is seen),
/// solid margins left out if `opts.trim_margins`.
fn resize_square(
    rgb: &[u8],
    width: u32,
    height: u32,
    opts: &DecodeOptions,
) -> Result<RgbImage, SkipReason> {
    if opts.trim_margins {
        let r = crate::ingest::margins::content(rgb, width, height);
        if (r.width, r.height) != (width, height) {
            // A copy of the content, not a crop box: the resizer's filter would reach into
            // the margin at the edges.
            let row = |y: u32| {
                let start = (y as usize * width as usize + r.x as usize) * 3;
                &rgb[start..start + r.width as usize * 3]
            };
            let inner: Vec<u8> = (r.y..r.y + r.height).flat_map(row).copied().collect();
            return resize_whole(&inner, r.width, r.height, opts.side);
        }
    }
    resize_whole(rgb, width, height, opts.side)
}

fn resize_whole(rgb: &[u8], width: u32, height: u32, side: u32) -> Result<RgbImage, SkipReason> {
    resize_rgb(rgb, width, height, side, side)
}

/// RGB pixels of `width x height` resized to `w x h` (bilinear convolution, SIMD).
fn resize_rgb(rgb: &[u8], width: u32, height: u32, w: u32, h: u32) -> Result<RgbImage, SkipReason> {
    let src = fr::images::ImageRef::new(width, height, rgb, fr::PixelType::U8x3)
        .map_err(|e| SkipReason::Decode(format!("resize: {e}")))?;
    let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear));
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| SkipReason::Decode(format!("resize: {e}")))?;
    Ok(RgbImage::from_raw(w, h, dst.into_vec()).expect("resizer output is w*h*3"))
}

/// Applies the EXIF orientation to the (square) prepared picture and records upright size.
fn finish(square: RgbImage, width: u32, height: u32, orientation: Orientation) -> PreparedImage {
    let side = square.width();
    let mut img = DynamicImage::ImageRgb8(square);
    img.apply_orientation(orientation);
    let swaps = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (width, height) = if swaps {
        (height, width)
    } else {
        (width, height)
    };
    PreparedImage {
        rgb: img.into_rgb8().into_raw(),
        side,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn gradient(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(ImageBuffer::from_fn(w, h, |x, y| {
            Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 100])
        }))
    }

    #[test]
    fn sniffs_by_content_not_extension() {
        let png = encode(&gradient(8, 8), ImageFormat::Png);
        assert_eq!(
            sniff(&png[..SNIFF_LEN]),
            Sniffed::Decodable(ImageFormat::Png)
        );
        assert_eq!(
            sniff(b"hello, this is text, not an image"),
            Sniffed::Unknown
        );
        let mut heic = vec![0, 0, 0, 24];
        heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        assert_eq!(sniff(&heic), Sniffed::Heif);
        let mut avif = vec![0, 0, 0, 28];
        avif.extend_from_slice(b"ftypavif\0\0\0\0avifmif1miaf");
        assert_eq!(sniff(&avif), Sniffed::Heif);
        // A QuickTime video (a Live Photo's MOV) is not an image.
        let mut mov = vec![0, 0, 0, 20];
        mov.extend_from_slice(b"ftypqt  \0\0\0\0qt  ");
        assert_eq!(sniff(&mov), Sniffed::Unknown);
        let mut cr3 = vec![0, 0, 0, 24];
        cr3.extend_from_slice(b"ftypcrx \0\0\0\x01crx isom");
        assert_eq!(sniff(&cr3), Sniffed::CameraRaw);
        assert_eq!(sniff(b"FUJIFILMCCD-RAW 0201FF129502"), Sniffed::CameraRaw);
        assert_eq!(sniff(b"II*\0\x10\0\0\0CR\x02\0"), Sniffed::CameraRaw);
        assert_eq!(sniff(b"IIRO\x08\0\0\0"), Sniffed::CameraRaw);
        assert_eq!(sniff(b"IIU\0\x08\0\0\0"), Sniffed::CameraRaw);
        // A plain TIFF is a TIFF until its IFDs say otherwise (DNG, NEF, ARW).
        assert_eq!(
            sniff(b"II*\0\x08\0\0\0\0\0"),
            Sniffed::Decodable(ImageFormat::Tiff)
        );
    }

    #[test]
    fn prepares_every_decodable_format_to_the_requested_square() {
        let img = gradient(64, 40);
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::Gif,
            ImageFormat::WebP,
        ] {
            let bytes = encode(&img, format);
            let p = prepare(&bytes, &DecodeOptions::new(32))
                .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!((p.side, p.width, p.height), (32, 64, 40), "{format:?}");
            assert_eq!(p.rgb.len(), 32 * 32 * 3);
            // Left edge dark red, right edge bright red: the picture survived.
            assert!(p.rgb[0] < 40 && p.rgb[31 * 3] > 200, "{format:?}");
        }
    }

    #[test]
    fn large_jpeg_is_decoded_scaled_and_matches_the_general_path() {
        let img = gradient(1600, 1200);
        let bytes = encode(&img, ImageFormat::Jpeg);
        let opts = DecodeOptions::new(224);
        let fast = prepare(&bytes, &opts).unwrap();
        let (img, orientation) = decode_with_limits(&bytes, ImageFormat::Jpeg, &opts).unwrap();
        let general = prepare_decoded(img, (1600, 1200), orientation, &opts).unwrap();
        assert_eq!((fast.width, fast.height), (1600, 1200));
        let max_diff = fast
            .rgb
            .iter()
            .zip(&general.rgb)
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap();
        assert!(
            max_diff <= 12,
            "scaled and full decodes differ by {max_diff}"
        );
    }

    #[test]
    fn padding_is_left_out_of_the_prepared_square() {
        let picture = gradient(300, 200);
        let mut padded = image::RgbImage::from_pixel(300, 300, image::Rgb([255, 255, 255]));
        image::imageops::overlay(&mut padded, &picture.to_rgb8(), 0, 50);
        let padded = DynamicImage::ImageRgb8(padded);
        let opts = DecodeOptions::new(64);
        // Mean difference per channel (the JPEG's DCT scaling blends the one row where the
        // picture meets the margin).
        let diff = |a: &PreparedImage, b: &PreparedImage| {
            let sum: u64 = a
                .rgb
                .iter()
                .zip(&b.rgb)
                .map(|(x, y)| x.abs_diff(*y) as u64)
                .sum();
            sum as f64 / a.rgb.len() as f64
        };
        for format in [ImageFormat::Png, ImageFormat::Jpeg] {
            let plain = prepare(&encode(&picture, format), &opts).unwrap();
            let trimmed = prepare(&encode(&padded, format), &opts).unwrap();
            assert!(
                diff(&plain, &trimmed) <= 6.0,
                "{format:?}: padded copy differs by {}",
                diff(&plain, &trimmed)
            );
            // The upright size is the file's own, margins included.
            assert_eq!((trimmed.width, trimmed.height), (300, 300));
            let untrimmed = DecodeOptions {
                trim_margins: false,
                ..opts
            };
            let whole = prepare(&encode(&padded, format), &untrimmed).unwrap();
            assert!(diff(&plain, &whole) > 30.0, "{format:?}: margins kept");
        }
    }

    #[test]
    fn pixel_limit_is_checked_before_decoding() {
        let bytes = encode(&gradient(100, 100), ImageFormat::Png);
        let opts = DecodeOptions {
            max_pixels: 9_999,
            ..DecodeOptions::new(16)
        };
        assert!(matches!(
            prepare(&bytes, &opts),
            Err(SkipReason::TooLarge {
                width: 100,
                height: 100,
                max_pixels: 9_999
            })
        ));
    }

    /// A PNG whose header declares `w x h` pixels, followed by a tiny compressed stream.
    fn png_declaring(w: u32, h: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(
            &mut png,
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
        chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn decompression_bomb_is_refused_from_its_header() {
        let bomb = png_declaring(100_000, 100_000);
        assert!(bomb.len() < 100);
        assert_eq!(
            prepare(&bomb, &DecodeOptions::new(224)).unwrap_err(),
            SkipReason::TooLarge {
                width: 100_000,
                height: 100_000,
                max_pixels: DEFAULT_MAX_PIXELS
            }
        );
        // The same header under the limit reaches the decoder, which finds the data missing.
        assert!(matches!(
            prepare(&png_declaring(64, 64), &DecodeOptions::new(16)),
            Err(SkipReason::Decode(_))
        ));
    }

    #[test]
    fn bad_bytes_are_reasons_not_panics() {
        assert_eq!(
            prepare(&[], &DecodeOptions::new(16)).unwrap_err(),
            SkipReason::Empty
        );
        assert_eq!(
            prepare(
                b"not an image at all, just some text",
                &DecodeOptions::new(16)
            )
            .unwrap_err(),
            SkipReason::NotAnImage
        );
        let png = encode(&gradient(64, 64), ImageFormat::Png);
        let truncated = &png[..png.len() / 2];
        assert!(matches!(
            prepare(truncated, &DecodeOptions::new(16)),
            Err(SkipReason::Decode(_))
        ));
        let jpeg = encode(&gradient(64, 64), ImageFormat::Jpeg);
        let r = prepare(&jpeg[..40], &DecodeOptions::new(16));
        assert!(matches!(r, Err(SkipReason::Decode(_))), "{r:?}");
    }

    #[test]
    fn transparent_pixels_become_the_background() {
        let img = DynamicImage::ImageRgba8(ImageBuffer::from_pixel(8, 8, Rgba([255, 0, 0, 0])));
        let p = prepare(&encode(&img, ImageFormat::Png), &DecodeOptions::new(8)).unwrap();
        assert!(p.rgb.iter().all(|&v| v == ALPHA_BACKGROUND));
    }
}
