//! One JSON document per server in a private folder, written atomically.

mod clear;
mod folder;
mod names;
mod sidecar;
mod temporary;
#[cfg(test)]
mod tests;

pub use self::sidecar::LockFile;

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use self::{
    folder::{
        check_existing_folder, check_folder, check_private, create_private_dir, storage_error,
    },
    names::{DOCUMENT_EXTENSION, Kind, store_files},
    temporary::{TemporaryDocument, sweep_abandoned},
};
use super::{
    PreparedSave, SCHEMA_VERSION, StorageLock, StoredCredentials, TokenStorage,
    account::{account_label, check_account},
};
use crate::{Cause, Error, Result, ServerUrl};

/// The environment variable that moves the default cache folder.
pub(crate) const CACHE_DIR_ENV: &str = "MCP_OAUTH_CACHE_DIR";

/// The room taken before a token request beyond the document as it is: new
/// tokens (JWTs with many claims included) fit in it many times over.
const ROOM_FOR_NEW_TOKENS: u64 = 64 * 1024;

/// FastMCP-style token storage: one JSON document per MCP server in a cache
/// folder, keyed by the canonical server URL, and by the account for a
/// named one ([`for_account`](Self::for_account)).
///
/// Documents are written atomically (temporary file, `fsync`, rename), so a
/// crash leaves the old or the new document, never a torn one; files are
/// `0600` in a `0700` folder. A folder that other users may write in, or
/// that belongs to another user, is refused. Before a token request the
/// temporary file is made and the document's space taken
/// ([`TokenStorage::prepare_save`]), so that a full disk stops the request
/// rather than lose what it brings. The temporary files a killed process
/// leaves are removed by the next one. The default folder is
/// `$MCP_OAUTH_CACHE_DIR`, else the platform's data folder
/// (`~/.local/share/mcp-oauth` on Linux).
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::FileTokenStorage;
///
/// // Forget one server's credentials...
/// FileTokenStorage::new("https://example.com/mcp")?.clear().await?;
/// // ...or one account's only...
/// FileTokenStorage::for_account("https://example.com/mcp", Some("work"))?.clear().await?;
/// // ...or every server's and every account's.
/// FileTokenStorage::clear_all()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileTokenStorage {
    server: ServerUrl,
    /// `None` for the default account.
    account: Option<String>,
    dir: PathBuf,
}

/// A save prepared by [`FileTokenStorage`]: its temporary file, with the
/// space for the document taken.
#[derive(Debug)]
struct Reservation(TemporaryDocument);

impl FileTokenStorage {
    /// Storage for `server_url` in the default cache folder (the default
    /// account).
    ///
    /// ```no_run
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let storage = mcp_oauth::FileTokenStorage::new("https://mcp.example.com/mcp")?;
    /// println!("credentials go to {}", storage.path().display());
    /// # Ok(()) }
    /// ```
    pub fn new(server_url: &str) -> Result<Self> {
        Self::in_dir(server_url, Self::default_cache_dir()?)
    }

    /// Storage for `server_url` in `dir` (the default account).
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let dir = std::env::temp_dir().join("mcp-oauth-example");
    /// let storage = mcp_oauth::FileTokenStorage::in_dir("https://mcp.example.com/mcp", &dir)?;
    /// assert!(storage.path().starts_with(&dir));
    /// # Ok(()) }
    /// ```
    pub fn in_dir(server_url: &str, dir: impl Into<PathBuf>) -> Result<Self> {
        Self::in_dir_for_account(server_url, None, dir)
    }

    /// Storage of `account`'s credentials for `server_url` in the default
    /// cache folder; `None` is the default account, the file
    /// [`new`](Self::new) uses.
    ///
    /// ```no_run
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let storage = mcp_oauth::FileTokenStorage::for_account("https://mcp.example.com/mcp", Some("work"))?;
    /// assert_eq!(storage.account(), Some("work"));
    /// # Ok(()) }
    /// ```
    pub fn for_account(server_url: &str, account: Option<&str>) -> Result<Self> {
        Self::in_dir_for_account(server_url, account, Self::default_cache_dir()?)
    }

