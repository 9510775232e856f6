//! The contents `dedup` groups: each distinct content of the index (one vector) with the
//! files that hold it, read from the store, files gone from disk left out, and each
//! content's files in keeper order (references first, then as the policy prefers).

use super::{DedupOptions, FileRule, Keep};
use crate::error::Result;
use crate::index::store::{FileRecord, Hash};
use crate::index::Index;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub(super) struct Content {
    pub(super) id: u64,
    pub(super) hash: Hash,
    pub(super) width: u32,
    pub(super) height: u32,
    /// Paths with their records and whether each is a reference, keeper candidate first.
    pub(super) files: Vec<(PathBuf, FileRecord, bool)>,
    /// Which rule chose the first file among several ([`keeper_first`]).
    pub(super) kept_because: Option<FileRule>,
}

impl Content {
    pub(super) fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
    pub(super) fn oldest(&self) -> i64 {
        self.files.iter().map(|f| f.1.mtime_ns).min().unwrap_or(0)
    }
    pub(super) fn newest(&self) -> i64 {
        self.files.iter().map(|f| f.1.mtime_ns).max().unwrap_or(0)
    }
    pub(super) fn size(&self) -> u64 {
        self.files.first().map_or(0, |f| f.1.size)
    }
    pub(super) fn reference(&self) -> bool {
        self.files.iter().any(|f| f.2)
    }
    pub(super) fn first_path(&self) -> &Path {
        &self.files[0].0
    }
}

pub(super) fn path_len(p: &Path) -> usize {
    p.as_os_str().len()
}

/// Modification times closer than this count as the same time when the keeper of exact
/// copies is chosen: a checkout, an unpacked archive or a copy made with its times kept
/// writes files microseconds apart, and FAT keeps times to 2 s only.
const SAME_TIME_NS: i64 = 2_000_000_000;

/// Whether a file's name says it is a copy of another of `names` (the stems of the files
/// of its content, its own among them or not): it holds "copy", "backup" or "kopie", ends with a number in
/// brackets ("photo (1)"), or is another file's name plus a short suffix ("IMG_0001-1",
/// "IMG_0001_2", "IMG_0001 3", "IMG_0001 - Copy").
fn name_says_copy(path: &Path, names: &[String]) -> bool {
    let stem = stem_of(path);
    if ["copy", "backup", "kopie", "copie", ".bak"]
        .iter()
        .any(|w| stem.contains(w))
    {
        return true;
    }
    let ends_in_bracketed_number = stem
        .strip_suffix(')')
        .and_then(|s| s.rsplit_once('('))
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if ends_in_bracketed_number {
        return true;
    }
    names.iter().any(|other| {
        stem.len() > other.len()
            && stem.starts_with(other.as_str())
            && stem[other.len()..]
                .strip_prefix(['-', '_', ' '])
                .is_some_and(|n| {
                    (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
                })
    })
}

/// A file's name without its extension, in lower case.
fn stem_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// Puts the keeper of files with the same bytes first and returns the rule that chose it
/// (`None` for a single file): a file under a reference folder; then the oldest (with
/// `--keep newest`, the newest) modification time, times within [`SAME_TIME_NS`] alike;
/// then a name that does not say it is a copy ([`name_says_copy`]); then the shallowest
/// path, then the shortest, then the first by byte order. With `--keep shortest-path` the
/// shortest path (fewest bytes) comes before the time. The other files follow in that
/// order too.
fn keeper_first(keep: Keep, files: &mut [(PathBuf, FileRecord, bool)]) -> Option<FileRule> {
    if files.len() < 2 {
        return None;
    }
    let depth = |p: &Path| p.components().count();
    // A stable order first (references, then by path); the rules then narrow the candidates.
    files.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then(depth(&a.0).cmp(&depth(&b.0)))
            .then(path_len(&a.0).cmp(&path_len(&b.0)))
            .then(a.0.cmp(&b.0))
    });
    let stems: Vec<String> = files.iter().map(|f| stem_of(&f.0)).collect();
    // A name never extends itself, so every stem can be passed as "the others".
    let says_copy: Vec<bool> = files.iter().map(|f| name_says_copy(&f.0, &stems)).collect();
    let time = |i: usize| files[i].1.mtime_ns;
    let keeps = |rule: FileRule, c: &[usize], i: usize| -> bool {
        match rule {
            FileRule::Reference => files[i].2,
            FileRule::Oldest => {
                time(i) <= c.iter().map(|&j| time(j)).min().unwrap_or(0) + SAME_TIME_NS
            }
            FileRule::Newest => {
                time(i) >= c.iter().map(|&j| time(j)).max().unwrap_or(0) - SAME_TIME_NS
            }
            FileRule::Name => !says_copy[i],
            FileRule::ShallowestPath => {
                Some(depth(&files[i].0)) == c.iter().map(|&j| depth(&files[j].0)).min()
            }
            FileRule::ShortestPath => {
                Some(path_len(&files[i].0)) == c.iter().map(|&j| path_len(&files[j].0)).min()
            }
            FileRule::PathOrder => true,
        }
    };
    use FileRule::*;
    let rules: &[FileRule] = match keep {
        Keep::ShortestPath => &[Reference, ShortestPath, Oldest, Name],
        Keep::Newest => &[Reference, Newest, Name, ShallowestPath],
        Keep::Best | Keep::Largest | Keep::Oldest => &[Reference, Oldest, Name, ShallowestPath],
    };
    let mut candidates: Vec<usize> = (0..files.len()).collect();
    let mut decided = FileRule::PathOrder;
    for &rule in rules {
        let kept: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| keeps(rule, &candidates, i))
            .collect();
        if !kept.is_empty() {
            candidates = kept;
        }
        if candidates.len() == 1 {
            decided = rule;
            break;
        }
    }
    // Left with several: the first of them by path (the stable order above).
    let keeper = candidates[0];
    files[..=keeper].rotate_right(1);
    Some(decided)
}

