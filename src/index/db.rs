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

pub(super) fn open_db(path: &Path) -> Result<sled::Db> {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_BYTES)
        .open()
        .map_err(|source| Error::Storage {
            path: path.to_path_buf(),
            source,
        })
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
