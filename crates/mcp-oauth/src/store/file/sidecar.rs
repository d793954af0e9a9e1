//! The lock beside each document, `<stem>.lock`: the document itself is
//! replaced by rename, which would drop a lock taken on it. The lock file
//! is never opened through a link (a planted link would make this program
//! create or lock a file anywhere it may write), and may be removed by a
//! logout while nobody holds it: whoever then locks the old file sees that
//! its name is gone, and locks the new one.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    folder::{
        create_private_dir, names_this_file, no_follow, remove_if_present, remove_if_unlocked,
        storage_error,
    },
    names::LOCK_EXTENSION,
};
use crate::{Error, Result, ServerUrl, StorageLock, store::account::check_account};

/// The lock of one server's credentials, of one account, across processes:
/// the `<stem>.lock` file beside the document in a cache folder, held with
/// an OS file lock. [`FileTokenStorage`](crate::FileTokenStorage) takes it
/// around every refresh and sign-in; a store that keeps the document
/// elsewhere (an OS keychain, which has no lock of its own) takes the very
/// same one, so that its processes refresh one at a time, and a file store
/// of the same folder waits on them too.
///
/// The file holds no secret. It is never opened through a link, and the
/// folder is made `0700` and refused when another user could write in it,
/// as the file store's is.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::LockFile;
/// use std::time::Duration;
///
/// let lock = LockFile::new("https://example.com/mcp", None, "/home/me/.cache/tokens")?;
/// let held = lock.lock(Duration::from_secs(30)).await?;
/// // ...read, refresh and save the credentials...
/// held.release().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LockFile {
    dir: PathBuf,
    path: PathBuf,
}

impl LockFile {
    /// The lock of `account`'s credentials (`None`: the default account)
    /// for `server_url`, in the folder `dir`: the file the file store of
    /// that folder locks for them. A name that
    /// [`check_account`](crate::check_account) refuses is
    /// [`Error::InvalidConfig`].
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let dir = std::env::temp_dir().join("mcp-oauth-example");
    /// let lock = mcp_oauth::LockFile::new("https://mcp.example.com/mcp", Some("work"), &dir)?;
    /// assert!(lock.path().starts_with(&dir));
    /// # Ok(()) }
    /// ```
    pub fn new(server_url: &str, account: Option<&str>, dir: impl Into<PathBuf>) -> Result<Self> {
        if let Some(account) = account {
            check_account(account)?;
        }
        Ok(Self::of(
            &ServerUrl::parse(server_url)?,
            account,
            dir.into(),
        ))
    }

    /// The lock of `server`'s credentials of `account` (checked already)
    /// in `dir`.
    pub(super) fn of(server: &ServerUrl, account: Option<&str>, dir: PathBuf) -> Self {
        let path = dir.join(format!(
            "{}.{LOCK_EXTENSION}",
            server.cache_file_stem_for(account)
        ));
        Self { dir, path }
    }

    /// The lock file's path.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let dir = std::env::temp_dir().join("mcp-oauth-example");
    /// let lock = mcp_oauth::LockFile::new("https://mcp.example.com/mcp", None, &dir)?;
    /// println!("the lock is {}", lock.path().display());
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Holds the lock until the returned guard is dropped, waiting at most
    /// `wait` for another process that holds it. The folder is created
    /// (`0700`) when it is missing.
    ///
    /// ```no_run
    /// # async fn run(lock: mcp_oauth::LockFile) -> mcp_oauth::Result<()> {
    /// let held = lock.lock(std::time::Duration::from_secs(30)).await?;
    /// held.release().await;
    /// # Ok(()) }
    /// ```
    pub async fn lock(&self, wait: Duration) -> Result<StorageLock> {
        create_private_dir(&self.dir)?;
        lock(&self.path, wait).await
    }

    /// Removes the lock file unless a process holds it (`false` then): once
    /// the credentials are forgotten, nothing of them stays in the folder.
    ///
    /// ```
    /// # fn run(lock: mcp_oauth::LockFile) -> mcp_oauth::Result<()> {
    /// if !lock.remove_unless_held()? {
    ///     println!("another process holds {}", lock.path().display());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn remove_unless_held(&self) -> Result<bool> {
        remove_unless_held(&self.path).map_err(|error| storage_error(&self.path, error))
    }
}

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
