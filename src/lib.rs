//! lookalike: image similarity search and near-duplicate detection.
//!
//! The modules are layers, each importing only from the layers above it in this list
//! (ARCHITECTURE.md; `tests/layers.rs` checks it):
//!
//! 1. [`error`], [`problem`], [`progress`], [`text`], [`vector`]: the vocabulary every layer shares.
//! 2. [`ingest`]: files to pixels (walking folders, decoding, thumbnails, capture times).
//! 3. [`model`]: pixels to vectors (encoders, their heads and kernels, the background set).
//! 4. [`index`]: vectors kept (sled, the source of truth; the HNSW graph and the flat
//!    vector file, derived), and the incremental indexing pipeline that fills it.
//! 5. [`dedup`]: duplicate groups, the copy decision, actions, journal and report.
//! 6. [`eval`]: measuring encoders and decisions.
//! 7. [`train`]: contrastive training.
//! 8. [`serve`]: the local web app and its JSON API.
//!
//! The library never prints; the CLI (in the binary) does.

pub mod error;
pub mod problem;
pub mod progress;
pub mod text;
pub mod vector;

pub mod ingest;

pub mod model;

pub mod index;

pub mod dedup;

pub mod eval;

pub mod train;

pub mod serve;

pub use error::{Error, Result};
pub use index::Index;
pub use model::{Encoder, ModelInfo};
pub use problem::SkipReason;
