//! One JSON document per server in a private folder, written atomically.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use futures::future::BoxFuture;

use super::{SCHEMA_VERSION, StorageLock, StoredCredentials, TokenStorage};
use crate::{Cause, Error, Result, ServerUrl};

/// The environment variable that moves the default cache folder.
pub(crate) const CACHE_DIR_ENV: &str = "MCP_OAUTH_CACHE_DIR";

/// FastMCP-style token storage: one JSON document per MCP server in a cache
/// folder, keyed by the canonical server URL.
///
/// Documents are written atomically (temporary file, `fsync`, rename), so a
/// crash leaves the old or the new document, never a torn one; files are
/// `0600` in a `0700` folder. The default folder is `$MCP_OAUTH_CACHE_DIR`,
/// else the platform's data folder (`~/.local/share/mcp-oauth` on Linux).
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::FileTokenStorage;
///
/// // Forget one server's credentials...
/// FileTokenStorage::new("https://example.com/mcp")?.clear().await?;
/// // ...or every server's.
/// FileTokenStorage::clear_all()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileTokenStorage {
    server: ServerUrl,
    dir: PathBuf,
}

impl FileTokenStorage {
    /// Storage for `server_url` in the default cache folder.
    pub fn new(server_url: &str) -> Result<Self> {
        Self::in_dir(server_url, Self::default_cache_dir()?)
    }

    /// Storage for `server_url` in `dir`.
    pub fn in_dir(server_url: &str, dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(Self {
            server: ServerUrl::parse(server_url)?,
            dir: dir.into(),
        })
    }

    /// `$MCP_OAUTH_CACHE_DIR`, else the platform data folder of mcp-oauth.
    pub fn default_cache_dir() -> Result<PathBuf> {
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|dir| !dir.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        directories::ProjectDirs::from("", "", "mcp-oauth")
            .map(|dirs| dirs.data_dir().to_path_buf())
            .ok_or_else(|| Error::Storage {
                path: "~".into(),
                reason: format!("no home folder to keep credentials in; set {CACHE_DIR_ENV}"),
                source: None,
            })
    }

    /// The document's path.
    pub fn path(&self) -> PathBuf {
        self.dir
            .join(format!("{}.json", self.server.cache_file_stem()))
    }

    /// Forgets this server's credentials.
    pub async fn clear(&self) -> Result<()> {
        remove_if_present(&self.path())
    }

    /// Forgets every server's credentials in the default folder.
    pub fn clear_all() -> Result<()> {
        Self::clear_all_in(Self::default_cache_dir()?)
    }

    /// Forgets every server's credentials in `dir`.
    pub fn clear_all_in(dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(storage_error(dir, error)),
        };
        for entry in entries {
            let path = entry.map_err(|error| storage_error(dir, error))?.path();
            let ours = path
                .extension()
                .is_some_and(|extension| extension == "json" || extension == "lock");
            if ours {
                remove_if_present(&path)?;
            }
        }
        Ok(())
    }

    /// Every stored server's credentials in `dir` (unreadable documents are
    /// reported as errors next to their path).
    pub fn list_in(dir: impl AsRef<Path>) -> Result<Vec<(PathBuf, Result<StoredCredentials>)>> {
        let dir = dir.as_ref();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(storage_error(dir, error)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let path = entry.map_err(|error| storage_error(dir, error))?.path();
            if path
                .extension()
                .is_some_and(|extension| extension == "json")
            {
                let loaded = read_document(&path).and_then(|document| {
                    document
                        .ok_or_else(|| storage_error(&path, std::io::ErrorKind::NotFound.into()))
                });
                found.push((path, loaded));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    fn write(&self, credentials: &StoredCredentials) -> Result<()> {
        create_private_dir(&self.dir)?;
        let path = self.path();
        let json = serde_json::to_vec_pretty(credentials).map_err(|error| Error::Storage {
            path: path.display().to_string(),
            reason: format!("could not encode the credentials: {error}"),
            source: Some(Cause::new(error)),
        })?;
        // tempfile creates the file 0600 in the same folder, so the rename is atomic.
        let mut temporary = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(|error| storage_error(&self.dir, error))?;
        temporary
            .write_all(&json)
            .map_err(|error| storage_error(&path, error))?;
        temporary
            .as_file()
            .sync_all()
            .map_err(|error| storage_error(&path, error))?;
        temporary
            .persist(&path)
            .map_err(|error| storage_error(&path, error.error))?;
        // The rename itself must reach the disk before the token is used.
        if let Ok(folder) = std::fs::File::open(&self.dir) {
            let _ = folder.sync_all();
        }
        Ok(())
    }
}

impl TokenStorage for FileTokenStorage {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredCredentials>>> {
        Box::pin(async move { read_document(&self.path()) })
    }

    fn save<'a>(&'a self, credentials: &'a StoredCredentials) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.write(credentials) })
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { remove_if_present(&self.path()) })
    }

    fn lock(&self, wait: std::time::Duration) -> BoxFuture<'_, Result<StorageLock>> {
        Box::pin(async move { self.lock_sidecar(wait).await })
    }
}