/// Every content of `index` that a file on disk still holds, with its files in keeper order.
pub(super) fn load(index: &Index, opts: &DedupOptions) -> Result<Vec<Content>> {
    let files = index.store().files().collect::<Result<Vec<_>>>()?;
    let contents = index
        .store()
        .contents()
        .map(|item| item.map(|(hash, rec)| (hash, rec.id, rec.width, rec.height)))
        .collect::<Result<Vec<_>>>()?;
    Ok(from_records(files, contents, opts))
}

/// The contents `(hash, id, width, height)` that a file of `files` still holds on disk, in
/// the order given, each with its files in keeper order.
pub(super) fn from_records(
    files: Vec<(PathBuf, FileRecord)>,
    contents: Vec<(Hash, u64, u32, u32)>,
    opts: &DedupOptions,
) -> Vec<Content> {
    let is_reference = |p: &Path| opts.references.iter().any(|r| p.starts_with(r));
    // Files grouped by content.
    let mut by_hash: HashMap<Hash, Vec<(PathBuf, FileRecord, bool)>> = HashMap::new();
    for (path, rec) in files {
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let reference = is_reference(&path);
        by_hash
            .entry(rec.hash)
            .or_default()
            .push((path, rec, reference));
    }
    let mut out: Vec<Content> = Vec::with_capacity(by_hash.len());
    for (hash, id, width, height) in contents {
        let Some(mut files) = by_hash.remove(&hash) else {
            continue;
        };
        let kept_because = keeper_first(opts.keep, &mut files);
        out.push(Content {
            id,
            hash,
            width,
            height,
            files,
            kept_because,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    /// Files of one content: (path, mtime in seconds, under a reference folder).
    fn files(spec: &[(&str, i64, bool)]) -> Vec<(PathBuf, FileRecord, bool)> {
        spec.iter()
            .map(|&(p, t, r)| {
                let rec = FileRecord {
                    size: 10,
                    mtime_ns: t * SECOND,
                    hash: [0; 32],
                };
                (PathBuf::from(p), rec, r)
            })
            .collect()
    }

    fn keeper(keep: Keep, spec: &[(&str, i64, bool)]) -> (String, FileRule) {
        let mut f = files(spec);
        let rule = keeper_first(keep, &mut f).unwrap();
        assert_eq!(f.len(), spec.len());
        (f[0].0.to_string_lossy().into_owned(), rule)
    }

    #[test]
    fn a_name_says_copy_by_its_words_a_bracketed_number_or_a_short_suffix_to_another_name() {
        let says = |p: &str, others: &[&str]| {
            let others: Vec<String> = others.iter().map(|s| s.to_string()).collect();
            name_says_copy(Path::new(p), &others)
        };
        assert!(says("a/rocket-backup.jpg", &[]));
        assert!(says("a/IMG_0001 - Copy.JPG", &[]));
        assert!(says("a/photo (1).jpg", &[]));
        assert!(says("a/IMG_0001-1.jpg", &["img_0001"]));
        assert!(says("a/IMG_0001_2.jpg", &["img_0001"]));
        assert!(!says("a/IMG_0001.jpg", &["img_0001-1"]));
        // A number is a copy mark only after another file's name: a sequence is not.
        assert!(!says("a/IMG_0001.jpg", &[]));
        assert!(!says("a/holiday-2.jpg", &["beach"]));
        assert!(!says("a/photo (x).jpg", &[]));
    }

    #[test]
    fn the_keeper_of_exact_copies_is_chosen_as_a_person_would_and_the_rule_is_named() {
        // The README's demo: one checkout writes both files microseconds apart, so the
        // times are alike and the name decides.
        assert_eq!(
            keeper(
                Keep::Best,
                &[
                    ("samples/copies/rocket-backup.jpg", 100, false),
                    ("samples/photos/rocket.jpg", 101, false),
                ]
            ),
            ("samples/photos/rocket.jpg".into(), FileRule::Name)
        );
        // A reference folder first, whatever else.
        assert_eq!(
            keeper(
                Keep::Best,
                &[
                    ("a/rocket.jpg", 100, false),
                    ("ref/deep/x/rocket (1).jpg", 500, true)
                ]
            ),
            ("ref/deep/x/rocket (1).jpg".into(), FileRule::Reference)
        );
        // The clearly older file, even with a copy's name.
        assert_eq!(
            keeper(
                Keep::Best,
                &[
                    ("a/rocket.jpg", 500, false),
                    ("b/rocket-backup.jpg", 100, false)
                ]
            ),
            ("b/rocket-backup.jpg".into(), FileRule::Oldest)
        );
        // `--keep newest` turns the time rule around.
        assert_eq!(
            keeper(
                Keep::Newest,
                &[("a/rocket.jpg", 100, false), ("b/rocket.jpg", 500, false)]
            ),
            ("b/rocket.jpg".into(), FileRule::Newest)
        );
        // Times and names alike: the shallowest path, then the path order.
        assert_eq!(
            keeper(
                Keep::Best,
                &[
                    ("a/b/c/rocket.jpg", 100, false),
                    ("z/rocket.jpg", 100, false)
                ]
            ),
            ("z/rocket.jpg".into(), FileRule::ShallowestPath)
        );
        assert_eq!(
            keeper(
                Keep::Best,
                &[("b/rocket.jpg", 100, false), ("a/rocket.jpg", 100, false)]
            ),
            ("a/rocket.jpg".into(), FileRule::PathOrder)
        );
        // `--keep shortest-path` puts the path (its length) before the time.
        assert_eq!(
            keeper(
                Keep::ShortestPath,
                &[("a/b/old.jpg", 100, false), ("a/new-photo.jpg", 900, false)]
            ),
            ("a/b/old.jpg".into(), FileRule::ShortestPath)
        );
        // One file: no choice, no rule.
        assert_eq!(
            keeper_first(Keep::Best, &mut files(&[("a.jpg", 1, false)])),
            None
        );
    }

    #[test]
    fn the_other_files_follow_the_keeper_in_a_stable_order() {
        let mut f = files(&[
            ("c/x copy.jpg", 100, false),
            ("b/x.jpg", 100, false),
            ("a/x (2).jpg", 100, false),
        ]);
        assert_eq!(keeper_first(Keep::Best, &mut f), Some(FileRule::Name));
        let names: Vec<String> = f.iter().map(|f| f.0.to_string_lossy().into()).collect();
        assert_eq!(names, ["b/x.jpg", "a/x (2).jpg", "c/x copy.jpg"]);
    }
}
