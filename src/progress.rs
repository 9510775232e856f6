//! Progress reporting for long library calls. The library calls these hooks; the CLI draws them.

use crate::problem::SkipReason;
use std::path::Path;

/// Receives progress. Implementations must be cheap and thread-safe.
pub trait Progress: Sync {
    /// A stage of work starts, with `total` units to do (files or images).
    fn start(&self, _stage: &str, _total: usize) {}
    /// `n` more units are done.
    fn advance(&self, _n: usize) {}
    /// A short status (e.g. the current loss) to show beside the progress.
    fn status(&self, _text: &str) {}
    /// A file was skipped; called once per file.
    fn skipped(&self, _path: &Path, _reason: &SkipReason) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {}
