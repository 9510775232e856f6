//! What kind of file a photo is: its format sniffed from its first bytes (never trusted
//! from its name), the file name extensions of images and of camera RAW files, and the
//! format families a user prefers among the files of one shot.

use image::ImageFormat;
use std::path::Path;

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A format this build decodes with the `image` crate. A TIFF may still be a camera RAW
    /// (DNG, NEF, ARW, PEF): that is told from its IFDs, see [`crate::ingest::raw::is_raw`].
    Decodable(ImageFormat),
    /// A HEIF container (HEIC or AVIF; the codec is told from its primary picture).
    Heif,
    /// A camera RAW file by its signature (CR2, CR3, RAF, ORF, RW2).
    CameraRaw,
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
            b"avif" | b"avis" | b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis"
            | b"mif1" | b"msf1" | b"mif2" | b"miaf" => Sniffed::Heif,
            b"crx " => Sniffed::CameraRaw,
            _ => Sniffed::Unknown,
        };
    }
    let raw_signature = header.starts_with(b"FUJIFILMCCD-RAW")
        || (header.starts_with(b"II*\0") && header.get(8..10) == Some(b"CR"))
        || [b"IIRO", b"IIRS", b"MMOR", b"IIU\0"]
            .iter()
            .any(|magic| header.starts_with(*magic));
    if raw_signature {
        return Sniffed::CameraRaw;
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
    "heic", "heif", "hif", "avif", "ico", "cr2", "cr3", "nef", "arw", "dng", "raf", "orf", "rw2",
    "pef", "srw", "nrw",
];

/// Camera RAW extensions: many are TIFF inside, but their pixels are sensor data.
const RAW_EXTENSIONS: &[&str] = &[
    "cr2", "cr3", "nef", "nrw", "arw", "dng", "raf", "orf", "rw2", "pef", "srw",
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

/// The kinds of file one shot is saved as, in the order `dedup` prefers them by default
/// when it chooses which file of a shot to keep ([`DEFAULT_FORMAT_PREFERENCE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Camera RAW: the sensor data, with the camera's JPEG preview.
    Raw,
    /// HEIF with HEVC (an iPhone's photos).
    Heic,
    Avif,
    Jpeg,
    /// Any other image format (PNG, WebP, TIFF, ...).
    Other,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Raw,
        Family::Heic,
        Family::Avif,
        Family::Jpeg,
        Family::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Family::Raw => "raw",
            Family::Heic => "heic",
            Family::Avif => "avif",
            Family::Jpeg => "jpeg",
            Family::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The family of a file by its name (what a user sees and names in a preference).
    pub fn of_path(path: &Path) -> Family {
        match extension_of(path).as_deref() {
            Some(e) if RAW_EXTENSIONS.contains(&e) => Family::Raw,
            Some("heic" | "heif" | "hif") => Family::Heic,
            Some("avif") => Family::Avif,
            Some("jpg" | "jpeg" | "jpe" | "jfif") => Family::Jpeg,
            _ => Family::Other,
        }
    }
}

/// Default order in which the files of one shot are kept: the RAW (the camera's data),
/// then the HEIC or AVIF original, then a JPEG (often an export or the camera's rendering).
pub const DEFAULT_FORMAT_PREFERENCE: [Family; 5] = Family::ALL;
