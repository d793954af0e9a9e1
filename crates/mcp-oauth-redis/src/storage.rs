//! One server's credentials (of one account) in Redis: the
//! [`TokenStorage`] the library uses, with every save fenced by the
//! generation this process read.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::future::BoxFuture;
use mcp_oauth::{
    Error, PreparedSave, Result, ServerUrl, StorageLock, StoredCredentials, TokenStorage,
};

use crate::{
    lease,
    record::{PLAINTEXT_KEY_ID, read_record},
    scripts,
    store::{RedisStore, Sealing},
};

/// The credentials of one MCP server in a [`RedisStore`], shared by every
/// process and host that uses the store.
///
/// - [`lock`](TokenStorage::lock) is a lease in Redis (`SET NX PX`),
///   renewed while it is held and given back only by its holder, so one
///   process at a time refreshes or signs in, fleet-wide; one that dies is
///   replaced after its lease.
/// - Every save is a compare-and-set on the record's generation: it goes
///   through only if the record is still the one this process read. A
///   holder that paused past its lease (a GC pause, `SIGSTOP`, a laptop
///   lid) can never write older tokens over newer ones; it gets
///   [`Error::StorageConflict`], and the library then uses the stored ones.
/// - Before a token request ([`prepare_save`](TokenStorage::prepare_save))
///   the lease is checked and renewed in full, and the request is marked in
///   the record, so that a successor does not spend the same refresh token
///   while the first request may still be answered.
///
/// Made by [`RedisStore::storage`] (the default account) and
/// [`RedisStore::storage_for`].
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::OAuth;
/// use mcp_oauth_redis::RedisStore;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
///
/// let url = "https://mcp.example.com/mcp";
/// let storage = store.storage(url)?;
/// let oauth = OAuth::builder(url).token_storage(storage).build()?;
/// # let _ = oauth;
/// # Ok(()) }
/// ```
pub struct RedisTokenStorage {
    pub(crate) store: RedisStore,
    pub(crate) server: ServerUrl,
    /// `None` for the default account.
    pub(crate) account: Option<String>,
    pub(crate) record_key: String,
    pub(crate) lock_key: String,
    pub(crate) state: Arc<Mutex<State>>,
}

/// What this process knows of the record and its lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The generation last read or written here: the one a save expects.
    pub(crate) seen: Option<u64>,
    /// The holder id of the lease this storage holds, if any.
    pub(crate) holder: Option<String>,
}

impl RedisTokenStorage {
    pub(crate) fn new(store: RedisStore, server: ServerUrl, account: Option<String>) -> Self {
        let (record_key, lock_key) = store.key_names(&server, account.as_deref());
        Self {
            store,
            server,
            account,
            record_key,
            lock_key,
            state: Arc::default(),
        }
    }

    /// The MCP server whose credentials these are.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
    ///
    /// let storage = store.storage("https://mcp.example.com/mcp")?;
    /// assert_eq!(storage.server_url(), "https://mcp.example.com/mcp");
    /// # Ok(()) }
    /// ```
    pub fn server_url(&self) -> &str {
        self.server.as_str()
    }

