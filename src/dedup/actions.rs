//! Acting on duplicates, safely: move, hard-link, trash or delete the copies of each group
//! (never a keeper, never a reference file), each step recorded in a journal that `undo` can
//! replay backwards.
//!
//! Safety rules, checked for every file right before acting on it:
//! - the file's size and modification time are those recorded when it was indexed (it was not
//!   edited or replaced since), and so are the keeper's, which must still exist;
//! - `hardlink` only replaces exact copies (same bytes): a near-duplicate is never replaced by
//!   a link to a different picture;
//! - nothing happens without `execute` (the CLI's `--yes`); a plan is a dry run.
//!
//! The journal is JSON Lines, one [`JournalEntry`] per action, written and flushed before the
//! next action starts, so it is complete up to the last action even after a crash.

use crate::dedup::{Group, Member, Tier};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// What to do with the copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Move into this folder, keeping paths relative to the copies' common folder.
    MoveTo(PathBuf),
    /// Replace by a hard link to the keeper (exact copies only).
    Hardlink,
    /// Move to the freedesktop trash.
    Trash,
    /// Delete.
    Delete,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::MoveTo(_) => "move",
            Action::Hardlink => "hardlink",
            Action::Trash => "trash",
            Action::Delete => "delete",
        }
    }
}

/// One planned step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub action: &'static str,
    pub path: PathBuf,
    /// Where a move puts the file.
    pub target: Option<PathBuf>,
    pub keeper: PathBuf,
    pub tier: Tier,
    pub size: u64,
    pub mtime_ns: i64,
    pub keeper_size: u64,
    pub keeper_mtime_ns: i64,
}

/// What happened to one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Done,
    /// Not attempted: a safety rule said no (see `detail`).
    Skipped,
    Failed,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub action: String,
    #[serde(with = "path_bytes")]
    pub path: PathBuf,
    #[serde(with = "opt_path_bytes")]
    pub target: Option<PathBuf>,
    #[serde(with = "path_bytes")]
    pub keeper: PathBuf,
    pub status: Status,
    pub detail: Option<String>,
    /// Seconds since the Unix epoch.
    pub time: u64,
}

/// What an action would do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Near-duplicates `hardlink` leaves alone (it replaces exact copies only).
    pub not_exact: usize,
    /// Copies left alone because they are files of a shot that is kept (its keeper's shot,
    /// or a shot one of whose files is left alone): a RAW and its JPEG stay together.
    pub kept_with_shot: Vec<PathBuf>,
    /// Other shots of a scene (similar-shot tier, not named) left alone: not duplicates.
    pub other_shots: Vec<PathBuf>,
}

/// The plan for `groups`: every member that is neither the keeper nor a reference file, nor
/// in a tier acted on only when named ([`Tier::only_when_named`]: a file of the keeper's
/// shot, another shot of the scene) unless `named` holds its tier. The files of one shot
/// are taken together or not at all. Members `hardlink` cannot take (not exact copies) are
/// left out and counted.
pub fn plan(groups: &[Group], action: &Action, named: &[Tier]) -> Plan {
    let split_shots = named.contains(&Tier::SameShot);
    let copies: Vec<&Path> = groups
        .iter()
        .flat_map(|g| g.members.iter().skip(1))
        .filter(|m| !m.reference)
        .map(|m| m.path.as_path())
        .collect();
    let base = common_folder(&copies);
    let mut plan = Plan::default();
    for g in groups {
        let keeper = &g.members[0];
        let hardlink_refuses = |m: &Member| *action == Action::Hardlink && m.tier != Tier::Exact;
        let takes = |m: &Member| {
            !m.keeper
                && !m.reference
                && !hardlink_refuses(m)
                && (!m.tier.only_when_named() || named.contains(&m.tier))
        };
        // Shots with a file left alone keep all their files (the keeper's shot too, unless
        // split on request).
        let left_alone = |m: &Member| !(takes(m) || (split_shots && m.keeper));
        let kept_shots: Vec<usize> = g
            .members
            .iter()
            .filter(|m| left_alone(m))
            .filter_map(|m| m.shot)
            .collect();
        for m in g.members.iter().skip(1).filter(|m| !m.reference) {
            if hardlink_refuses(m) {
                plan.not_exact += 1;
                continue;
            }
            if m.tier == Tier::SimilarShot && !named.contains(&m.tier) {
                plan.other_shots.push(m.path.clone());
                continue;
            }
            if !takes(m) || m.shot.is_some_and(|s| kept_shots.contains(&s)) {
                plan.kept_with_shot.push(m.path.clone());
                continue;
            }
            let target = match action {
                Action::MoveTo(dir) => {
                    Some(dir.join(m.path.strip_prefix(&base).unwrap_or(&m.path)))
                }
                _ => None,
            };
            plan.steps.push(Step {
                action: action.name(),
                path: m.path.clone(),
                target,
                keeper: keeper.path.clone(),
                tier: m.tier,
                size: m.size,
                mtime_ns: m.mtime_ns,
                keeper_size: keeper.size,
                keeper_mtime_ns: keeper.mtime_ns,
            });
        }
    }
    plan
}

