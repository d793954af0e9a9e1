//! Where credentials live between runs: the [`TokenStorage`] trait, the
//! default [`FileTokenStorage`] and the [`MemoryTokenStorage`].

mod account;
mod document;
mod file;
mod lock;
mod memory;
mod pending;
mod prepared;
mod records;
mod shared;

use std::fmt;

use futures::future::BoxFuture;

pub use self::{
    account::{MAX_ACCOUNT_LEN, check_account},
    document::StoredCredentials,
    file::{FileTokenStorage, LockFile},
    lock::{LockRelease, StorageLock},
    memory::MemoryTokenStorage,
    pending::{PendingAttempt, PendingStore, Taken},
    prepared::PreparedSave,
    shared::{CredentialStore, MemoryStore},
};
pub(crate) use self::{
    document::SCHEMA_VERSION,
    records::{
        AuthServerMetadata, Registration, RegistrationKind, Tokens, lenient_bool, lenient_strings,
    },
};
use crate::Result;

/// Storage for the credentials of one MCP server.
///
/// Implement it to keep credentials elsewhere (a keychain, a database); the
/// document is plain serde, so any store of JSON works:
///
/// ```
/// use futures::future::BoxFuture;
/// use mcp_oauth::{Result, StoredCredentials, TokenStorage};
/// use std::sync::Mutex;
///
/// #[derive(Debug, Default)]
/// struct InAString(Mutex<Option<String>>);
///
/// impl TokenStorage for InAString {
///     fn load(&self) -> BoxFuture<'_, Result<Option<StoredCredentials>>> {
///         let text = self.0.lock().unwrap().clone();
///         Box::pin(async move { Ok(text.and_then(|t| serde_json::from_str(&t).ok())) })
///     }
///     fn save<'a>(&'a self, credentials: &'a StoredCredentials) -> BoxFuture<'a, Result<()>> {
///         *self.0.lock().unwrap() = serde_json::to_string(credentials).ok();
///         Box::pin(async { Ok(()) })
///     }
///     fn clear(&self) -> BoxFuture<'_, Result<()>> {
///         *self.0.lock().unwrap() = None;
///         Box::pin(async { Ok(()) })
///     }
/// }
/// ```
pub trait TokenStorage: Send + Sync + fmt::Debug {
    /// The stored credentials, if any.
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredCredentials>>>;
    /// Replaces the stored credentials. A failure must be reported: a
    /// rotated refresh token that is not saved is lost.
    fn save<'a>(&'a self, credentials: &'a StoredCredentials) -> BoxFuture<'a, Result<()>>;
    /// Forgets everything stored.
    fn clear(&self) -> BoxFuture<'_, Result<()>>;

    /// Makes sure a save of credentials like `credentials` (with new tokens
    /// in them) will succeed, before something that cannot be undone: a
    /// rotating refresh token is spent, an authorization code exchanged.
    /// Called before every token request; the tokens it brings are then
    /// saved with [`save_prepared`](Self::save_prepared). A failure here
    /// stops the request, and everything stored stays as it was.
    ///
    /// The file store creates the temporary file and takes the space the
    /// document will need, so that a full disk fails here; a database could
    /// check its connection, a keychain that it is unlocked. The default
    /// prepares nothing.
    fn prepare_save<'a>(
        &'a self,
        credentials: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<PreparedSave>> {
        let _ = credentials;
        Box::pin(async { Ok(PreparedSave::none()) })
    }

    /// Saves `credentials` with what [`prepare_save`](Self::prepare_save)
    /// made ready. The default ignores it and [`save`](Self::save)s.
    fn save_prepared<'a>(
        &'a self,
        prepared: PreparedSave,
        credentials: &'a StoredCredentials,
    ) -> BoxFuture<'a, Result<()>> {
        drop(prepared);
        self.save(credentials)
    }

    /// Holds other processes off these credentials until the returned guard
    /// is dropped, waiting at most `wait` for one that holds them. Taken
    /// around a refresh (so a rotating refresh token is used once) and around
    /// a login (so one browser sign-in serves every process). The default
    /// does nothing: a store private to one process needs no lock.
    fn lock(&self, wait: std::time::Duration) -> BoxFuture<'_, Result<StorageLock>> {
        let _ = wait;
        Box::pin(async { Ok(StorageLock::none()) })
    }
}
