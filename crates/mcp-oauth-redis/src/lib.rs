//! A shared token store on Redis for [`mcp_oauth`]: many processes on many
//! hosts, one identity, one refresh per expiry across all of them.
//!
//! On one machine the default file store is enough: its lock is a file.
//! A fleet (pods of a worker, a CI farm, agent hosts) that calls one MCP
//! server under one identity needs the tokens in one place, and one token
//! request at a time: authorization servers rotate refresh tokens, and a
//! refresh token spent twice revokes the whole family (RFC 9700 §4.14.2),
//! sending every host back to a browser nobody is at.
//!
//! ```no_run
//! # async fn run() -> mcp_oauth::Result<()> {
//! use mcp_oauth::{Auth, Client, OAuth};
//! use mcp_oauth_redis::{RedisStore, StoreKeys};
//!
//! // Once per process.
//! let store = RedisStore::builder("redis://:secret@10.0.0.5:6379/0")
//!     .keys(StoreKeys::from_env()?.expect("MCP_OAUTH_STORE_KEY is set"))
//!     .connect()
//!     .await?;
//! // Per server.
//! let url = "https://mcp.example.com/mcp";
//! let oauth = OAuth::builder(url).token_storage(store.storage(url)?).build()?;
//! let client = Client::builder(url).auth(Auth::from(oauth)).connect().await?;
//! client.ping().await?;
//! # Ok(()) }
//! ```
//!
//! # How the fleet shares one refresh
//!
//! - **A lock with a lease.** `SET <lock> <holder> NX PX 30000`; renewed
//!   every 10 s while a slow token request runs; given back by a script
//!   that deletes it only if it is still the holder's. Others poll every
//!   50–100 ms, then re-read the record and use the tokens the holder saved.
//!   A holder that dies is replaced after its lease; every wait is bounded.
//! - **A fenced save.** Each record carries a generation. A save is a script
//!   that writes only if the generation is still the one this process read,
//!   and bumps it: a holder that paused past its lease (a GC pause,
//!   `SIGSTOP`) and wakes up is refused ([`mcp_oauth::Error::StorageConflict`]),
//!   and the library uses the newer tokens instead. Tokens never roll back.
//!   A logout empties the record rather than deleting it, so the generation
//!   never starts again.
//! - **A spend mark.** Just before a token request the holder renews its
//!   lease in full and marks the record. A successor that finds another
//!   holder's mark for the current generation waits (at most the token
//!   request budget and a lease) for that request's answer to be saved,
//!   rather than spend the same refresh token twice.
//!
//! # Accounts
//!
//! Credentials are kept per (server, account): [`RedisStore::storage_for`]
//! gives `account`'s record (pair it with `OAuthBuilder::account`), and
//! [`RedisStore`] is a [`mcp_oauth::CredentialStore`] for what serves many
//! people. [`RedisStore::storage`] is the default account's record, the one
//! a store has always had.
//!
//! # Encryption at rest
//!
//! Documents are sealed with AES-256-GCM under [`StoreKeys`]: 32 random
//! bytes in base64 (`openssl rand -base64 32`), from a file or
//! `MCP_OAUTH_STORE_KEY`. The key id is stored beside each record and the
//! server's URL, account (a named one), key id and generation are bound in
//! as associated data, so a record copied under another server's or
//! account's name does not open. Rotation: put
//! the new key first and keep the old one after it; records are resealed
//! with the new key at their next save. Without keys,
//! [`RedisStoreBuilder::connect`] refuses, unless
//! [`RedisStoreBuilder::plaintext`] asks for documents in the clear.
//!
//! # TLS
//!
//! `rediss://` connects with TLS (rustls), checking the server's
//! certificate against the system's roots, or only against the
//! certificate authorities given with [`RedisStoreBuilder::ca_file`] (a
//! Redis whose certificate a private CA signed).
//!
//! # Failures
//!
//! An unreachable Redis is [`mcp_oauth::Error::StoreUnreachable`], within
//! the connect timeout (1 s) or the response timeout (500 ms); a command
//! whose connection dropped or was refused is tried again for a second (a
//! Redis restarting comes back within it). Nothing is written, and tokens
//! already in memory are used until they expire. A
//! Redis restarted without persistence has forgotten everything: the next
//! process to be refused signs in once, holding the lock, and the others
//! wait for it and use its tokens. Processes that were running hold the
//! lost refresh token in memory, but spend it only while it is the stored
//! one: it may be spent already by a holder whose answer (and spend mark)
//! went with Redis, and spent again it would revoke the family. Run Redis with `appendonly yes` to keep
//! tokens across restarts.
//!
//! # Keys in Redis
//!
//! `<prefix>:{<id>}:cred` (a hash: `gen`, `url`, `acct`, `kid`, `nonce`,
//! `doc`, `spending`) and `<prefix>:{<id>}:lock`, where `<id>` is a hash of
//! the server's canonical URL, or of the URL and the account for a named
//! one ([`RedisStore::storage_for`]; `acct` holds it, so that a store can
//! be listed). The default account's keys, and its associated data, are
//! what they were before accounts existed: its records open as they are.
//! The braces put a server's two keys in one slot of a Redis Cluster;
//! every script names its keys.
//!
//! # Sentinel and Cluster
//!
//! This crate speaks to one primary. Replication is asynchronous, so a
//! failover can lose the last save (the generation and refresh token go
//! back to a spent one: one `invalid_grant`, then a sign-in) or the lock
//! (two holders for a moment; the fence still refuses the older save). Run
//! replicas with `min-replicas-to-write 1` and `appendfsync always` to
//! narrow that window.
//!
//! # Pending web sign-ins
//!
//! A [`RedisStore`] is also a [`mcp_oauth::PendingStore`]: the two-phase
//! web flow's `begin` keeps an attempt on one instance, and `complete`
//! takes it on any other. Each attempt is a hash,
//! `<prefix>:pending:<id>` (the id is a hash of the `state`): the session
//! binding (a hash too), the expiry, and the document sealed like a
//! credentials record, with the key name, binding and expiry bound in as
//! associated data. A script takes it atomically and once, and only for the
//! session that began it; the key lingers ten minutes past the expiry, so a
//! replayed callback is told apart from an unknown one.

mod account;
mod lease;
mod listing;
mod pending;
mod record;
mod scripts;
mod seal;
mod storage;
mod store;

pub use listing::Listed;
pub use seal::{STORE_KEY_ENV, StoreKeys};
pub use storage::RedisTokenStorage;
pub use store::{DEFAULT_PREFIX, RedisStore, RedisStoreBuilder};
