//! Known pretrained models and their download from the Hugging Face hub into a local cache.
//!
//! Owns the catalogue (short names, repositories, families, licences), the cache folder
//! (the hub's own layout: `models--ORG--NAME/blobs`, `snapshots/COMMIT`, `refs/main`, so
//! that other tools can share it), downloading with the `hf-hub` crate (resumed from a
//! partial file, progress reported), checking every file against the checksum the hub
//! gives for it (SHA-256 for large files, the git blob SHA-1 for small ones), and finding a
//! cached model without the network.

use super::config::Family;
use crate::error::{Error, Result};
use crate::progress::Progress;
use sha1::Digest as _;
use std::path::{Path, PathBuf};

/// A model lookalike knows how to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CatalogueEntry {
    /// Short name, for `models fetch NAME` and `--model NAME`.
    pub name: &'static str,
    /// The repository on the hub.
    pub repo: &'static str,
    pub family: Family,
    /// Whether it searches by text.
    pub text: bool,
    /// Dimension of its embeddings.
    pub dim: usize,
    /// Size of `model.safetensors` in MB, as published (f32 unless said).
    pub size_mb: u32,
    pub licence: &'static str,
}

/// The models `lookalike models list` shows.
pub const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        name: "clip-vit-b32",
        repo: "openai/clip-vit-base-patch32",
        family: Family::Clip,
        text: true,
        dim: 512,
        size_mb: 605,
        licence: "MIT",
    },
    CatalogueEntry {
        name: "clip-vit-b16",
        repo: "openai/clip-vit-base-patch16",
        family: Family::Clip,
        text: true,
        dim: 512,
        size_mb: 599,
        licence: "MIT",
    },
    CatalogueEntry {
        name: "clip-vit-l14",
        repo: "openai/clip-vit-large-patch14",
        family: Family::Clip,
        text: true,
        dim: 768,
        size_mb: 1710,
        licence: "MIT",
    },
    CatalogueEntry {
        name: "openclip-vit-b32-laion2b",
        repo: "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        family: Family::Clip,
        text: true,
        dim: 512,
        size_mb: 605,
        licence: "MIT",
    },
    CatalogueEntry {
        name: "siglip2-b16",
        repo: "google/siglip2-base-patch16-224",
        family: Family::Siglip,
        text: true,
        dim: 768,
        size_mb: 1500,
        licence: "Apache-2.0",
    },
    CatalogueEntry {
        name: "dinov2-s14",
        repo: "facebook/dinov2-small",
        family: Family::Dinov2,
        text: false,
        dim: 384,
        size_mb: 88,
        licence: "Apache-2.0",
    },
    CatalogueEntry {
        name: "dinov2-b14",
        repo: "facebook/dinov2-base",
        family: Family::Dinov2,
        text: false,
        dim: 768,
        size_mb: 346,
        licence: "Apache-2.0",
    },
    CatalogueEntry {
        name: "dinov2-s14-registers",
        repo: "facebook/dinov2-with-registers-small",
        family: Family::Dinov2,
        text: false,
        dim: 384,
        size_mb: 88,
        licence: "Apache-2.0",
    },
];

/// The catalogue entry named `name` (its short name or its repository).
pub fn find(name: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|e| e.name == name || e.repo == name)
}

impl CatalogueEntry {
    /// The files a model folder needs: the text model's tokenizer too.
    pub fn files(&self) -> Vec<&'static str> {
        let mut files = vec![
            "config.json",
            "preprocessor_config.json",
            "model.safetensors",
        ];
        if self.text {
            files.extend(["tokenizer.json", "tokenizer_config.json"]);
        }
        files
    }
}

/// The hub's address unless `HF_ENDPOINT` says otherwise.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A local cache of models and where to download them from.
#[derive(Debug, Clone)]
pub struct Hub {
    cache: PathBuf,
    endpoint: String,
}

impl Hub {
    pub fn new(cache: PathBuf, endpoint: Option<String>) -> Hub {
        Hub {
            cache,
            endpoint: endpoint
                .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
                .trim_end_matches('/')
                .to_string(),
        }
    }

