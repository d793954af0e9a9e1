//! mcp-oauth's credentials in the OS keychain: no token in a file, ever.
//!
//! | OS | keychain | through |
//! | --- | --- | --- |
//! | Linux, the BSDs | the Secret Service on the D-Bus session bus (gnome-keyring, KeePassXC, KWallet) | `secret-service` (pure Rust on zbus, async on tokio; the session's secrets encrypted) |
//! | macOS | the login Keychain | keyring-core and `apple-native-keyring-store` |
//! | Windows | the Credential Manager | keyring-core and `windows-native-keyring-store` |
//!
//! Each OS compiles only its own keychain's client.
//!
//! ```no_run
//! # async fn run() -> mcp_oauth::Result<()> {
//! use mcp_oauth::{Auth, Client, OAuth};
//! use mcp_oauth_keyring::KeyringStore;
//!
//! let url = "https://example.com/mcp";
//! let keychain = KeyringStore::open().await?;
//! let oauth = OAuth::builder(url)
//!     .token_storage(keychain.storage_for(url, None)?)
//!     .build()?;
//! let client = Client::builder(url).auth(Auth::from(oauth)).connect().await?;
//! # let _ = client;
//! # Ok(()) }
//! ```
//!
//! # What is kept, and where
//!
//! One item per (server, account), holding the credentials document (the
//! one the file store writes: authorization server, client registration,
//! tokens) as JSON in its secret. The item's service is `mcp-oauth`, which
//! every item of this store has and every search of them matches; its user
//! is the canonical server URL, with `#account` after it for a named
//! account; its label reads `mcp-oauth: <server URL>` (and the account).
//! On the Secret Service the attributes `server` and `account` name them
//! too. No attribute or label ever holds a token or a secret.
//! [`KeyringStore::list`] and [`KeyringStore::clear_all`] find the items by
//! their service.
//!
//! # One refresh at a time
//!
//! A keychain has no lock, so the store takes the file store's: a
//! [`LockFile`](mcp_oauth::LockFile) per server and account in a folder of
//! its own (the cache folder by default, [`KeyringStoreBuilder::lock_dir`]),
//! holding no secret. Processes that share the keychain refresh one at a
//! time, and one of them signs in while the others wait and then use its
//! tokens.
//!
//! # Before a token request
//!
//! [`TokenStorage::prepare_save`](mcp_oauth::TokenStorage::prepare_save)
//! asks the keychain whether it answers and whether new items can be kept
//! (on the Secret Service: the default collection exists and is unlocked,
//! or is unlocked now if the service can prompt for its password). A
//! keychain that cannot keep the tokens so stops the request before a
//! refresh token or an authorization code is spent.
//!
//! # No keychain
//!
//! No D-Bus session, no Secret Service on it, a collection that stays
//! locked, a keychain that does not answer within
//! [`KeyringStoreBuilder::timeout`]: each is
//! [`Error::StoreUnreachable`](mcp_oauth::Error::StoreUnreachable), naming
//! [`KEYCHAIN`] and saying why. Nothing falls back to a file: choose the
//! file store for that. A headless Linux host needs a Secret Service
//! running and unlocked in its session, e.g. `dbus-run-session -- sh -c
//! 'echo -n "$PASSWORD" | gnome-keyring-daemon --unlock
//! --components=secrets; exec mcp-oauth …'`.
//!
//! # Why a crate of its own
//!
//! The keychain clients are many crates (zbus and the Secret Service on
//! Linux, Security.framework on macOS, the Win32 credential API on
//! Windows) on their own release trains: here a new major of theirs is a
//! new major of this small crate, not of `mcp-oauth`, whose build stays as
//! it is for everyone who keeps tokens in files or in Redis. It is built as
//! the Redis store is, on the library's public
//! [`TokenStorage`](mcp_oauth::TokenStorage) trait and its [`LockFile`](mcp_oauth::LockFile).
//!
//! # Limits
//!
//! The Credential Manager keeps at most 2560 bytes per credential: larger
//! credentials are refused (before a token request when they are that
//! large already). Items go to the Secret Service's default collection.

mod item;
mod storage;
mod store;

#[cfg(any(test, target_os = "macos", windows))]
mod native;
#[cfg(all(unix, not(target_vendor = "apple")))]
mod secret_service;
#[cfg(not(any(all(unix, not(target_vendor = "apple")), target_os = "macos", windows)))]
mod unsupported;

#[cfg(any(target_os = "macos", windows))]
use native::Backend;
#[cfg(all(unix, not(target_vendor = "apple")))]
use secret_service::Backend;
#[cfg(not(any(all(unix, not(target_vendor = "apple")), target_os = "macos", windows)))]
use unsupported::Backend;

pub use storage::KeyringTokenStorage;
pub(crate) use store::Options;
pub use store::{KeyringEntry, KeyringStore, KeyringStoreBuilder};

/// The keychain of this OS, as errors name it: the `store` of
/// [`Error::StoreUnreachable`](mcp_oauth::Error::StoreUnreachable), and
/// the start of the `path` of an item's
/// [`Error::Storage`](mcp_oauth::Error::Storage).
#[cfg(all(unix, not(target_vendor = "apple")))]
pub const KEYCHAIN: &str = "Secret Service";
/// The keychain of this OS, as errors name it: the `store` of
/// [`Error::StoreUnreachable`](mcp_oauth::Error::StoreUnreachable), and
/// the start of the `path` of an item's
/// [`Error::Storage`](mcp_oauth::Error::Storage).
#[cfg(target_os = "macos")]
pub const KEYCHAIN: &str = "macOS Keychain";
/// The keychain of this OS, as errors name it: the `store` of
/// [`Error::StoreUnreachable`](mcp_oauth::Error::StoreUnreachable), and
/// the start of the `path` of an item's
/// [`Error::Storage`](mcp_oauth::Error::Storage).
#[cfg(windows)]
pub const KEYCHAIN: &str = "Windows Credential Manager";
/// The keychain of this OS, as errors name it (none is supported here).
#[cfg(not(any(all(unix, not(target_vendor = "apple")), target_os = "macos", windows)))]
pub const KEYCHAIN: &str = "OS keychain";
