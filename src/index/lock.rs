//! One process at a time per index: an advisory lock on `INDEX/lock`, taken before the
//! database is opened, by writers (`index`, `compact`) and readers (`query`, `dedup`, `info`)
//! alike (sled itself lets only one process open its files). The file names its holder (pid,
//! command line, start time) so a refused process can say who has the index. The kernel
//! releases the lock when the holder exits, however it exits, so a lock is never stale.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Name of the lock file inside the index folder.
pub const LOCK_FILE: &str = "lock";

/// What to do when another process holds the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// Fail at once with [`Error::Busy`].
    #[default]
    No,
    /// Retry until the lock is free or this much time has passed.
    For(Duration),
    /// Retry until the lock is free.
    Forever,
}

pub use crate::error::Holder;

impl Holder {
    fn this_process() -> Holder {
        Holder {
            pid: std::process::id(),
            command: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            started: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// Held for as long as it lives; dropping it releases the index.
#[derive(Debug)]
pub struct IndexLock {
    _file: File,
}

impl IndexLock {
    /// Takes the lock of the index in `dir` (which must exist), waiting as `wait` says.
    pub fn acquire(dir: &Path, wait: Wait) -> Result<IndexLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let out_of_time = match wait {
                        Wait::No => true,
                        Wait::For(limit) => start.elapsed() >= limit,
                        Wait::Forever => false,
                    };
                    if out_of_time {
                        return Err(Error::Busy {
                            path: dir.to_path_buf(),
                            holder: read_holder(&mut file),
                            waited: start.elapsed(),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
        let holder = serde_json::to_vec(&Holder::this_process()).expect("plain struct");
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&holder))
            .map_err(|e| Error::io(&path, e))?;
        Ok(IndexLock { _file: file })
    }
}

/// The holder recorded in a lock file (`None` while it is being written, or if unreadable).
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// The holder of the index in `dir`, if it is held (for tests and diagnostics).
pub fn holder_of(dir: &Path) -> Option<Holder> {
    let path: PathBuf = dir.join(LOCK_FILE);
    let mut file = File::open(path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(_) => read_holder(&mut file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_granted_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = IndexLock::acquire(dir.path(), Wait::No).unwrap();
        let holder = holder_of(dir.path()).expect("held");
        assert_eq!(holder.pid, std::process::id());
        match IndexLock::acquire(dir.path(), Wait::No) {
            Err(Error::Busy { holder: h, .. }) => assert_eq!(h, Some(holder)),
            other => panic!("expected Busy, got {other:?}"),
        }
        match IndexLock::acquire(dir.path(), Wait::For(Duration::from_millis(100))) {
            Err(Error::Busy { waited, .. }) => assert!(waited >= Duration::from_millis(100)),
            other => panic!("expected Busy after waiting, got {other:?}"),
        }
        drop(first);
        assert_eq!(holder_of(dir.path()), None);
        IndexLock::acquire(dir.path(), Wait::No).unwrap();
    }

    #[test]
    fn a_waiting_lock_is_granted_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = IndexLock::acquire(dir.path(), Wait::No).unwrap();
        let path = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || IndexLock::acquire(&path, Wait::Forever));
        std::thread::sleep(Duration::from_millis(150));
        drop(first);
        waiter.join().unwrap().expect("granted after release");
    }
}
