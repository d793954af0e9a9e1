//! Where credentials live between runs: the [`TokenStorage`] trait, the
//! default [`FileTokenStorage`] and the [`MemoryTokenStorage`].

mod file;
mod memory;

use std::fmt;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use self::{file::FileTokenStorage, memory::MemoryTokenStorage};
use crate::{
    Result,
    auth::{AuthServerMetadata, Registration, Tokens},
};

/// The version of the credentials document this build writes and reads.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Everything remembered about one MCP server: the authorization server it
/// uses (so a refresh after a restart needs no discovery), the client
/// registration (with its secret) and the tokens (with an absolute expiry).
///
/// It serializes to JSON for storage; its `Debug` output hides every secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredCredentials {
    pub(crate) version: u32,
    pub(crate) server_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorization_server: Option<AuthServerMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) registration: Option<Registration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tokens: Option<Tokens>,
    pub(crate) updated_at: u64,
}

impl StoredCredentials {
    pub(crate) fn new(server_url: &str) -> Self {
        Self {
            version: SCHEMA_VERSION,
            server_url: server_url.to_owned(),
            issuer: None,
            resource: None,
            authorization_server: None,
            registration: None,
            tokens: None,
            updated_at: crate::secret::now(),
        }
    }

    /// The MCP server these credentials are for.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The authorization server that issued them.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The client id at that authorization server.
    pub fn client_id(&self) -> Option<&str> {
        self.registration
            .as_ref()
            .map(|registration| registration.client_id.as_str())
    }

    /// The scopes granted.
    pub fn scope(&self) -> Option<&str> {
        self.tokens
            .as_ref()
            .and_then(|tokens| tokens.scope.as_deref())
    }

    /// When the access token expires (Unix seconds), if known.
    pub fn expires_at(&self) -> Option<u64> {
        self.tokens.as_ref().and_then(|tokens| tokens.expires_at)
    }

    /// Whether a refresh token is stored.
    pub fn can_refresh(&self) -> bool {
        self.tokens
            .as_ref()
            .is_some_and(|tokens| tokens.refresh_token.is_some())
    }
}

impl fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("server_url", &self.server_url)
            .field("issuer", &self.issuer)
            .field("registration", &self.registration)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

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

/// A held [`TokenStorage::lock`]; dropping it releases the lock.
#[derive(Debug)]
pub struct StorageLock {
    _file: Option<std::fs::File>,
}

impl StorageLock {
    /// A guard that holds nothing.
    pub fn none() -> Self {
        Self { _file: None }
    }

    /// A guard that holds an OS lock on `file` (released when it closes).
    pub fn holding(file: std::fs::File) -> Self {
        Self { _file: Some(file) }
    }
}