    /// Storage of `account`'s credentials for `server_url` in `dir`.
    ///
    /// The default account's file is named as it always was (the server's
    /// host and port, and a hash of its URL); a named account's file has the
    /// same readable part and a hash of the URL and the account. A document
    /// that is not the account's (a file copied or renamed by hand) is
    /// refused when read. A name that [`check_account`] refuses is
    /// [`Error::InvalidConfig`].
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::FileTokenStorage;
    /// let dir = std::env::temp_dir().join("mcp-oauth-example");
    /// let work = FileTokenStorage::in_dir_for_account("https://mcp.example.com/mcp", Some("work"), &dir)?;
    /// let default = FileTokenStorage::in_dir("https://mcp.example.com/mcp", &dir)?;
    /// assert_ne!(work.path(), default.path());
    /// # Ok(()) }
    /// ```
    pub fn in_dir_for_account(
        server_url: &str,
        account: Option<&str>,
        dir: impl Into<PathBuf>,
    ) -> Result<Self> {
        if let Some(account) = account {
            check_account(account)?;
        }
        Ok(Self {
            server: ServerUrl::parse(server_url)?,
            account: account.map(str::to_owned),
            dir: dir.into(),
        })
    }

    /// The account whose credentials this is; `None` for the default one.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let dir = std::env::temp_dir();
    /// let storage = mcp_oauth::FileTokenStorage::in_dir("https://mcp.example.com/mcp", dir)?;
    /// assert_eq!(storage.account(), None);
    /// # Ok(()) }
    /// ```
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// `$MCP_OAUTH_CACHE_DIR`, else the platform data folder of mcp-oauth.
    ///
    /// ```no_run
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let dir = mcp_oauth::FileTokenStorage::default_cache_dir()?;
    /// println!("credentials are kept in {}", dir.display());
    /// # Ok(()) }
    /// ```
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
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let dir = std::env::temp_dir().join("mcp-oauth-example");
    /// let storage = mcp_oauth::FileTokenStorage::in_dir("https://mcp.example.com/mcp", &dir)?;
    /// assert_eq!(storage.path().parent(), Some(dir.as_path()));
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> PathBuf {
        self.dir
            .join(format!("{}.{DOCUMENT_EXTENSION}", self.stem()))
    }

