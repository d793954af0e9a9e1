//! The connection to Redis and what every server's storage shares: the key
//! prefix, the keys that seal, the timings. One [`RedisStore`] per process;
//! one [`RedisTokenStorage`] per MCP server from it.

use std::{fmt, path::PathBuf, sync::Arc, time::Duration};

use mcp_oauth::{Cause, Error, Result, url::Url};
use redis::{
    AsyncCommands as _,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use crate::{seal::StoreKeys, storage::RedisTokenStorage};

/// How long a command is tried again while the connection is down: a
/// Redis restarting comes back within it.
const RECONNECT_GRACE: Duration = Duration::from_secs(1);

/// The key prefix when none is given.
pub const DEFAULT_PREFIX: &str = "mcp-oauth";

/// A connection to Redis shared by every server's [`RedisTokenStorage`]:
/// cheap to clone, reconnecting by itself after Redis restarts.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::{Auth, Client, OAuth};
/// use mcp_oauth_redis::{RedisStore, StoreKeys};
///
/// let store = RedisStore::builder("rediss://agent:secret@redis.internal:6380/0")
///     .prefix("agents-prod")
///     .keys(StoreKeys::from_file("/etc/agents/store.key")?)
///     .connect()
///     .await?;
/// let url = "https://mcp.example.com/mcp";
/// let oauth = OAuth::builder(url).token_storage(store.storage(url)?).build()?;
/// let client = Client::builder(url).auth(Auth::from(oauth)).connect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) connection: ConnectionManager,
    /// How errors name the store: the address without its password.
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) sealing: Sealing,
    pub(crate) timings: Timings,
}

/// How documents are kept.
pub(crate) enum Sealing {
    Sealed(StoreKeys),
    /// Asked for explicitly: documents as JSON, readable by whoever reads
    /// Redis.
    Plaintext,
}

/// The lease and the waits, all bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    pub(crate) lease: Duration,
    pub(crate) token_request: Duration,
    pub(crate) poll: Duration,
}

impl Timings {
    /// How long a holder's spend mark keeps others from spending the same
    /// refresh token: its request's whole budget, and a lease to save.
    pub(crate) fn spend_grace(&self) -> Duration {
        self.token_request + self.lease
    }
}

/// Builds a [`RedisStore`]: `RedisStore::builder(url)`, then the options,
/// then [`connect`](Self::connect).
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth_redis::{RedisStore, StoreKeys};
///
/// let store = RedisStore::builder("rediss://redis.internal:6380/0")
///     .keys(StoreKeys::from_file("/etc/mcp-oauth/store.key")?)
///     .prefix("fleet-a")
///     .connect()
///     .await?;
/// # let _ = store;
/// # Ok(()) }
/// ```
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    ca: Option<Ca>,
    prefix: String,
    sealing: Option<Sealing>,
    lease: Duration,
    token_request: Duration,
    response_timeout: Duration,
    connect_timeout: Duration,
}