/// The deepest folder holding every path (`/` if they share nothing else).
fn common_folder(paths: &[&Path]) -> PathBuf {
    let mut base: Option<PathBuf> = None;
    for p in paths {
        let parent = p.parent().unwrap_or(Path::new("/"));
        base = Some(match base {
            None => parent.to_path_buf(),
            Some(b) => b
                .components()
                .zip(parent.components())
                .take_while(|(x, y)| x == y)
                .map(|(x, _)| x)
                .collect(),
        });
    }
    base.unwrap_or_else(|| PathBuf::from("/"))
}

fn unchanged(path: &Path, size: u64, mtime_ns: i64) -> std::result::Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let now = crate::ingest::scan::mtime_ns(&meta);
    if !meta.is_file() {
        return Err(format!("{} is no longer a regular file", path.display()));
    }
    if meta.len() != size || now != mtime_ns {
        return Err(format!(
            "{} changed since it was indexed (size {} -> {}, modified {})",
            path.display(),
            size,
            meta.len(),
            if now == mtime_ns { "no" } else { "yes" }
        ));
    }
    Ok(())
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What [`execute`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Bytes of the files acted on.
    pub bytes: u64,
    pub journal: PathBuf,
}

/// Carries out `steps`, appending each to the journal at `journal` (created if needed).
pub fn execute(steps: &[Step], journal: &Path) -> Result<(Outcome, Vec<JournalEntry>)> {
    if let Some(dir) = journal.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(journal)
        .map_err(|e| Error::io(journal, e))?;
    let mut outcome = Outcome {
        journal: journal.to_path_buf(),
        ..Outcome::default()
    };
    let mut entries = Vec::new();
    for step in steps {
        let result = unchanged(&step.keeper, step.keeper_size, step.keeper_mtime_ns)
            .map_err(|e| format!("keeper: {e}"))
            .and_then(|()| unchanged(&step.path, step.size, step.mtime_ns));
        let (status, detail) = match result {
            Err(why) => (Status::Skipped, Some(why)),
            Ok(()) => match act(step) {
                Ok(()) => (Status::Done, None),
                Err(e) => (Status::Failed, Some(e)),
            },
        };
        match status {
            Status::Done => {
                outcome.done += 1;
                outcome.bytes += step.size;
            }
            Status::Skipped => outcome.skipped += 1,
            Status::Failed => outcome.failed += 1,
        }
        let entry = JournalEntry {
            action: step.action.to_string(),
            path: step.path.clone(),
            target: step.target.clone(),
            keeper: step.keeper.clone(),
            status,
            detail,
            time: now_s(),
        };
        let mut line = serde_json::to_vec(&entry).expect("journal entry serialises");
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(journal, e))?;
        entries.push(entry);
    }
    Ok((outcome, entries))
}

fn act(step: &Step) -> std::result::Result<(), String> {
    let path = &step.path;
    match step.action {
        "move" => {
            let target = step.target.as_ref().expect("a move has a target");
            move_file(path, target)
        }
        "hardlink" => {
            // Link beside the copy, then rename over it: the copy is never missing.
            let tmp = sibling(path, ".lookalike-link");
            std::fs::hard_link(&step.keeper, &tmp)
                .map_err(|e| format!("cannot link {}: {e}", step.keeper.display()))?;
            std::fs::rename(&tmp, path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot replace {}: {e}", path.display())
            })
        }
        "trash" => trash::delete(path).map_err(|e| format!("cannot move to the trash: {e}")),
        "delete" => std::fs::remove_file(path).map_err(|e| e.to_string()),
        other => Err(format!("unknown action {other}")),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Moves `from` to `to` (never over an existing file), across filesystems if need be.
fn move_file(from: &Path, to: &Path) -> std::result::Result<(), String> {
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(format!("{} already exists", to.display()));
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            std::fs::copy(from, to)
                .and_then(|_| std::fs::File::open(to)?.sync_all())
                .map_err(|e| format!("cannot copy to {}: {e}", to.display()))?;
            std::fs::remove_file(from).map_err(|e| format!("{}: {e}", from.display()))
        }
        Err(e) => Err(format!("cannot move to {}: {e}", to.display())),
    }
}