impl FileTokenStorage {
    /// The lock is on a sidecar file: the document itself is replaced by
    /// rename, which would drop a lock taken on it.
    fn lock_path(&self) -> PathBuf {
        self.dir
            .join(format!("{}.lock", self.server.cache_file_stem()))
    }

    async fn lock_sidecar(&self, wait: std::time::Duration) -> Result<StorageLock> {
        create_private_dir(&self.dir)?;
        let path = self.lock_path();
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .map_err(|error| storage_error(&path, error))?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StorageLock::holding(file)),
                Err(std::fs::TryLockError::WouldBlock)
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                Err(std::fs::TryLockError::WouldBlock) => {
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
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(storage_error(&path, error));
                }
            }
        }
    }
}

/// Reads a document; a missing file is `None`, anything unusable an error
/// that says what to do (the file is left as it is).
fn read_document(path: &Path) -> Result<Option<StoredCredentials>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(storage_error(path, error)),
    };
    check_private(path)?;
    #[derive(serde::Deserialize)]
    struct Version {
        version: u32,
    }
    let unusable = |why: String| Error::Storage {
        path: path.display().to_string(),
        reason: format!(
            "{why}; forget this server's credentials (or delete the file) and log in again"
        ),
        source: None,
    };
    match serde_json::from_slice::<Version>(&bytes) {
        Ok(Version { version }) if version > SCHEMA_VERSION => Err(Error::Storage {
            path: path.display().to_string(),
            reason: format!(
                "written by a newer mcp-oauth (schema {version}, this one reads {SCHEMA_VERSION}); \
                 upgrade mcp-oauth, or remove the file to log in again"
            ),
            source: None,
        }),
        Ok(_) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| unusable(format!("not a valid credentials document ({error})"))),
        Err(error) => Err(unusable(format!(
            "not a valid credentials document ({error})"
        ))),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
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
fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|error| storage_error(dir, error))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(storage_error(path, error)),
    }
}

fn storage_error(path: &Path, error: std::io::Error) -> Error {
    Error::Storage {
        path: path.display().to_string(),
        reason: error.to_string(),
        source: Some(Cause::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &Path) -> FileTokenStorage {
        FileTokenStorage::in_dir("https://example.com/mcp", dir.join("cache")).unwrap()
    }

    #[tokio::test]
    async fn round_trip_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        assert!(storage.load().await.unwrap().is_none());
        let mut credentials = StoredCredentials::new("https://example.com/mcp");
        credentials.issuer = Some("https://as.example".into());
        storage.save(&credentials).await.unwrap();
        let loaded = storage.load().await.unwrap().unwrap();
        assert_eq!(loaded.issuer(), Some("https://as.example"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file_mode = std::fs::metadata(storage.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(file_mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(dir.path().join("cache"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        storage.clear().await.unwrap();
        assert!(storage.load().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_corrupt_document_is_reported_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        storage
            .save(&StoredCredentials::new("https://example.com/mcp"))
            .await
            .unwrap();
        std::fs::write(storage.path(), b"{ torn").unwrap();
        let error = storage.load().await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&storage.path().display().to_string()),
            "{text}"
        );
        assert!(text.contains("log in again"), "{text}");
        assert_eq!(
            std::fs::read(storage.path()).unwrap(),
            b"{ torn",
            "left untouched"
        );
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        storage
            .save(&StoredCredentials::new("https://example.com/mcp"))
            .await
            .unwrap();
        std::fs::write(
            storage.path(),
            br#"{"version": 99, "server_url": "x", "updated_at": 0}"#,
        )
        .unwrap();
        let error = storage.load().await.unwrap_err();
        assert!(error.to_string().contains("newer mcp-oauth"), "{error}");
    }

    #[tokio::test]
    async fn clear_all_removes_every_document() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        for url in ["https://a.example/mcp", "https://b.example/mcp"] {
            let storage = FileTokenStorage::in_dir(url, &cache).unwrap();
            storage.save(&StoredCredentials::new(url)).await.unwrap();
        }
        assert_eq!(FileTokenStorage::list_in(&cache).unwrap().len(), 2);
        FileTokenStorage::clear_all_in(&cache).unwrap();
        assert!(FileTokenStorage::list_in(&cache).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_file_system_failure_keeps_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        // The cache folder is a file: nothing can be written under it.
        let not_a_folder = dir.path().join("file");
        std::fs::write(&not_a_folder, b"").unwrap();
        let storage = FileTokenStorage::in_dir("https://example.com/mcp", &not_a_folder).unwrap();
        let error = storage
            .save(&StoredCredentials::new("https://example.com/mcp"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Storage { .. }), "{error:?}");
        let cause = std::error::Error::source(&error).expect("the io error is the source");
        assert!(
            cause.downcast_ref::<std::io::Error>().is_some(),
            "{cause:?}"
        );
    }
}
