//! The server's background work, each on its own thread and taking its turn at the index:
//! finding the duplicate groups (kept until the index or the files change), re-indexing the
//! roots (with live progress), and watching the roots for changes (debounced; a change
//! during a re-index starts another when it ends).

use super::Shared;
use crate::dedup::decisions::Reviewed;
use crate::error::{Error, Result};
use crate::index::pipeline::{IndexOptions, IndexReport};
use crate::progress::Progress;
use crate::text::path_text;
use notify_debouncer_mini::notify::RecursiveMode;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Where the duplicate groups stand.
#[derive(Default)]
pub enum GroupsState {
    /// Not found yet, or out of date (the index or the files changed).
    #[default]
    Stale,
    Running,
    /// Found for this index generation, named, decisions not applied (they are applied per
    /// request: they change without the groups changing).
    Ready {
        generation: u64,
        /// [`Shared::files_changed`] when they were found.
        files_changed: u64,
        groups: Arc<Vec<Reviewed>>,
    },
    Failed(String),
}

/// The groups when they are current; otherwise starts finding them (unless that is under
/// way) and returns `Err` with the state to report (`running`, or `failed: ...` once).
pub fn groups(shared: &Arc<Shared>) -> std::result::Result<Arc<Vec<Reviewed>>, String> {
    let generation = shared.library.generation();
    let changed = shared.files_changed.load(Ordering::SeqCst);
    let mut state = shared.groups.lock().unwrap_or_else(|e| e.into_inner());
    match &*state {
        GroupsState::Ready {
            generation: g,
            files_changed,
            groups,
        } if Some(*g) == generation && *files_changed == changed => return Ok(groups.clone()),
        GroupsState::Running => return Err("running".into()),
        GroupsState::Failed(e) => {
            // Said once; the next request tries again.
            let failed = format!("failed: {e}");
            *state = GroupsState::Stale;
            return Err(failed);
        }
        _ => {}
    }
    *state = GroupsState::Running;
    let worker = shared.clone();
    std::thread::Builder::new()
        .name("lookalike-groups".into())
        .spawn(move || {
            let found = worker.library.find_groups(&worker.opts.dedup);
            let mut state = worker.groups.lock().unwrap_or_else(|e| e.into_inner());
            *state = match found {
                Ok((generation, groups)) => GroupsState::Ready {
                    generation,
                    files_changed: changed,
                    groups: Arc::new(groups),
                },
                Err(e) => GroupsState::Failed(e.to_string()),
            };
        })
        .expect("spawn a thread");
    Err("running".into())
}

/// Forgets the groups (files were moved or restored): they are found again when asked for
/// (groups being found meanwhile are out of date as soon as they are ready).
pub fn groups_changed(shared: &Shared) {
    shared.files_changed.fetch_add(1, Ordering::SeqCst);
}

/// Where re-indexing stands.
#[derive(Default)]
pub struct ReindexState {
    pub running: bool,
    /// A change seen while running: run again when done.
    pub again: bool,
    pub phase: Option<String>,
    pub done: usize,
    pub total: usize,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub last_report: Option<Value>,
    pub error: Option<String>,
}

impl ReindexState {
    pub fn to_json(&self) -> Value {
        let time =
            |t: &Option<SystemTime>| t.map(|t| humantime::format_rfc3339_seconds(t).to_string());
        json!({
            "running": self.running,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "started_at": time(&self.started_at),
            "finished_at": time(&self.finished_at),
            "last_report": self.last_report,
            "error": self.error,
        })
    }
}

/// The folders re-indexed: those the index records and those given to `serve`.
pub fn roots(shared: &Shared) -> Result<Vec<PathBuf>> {
    let mut roots = shared.library.recorded_roots()?;
    for r in &shared.opts.roots {
        if !roots.contains(r) {
            roots.push(r.clone());
        }
    }
    Ok(roots)
}

