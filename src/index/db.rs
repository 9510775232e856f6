//! The database's folders: opening sled in them, making renames durable, and the compact
//! rewrite that swaps a fresh copy of the database in, with the recovery that finishes or
//! undoes a swap a crash interrupted. A rewrite is never half-visible.

use crate::error::{Error, Result};
use std::path::Path;

/// Name of the sled database inside the index folder.
pub const DB_DIR: &str = "db";
/// Where [`rewrite`] builds the compact copy, and where the old database waits while
/// the copy is renamed into place.
pub(super) const REWRITE_DIR: &str = "db.rewrite";
pub(super) const OLD_DIR: &str = "db.old";
/// sled's page cache (its default is 1 GiB, which a scan of every record at a million images
/// fills; the records are read in order or one at a time, and the OS caches the files).
const CACHE_BYTES: u64 = 64 << 20;

/// How long an open waits for sled's own file lock. The index's lock ([`super::lock`])
/// keeps other processes out; what can still hold sled's lock is this process's database
/// closed a moment ago, whose flusher thread lets go of the file after the last handle.
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) fn open_db(path: &Path) -> Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            Err(e) if lock_held(&e) && started.elapsed() < SLED_LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => {
                return result.map_err(|source| Error::Storage {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Whether sled refused to open because its file lock is held.
fn lock_held(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

fn remove_dir_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Makes renames and new files in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Finishes or undoes an interrupted [`rewrite`]. The copy is complete (flushed)
/// before the old database is renamed away, so: no `db` but a copy → the copy goes in; no
/// `db` and no copy → the old one comes back; `db` present → leftovers are removed.
pub(super) fn recover_rewrite(index_dir: &Path) -> Result<()> {
    let (db, new, old) = (
        index_dir.join(DB_DIR),
        index_dir.join(REWRITE_DIR),
        index_dir.join(OLD_DIR),
    );
    if !db.exists() && old.exists() {
        let from = if new.exists() { &new } else { &old };
        std::fs::rename(from, &db).map_err(|e| Error::io(from, e))?;
        sync_dir(index_dir)?;
    }
    remove_dir_if_present(&new)?;
    remove_dir_if_present(&old)
}

fn storage(path: &Path, source: sled::Error) -> Error {
    Error::Storage {
        path: path.to_path_buf(),
        source,
    }
}

/// Rewrites the open database `db` at `path` compactly and swaps the copy in (see
/// `Store::rewrite`); `db` then serves the database in place. Returns the sizes on disk
/// before and after.
pub(super) fn rewrite(db: &mut sled::Db, path: &Path) -> Result<(u64, u64)> {
    let dir = path
        .parent()
        .expect("the database is inside the index folder");
    let (new_path, old_path) = (dir.join(REWRITE_DIR), dir.join(OLD_DIR));
    remove_dir_if_present(&new_path)?;
    let before = db.size_on_disk().map_err(|e| storage(path, e))?;
    db.flush().map_err(|e| storage(path, e))?;
    let after = {
        let new = open_db(&new_path)?;
        // sled's import panics on a storage error instead of returning it.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| new.import(db.export())))
            .map_err(|_| Error::Corrupt {
                path: new_path.clone(),
                detail: "copying the database failed".into(),
            })?;
        let storage = |source| Error::Storage {
            path: new_path.clone(),
            source,
        };
        new.flush().map_err(storage)?;
        new.size_on_disk().map_err(storage)?
    };
    // Close the old database (a temporary one stands in), then swap the folders: a crash
    // between the two renames is finished by the next open (`recover_rewrite`).
    *db = sled::Config::new()
        .temporary(true)
        .open()
        .map_err(|e| storage(path, e))?;
    let swapped = std::fs::rename(path, &old_path)
        .map_err(|e| Error::io(path, e))
        .and_then(|()| std::fs::rename(&new_path, path).map_err(|e| Error::io(&new_path, e)))
        .and_then(|()| sync_dir(dir));
    // Whatever happened, the folders end as the next open would leave them, and this
    // store serves the database that is then in place.
    let recovered = recover_rewrite(dir);
    *db = open_db(path)?;
    swapped.and(recovered)?;
    Ok((before, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_waits_for_a_handle_that_lets_go_a_moment_later() {
        // Regression: a reopen right after an interrupted `index` run in the same process
        // failed at random with sled's "could not acquire lock" while a thread of the
        // finished run still held a handle (index::upgrade's interrupted-move test).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_DIR);
        let db = open_db(&path).unwrap();
        db.insert(b"key", b"value").unwrap();
        let (held, released) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            held.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(db);
        });
        released.recv().unwrap();
        let started = std::time::Instant::now();
        let reopened = open_db(&path).expect("opens once the other handle lets go");
        assert!(started.elapsed() >= std::time::Duration::from_millis(100));
        assert_eq!(
            reopened.get(b"key").unwrap().as_deref(),
            Some(&b"value"[..])
        );
        holder.join().unwrap();
    }
}
