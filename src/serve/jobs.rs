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
use notify::{RecursiveMode, Watcher};
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
pub struct Watch(#[allow(dead_code)] notify::RecommendedWatcher);

/// Quiet time after the last change before re-indexing starts.
const SETTLE: Duration = Duration::from_secs(2);

/// Re-indexes the roots two seconds after files under them stop changing. Reading a file
/// is not a change (re-indexing and the web app's views read photos: counted as changes,
/// each re-index would start another); nor is a change inside the index folder (when it
/// lies under a root).
pub fn watch(shared: Arc<Shared>) -> Result<Watch> {
    let roots = roots(&shared)?;
    let index_dir = shared.library.dir().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut watcher =
        notify::recommended_watcher(tx).map_err(|e| watch_error(shared.library.dir(), e))?;
    for root in &roots {
        watcher
            .watch(root, RecursiveMode::Recursive)
            .map_err(|e| watch_error(root, e))?;
    }
    std::thread::Builder::new()
        .name("lookalike-watch".into())
        .spawn(move || {
            settle(
                &rx,
                SETTLE,
                |event| changes_photos(event, &index_dir),
                || {
                    start_reindex(&shared, true);
                },
            )
        })
        .expect("spawn a thread");
    Ok(Watch(watcher))
}

/// Whether a watch event says that photos under the roots changed. An error (such as a
/// lost event queue) counts as a change: re-indexing finds what it was.
fn changes_photos(event: &notify::Result<notify::Event>, index_dir: &std::path::Path) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    let Ok(event) = event else {
        return true;
    };
    let read_only = matches!(event.kind, EventKind::Access(kind)
        if kind != AccessKind::Close(AccessMode::Write));
    !read_only && (event.paths.is_empty() || event.paths.iter().any(|p| !p.starts_with(index_dir)))
}

/// Calls `fire` once per burst of events that `counts` accepts, when `quiet` has passed
/// without another; returns when the watch is dropped (its sender with it).
fn settle<E>(
    rx: &std::sync::mpsc::Receiver<E>,
    quiet: Duration,
    counts: impl Fn(&E) -> bool,
    mut fire: impl FnMut(),
) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        match rx.recv() {
            Ok(event) if counts(&event) => {}
            Ok(_) => continue,
            Err(_) => return,
        }
        let mut deadline = std::time::Instant::now() + quiet;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(event) if counts(&event) => deadline = std::time::Instant::now() + quiet,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        fire();
    }
}

fn watch_error(path: &std::path::Path, e: notify::Error) -> Error {
    Error::io(
        path,
        std::io::Error::other(format!("cannot watch for changes: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind};
    use std::sync::atomic::AtomicUsize;

    fn event(kind: EventKind, path: &str) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(kind).add_path(PathBuf::from(path)))
    }

    #[test]
    fn reading_a_photo_is_not_a_change() {
        let index = std::path::Path::new("/photos/.lookalike");
        let opened = event(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            "/photos/a.jpg",
        );
        let read = event(
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            "/photos/a.jpg",
        );
        let written = event(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            "/photos/a.jpg",
        );
        let created = event(EventKind::Create(CreateKind::File), "/photos/a.jpg");
        let inside_index = event(EventKind::Create(CreateKind::File), "/photos/.lookalike/db");
        assert!(!changes_photos(&opened, index));
        assert!(!changes_photos(&read, index));
        assert!(changes_photos(&written, index));
        assert!(changes_photos(&created, index));
        assert!(!changes_photos(&inside_index, index));
        assert!(changes_photos(&Err(notify::Error::generic("lost")), index));
    }

    #[test]
    fn a_burst_of_changes_reindexes_once_when_it_settles() {
        let (tx, rx) = std::sync::mpsc::channel::<bool>();
        let fired = Arc::new(AtomicUsize::new(0));
        let counter = fired.clone();
        let worker = std::thread::spawn(move || {
            settle(
                &rx,
                Duration::from_millis(100),
                |change| *change,
                || {
                    counter.fetch_add(1, Ordering::SeqCst);
                },
            )
        });
        let wait = || std::thread::sleep(Duration::from_millis(400));
        for _ in 0..5 {
            tx.send(false).unwrap();
        }
        wait();
        assert_eq!(fired.load(Ordering::SeqCst), 0, "events that are no change");
        for _ in 0..3 {
            tx.send(true).unwrap();
        }
        wait();
        assert_eq!(fired.load(Ordering::SeqCst), 1, "one burst, one re-index");
        tx.send(true).unwrap();
        wait();
        assert_eq!(fired.load(Ordering::SeqCst), 2);
        tx.send(true).unwrap();
        drop(tx);
        worker.join().unwrap();
        assert_eq!(
            fired.load(Ordering::SeqCst),
            2,
            "a dropped watch starts nothing"
        );
    }
}
