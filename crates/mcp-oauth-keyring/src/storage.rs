//! One server's credentials, of one account, in the keychain.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use mcp_oauth::{LockFile, PreparedSave, Result, StorageLock, StoredCredentials, TokenStorage};

use crate::{Backend, item::ItemId};

/// The credentials of one MCP server, of one account, in the OS keychain:
/// what [`KeyringStore::storage_for`](crate::KeyringStore::storage_for)
/// gives, for [`OAuthBuilder::token_storage`](mcp_oauth::OAuthBuilder::token_storage).
///
/// One keychain item holds the whole document as JSON. The lock taken
/// around a refresh or a sign-in is the [`LockFile`] of the store's lock
/// folder, as the file store takes it. Before a token request
/// ([`TokenStorage::prepare_save`]) the keychain is asked whether it
/// answers and is unlocked, so that tokens that could not be kept are never
/// asked for. [`clear`](TokenStorage::clear) deletes the item, and the lock
/// file unless a process holds it.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::OAuth;
/// use mcp_oauth_keyring::KeyringStore;
///
/// let keychain = KeyringStore::open().await?;
/// let url = "https://mcp.example.com/mcp";
/// let oauth = OAuth::builder(url).token_storage(keychain.storage(url)?).build()?;
/// # let _ = oauth;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KeyringTokenStorage {
    keychain: Arc<Backend>,
    id: ItemId,
    lock: LockFile,
}

impl KeyringTokenStorage {
    pub(crate) fn new(keychain: Arc<Backend>, id: ItemId, lock: LockFile) -> Self {
        Self { keychain, id, lock }
    }

    /// The MCP server (its canonical URL).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// let storage = keychain.storage("https://mcp.example.com/mcp")?;
    /// assert_eq!(storage.server_url(), "https://mcp.example.com/mcp");
    /// # Ok(()) }
    /// ```
    pub fn server_url(&self) -> &str {
        self.id.server()
    }

    /// The account; `None` for the default one.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// let url = "https://mcp.example.com/mcp";
    /// assert_eq!(keychain.storage(url)?.account(), None);
    /// assert_eq!(keychain.storage_for(url, Some("work"))?.account(), Some("work"));
    /// # Ok(()) }
    /// ```
    pub fn account(&self) -> Option<&str> {
        self.id.account()
    }

    /// The lock these credentials are refreshed under.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_keyring::KeyringStore;
    ///
    /// let keychain = KeyringStore::open().await?;
    /// let storage = keychain.storage("https://mcp.example.com/mcp")?;
    /// assert!(storage.lock_file().path().starts_with(keychain.lock_dir()));
    /// # Ok(()) }
    /// ```
    pub fn lock_file(&self) -> &LockFile {
        &self.lock
    }

    async fn read(&self) -> Result<Option<StoredCredentials>> {
        match self.keychain.read(&self.id).await? {
            Some(secret) => self.id.decode(&secret).map(Some),
            None => Ok(None),
        }
    }

    async fn write(&self, credentials: &StoredCredentials) -> Result<()> {
        let secret = self.id.encode(credentials)?;
        self.keychain.write(&self.id, &secret).await
    }

    async fn forget(&self) -> Result<()> {
        self.keychain.delete(&self.id).await?;
        self.lock.remove_unless_held().map(drop)
    }

    async fn prepare(&self, credentials: &StoredCredentials) -> Result<PreparedSave> {
        let secret = self.id.encode(credentials)?;
        check_size(&self.id, &secret)?;
        self.keychain.check().await?;
        Ok(PreparedSave::none())
    }
}

impl TokenStorage for KeyringTokenStorage {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredCredentials>>> {
        Box::pin(self.read())
    }

    fn save<'a>(&'a self, credentials: &'a StoredCredentials) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write(credentials))
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.forget())
    }

    fn prepare_save<'a>(
        &'a self,
        credentials: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<PreparedSave>> {
        Box::pin(self.prepare(credentials))
    }

    fn lock(&self, wait: Duration) -> BoxFuture<'_, Result<StorageLock>> {
        Box::pin(self.lock.lock(wait))
    }
}

/// The Credential Manager keeps at most 2560 bytes per credential: a
/// document that is that large already is refused before a token request
/// (new tokens may still make it too large, and are then refused when
/// saved).
#[cfg(windows)]
fn check_size(id: &ItemId, secret: &[u8]) -> Result<()> {
    const MAX: usize = 2560;
    if secret.len() <= MAX {
        return Ok(());
    }
    Err(id.error(
        format!(
            "the credentials take {} bytes, more than the {MAX} the Credential Manager keeps; \
             keep them in files instead",
            secret.len()
        ),
        None,
    ))
}

#[cfg(not(windows))]
fn check_size(_id: &ItemId, _secret: &[u8]) -> Result<()> {
    Ok(())
}
