//! Scanning: walking the folders to index and listing the regular files in them, with size and
//! modification time. Nothing is opened here; recognising images is the pipeline's job.

use crate::error::{Error, Result};
use crate::problem::SkipReason;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;
use walkdir::WalkDir;

/// How to walk.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Follow symbolic links (loops are detected and reported).
    pub follow_links: bool,
}

/// A regular file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    pub path: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// Everything one walk found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The roots, made absolute and canonical.
    pub roots: Vec<PathBuf>,
    /// Regular files, sorted by path, without duplicates.
    pub files: Vec<FoundFile>,
    /// Entries that could not be read (permissions, loops, ...).
    pub problems: Vec<(PathBuf, SkipReason)>,
}

/// Modification time in nanoseconds since the Unix epoch (negative before it).
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    match meta.modified() {
        Ok(t) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos().min(i64::MAX as u128) as i64,
            Err(e) => -(e.duration().as_nanos().min(i64::MAX as u128) as i64),
        },
        Err(_) => 0,
    }
}

/// Canonical absolute form of a root; a missing root is an error, not a per-file problem.
pub fn canonical_root(root: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(root).map_err(|e| Error::io(root, e))
}

/// Walks every root (a folder or a single file).
pub fn scan(roots: &[PathBuf], opts: ScanOptions) -> Result<Scan> {
    let mut scan = Scan::default();
    for root in roots {
        let root = canonical_root(root)?;
        for entry in WalkDir::new(&root)
            .follow_links(opts.follow_links)
            .sort_by_file_name()
        {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone());
                    let reason = match (e.loop_ancestor(), e.io_error()) {
                        (Some(a), _) => format!("symbolic link loop back to {}", a.display()),
                        (None, Some(io)) => io.to_string(),
                        (None, None) => e.to_string(),
                    };
                    scan.problems.push((path, SkipReason::Walk(reason)));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            match entry.metadata() {
                Ok(meta) => scan.files.push(FoundFile {
                    path: entry.into_path(),
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                }),
                Err(e) => scan
                    .problems
                    .push((entry.into_path(), SkipReason::Walk(e.to_string()))),
            }
        }
        scan.roots.push(root);
    }
    scan.files.sort_by(|a, b| a.path.cmp(&b.path));
    scan.files.dedup_by(|a, b| a.path == b.path);
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_regular_files_recursively_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/2.jpg"), b"xx").unwrap();
        std::fs::write(dir.path().join("1.png"), b"x").unwrap();
        let s = scan(&[dir.path().to_path_buf()], ScanOptions::default()).unwrap();
        let names: Vec<_> = s
            .files
            .iter()
            .map(|f| f.path.strip_prefix(&s.roots[0]).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            vec![PathBuf::from("1.png"), PathBuf::from("a/b/2.jpg")]
        );
        assert_eq!(s.files[1].size, 2);
        assert!(s.files[0].mtime_ns > 0);
    }

    #[test]
    fn missing_root_is_an_error() {
        let err = scan(
            &[PathBuf::from("/no/such/folder/anywhere")],
            ScanOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("/no/such/folder/anywhere"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed_unless_asked_and_loops_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/x.png"), b"x").unwrap();
        std::os::unix::fs::symlink(&root, root.join("sub/loop")).unwrap();
        let s = scan(
            std::slice::from_ref(&root),
            ScanOptions {
                follow_links: false,
            },
        )
        .unwrap();
        assert_eq!(s.files.len(), 1);
        assert!(s.problems.is_empty());
        let s = scan(&[root], ScanOptions { follow_links: true }).unwrap();
        assert_eq!(s.files.len(), 1);
        assert!(
            s.problems
                .iter()
                .any(|(_, r)| matches!(r, SkipReason::Walk(m) if m.contains("loop"))),
            "{:?}",
            s.problems
        );
    }
}
