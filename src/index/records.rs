//! What either store keeps of a file, of a content and of a review decision: the records
//! the index folder's sled store and a Milvus collection's rows hold alike, the one
//! interface through which review decisions are kept ([`DecisionBook`]), and paths as bytes.

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

/// A review decision on a duplicate group (`serve`'s duplicates page), kept across
/// re-indexing: the group is named by its contents, not by its paths or graph ids. What the
/// verdict means is `dedup::decisions`' business; a store only keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The verdict's name (`not-duplicates`, `keeper`, `accepted`).
    pub verdict: String,
    /// The group's contents, sorted.
    pub contents: Vec<Hash>,
    /// The chosen keeper's path bytes.
    pub keeper: Option<Vec<u8>>,
    /// Seconds since the Unix epoch.
    pub decided_at: u64,
}

/// Where review decisions are kept, by group id: the index folder's store, or a Milvus
/// collection beside the index's ([`super::cluster::ClusterIndex`]).
pub trait DecisionBook: Sync {
    /// Records a decision under its group id (replacing any before it), durably.
    fn put_decision(&self, group: &Hash, record: &DecisionRecord) -> crate::error::Result<()>;
    /// Forgets the decision on a group (no error if there is none).
    fn remove_decision(&self, group: &Hash) -> crate::error::Result<()>;
    /// Every decision, by group id.
    fn decisions(&self) -> crate::error::Result<Vec<(Hash, DecisionRecord)>>;
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