impl RedisStore {
    /// A builder for the Redis at `url`: `redis://[user:password@]host[:port][/db]`,
    /// or `rediss://` for TLS (the system's roots, unless
    /// [`ca_file`](RedisStoreBuilder::ca_file) names others).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let builder = RedisStore::builder("redis://127.0.0.1:6379/0");
    /// let store = builder.plaintext().connect().await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            ca: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            sealing: None,
            lease: Duration::from_secs(30),
            token_request: Duration::from_secs(30),
            response_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(1),
        }
    }

    /// The storage of one MCP server's credentials, of the default
    /// account ([`storage_for`](Self::storage_for) with `None`).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
    /// let storage = store.storage("https://mcp.example.com/mcp")?;
    /// assert_eq!(storage.account(), None);
    /// # Ok(()) }
    /// ```
    pub fn storage(&self, server_url: &str) -> Result<RedisTokenStorage> {
        self.storage_for(server_url, None)
    }

    /// The store's address, without its password, and its prefix.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
    /// println!("tokens kept in {}", store.name());
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A Redis failure as the error of this store: unreachable (connection
    /// refused or dropped, no answer in time) or a failure of the command.
    pub(crate) fn failure(&self, what: &str, error: redis::RedisError) -> Error {
        let reason = format!("{what}: {error}");
        if error.is_io_error()
            || error.is_timeout()
            || error.is_connection_refusal()
            || error.is_connection_dropped()
        {
            Error::StoreUnreachable {
                store: self.inner.name.clone(),
                reason,
                source: Some(Cause::new(error)),
            }
        } else {
            Error::Storage {
                path: self.inner.name.clone(),
                reason,
                source: Some(Cause::new(error)),
            }
        }
    }

    pub(crate) fn unusable(&self, reason: String) -> Error {
        Error::Storage {
            path: self.inner.name.clone(),
            reason,
            source: None,
        }
    }

    /// Runs `command` on the shared connection; again, every 150 ms for up
    /// to a second, while the connection is dropped or refused (Redis
    /// restarting: the manager reconnects by itself, and only commands in
    /// flight or sent meanwhile fail). Every command here is safe to
    /// repeat: reads, and scripts whose repeat is refused or finds its own
    /// work done. A timeout is not repeated: Redis is hung, and the
    /// caller's budget is spent.
    pub(crate) async fn run<T, F, Fut>(&self, what: &str, command: F) -> Result<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let started = tokio::time::Instant::now();
        loop {
            match command(self.inner.connection.clone()).await {
                Err(error)
                    if !error.is_timeout()
                        && (error.is_connection_dropped()
                            || error.is_io_error()
                            || error.is_connection_refusal())
                        && started.elapsed() < RECONNECT_GRACE =>
                {
                    tracing::debug!(%error, "the connection to Redis dropped; trying again");
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
                other => return other.map_err(|error| self.failure(what, error)),
            }
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("name", &self.inner.name)
            .field("sealed", &matches!(self.inner.sealing, Sealing::Sealed(_)))
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key this store writes (default `mcp-oauth`), so
    /// that several fleets, or other data, share one Redis.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")
    ///     .prefix("fleet-a")
    ///     .plaintext()
    ///     .connect()
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Trusts the certificate authorities in this PEM file (one or more),
    /// instead of the system's roots, for a `rediss://` store: a Redis
    /// whose certificate a private CA signed. Read by
    /// [`connect`](Self::connect).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("rediss://redis.internal:6380")
    ///     .ca_file("/etc/ssl/private-ca.pem")
    ///     .plaintext()
    ///     .connect()
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(Ca::File(path.into()));
        self
    }

    /// [`ca_file`](Self::ca_file) with the PEM text itself.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let pem = std::fs::read("/etc/ssl/private-ca.pem").expect("the private CA's PEM");
    /// let store = RedisStore::builder("rediss://redis.internal:6380")
    ///     .ca_certificates(pem)
    ///     .plaintext()
    ///     .connect()
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(Ca::Pem(pem.into()));
        self
    }

    /// The keys that seal documents (the first) and open them (all).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::{RedisStore, StoreKeys};
    ///
    /// let keys = StoreKeys::from_env()?.expect("MCP_OAUTH_STORE_KEY is set");
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").keys(keys).connect().await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn keys(mut self, keys: StoreKeys) -> Self {
        self.sealing = Some(Sealing::Sealed(keys));
        self
    }

    /// Keeps documents unsealed: tokens and client secrets readable by
    /// anyone who can read Redis. Without [`keys`](Self::keys) or this,
    /// [`connect`](Self::connect) refuses.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// // A Redis only this host can reach, in a test.
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn plaintext(mut self) -> Self {
        self.sealing = Some(Sealing::Plaintext);
        self
    }

    /// How long a lock is held without renewal (default 30 s): a holder
    /// that dies is replaced after it. Held locks are renewed every third
    /// of it.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use std::time::Duration;
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")
    ///     .lease(Duration::from_secs(10))
    ///     .plaintext()
    ///     .connect()
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// The longest a token request may take (default 30 s): when a holder
    /// paused or died after sending one, the next waits this long (and a
    /// lease) for its answer to be saved before spending the same refresh
    /// token, which the authorization server would take for a theft.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use std::time::Duration;
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")
    ///     .token_request_budget(Duration::from_secs(60))
    ///     .plaintext()
    ///     .connect()
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn token_request_budget(mut self, budget: Duration) -> Self {
        self.token_request = budget;
        self
    }

    /// How long to wait for Redis's answer to a command (default 500 ms).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use std::time::Duration;
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")
    ///     .response_timeout(Duration::from_secs(2))
    ///     .plaintext()
    ///     .connect()
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long to wait for a connection (default 1 s).
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use std::time::Duration;
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379")
    ///     .connect_timeout(Duration::from_secs(5))
    ///     .plaintext()
    ///     .connect()
    ///     .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects, and checks that Redis answers; an unreachable Redis is
    /// [`Error::StoreUnreachable`] within the connect timeout.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::Error;
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// match RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await {
    ///     Ok(store) => println!("connected to {}", store.name()),
    ///     Err(Error::StoreUnreachable { .. }) => println!("Redis does not answer"),
    ///     Err(error) => return Err(error),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<RedisStore> {
        let name = store_name(&self.url);
        let Some(sealing) = self.sealing else {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "no key to seal the credentials kept in {name}: give one (32 random bytes in \
                     base64, `openssl rand -base64 32`), or ask for plaintext explicitly"
                ),
            });
        };
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(Error::InvalidConfig {
                reason: "the store prefix must be non-empty, without '{' or '}'".into(),
            });
        }
        let client = client(&self.url, self.ca.as_ref(), &name)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.connect_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let unreachable = |error: redis::RedisError| {
            let reason = error.to_string();
            let source = Some(Cause::new(error));
            Error::StoreUnreachable {
                store: name.clone(),
                reason,
                source,
            }
        };
        let connect = ConnectionManager::new_with_config(client, config);
        let mut connection = match tokio::time::timeout(self.connect_timeout * 3, connect).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) if error.kind() == redis::ErrorKind::AuthenticationFailed => {
                return Err(Error::Storage {
                    path: name.clone(),
                    reason: format!("Redis refused the credentials in the URL: {error}"),
                    source: Some(Cause::new(error)),
                });
            }
            Ok(Err(error)) => return Err(unreachable(error)),
            Err(_) => {
                return Err(Error::StoreUnreachable {
                    store: name.clone(),
                    reason: format!("no connection within {:?}", self.connect_timeout * 3),
                    source: None,
                });
            }
        };
        let _: String = connection.ping().await.map_err(unreachable)?;
        let lease = self.lease;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                connection,
                name: format!("{name} (prefix {})", self.prefix),
                prefix: self.prefix,
                sealing,
                timings: Timings {
                    lease,
                    token_request: self.token_request,
                    poll: Duration::from_millis(50),
                },
            }),
        })
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &store_name(&self.url))
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Where the certificate authorities a `rediss://` store trusts come from.
enum Ca {
    File(PathBuf),
    Pem(Vec<u8>),
}

