//! The keychain as a store of every server's and account's credentials.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use mcp_oauth::{
    CredentialStore, FileTokenStorage, LockFile, Result, ServerUrl, StoredCredentials,
    TokenStorage, check_account,
};

use crate::{Backend, KEYCHAIN, KeyringTokenStorage, item::ItemId};

/// The OS keychain, opened: the Secret Service on Linux and the BSDs, the
/// login Keychain on macOS, the Credential Manager on Windows. It gives one
/// [`KeyringTokenStorage`] per (server, account), lists what it holds and
/// forgets it all. Clones share one connection.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::OAuth;
/// use mcp_oauth_keyring::KeyringStore;
///
/// let keychain = KeyringStore::open().await?;
/// let url = "https://example.com/mcp";
/// let oauth = OAuth::builder(url)
///     .token_storage(keychain.storage_for(url, None)?)
///     .build()?;
/// # let _ = oauth;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KeyringStore {
    keychain: Arc<Backend>,
    lock_dir: PathBuf,
}

/// How a [`KeyringStore`] is opened.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use std::time::Duration;
///
/// use mcp_oauth_keyring::KeyringStore;
///
/// let keychain = KeyringStore::builder()
///     .lock_dir("/var/cache/my-agent")
///     .timeout(Duration::from_secs(10))
///     .open()
///     .await?;
/// # let _ = keychain;
/// # Ok(()) }
/// ```
#[must_use]
#[derive(Debug, Clone, Default)]
pub struct KeyringStoreBuilder {
    options: Options,
    lock_dir: Option<PathBuf>,
}

/// What the backends are opened with.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The longest any one keychain operation may take, an unlock prompt
    /// included.
    pub(crate) timeout: Duration,
    /// The D-Bus session bus to find the Secret Service on; `None`: the
    /// session's own.
    #[cfg_attr(
        not(all(unix, not(target_vendor = "apple"))),
        allow(dead_code, reason = "a bus only where the Secret Service is used")
    )]
    pub(crate) session_bus: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: KeyringStoreBuilder::DEFAULT_TIMEOUT,
            session_bus: None,
        }
    }
}

impl KeyringStoreBuilder {
    /// How long one keychain operation may take by default: long enough for
    /// a person to answer the keychain's unlock prompt.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// The folder of the lock files (one per server and account, holding no
    /// secret): the cache folder, where the file store would lock the same
    /// credentials. Default: [`FileTokenStorage::default_cache_dir`].
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::builder().lock_dir("/var/cache/my-agent").open().await?;
    /// assert_eq!(keychain.lock_dir(), std::path::Path::new("/var/cache/my-agent"));
    /// # Ok(()) }
    /// ```
    pub fn lock_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lock_dir = Some(dir.into());
        self
    }

    /// The longest any one keychain operation may take, an unlock prompt
    /// included ([`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT)); past it the
    /// keychain is reported as not answering.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use std::time::Duration;
    ///
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// // No one is at the keyboard to answer an unlock prompt.
    /// let keychain = KeyringStore::builder().timeout(Duration::from_secs(5)).open().await?;
    /// # let _ = keychain;
    /// # Ok(()) }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// The D-Bus session bus to find the Secret Service on (an address such
    /// as `unix:path=/run/user/1000/bus`), instead of the session's own
    /// (`DBUS_SESSION_BUS_ADDRESS`). Linux and the BSDs only.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::builder()
    ///     .session_bus("unix:path=/run/user/1000/bus")
    ///     .open()
    ///     .await?;
    /// # let _ = keychain;
    /// # Ok(()) }
    /// ```
    #[cfg(all(unix, not(target_vendor = "apple")))]
    pub fn session_bus(mut self, address: impl Into<String>) -> Self {
        self.options.session_bus = Some(address.into());
        self
    }

    /// Opens the keychain and checks that it answers and that new items can
    /// be kept in it (on Linux: the default collection exists and is
    /// unlocked, unlocked now if the service can ask for the password).
    /// Otherwise [`Error::StoreUnreachable`](mcp_oauth::Error::StoreUnreachable),
    /// saying why: nothing falls back to files.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::Error;
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// match KeyringStore::builder().open().await {
    ///     Ok(keychain) => println!("credentials kept in {}", keychain.name()),
    ///     Err(Error::StoreUnreachable { reason, .. }) => println!("no keychain: {reason}"),
    ///     Err(error) => return Err(error),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn open(self) -> Result<KeyringStore> {
        let lock_dir = match self.lock_dir {
            Some(dir) => dir,
            None => FileTokenStorage::default_cache_dir()?,
        };
        let keychain = Backend::open(&self.options).await?;
        keychain.check().await?;
        tracing::debug!(keychain = KEYCHAIN, "opened the keychain");
        Ok(KeyringStore {
            keychain: Arc::new(keychain),
            lock_dir,
        })
    }
}