    /// Forgets this server's credentials of this account (other accounts'
    /// stay): its document, the temporary files a killed process left, and
    /// its lock file unless a process holds it. Every file is tried; the
    /// error names those that could not be removed.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// let storage = mcp_oauth::FileTokenStorage::new("https://mcp.example.com/mcp")?;
    /// storage.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn clear(&self) -> Result<()> {
        clear::forget_server(&self.dir, &self.stem(), &self.path())
    }

    /// Forgets every server's credentials, of every account, in the default
    /// folder.
    ///
    /// ```no_run
    /// # fn main() -> mcp_oauth::Result<()> {
    /// mcp_oauth::FileTokenStorage::clear_all()?;
    /// # Ok(()) }
    /// ```
    pub fn clear_all() -> Result<()> {
        Self::clear_all_in(Self::default_cache_dir()?)
    }

    /// Forgets every server's credentials, of every account, in `dir`: the
    /// store's documents,
    /// temporary and lock files, recognised by their names (and a document
    /// by its contents too); anything else in the folder stays. Every file
    /// is tried; the error names those that could not be removed.
    ///
    /// ```no_run
    /// # fn main() -> mcp_oauth::Result<()> {
    /// mcp_oauth::FileTokenStorage::clear_all_in("/tmp/mcp-oauth-cache")?;
    /// # Ok(()) }
    /// ```
    pub fn clear_all_in(dir: impl AsRef<Path>) -> Result<()> {
        clear::forget_all(dir.as_ref())
    }

    /// Every stored server's credentials in `dir`, of every account (see
    /// [`StoredCredentials::account`]); unreadable documents are reported as
    /// errors next to their path.
    ///
    /// ```no_run
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::FileTokenStorage;
    /// for (path, credentials) in FileTokenStorage::list_in(FileTokenStorage::default_cache_dir()?)? {
    ///     match credentials {
    ///         Ok(credentials) => println!("{}: {}", path.display(), credentials.server_url()),
    ///         Err(error) => println!("{}: {error}", path.display()),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_in(dir: impl AsRef<Path>) -> Result<Vec<(PathBuf, Result<StoredCredentials>)>> {
        let dir = dir.as_ref();
        if !check_existing_folder(dir)? {
            return Ok(Vec::new());
        }
        let files = store_files(dir).map_err(|error| storage_error(dir, error))?;
        Ok(files
            .into_iter()
            .filter(|file| file.kind == Kind::Document)
            .map(|file| {
                let loaded = read_document(&file.path).and_then(|document| {
                    document.ok_or_else(|| {
                        storage_error(&file.path, std::io::ErrorKind::NotFound.into())
                    })
                });
                (file.path, loaded)
            })
            .collect())
    }

    fn stem(&self) -> String {
        self.server.cache_file_stem_for(self.account.as_deref())
    }

    /// The lock of these credentials: a sidecar file, since the document
    /// itself is replaced by rename, which would drop a lock taken on it.
    ///
    /// ```no_run
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let storage = mcp_oauth::FileTokenStorage::new("https://mcp.example.com/mcp")?;
    /// let lock = storage.lock_file();
    /// # Ok(()) }
    /// ```
    pub fn lock_file(&self) -> LockFile {
        LockFile::of(&self.server, self.account(), self.dir.clone())
    }

    fn read(&self) -> Result<Option<StoredCredentials>> {
        if !check_existing_folder(&self.dir)? {
            return Ok(None);
        }
        sweep_abandoned(&self.dir);
        let path = self.path();
        let document = read_document(&path)?;
        if let Some(document) = &document
            && document.account() != self.account()
        {
            return Err(Error::Storage {
                path: path.display().to_string(),
                reason: format!(
                    "this file is named as the credentials of {} but holds those of {} \
                     (copied or renamed by hand?); put it back, or forget these credentials \
                     and log in again",
                    account_label(self.account()),
                    account_label(document.account()),
                ),
                source: None,
            });
        }
        Ok(document)
    }

    /// Refuses to save another account's credentials in this account's
    /// file: they would be refused when read.
    fn check_owner(&self, credentials: &StoredCredentials) -> Result<()> {
        if credentials.account() == self.account() {
            return Ok(());
        }
        Err(Error::Storage {
            path: self.path().display().to_string(),
            reason: format!(
                "the credentials of {} cannot be saved in the file of {}; give the same \
                 account to the storage and to OAuthBuilder::account",
                account_label(credentials.account()),
                account_label(self.account()),
            ),
            source: None,
        })
    }

    fn write(&self, credentials: &StoredCredentials) -> Result<()> {
        self.check_owner(credentials)?;
        create_private_dir(&self.dir)?;
        sweep_abandoned(&self.dir);
        let json = self.encode(credentials)?;
        TemporaryDocument::create(&self.dir, &self.stem())?.write_into_place(&json, &self.path())
    }

    fn prepare(&self, credentials: &StoredCredentials) -> Result<PreparedSave> {
        self.check_owner(credentials)?;
        create_private_dir(&self.dir)?;
        sweep_abandoned(&self.dir);
        let expected = self.encode(credentials)?.len() as u64 + ROOM_FOR_NEW_TOKENS;
        let temporary = TemporaryDocument::create(&self.dir, &self.stem())?;
        temporary
            .reserve(expected)
            .map_err(|error| Error::Storage {
                path: self.dir.display().to_string(),
                reason: format!(
                    "no room to save new credentials, so none were asked for and the stored \
                     ones are kept ({error})"
                ),
                source: Some(Cause::new(error)),
            })?;
        Ok(PreparedSave::holding(Reservation(temporary)))
    }

    fn write_prepared(
        &self,
        prepared: PreparedSave,
        credentials: &StoredCredentials,
    ) -> Result<()> {
        match prepared.into_held::<Reservation>() {
            Some(Reservation(temporary)) if temporary.dir() == self.dir => {
                self.check_owner(credentials)?;
                check_folder(&self.dir)?;
                let json = self.encode(credentials)?;
                temporary.write_into_place(&json, &self.path())
            }
            // Prepared by another store, or by none.
            _ => self.write(credentials),
        }
    }

    fn encode(&self, credentials: &StoredCredentials) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(credentials).map_err(|error| Error::Storage {
            path: self.path().display().to_string(),
            reason: format!("could not encode the credentials: {error}"),
            source: Some(Cause::new(error)),
        })
    }
}

impl TokenStorage for FileTokenStorage {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredCredentials>>> {
        Box::pin(async move { self.read() })
    }

    fn save<'a>(&'a self, credentials: &'a StoredCredentials) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.write(credentials) })
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(FileTokenStorage::clear(self))
    }

    fn lock(&self, wait: std::time::Duration) -> BoxFuture<'_, Result<StorageLock>> {
        Box::pin(async move { self.lock_file().lock(wait).await })
    }

    fn prepare_save<'a>(
        &'a self,
        credentials: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<PreparedSave>> {
        Box::pin(async move { self.prepare(credentials) })
    }

    fn save_prepared<'a>(
        &'a self,
        prepared: PreparedSave,
        credentials: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.write_prepared(prepared, credentials) })
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
