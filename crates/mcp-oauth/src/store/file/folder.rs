//! The cache folder and the file-system calls every part of the store
//! shares: the folder made private, and refused when other users could
//! change what is in it; files opened without following links; the file
//! system's errors as storage errors.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io,
    path::Path,
};

use crate::{Cause, Error, Result};

/// Creates `dir` (`0700`) if it is missing, and checks it as
/// [`check_folder`] does.
pub(super) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|error| storage_error(dir, error))?;
    check_folder(dir)
}

/// [`check_folder`] when `dir` exists; `false` when it does not (there is
/// then nothing stored).
pub(super) fn check_existing_folder(dir: &Path) -> Result<bool> {
    match std::fs::metadata(dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        _ => check_folder(dir).map(|()| true),
    }
}

/// Refuses a folder that is not one, or that another user could change: a
/// user who may write in it could plant a document (with their own
/// authorization server), swap a file, or link a lock file elsewhere.
pub(super) fn check_folder(dir: &Path) -> Result<()> {
    let metadata = std::fs::metadata(dir).map_err(|error| storage_error(dir, error))?;
    if !metadata.is_dir() {
        return Err(storage_error(dir, io::ErrorKind::NotADirectory.into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let owner = metadata.uid();
        if owner != rustix::process::geteuid().as_raw() {
            return Err(Error::Storage {
                path: dir.display().to_string(),
                reason: format!(
                    "the folder belongs to another user (uid {owner}), who could read or replace \
                     the credentials in it; use a folder of your own"
                ),
                source: None,
            });
        }
        let mode = metadata.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(Error::Storage {
                path: dir.display().to_string(),
                reason: format!(
                    "other users may write in the folder (mode {mode:o}), so they could plant or \
                     swap the files in it; run `chmod 700 {}`",
                    dir.display()
                ),
                source: None,
            });
        }
    }
    Ok(())
}

/// Refuses a document open to other users: its secrets may have been read.
#[cfg(unix)]
pub(super) fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|error| storage_error(path, error))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::Storage {
            path: path.display().to_string(),
            reason: format!(
                "the file is open to other users (mode {:o}); run `chmod 600 {}` if that was not intended",
                mode & 0o777,
                path.display()
            ),
            source: None,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

/// Opens of `options` fail on a symbolic link instead of following it.
pub(super) fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The flag's bits fit an `i32` on every Unix.
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    options
}

/// Whether `path` still names `file`: a file locked after a wait may have
/// been removed (by a logout, a sweep) and another made under its name.
pub(super) fn names_this_file(path: &Path, file: &File) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let held = file.metadata()?;
        match std::fs::symlink_metadata(path) {
            Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(error),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(path.exists())
    }
}

/// Removes `path` while holding its lock, if nobody else holds it (never
/// through a link); `false` when somebody does. Elsewhere than Unix the
/// name cannot be checked after locking (a waiter could hold the removed
/// file while another locks a new one), so the file is only tested there.
pub(super) fn remove_if_unlocked(path: &Path) -> io::Result<bool> {
    let file = match no_follow(OpenOptions::new().read(true)).open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(error) => return Err(error),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(false),
        Err(TryLockError::Error(error)) => return Err(error),
    }
    if cfg!(unix) && names_this_file(path, &file)? {
        remove_if_present(path)?;
    }
    Ok(true)
}

/// Removes `path`; one already gone is fine.
pub(super) fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

pub(super) fn storage_error(path: &Path, error: io::Error) -> Error {
    Error::Storage {
        path: path.display().to_string(),
        reason: error.to_string(),
        source: Some(Cause::new(error)),
    }
}