/// Reads a journal.
pub fn read_journal(journal: &Path) -> Result<Vec<JournalEntry>> {
    let file = std::fs::File::open(journal).map_err(|e| Error::io(journal, e))?;
    let mut entries = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(journal, e))?;
        if line.trim().is_empty() {
            continue;
        }
        entries.push(serde_json::from_str(&line).map_err(|e| {
            Error::InvalidArgument(format!(
                "{} is not a dedup journal (line {}: {e}); give a file that `lookalike dedup --yes` wrote (INDEX/journal/dedup-*.jsonl)",
                journal.display(),
                n + 1
            ))
        })?);
    }
    Ok(entries)
}

/// What [`undo`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UndoReport {
    /// Moves reversed and files restored from the trash.
    pub restored: usize,
    /// Steps that cannot be reversed (deletions; hard links, whose bytes were identical).
    pub irreversible: usize,
    /// Steps that could not be reversed now, with why.
    pub problems: Vec<String>,
}

/// Reverses the moves (and trashing) recorded in `journal`, last first.
pub fn undo(journal: &Path) -> Result<UndoReport> {
    let entries = read_journal(journal)?;
    let mut report = UndoReport::default();
    let trashed: Vec<&JournalEntry> = entries
        .iter()
        .filter(|e| e.status == Status::Done && e.action == "trash")
        .collect();
    for e in entries.iter().rev().filter(|e| e.status == Status::Done) {
        match e.action.as_str() {
            "move" => {
                let Some(target) = &e.target else {
                    report
                        .problems
                        .push(format!("{}: no target recorded", e.path.display()));
                    continue;
                };
                match move_file(target, &e.path) {
                    Ok(()) => report.restored += 1,
                    Err(why) => report.problems.push(why),
                }
            }
            "trash" => {}
            _ => report.irreversible += 1,
        }
    }
    if !trashed.is_empty() {
        restore_from_trash(&trashed, &mut report);
    }
    Ok(report)
}

#[cfg(all(
    unix,
    not(target_os = "macos"),
    not(target_os = "ios"),
    not(target_os = "android")
))]
fn restore_from_trash(trashed: &[&JournalEntry], report: &mut UndoReport) {
    let items = match trash::os_limited::list() {
        Ok(items) => items,
        Err(e) => {
            report.problems.push(format!("cannot read the trash: {e}"));
            return;
        }
    };
    let mut wanted = Vec::new();
    for e in trashed {
        // The most recently trashed item with that original path.
        let found = items
            .iter()
            .filter(|i| i.original_path() == e.path)
            .max_by_key(|i| i.time_deleted);
        match found {
            Some(item) if std::fs::symlink_metadata(&e.path).is_err() => wanted.push(item.clone()),
            Some(_) => report.problems.push(format!(
                "{} exists again: left in the trash",
                e.path.display()
            )),
            None => report
                .problems
                .push(format!("{} is no longer in the trash", e.path.display())),
        }
    }
    let n = wanted.len();
    match trash::os_limited::restore_all(wanted) {
        Ok(()) => report.restored += n,
        Err(e) => report
            .problems
            .push(format!("cannot restore from the trash: {e}")),
    }
}

#[cfg(not(all(
    unix,
    not(target_os = "macos"),
    not(target_os = "ios"),
    not(target_os = "android")
)))]
fn restore_from_trash(trashed: &[&JournalEntry], report: &mut UndoReport) {
    report.irreversible += trashed.len();
}

/// Paths as raw bytes in the journal (lossless for any Unix file name), as a string when
/// they are valid UTF-8.
mod path_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::path::{Path, PathBuf};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub fn to_repr(p: &Path) -> impl Serialize {
        match p.to_str() {
            Some(s) => Repr::Text(s.to_string()),
            None => Repr::Bytes(crate::index::store::path_bytes(p)),
        }
    }

    pub fn from_repr<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Text(s) => PathBuf::from(s),
            Repr::Bytes(b) => crate::index::store::path_from_bytes(&b),
        })
    }

    pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
        to_repr(p).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        from_repr(d)
    }
}

