//! Per-file problems: why a file was skipped. They never abort a run; the caller reports each
//! once and counts them.

use serde::Serialize;

/// Why one file could not be indexed (or queried).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum SkipReason {
    /// Opening or reading failed (permission denied, I/O error, ...).
    #[error("cannot read: {0}")]
    Unreadable(String),
    /// The file disappeared between the scan and reading it.
    #[error("vanished while indexing")]
    Vanished,
    /// The file does not exist (a path given to a command, not one found by a scan).
    #[error("no such file")]
    Missing,
    /// Zero bytes long.
    #[error("empty file (0 bytes)")]
    Empty,
    /// Has an image extension but its content is not an image format lookalike recognises.
    #[error("not an image: the content is not JPEG, PNG, WebP, GIF, BMP or TIFF")]
    NotAnImage,
    /// A recognised image format that this build cannot decode.
    #[error("unsupported format: {0}")]
    Unsupported(String),
    /// More pixels than the limit allows; refused before decoding.
    #[error("image is {width}x{height} = {} pixels, over the limit of {max_pixels} (raise it with --max-pixels)", *width as u64 * *height as u64)]
    TooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    /// The decoder reported an error: corrupt, truncated, ...
    #[error("cannot decode: {0}")]
    Decode(String),
    /// The decoder panicked; the panic was contained.
    #[error("decoder crashed: {0}")]
    DecoderPanic(String),
    /// The encoder produced a vector with NaN/infinite values or zero length.
    #[error("the encoder produced an unusable embedding (NaN or zero)")]
    BadEmbedding,
    /// The directory walk could not enter or list something (permission, symlink loop, ...).
    #[error("cannot scan: {0}")]
    Walk(String),
}

impl SkipReason {
    /// The reason for a failed read of a path given by the user.
    pub(crate) fn from_io(e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => SkipReason::Missing,
            std::io::ErrorKind::IsADirectory => {
                SkipReason::Unreadable("a folder, not an image file".into())
            }
            _ => SkipReason::Unreadable(e.to_string()),
        }
    }

    /// The reason for a failed read of a file a scan found: gone since the scan.
    pub(crate) fn from_io_after_scan(e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            SkipReason::Vanished
        } else {
            SkipReason::Unreadable(e.to_string())
        }
    }
}
