//! Files to pixels: everything lookalike reads from a photo before any model sees it.
//!
//! - [`scan`]: walking folders (walkdir), the size and modification time of regular files.
//! - [`decode`]: format sniffing by content, bounded decoding (decompression bombs refused),
//!   EXIF orientation, alpha, the prepared square a model takes; decoder panics contained.
//! - [`format`](mod@format): the format of a file sniffed from its bytes; image and RAW
//!   extensions; the format families of one shot.
//! - [`heif`]: HEIC and AVIF files (the container, grids, rotation and mirroring), with
//!   [`avif`] for AV1 pictures and [`yuv`] for their conversion to RGB.
//! - [`raw`]: camera RAW files: their largest JPEG preview and their orientation.
//! - [`margins`]: solid margins found so that `decode` leaves them out.
//! - [`thumbnail`]: the 16x16 grey thumbnails of the pixel check and their correlation.
//! - [`capture_time`]: when a photo was taken (EXIF), and when two times mean two shots.
//!
//! Invariants: nothing here writes to a photo, knows about models, indexes or duplicates, or
//! aborts on one bad file: a file's problem is a [`crate::SkipReason`].
//!
//! Entry points: [`scan::scan`], [`decode::prepare_file`], [`decode::prepare_files`],
//! [`decode::decode_upright`], [`thumbnail::Thumbnail::of`], [`capture_time::CaptureTime::of`].

pub mod avif;
pub mod capture_time;
pub mod decode;
pub mod format;
pub mod heif;
pub mod margins;
pub mod raw;
pub mod scan;
pub mod thumbnail;
pub mod yuv;