mod opt_path_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::path::PathBuf;

    pub fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        p.as_deref().map(super::path_bytes::to_repr).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::path_bytes")] PathBuf);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::Member;

    fn write(path: &Path, bytes: &[u8]) -> (u64, i64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        let meta = std::fs::metadata(path).unwrap();
        (meta.len(), crate::ingest::scan::mtime_ns(&meta))
    }

    fn member(path: &Path, tier: Tier, keeper: bool, reference: bool) -> Member {
        let meta = std::fs::metadata(path).unwrap();
        Member {
            path: path.to_path_buf(),
            similarity: if keeper { 1.0 } else { 0.97 },
            score: if keeper { 1.0 } else { 0.97 },
            tier,
            keeper,
            reference,
            width: 10,
            height: 10,
            size: meta.len(),
            mtime_ns: crate::ingest::scan::mtime_ns(&meta),
            agreement: None,
            verifier: None,
            format: crate::dedup::Family::of_path(path),
            shot: None,
            content: 0,
        }
    }

    #[test]
    fn moves_keep_relative_paths_are_journaled_and_undone() {
        let tmp = tempfile::tempdir().unwrap();
        let photos = tmp.path().join("photos");
        let keeper = photos.join("a/keeper.jpg");
        let copy = photos.join("b/copy.jpg");
        let other = photos.join("c/d/other.jpg");
        let reference = photos.join("ref/r.jpg");
        write(&keeper, b"keeper");
        write(&copy, b"copy");
        write(&other, b"other");
        write(&reference, b"reference");
        let group = Group {
            tier: Tier::Copy,
            members: vec![
                member(&keeper, Tier::Exact, true, false),
                member(&copy, Tier::NearExact, false, false),
                member(&other, Tier::Copy, false, false),
                member(&reference, Tier::Copy, false, true),
            ],
            kept_because: Default::default(),
        };
        let dest = tmp.path().join("dupes");
        let steps = plan(
            std::slice::from_ref(&group),
            &Action::MoveTo(dest.clone()),
            &[],
        )
        .steps;
        assert_eq!(
            steps.len(),
            2,
            "the keeper and the reference are never planned"
        );
        assert_eq!(
            steps[0].target.as_deref(),
            Some(dest.join("b/copy.jpg").as_path())
        );
        assert_eq!(
            steps[1].target.as_deref(),
            Some(dest.join("c/d/other.jpg").as_path())
        );

        let journal = tmp.path().join("journal.jsonl");
        let (outcome, _) = execute(&steps, &journal).unwrap();
        assert_eq!(outcome.done, 2);
        assert!(!copy.exists() && dest.join("b/copy.jpg").exists());
        assert!(keeper.exists() && reference.exists());
        assert_eq!(read_journal(&journal).unwrap().len(), 2);

        let report = undo(&journal).unwrap();
        assert_eq!(report.restored, 2, "{report:?}");
        assert_eq!(std::fs::read(&copy).unwrap(), b"copy");
        assert_eq!(std::fs::read(&other).unwrap(), b"other");
        assert!(!dest.join("b/copy.jpg").exists());
    }

    #[test]
    fn a_file_changed_since_indexing_is_never_touched() {
        let tmp = tempfile::tempdir().unwrap();
        let keeper = tmp.path().join("keeper.jpg");
        let copy = tmp.path().join("copy.jpg");
        write(&keeper, b"same");
        write(&copy, b"same");
        let group = Group {
            tier: Tier::Exact,
            members: vec![
                member(&keeper, Tier::Exact, true, false),
                member(&copy, Tier::Exact, false, false),
            ],
            kept_because: Default::default(),
        };
        let steps = plan(std::slice::from_ref(&group), &Action::Delete, &[]).steps;
        std::fs::write(&copy, b"edited since").unwrap();
        let journal = tmp.path().join("j.jsonl");
        let (outcome, entries) = execute(&steps, &journal).unwrap();
        assert_eq!((outcome.done, outcome.skipped), (0, 1));
        assert!(entries[0]
            .detail
            .as_ref()
            .unwrap()
            .contains("changed since"));
        assert!(copy.exists());

        // A keeper that vanished protects its copies too.
        let steps = plan(std::slice::from_ref(&group), &Action::Delete, &[]).steps;
        std::fs::write(&copy, b"same").unwrap();
        std::fs::remove_file(&keeper).unwrap();
        let (outcome, _) = execute(&steps, &journal).unwrap();
        assert_eq!(outcome.skipped, 1);
        assert!(copy.exists());
    }

    #[test]
    fn hardlinks_replace_exact_copies_only() {
        let tmp = tempfile::tempdir().unwrap();
        let keeper = tmp.path().join("keeper.jpg");
        let exact = tmp.path().join("exact.jpg");
        let near = tmp.path().join("near.jpg");
        write(&keeper, b"bytes");
        write(&exact, b"bytes");
        write(&near, b"other bytes");
        let group = Group {
            tier: Tier::NearExact,
            members: vec![
                member(&keeper, Tier::Exact, true, false),
                member(&exact, Tier::Exact, false, false),
                member(&near, Tier::NearExact, false, false),
            ],
            kept_because: Default::default(),
        };
        let Plan {
            steps, not_exact, ..
        } = plan(std::slice::from_ref(&group), &Action::Hardlink, &[]);
        assert_eq!((steps.len(), not_exact), (1, 1));
        let (outcome, _) = execute(&steps, &tmp.path().join("j.jsonl")).unwrap();
        assert_eq!(outcome.done, 1);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(&keeper).unwrap().ino(),
            std::fs::metadata(&exact).unwrap().ino()
        );
        assert_eq!(std::fs::read(&near).unwrap(), b"other bytes");
    }
}