    /// The cache folder: `LOOKALIKE_MODELS`, else `$XDG_CACHE_HOME/lookalike/models`, else
    /// `~/.cache/lookalike/models`.
    pub fn default_cache() -> PathBuf {
        if let Some(dir) = std::env::var_os("LOOKALIKE_MODELS") {
            return dir.into();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        base.join("lookalike").join("models")
    }

    pub fn cache(&self) -> &Path {
        &self.cache
    }

    fn repo(&self, entry: &CatalogueEntry) -> hf_hub::CacheRepo {
        hf_hub::Cache::new(self.cache.clone()).model(entry.repo.to_string())
    }

    /// The model's folder if every file it needs is in the cache (no network).
    pub fn cached(&self, entry: &CatalogueEntry) -> Option<PathBuf> {
        let repo = self.repo(entry);
        let mut folder = None;
        for file in entry.files() {
            let path = repo.get(file)?;
            folder = path.parent().map(Path::to_path_buf);
        }
        folder
    }

    /// Downloads what the cache lacks of the model (a partial file left by an interrupted
    /// download is resumed), checks each downloaded file's checksum, and returns the model
    /// folder. A file whose checksum does not match is deleted and the fetch fails.
    pub fn fetch(&self, entry: &CatalogueEntry, progress: &dyn Progress) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.cache).map_err(|e| Error::io(&self.cache, e))?;
        let api = hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(self.cache.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_progress(false)
            .with_retries(0)
            .build()
            .map_err(|e| Error::model(entry.repo, format!("cannot set up downloads: {e}")))?;
        let remote = api.model(entry.repo.to_string());
        let cached = self.repo(entry);
        let mut folder = None;
        for file in entry.files() {
            let path = match cached.get(file) {
                Some(p) => p,
                None => {
                    let path = remote
                        .download_with_progress(file, Bytes::new(progress))
                        .map_err(|e| {
                            Error::model(
                                remote.url(file),
                                format!(
                                    "download failed: {e}; run the same command again to resume"
                                ),
                            )
                        })?;
                    verify(&path).inspect_err(|_| {
                        // The blob and the snapshot's link to it go: the next fetch starts over.
                        if let Ok(blob) = std::fs::canonicalize(&path) {
                            let _ = std::fs::remove_file(blob);
                        }
                        let _ = std::fs::remove_file(&path);
                    })?;
                    path
                }
            };
            folder = path.parent().map(Path::to_path_buf);
        }
        folder.ok_or_else(|| Error::model(entry.repo, "has no files to fetch"))
    }
}

/// Checks a downloaded file against its blob's name: the hub names blobs by their ETag,
/// the SHA-256 of a large (LFS) file or the git blob SHA-1 of a small one.
fn verify(path: &Path) -> Result<()> {
    let blob = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let etag = blob
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    // Streamed: the weights can be gigabytes.
    let hash_into = |hasher: &mut dyn std::io::Write| -> Result<()> {
        let mut file = std::fs::File::open(&blob).map_err(|e| Error::io(&blob, e))?;
        std::io::copy(&mut file, hasher).map_err(|e| Error::io(&blob, e))?;
        Ok(())
    };
    let actual = match etag.len() {
        64 => {
            let mut h = sha2::Sha256::new();
            hash_into(&mut h)?;
            hex(&h.finalize())
        }
        40 => {
            let len = std::fs::metadata(&blob)
                .map_err(|e| Error::io(&blob, e))?
                .len();
            let mut h = sha1::Sha1::new();
            h.update(format!("blob {len}\0").as_bytes());
            hash_into(&mut h)?;
            hex(&h.finalize())
        }
        // An ETag of another form says nothing checkable.
        _ => return Ok(()),
    };
    if actual != etag {
        return Err(Error::model(
            crate::text::path_text(path),
            format!("checksum mismatch: the hub says {etag}, the downloaded file is {actual}; it was deleted"),
        ));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// hf-hub's progress (bytes of one file) reported as the library's.
struct Bytes<'a> {
    progress: &'a dyn Progress,
}

impl<'a> Bytes<'a> {
    fn new(progress: &'a dyn Progress) -> Bytes<'a> {
        Bytes { progress }
    }
}

impl hf_hub::api::Progress for Bytes<'_> {
    fn init(&mut self, size: usize, filename: &str) {
        self.progress.start(&format!("fetching {filename}"), size);
    }
    fn update(&mut self, size: usize) {
        self.progress.advance(size);
    }
    fn finish(&mut self) {}
}

/// The model's name when its folder is a snapshot in a hub cache
/// (`models--ORG--NAME/snapshots/COMMIT`): `ORG/NAME`.
pub fn name_in_cache(folder: &Path) -> Option<String> {
    let snapshots = folder.parent()?;
    if snapshots.file_name()? != "snapshots" {
        return None;
    }
    let repo = snapshots.parent()?.file_name()?.to_str()?;
    Some(repo.strip_prefix("models--")?.replace("--", "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_and_found_by_repository() {
        for e in CATALOGUE {
            assert_eq!(CATALOGUE.iter().filter(|x| x.name == e.name).count(), 1);
            assert_eq!(find(e.repo), Some(e));
            assert_eq!(e.files().contains(&"tokenizer.json"), e.text);
        }
        assert!(find("nope").is_none());
    }

    #[test]
    fn snapshot_folders_are_named_by_their_repository() {
        let p = Path::new("/c/models--openai--clip-vit-base-patch32/snapshots/abc123");
        assert_eq!(
            name_in_cache(p).as_deref(),
            Some("openai/clip-vit-base-patch32")
        );
        assert_eq!(name_in_cache(Path::new("/models/clip")), None);
    }

    #[test]
    fn checksums_are_checked_by_blob_name() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"hello\n";
        // git hash-object of "hello\n".
        let sha1 = "ce013625030ba8dba906f756967f9e9ca394464a";
        std::fs::write(dir.path().join(sha1), content).unwrap();
        verify(&dir.path().join(sha1)).unwrap();
        let sha256 = hex(&sha2::Sha256::digest(content));
        std::fs::write(dir.path().join(&sha256), content).unwrap();
        verify(&dir.path().join(&sha256)).unwrap();
        let wrong = "0".repeat(64);
        std::fs::write(dir.path().join(&wrong), content).unwrap();
        let e = verify(&dir.path().join(&wrong)).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
    }
}
