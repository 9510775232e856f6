//! The library's error type: every fatal failure, with the paths and numbers that explain it.
//!
//! Per-file problems met while indexing are *not* errors: they are [`crate::SkipReason`]s,
//! reported and counted while the run goes on.

use std::path::PathBuf;

/// Everything that can stop a library call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("index storage at {path}: {source}")]
    Storage {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },

    #[error("index at {path} is damaged: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    #[error(
        "index at {path} has format version {found}, this build reads version {expected}; \
         re-create it with `lookalike index --index <new path> ...`"
    )]
    FormatVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    #[error(
        "model mismatch: the index at {path} was built with model {index_model}, \
         but the model in use is {current_model}; use the same --model, or index into a new --index"
    )]
    ModelMismatch {
        path: PathBuf,
        index_model: String,
        current_model: String,
    },

    #[error(
        "the index at {path} was built with {index_model}, an earlier built-in model; run \
         `lookalike index {roots}` to embed its photos again with {current_model}, \
         the built-in model of this version (copies are judged as before)"
    )]
    ModelOutdated {
        path: PathBuf,
        index_model: String,
        current_model: String,
        /// The folders the index was given, as a command line would name them.
        roots: String,
    },

    #[error(
        "the index at {path} is part way through its move to model {target} ({done} of \
         {total} photos embedded again); run `lookalike index {roots}` to finish it"
    )]
    UpgradeUnfinished {
        path: PathBuf,
        target: String,
        done: u64,
        total: u64,
        roots: String,
    },

    #[error("no index at {path}: run `lookalike index DIR --index {path}` first")]
    NoIndex { path: PathBuf },

    #[error("model {what}: {detail}")]
    Model { what: String, detail: String },

    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),

    #[error("{path}: {reason}")]
    Image {
        path: PathBuf,
        reason: crate::SkipReason,
    },

    #[error("embedding of {path} is not usable ({detail})")]
    BadEmbedding { path: PathBuf, detail: String },

    #[error(
        "index at {path} is in use by {}{}; try again when it is done, or pass --wait",
        holder.as_ref().map_or("another process".to_string(), |h| h.to_string()),
        if waited.is_zero() { String::new() } else { format!(" (waited {:.0} s)", waited.as_secs_f64()) }
    )]
    Busy {
        path: PathBuf,
        holder: Option<Holder>,
        waited: std::time::Duration,
    },

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("Milvus at {url}: {detail}")]
    Milvus { url: String, detail: String },

    #[error(
        "model mismatch: the Milvus collection {collection} holds vectors of {store_model}, \
         but the model in use is {current_model}; use the same --model, or another collection"
    )]
    StoreModelMismatch {
        collection: String,
        store_model: String,
        current_model: String,
    },

    #[error("cannot serve on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn model(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Error::Model {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// The process holding an index, as it recorded itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let started = std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.started);
        write!(
            f,
            "pid {} (`{}`), running since {}",
            self.pid,
            self.command,
            humantime::format_rfc3339_seconds(started)
        )
    }
}
