//! What kind of file a photo is: its format sniffed from its first bytes (never trusted
//! from its name), and the file name extensions of images and of camera RAW files.

use image::ImageFormat;
use std::path::Path;

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A format this build decodes.
    Decodable(ImageFormat),
    /// An image format this build cannot decode (named).
    Unsupported(&'static str),
    /// Not an image format we know.
    Unknown,
}

/// Bytes needed by [`sniff`].
pub const SNIFF_LEN: usize = 32;

/// Recognises an image by its magic bytes.
pub fn sniff(header: &[u8]) -> Sniffed {
    if header.len() >= 12 && &header[4..8] == b"ftyp" {
        return match &header[8..12] {
            b"avif" | b"avis" => Sniffed::Unsupported("AVIF"),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                Sniffed::Unsupported("HEIF/HEIC")
            }
            _ => Sniffed::Unknown,
        };
    }
    match image::guess_format(header) {
        Ok(
            f @ (ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Bmp
            | ImageFormat::Tiff),
        ) => Sniffed::Decodable(f),
        Ok(ImageFormat::Avif) => Sniffed::Unsupported("AVIF"),
        Ok(ImageFormat::Ico) => Sniffed::Unsupported("ICO"),
        Ok(ImageFormat::OpenExr) => Sniffed::Unsupported("OpenEXR"),
        Ok(ImageFormat::Hdr) => Sniffed::Unsupported("Radiance HDR"),
        Ok(ImageFormat::Pnm) => Sniffed::Unsupported("PNM"),
        Ok(ImageFormat::Qoi) => Sniffed::Unsupported("QOI"),
        Ok(ImageFormat::Dds) => Sniffed::Unsupported("DDS"),
        Ok(_) => Sniffed::Unsupported("this image format"),
        Err(_) => Sniffed::Unknown,
    }
}

/// Lower-case file extensions that name image formats (decodable or not). A file whose
/// content is not an image is reported only if its extension claims it is one.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "apng", "webp", "gif", "bmp", "dib", "tif", "tiff",
    "heic", "heif", "avif", "ico", "cr2", "cr3", "nef", "arw", "dng", "raf", "orf", "rw2", "pef",
    "srw",
];

/// Camera RAW extensions: many are TIFF inside, but their pixels are sensor data.
const RAW_EXTENSIONS: &[&str] = &[
    "cr2", "cr3", "nef", "arw", "dng", "raf", "orf", "rw2", "pef", "srw",
];

fn extension_of(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Whether the file name claims to be an image.
pub fn has_image_extension(path: &Path) -> bool {
    extension_of(path).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// Whether the file name says camera RAW.
pub fn is_raw_extension(path: &Path) -> bool {
    extension_of(path).is_some_and(|e| RAW_EXTENSIONS.contains(&e.as_str()))
}
