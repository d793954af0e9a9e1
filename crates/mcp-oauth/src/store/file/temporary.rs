//! Temporary documents, and what a killed writer leaves of them.
//!
//! Each is created `0600` with `O_CREAT|O_EXCL` (never through a link) next
//! to the document it will replace, and locked for as long as its writer
//! lives: the lock ends with the process however it ends, so a sweep tells
//! a killed writer's file from a live one without guessing from its age or
//! a process id. Once written and flushed it is renamed into place; dropped
//! before that, it is removed.

use std::{
    fs::{File, TryLockError},
    io::{self, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use tempfile::NamedTempFile;

use super::{
    folder::{names_this_file, remove_if_present, remove_if_unlocked, storage_error},
    names::{Kind, StoreFile, TEMPORARY_SUFFIX, store_files, temporary_prefix},
};
use crate::{Error, Result};

/// Letters in the random part of a temporary file's name.
const RANDOM_LEN: usize = 10;
/// Names tried before giving up, when sweeps keep taking the new file.
const CREATE_ATTEMPTS: usize = 8;
/// Earlier versions never locked their temporary files; each lived for one
/// write. One older than this was left by a writer that is gone.
const LEGACY_ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// A temporary document, locked by this process until it is renamed into
/// place or dropped (and then removed).
#[derive(Debug)]
pub(super) struct TemporaryDocument {
    file: NamedTempFile,
    dir: PathBuf,
}

impl TemporaryDocument {
    /// A new temporary document for the server of `stem`, in `dir`.
    pub(super) fn create(dir: &Path, stem: &str) -> Result<Self> {
        for _ in 0..CREATE_ATTEMPTS {
            let file = tempfile::Builder::new()
                .prefix(&temporary_prefix(stem))
                .suffix(TEMPORARY_SUFFIX)
                .rand_bytes(RANDOM_LEN)
                .tempfile_in(dir)
                .map_err(|error| storage_error(dir, error))?;
            match file.as_file().try_lock() {
                Ok(()) => {}
                // A sweep took it for abandoned (it came between the
                // creation and the lock) and is removing it.
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(error)) => return Err(storage_error(file.path(), error)),
            }
            // Or a sweep already removed it: only a file still named counts.
            if names_this_file(file.path(), file.as_file())
                .map_err(|error| storage_error(file.path(), error))?
            {
                return Ok(Self {
                    file,
                    dir: dir.to_owned(),
                });
            }
        }
        Err(Error::Storage {
            path: dir.display().to_string(),
            reason: "temporary files keep disappearing from the folder as they are made".into(),
            source: None,
        })
    }

    /// The folder it is in.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes `len` bytes of the disk for the document, so that writing it
    /// later cannot fail for want of space (or of the file size limit).
    pub(super) fn reserve(&self, len: u64) -> io::Result<()> {
        let file = self.file.as_file();
        #[cfg(unix)]
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => return Ok(()),
            // A file system that cannot allocate ahead: a placeholder of
            // that size takes the space instead.
            Err(errno)
                if errno == rustix::io::Errno::OPNOTSUPP || errno == rustix::io::Errno::NOSYS => {}
            Err(errno) => return Err(errno.into()),
        }
        write_placeholder(file, len)
    }

    /// Writes `json` over whatever the file holds, flushes it, and renames
    /// it to `target`: the old document or the new one, never a torn one.
    pub(super) fn write_into_place(mut self, json: &[u8], target: &Path) -> Result<()> {
        let file = self.file.as_file_mut();
        let written = (|| {
            file.seek(SeekFrom::Start(0))?;
            file.write_all(json)?;
            // The room taken beyond the document goes back.
            file.set_len(json.len() as u64)?;
            file.sync_all()
        })();
        written.map_err(|error| storage_error(target, error))?;
        self.file
            .persist(target)
            .map_err(|error| storage_error(target, error.error))?;
        // The rename itself must reach the disk before the token is used.
        if let Ok(folder) = File::open(&self.dir) {
            let _ = folder.sync_all();
        }
        Ok(())
    }
}

fn write_placeholder(mut file: &File, len: u64) -> io::Result<()> {
    let zeros = [0u8; 8192];
    let mut left = len;
    while left > 0 {
        let chunk = zeros.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        file.write_all(&zeros[..chunk])?;
        left -= chunk as u64;
    }
    Ok(())
}

/// What became of a temporary file a sweep looked at.
#[derive(Debug)]
pub(super) enum Swept {
    /// Removed (or already gone).
    Removed,
    /// Its writer is alive: it will be renamed into place or removed.
    InUse,
    /// Named like one, but not a file: not the store's.
    NotOurs,
    Failed(io::Error),
}

/// Removes the temporary file `file` unless a live writer holds it.
pub(super) fn remove_if_abandoned(file: &StoreFile) -> Swept {
    let path = file.path.as_path();
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Swept::Removed,
        Err(error) => return Swept::Failed(error),
    };
    if !metadata.is_file() {
        return Swept::NotOurs;
    }
    let outcome = match file.kind {
        Kind::LegacyTemporary => {
            // A clock set back shows a file from the future: in use, for now.
            let age = metadata
                .modified()
                .ok()
                .map(|modified| SystemTime::now().duration_since(modified));
            match age {
                Some(Err(_)) => return Swept::InUse,
                Some(Ok(age)) if age < LEGACY_ABANDONED_AFTER => return Swept::InUse,
                _ => remove_if_present(path).map(|()| true),
            }
        }
        _ => remove_if_unlocked(path),
    };
    match outcome {
        Ok(true) => Swept::Removed,
        Ok(false) => Swept::InUse,
        Err(error) => Swept::Failed(error),
    }
}

/// Removes every abandoned temporary file in `dir`, of every server: none
/// will ever be renamed into place, and each may hold live tokens. A chore
/// on the way to something else: what it cannot do is only logged.
pub(super) fn sweep_abandoned(dir: &Path) {
    let files = match store_files(dir) {
        Ok(files) => files,
        Err(error) => {
            tracing::debug!(dir = %dir.display(), %error, "could not look for abandoned temporary files");
            return;
        }
    };
    for file in files
        .iter()
        .filter(|file| matches!(file.kind, Kind::Temporary | Kind::LegacyTemporary))
    {
        match remove_if_abandoned(file) {
            Swept::Removed => {
                tracing::debug!(path = %file.path.display(), "removed an abandoned temporary file");
            }
            Swept::Failed(error) => {
                tracing::debug!(path = %file.path.display(), %error, "could not remove an abandoned temporary file");
            }
            Swept::InUse | Swept::NotOurs => {}
        }
    }
}