/// The Redis client for `url`: with TLS trusting only `ca`'s authorities
/// when given (then the URL must be `rediss://`).
fn client(url: &str, ca: Option<&Ca>, name: &str) -> Result<redis::Client> {
    let invalid = |reason: String| Error::InvalidUrl {
        url: name.to_owned(),
        reason,
    };
    let Some(ca) = ca else {
        return redis::Client::open(url).map_err(|error| invalid(error.to_string()));
    };
    if !url.starts_with("rediss://") {
        return Err(invalid(
            "a CA file is for a rediss:// store (TLS); this one is not".into(),
        ));
    }
    let pem = match ca {
        Ca::Pem(pem) => pem.clone(),
        Ca::File(path) => std::fs::read(path).map_err(|error| Error::InvalidConfig {
            reason: format!("could not read the CA file {}: {error}", path.display()),
        })?,
    };
    // An empty trust store would only fail later, at each handshake.
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|window| window == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(Error::InvalidConfig {
            reason: format!("the CA certificates given for {name} hold no PEM certificate"),
        });
    }
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(url, certificates).map_err(|error| Error::InvalidConfig {
        reason: format!("the CA certificates for {name} are not usable PEM: {error}"),
    })
}

/// The address as errors show it: scheme, host, port and database, never
/// the user's password.
pub(crate) fn store_name(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "the Redis URL given".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_in_the_store_name() {
        let name = store_name("redis://agent:hunter2@10.0.0.5:6379/2");
        assert!(!name.contains("hunter2"), "{name}");
        assert!(name.contains("10.0.0.5:6379"), "{name}");
        assert_eq!(store_name("not a url :hunter2"), "the Redis URL given");
    }
}
