//! lookalike: image similarity search and near-duplicate detection.
//!
//! Data flow: [`scan`] → [`decode`] → [`model`] (encode) → [`store`] (sled, the source of
//! truth) → [`ann`] (HNSW graph, derived) → [`index::Index::nearest`] (query) and
//! [`dedup::find_duplicates`]. [`indexer::update`] runs the pipeline incrementally.
//! The library never prints; the CLI (in the binary) does. See ARCHITECTURE.md.

pub mod actions;
pub mod ann;
pub mod background;
pub mod capture_time;
pub mod decode;
pub mod dedup;
pub mod error;
pub mod eval;
pub mod flat;
pub mod index;
pub mod indexer;
pub mod lock;
pub mod margins;
pub mod matching;
pub mod model;
pub mod problem;
pub mod progress;
pub mod report;
pub mod scan;
pub mod store;
pub mod thumbnail;
pub mod train;

pub use error::{Error, Result};
pub use index::Index;
pub use model::{Encoder, ModelInfo};
pub use problem::SkipReason;