/// One item of the store, as [`KeyringStore::list`] read it.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth_keyring::KeyringStore;
///
/// let keychain = KeyringStore::open().await?;
/// for entry in keychain.list().await? {
///     let state = if entry.credentials.is_ok() { "ok" } else { "unreadable" };
///     println!("{} {:?}: {state}", entry.server_url, entry.account);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct KeyringEntry {
    /// The MCP server (its canonical URL).
    pub server_url: String,
    /// The account; `None` for the default one.
    pub account: Option<String>,
    /// The credentials, or why they could not be read.
    pub credentials: Result<StoredCredentials>,
}

impl KeyringStore {
    /// A builder, for the lock folder, the timeout or the bus.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::builder().open().await?;
    /// # let _ = keychain;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> KeyringStoreBuilder {
        KeyringStoreBuilder::default()
    }

    /// Opens the keychain with the defaults (see
    /// [`KeyringStoreBuilder::open`]).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// println!("credentials kept in {}", keychain.name());
    /// # Ok(()) }
    /// ```
    pub async fn open() -> Result<Self> {
        Self::builder().open().await
    }

    /// The keychain, as messages name it ([`KEYCHAIN`]).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// println!("credentials kept in {}", keychain.name());
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &'static str {
        KEYCHAIN
    }

    /// The folder of the lock files.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// println!("lock files in {}", keychain.lock_dir().display());
    /// # Ok(()) }
    /// ```
    pub fn lock_dir(&self) -> &Path {
        &self.lock_dir
    }

    /// The default account's credentials for `server_url`.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// let storage = keychain.storage("https://mcp.example.com/mcp")?;
    /// assert_eq!(storage.account(), None);
    /// # Ok(()) }
    /// ```
    pub fn storage(&self, server_url: &str) -> Result<KeyringTokenStorage> {
        self.storage_for(server_url, None)
    }

    /// `account`'s credentials for `server_url` (`None`: the default
    /// account). A name that [`check_account`] refuses is
    /// [`Error::InvalidConfig`](mcp_oauth::Error::InvalidConfig).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// let url = "https://mcp.example.com/mcp";
    /// let storage = keychain.storage_for(url, Some("work"))?;
    /// assert_eq!(storage.account(), Some("work"));
    /// assert!(keychain.storage_for(url, Some(" work")).is_err()); // a leading space
    /// # Ok(()) }
    /// ```
    pub fn storage_for(
        &self,
        server_url: &str,
        account: Option<&str>,
    ) -> Result<KeyringTokenStorage> {
        if let Some(account) = account {
            check_account(account)?;
        }
        let server = ServerUrl::parse(server_url)?;
        let lock = LockFile::new(server.as_str(), account, &self.lock_dir)?;
        Ok(KeyringTokenStorage::new(
            self.keychain.clone(),
            ItemId::new(&server, account),
            lock,
        ))
    }

    /// Every server's and account's credentials in the keychain; one that
    /// cannot be read is listed with the reason.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// for entry in keychain.list().await? {
    ///     println!("{} {:?}", entry.server_url, entry.account);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<KeyringEntry>> {
        let mut listed = Vec::new();
        for found in self.keychain.list().await? {
            let Some(id) = found.id else {
                tracing::debug!("an item of the service names no credentials; left out");
                continue;
            };
            listed.push(KeyringEntry {
                server_url: id.server().to_owned(),
                account: id.account().map(str::to_owned),
                credentials: found.secret.and_then(|secret| id.decode(&secret)),
            });
        }
        listed.sort_by(|a, b| (&a.server_url, &a.account).cmp(&(&b.server_url, &b.account)));
        Ok(listed)
    }

    /// Forgets every server's and account's credentials: deletes every item
    /// of the store (and the lock files nobody holds). Returns how many
    /// items were deleted.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// let deleted = keychain.clear_all().await?;
    /// println!("deleted {deleted} items");
    /// # Ok(()) }
    /// ```
    pub async fn clear_all(&self) -> Result<usize> {
        let deleted = self.keychain.delete_all().await?;
        for id in deleted.iter().flatten() {
            let removed = LockFile::new(id.server(), id.account(), &self.lock_dir)
                .and_then(|lock| lock.remove_unless_held());
            if let Err(error) = removed {
                tracing::debug!(%error, "a lock file was left");
            }
        }
        Ok(deleted.len())
    }
}

impl CredentialStore for KeyringStore {
    fn storage(&self, server_url: &str, account: Option<&str>) -> Result<Arc<dyn TokenStorage>> {
        Ok(Arc::new(self.storage_for(server_url, account)?))
    }
}
