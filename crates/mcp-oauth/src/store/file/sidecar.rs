//! The lock beside each document, `<stem>.lock`: the document itself is
//! replaced by rename, which would drop a lock taken on it. The lock file
//! is never opened through a link (a planted link would make this program
//! create or lock a file anywhere it may write), and may be removed by a
//! logout while nobody holds it: whoever then locks the old file sees that
//! its name is gone, and locks the new one.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io,
    path::Path,
    time::Duration,
};

use super::folder::{
    names_this_file, no_follow, remove_if_present, remove_if_unlocked, storage_error,
};
use crate::{Error, Result, StorageLock};

/// How often a held lock is tried again.
const RETRY: Duration = Duration::from_millis(25);

/// Holds the lock at `path` until the returned guard is dropped, waiting at
/// most `wait` for another process that holds it.
pub(super) async fn lock(path: &Path, wait: Duration) -> Result<StorageLock> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let file = open(path)?;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RETRY).await;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Storage {
                        path: path.display().to_string(),
                        reason: format!(
                            "another mcp-oauth process has held these credentials for over {} s; \
                             try again when it is done",
                            wait.as_secs()
                        ),
                        source: None,
                    });
                }
                Err(TryLockError::Error(error)) => return Err(storage_error(path, error)),
            }
        }
        if names_this_file(path, &file).map_err(|error| storage_error(path, error))? {
            return Ok(StorageLock::holding(file));
        }
        // Removed while we waited on it: lock the file the name has now.
    }
}

/// Removes the lock file at `path` unless a process holds it; `false` when
/// one does. A link in its place is removed (it was never ours to follow).
pub(super) fn remove_unless_held(path: &Path) -> io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            return remove_if_present(path).map(|()| true);
        }
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(error) => return Err(error),
    }
    remove_if_unlocked(path)
}

/// Opens (or creates, `0600`) the lock file, never through a link.
fn open(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = no_follow(&mut options).open(path).map_err(|error| {
        let link =
            std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink());
        if link {
            Error::Storage {
                path: path.display().to_string(),
                reason: format!(
                    "the lock file is a symbolic link, and a lock is never taken through one; \
                     remove it (`rm {}`) and try again",
                    path.display()
                ),
                source: None,
            }
        } else {
            storage_error(path, error)
        }
    })?;
    let is_file = file
        .metadata()
        .map_err(|error| storage_error(path, error))?
        .is_file();
    if !is_file {
        return Err(Error::Storage {
            path: path.display().to_string(),
            reason: "the lock file is not a file; remove it and try again".into(),
            source: None,
        });
    }
    Ok(file)
}