    /// The account whose credentials these are; `None` for the default one.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
    ///
    /// let url = "https://mcp.example.com/mcp";
    /// assert_eq!(store.storage(url)?.account(), None);
    /// assert_eq!(store.storage_for(url, Some("user-42"))?.account(), Some("user-42"));
    /// # Ok(()) }
    /// ```
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The generation of the record as this process last read or wrote it.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::TokenStorage as _;
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
    ///
    /// let storage = store.storage("https://mcp.example.com/mcp")?;
    /// let _ = storage.load().await?; // reads the record
    /// println!("generation {:?}", storage.generation());
    /// # Ok(()) }
    /// ```
    pub fn generation(&self) -> Option<u64> {
        self.state().seen
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn read(&self) -> Result<Option<StoredCredentials>> {
        let record = self
            .store
            .run("could not read the credentials", |mut connection| async move {
                read_record(&mut connection, &self.record_key).await
            })
            .await?;
        let Some(record) = record else {
            self.state().seen = Some(0);
            return Ok(None);
        };
        let opened = self
            .store
            .open(&record, self.server.as_str(), self.account())?;
        self.state().seen = Some(record.generation);
        Ok(opened)
    }

    /// Refuses another account's credentials: saved here, they would not be
    /// read back.
    fn check_owner(&self, credentials: &StoredCredentials) -> Result<()> {
        if credentials.account() == self.account() {
            return Ok(());
        }
        let label = |account: Option<&str>| match account {
            Some(account) => format!("account {:?}", mcp_oauth::terminal_safe_line(account)),
            None => "the default account".to_owned(),
        };
        Err(self.store.unusable(format!(
            "the credentials of {} cannot be saved in the record of {} for {}; give the same \
             account to the storage and to OAuthBuilder::account",
            label(credentials.account()),
            label(self.account()),
            self.server
        )))
    }

    async fn write(&self, credentials: &StoredCredentials) -> Result<()> {
        self.check_owner(credentials)?;
        let seen = self.state().seen;
        let expected = match seen {
            Some(seen) => seen,
            // Never read here: a save over whatever is stored, as a plain
            // `save` promises.
            None => self.current_generation().await?,
        };
        let generation = expected + 1;
        let plain = serde_json::to_vec(credentials).map_err(|error| {
            self.store
                .unusable(format!("could not encode the credentials: {error}"))
        })?;
        let (key_id, nonce, document) = match &self.store.inner.sealing {
            Sealing::Sealed(keys) => {
                keys.seal(self.server.as_str(), self.account(), generation, plain)?
            }
            Sealing::Plaintext => (PLAINTEXT_KEY_ID.to_owned(), Vec::new(), plain),
        };
        let (key_id, nonce, document) = (&key_id, &nonce, &document);
        let account = self.account().unwrap_or_default();
        let (saved, current): (i64, u64) = self
            .store
            .run(
                "could not save the credentials",
                |mut connection| async move {
                    scripts::SAVE
                        .key(&self.record_key)
                        .arg(expected)
                        .arg(self.server.as_str())
                        .arg(key_id)
                        .arg(nonce)
                        .arg(document)
                        .arg(account)
                        .invoke_async(&mut connection)
                        .await
                },
            )
            .await?;
        if saved == 1 {
            self.state().seen = Some(current);
            return Ok(());
        }
        tracing::warn!(
            store = %self.store.name(),
            server = %self.server,
            expected,
            current,
            "a save was refused: another process saved newer credentials meanwhile"
        );
        Err(Error::StorageConflict {
            store: self.store.name().to_owned(),
            reason: format!(
                "the credentials of {} are at generation {current}, not the {expected} this \
                 process read; the newer ones stay",
                self.server
            ),
        })
    }

    async fn current_generation(&self) -> Result<u64> {
        self.store
            .run(
                "could not read the credentials",
                |mut connection| async move {
                    redis::cmd("HGET")
                        .arg(&self.record_key)
                        .arg("gen")
                        .query_async::<Option<u64>>(&mut connection)
                        .await
                },
            )
            .await
            .map(Option::unwrap_or_default)
    }

    /// Before a token request, with the lock held: the lease is still ours
    /// (renewed in full for the request), the record is still the one read,
    /// and no other holder's request for the same generation may still be
    /// answered. Then the request is marked in the record.
    async fn prepare(&self) -> Result<()> {
        let holder = self.state().holder.clone();
        let Some(holder) = holder else {
            // No lock taken through this storage: only check that Redis
            // answers, so that an answer is not lost to a store that is down.
            return self
                .store
                .run("could not reach the store", |mut connection| async move {
                    redis::cmd("PING")
                        .query_async::<String>(&mut connection)
                        .await
                })
                .await
                .map(drop);
        };
        let holder = &holder;
        let seen = self.state().seen;
        let expected = match seen {
            Some(seen) => seen,
            None => self.current_generation().await?,
        };
        let timings = self.store.inner.timings;
        loop {
            let (outcome, value): (i64, u64) = self
                .store
                .run("could not prepare the save", |mut connection| async move {
                    scripts::MARK
                        .key(&self.record_key)
                        .key(&self.lock_key)
                        .arg(holder)
                        .arg(expected)
                        .arg(millis(timings.spend_grace()))
                        .arg(millis(timings.lease))
                        .invoke_async(&mut connection)
                        .await
                })
                .await?;
            match outcome {
                1 => return Ok(()),
                -1 => {
                    return Err(Error::StorageConflict {
                        store: self.store.name().to_owned(),
                        reason: format!(
                            "this process's lock on {} ran out before its token request (it was \
                             paused or cut off for longer than the lease); nothing was sent",
                            self.server
                        ),
                    });
                }
                -2 => {
                    return Err(Error::StorageConflict {
                        store: self.store.name().to_owned(),
                        reason: format!(
                            "another process saved credentials of {} (generation {value}) \
                             since this one read them; nothing was sent",
                            self.server
                        ),
                    });
                }
                _ => {
                    tracing::info!(
                        store = %self.store.name(),
                        server = %self.server,
                        wait_ms = value,
                        "a holder that stopped answering sent a token request for these \
                         credentials; waiting for its answer to be saved before sending another"
                    );
                    let until = tokio::time::Instant::now() + Duration::from_millis(value);
                    while tokio::time::Instant::now() < until {
                        tokio::time::sleep(timings.poll * 2).await;
                        if self.current_generation().await? != expected {
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// Empties the record at `key` (a logout) of `account`'s credentials for
/// `server_url`: the document goes, the generation grows.
pub(crate) async fn write_empty(
    store: &RedisStore,
    key: &str,
    server_url: &str,
    account: Option<&str>,
) -> Result<u64> {
    let (_, generation): (i64, u64) = store
        .run(
            "could not forget the credentials",
            |mut connection| async move {
                scripts::SAVE
                    .key(key)
                    .arg("")
                    .arg(server_url)
                    .arg("")
                    .arg("")
                    .arg("")
                    .arg(account.unwrap_or_default())
                    .invoke_async(&mut connection)
                    .await
            },
        )
        .await?;
    Ok(generation)
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl TokenStorage for RedisTokenStorage {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredCredentials>>> {
        Box::pin(self.read())
    }

    fn save<'a>(&'a self, credentials: &'a StoredCredentials) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write(credentials))
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let generation = write_empty(
                &self.store,
                &self.record_key,
                self.server.as_str(),
                self.account(),
            )
            .await?;
            self.state().seen = Some(generation);
            Ok(())
        })
    }

    fn lock(&self, wait: Duration) -> BoxFuture<'_, Result<StorageLock>> {
        Box::pin(lease::acquire(self, wait))
    }

    fn prepare_save<'a>(
        &'a self,
        credentials: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<PreparedSave>> {
        Box::pin(async move {
            self.check_owner(credentials)?;
            self.prepare().await?;
            Ok(PreparedSave::none())
        })
    }
}

impl fmt::Debug for RedisTokenStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStorage")
            .field("store", &self.store.name())
            .field("server", &self.server.as_str())
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}
