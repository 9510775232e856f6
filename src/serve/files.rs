//! Indexed files over HTTP: the original bytes and JPEG thumbnails, for paths the index
//! holds only (a path is looked up as given; one whose canonical form differs, through a
//! symbolic link put in since, is refused), thumbnails cached in memory and by the browser
//! (ETag); and the page itself, embedded in the binary.

use super::api::ApiError;
use super::Shared;
use crate::ingest::decode::{self, DecodeOptions};
use crate::ingest::format::{sniff, Sniffed, SNIFF_LEN};
use axum::extract::{Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use image::codecs::jpeg::JpegEncoder;
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// Thumbnail sides accepted (pixels, the longest side).
pub const THUMBNAIL_SIDES: std::ops::RangeInclusive<u32> = 64..=1024;
/// Bytes of encoded thumbnails kept in memory.
const CACHE_BYTES: usize = 48 << 20;

pub async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A file the index holds, as it is on disk now.
pub struct Indexed {
    pub path: PathBuf,
    pub metadata: std::fs::Metadata,
}

/// The indexed file at `path`: refused (404) when the index does not hold it or when its
/// canonical path is another (a symbolic link now stands in the way), 410 when it is gone.
pub fn indexed(shared: &Shared, path: &str) -> Result<Indexed, ApiError> {
    let path = PathBuf::from(path);
    let not_indexed = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{} is not in the index", path.display()),
        )
    };
    shared.library.file(&path)?.ok_or_else(not_indexed)?;
    let gone = |e: std::io::Error| {
        ApiError::new(
            StatusCode::GONE,
            format!("{} cannot be read now: {e}", path.display()),
        )
    };
    let canonical = std::fs::canonicalize(&path).map_err(gone)?;
    if canonical != path {
        return Err(not_indexed());
    }
    let metadata = std::fs::metadata(&path).map_err(gone)?;
    if !metadata.is_file() {
        return Err(not_indexed());
    }
    Ok(Indexed { path, metadata })
}

#[derive(Deserialize)]
pub struct FileQuery {
    path: String,
    size: Option<u32>,
}

/// `GET /api/file?path=`: the original bytes.
pub async fn original(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<FileQuery>,
) -> Result<Response, ApiError> {
    let file = indexed(&shared, &q.path)?;
    let path = file.path.clone();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
        .await
        .map_err(|e| ApiError::internal(format!("reading a file failed: {e}")))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::GONE,
                format!("{} cannot be read now: {e}", file.path.display()),
            )
        })?;
    let content_type = content_type(&bytes[..bytes.len().min(SNIFF_LEN)]);
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-cache"),
            (header::CONTENT_DISPOSITION, "inline"),
        ],
        bytes,
    )
        .into_response())
}

fn content_type(head: &[u8]) -> &'static str {
    match sniff(head) {
        Sniffed::Decodable(f) => f.to_mime_type(),
        Sniffed::Heif if head.get(8..12) == Some(b"avif") => "image/avif",
        Sniffed::Heif => "image/heic",
        _ => "application/octet-stream",
    }
}

/// The thumbnails encoded lately, up to [`CACHE_BYTES`], oldest dropped first.
#[derive(Default)]
pub struct ThumbnailCache {
    entries: HashMap<String, Arc<Vec<u8>>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ThumbnailCache {
    fn get(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.entries.get(key).cloned()
    }

    fn put(&mut self, key: String, jpeg: Arc<Vec<u8>>) {
        self.bytes += jpeg.len();
        match self.entries.insert(key.clone(), jpeg) {
            Some(old) => self.bytes -= old.len(),
            None => self.order.push_back(key),
        }
        while self.bytes > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.entries.remove(&old) {
                self.bytes -= v.len();
            }
        }
    }
}

/// `GET /api/thumb?path=&size=`: a JPEG of the upright picture, its longest side at most
/// `size` (default 256). The ETag names the file's size and modification time and the side.
pub async fn thumbnail(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<FileQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let side = q.size.unwrap_or(256);
    if !THUMBNAIL_SIDES.contains(&side) {
        return Err(ApiError::bad_request(format!(
            "size must be between {} and {} pixels, got {side}",
            THUMBNAIL_SIDES.start(),
            THUMBNAIL_SIDES.end()
        )));
    }
    let file = indexed(&shared, &q.path)?;
    let mtime = crate::ingest::scan::mtime_ns(&file.metadata);
    let etag = format!("\"{:x}-{:x}-{side}\"", file.metadata.len(), mtime);
    let cache_headers = [
        (header::ETAG, HeaderValue::from_str(&etag).expect("ascii")),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=3600"),
        ),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok((StatusCode::NOT_MODIFIED, cache_headers).into_response());
    }
    let key = format!("{}\0{etag}", file.path.display());
    let cached = shared
        .thumbnails
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key);
    let jpeg = match cached {
        Some(jpeg) => jpeg,
        None => {
            let path = file.path.clone();
            let max_pixels = shared.opts.indexing.max_pixels;
            let jpeg = shared
                .on_cpu(move || encode_thumbnail(&path, side, max_pixels))
                .await?;
            let jpeg = Arc::new(jpeg);
            shared
                .thumbnails
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(key, jpeg.clone());
            jpeg
        }
    };
    let mut response = (cache_headers, jpeg.as_ref().clone()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    Ok(response)
}

fn encode_thumbnail(path: &Path, side: u32, max_pixels: u64) -> Result<Vec<u8>, ApiError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ApiError::new(
            StatusCode::GONE,
            format!("{} cannot be read now: {e}", path.display()),
        )
    })?;
    let opts = DecodeOptions {
        max_pixels,
        ..DecodeOptions::new(side)
    };
    let img = decode::decode_upright(&bytes, side, &opts).map_err(|reason| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{}: {reason}", path.display()),
        )
    })?;
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 82)
        .encode_image(&img)
        .map_err(|e| ApiError::internal(format!("encoding a thumbnail: {e}")))?;
    Ok(jpeg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_drops_the_oldest_beyond_its_size() {
        let mut cache = ThumbnailCache::default();
        let big = Arc::new(vec![0u8; CACHE_BYTES / 2 + 1]);
        cache.put("a".into(), big.clone());
        cache.put("b".into(), big.clone());
        assert!(cache.get("a").is_none());
        assert!(cache.get("b").is_some());
        assert!(cache.bytes <= CACHE_BYTES);
    }

    #[test]
    fn originals_are_served_as_what_their_bytes_say() {
        assert_eq!(content_type(b"\xff\xd8\xff\xe0\0\x10JFIF"), "image/jpeg");
        assert_eq!(content_type(b"<html><script>"), "application/octet-stream");
    }
}