/// Starts re-indexing unless it is under way (then `false`; with `again`, it runs once
/// more when done).
pub fn start_reindex(shared: &Arc<Shared>, again: bool) -> bool {
    {
        let mut state = shared.reindex.lock().unwrap_or_else(|e| e.into_inner());
        if state.running {
            state.again |= again;
            return false;
        }
        state.running = true;
        state.again = false;
        state.phase = Some("starting".into());
        state.done = 0;
        state.total = 0;
        state.error = None;
        state.started_at = Some(SystemTime::now());
    }
    let worker = shared.clone();
    std::thread::Builder::new()
        .name("lookalike-reindex".into())
        .spawn(move || loop {
            let outcome = reindex(&worker);
            let stats = worker.library.stats();
            let mut state = worker.reindex.lock().unwrap_or_else(|e| e.into_inner());
            match outcome {
                Ok(report) => {
                    state.last_report = Some(report_value(&report));
                }
                Err(e) => state.error = Some(e.to_string()),
            }
            if let Ok(stats) = stats {
                *worker.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
            }
            state.finished_at = Some(SystemTime::now());
            state.phase = None;
            if state.again && !worker.stop.load(Ordering::SeqCst) {
                state.again = false;
                state.started_at = Some(SystemTime::now());
                continue;
            }
            state.running = false;
            break;
        })
        .expect("spawn a thread");
    true
}

fn reindex(shared: &Shared) -> Result<IndexReport> {
    let roots = roots(shared)?;
    if roots.is_empty() {
        return Err(Error::InvalidArgument(shared.library.no_roots().into()));
    }
    let opts = IndexOptions {
        interrupt: Some(shared.stop.clone()),
        ..shared.opts.indexing.clone()
    };
    shared
        .library
        .reindex(&shared.encoder, &roots, &opts, &JobProgress(shared))
}

fn report_value(report: &IndexReport) -> Value {
    let mut v = serde_json::to_value(report).expect("serialises");
    v["skipped"] = report
        .skipped
        .iter()
        .map(|s| json!({"path": path_text(&s.path), "reason": s.reason, "kind": s.kind}))
        .collect();
    v
}

/// Re-indexing's progress, kept for `GET /api/status`.
struct JobProgress<'a>(&'a Shared);

impl Progress for JobProgress<'_> {
    fn start(&self, stage: &str, total: usize) {
        let mut state = self.0.reindex.lock().unwrap_or_else(|e| e.into_inner());
        state.phase = Some(stage.to_string());
        state.total = total;
        state.done = 0;
    }

    fn advance(&self, n: usize) {
        self.0
            .reindex
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .done += n;
    }
}

/// Waits (at most a minute) for a re-index in progress to stop.
pub fn wait_for_reindex(shared: &Shared) {
    for _ in 0..600 {
        if !shared
            .reindex
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .running
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A watch on the roots that lasts as long as the value is kept.
pub struct Watch(
    #[allow(dead_code)]
    notify_debouncer_mini::Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>,
);

/// Re-indexes the roots two seconds after files under them stop changing. Changes inside
/// the index folder (when it lies under a root) are not changes to the photos.
pub fn watch(shared: Arc<Shared>) -> Result<Watch> {
    let roots = roots(&shared)?;
    let index_dir = shared.library.dir().to_path_buf();
    let worker = shared.clone();
    let mut debouncer = notify_debouncer_mini::new_debouncer(
        Duration::from_secs(2),
        move |events: notify_debouncer_mini::DebounceEventResult| {
            let Ok(events) = events else {
                return;
            };
            if events.iter().any(|e| !e.path.starts_with(&index_dir)) {
                start_reindex(&worker, true);
            }
        },
    )
    .map_err(|e| watch_error(shared.library.dir(), e))?;
    for root in &roots {
        debouncer
            .watcher()
            .watch(root, RecursiveMode::Recursive)
            .map_err(|e| watch_error(root, e))?;
    }
    Ok(Watch(debouncer))
}

fn watch_error(path: &std::path::Path, e: notify_debouncer_mini::notify::Error) -> Error {
    Error::io(
        path,
        std::io::Error::other(format!("cannot watch for changes: {e}")),
    )
}
