//! What either store keeps of a file and of a content: the records the index folder's sled
//! store and a Milvus collection's rows hold alike, and paths as bytes.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// BLAKE3 of a file's bytes.
pub type Hash = [u8; 32];

/// What the index remembers of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: Hash,
}

/// One distinct content (identical files share it): its graph id, pixel size and embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentRecord {
    pub id: u64,
    pub width: u32,
    pub height: u32,
    pub vector: Vec<f32>,
}

/// Raw OS bytes of a path (lossless on Unix).
pub fn path_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned().into_bytes()
    }
}

/// Inverse of [`path_bytes`].
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}
