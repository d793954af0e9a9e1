//! Credentials kept in memory only, for tests and short-lived programs.

use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;

use super::{StoredCredentials, TokenStorage};
use crate::Result;

/// Keeps credentials in memory; clones share them. Nothing survives the
/// process.
///
/// ```
/// use mcp_oauth::{MemoryTokenStorage, OAuth};
/// let storage = MemoryTokenStorage::new();
/// let builder = OAuth::builder("https://mcp.example.com/mcp").token_storage(storage.clone());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryTokenStorage {
    slot: Arc<Mutex<Option<StoredCredentials>>>,
}

impl MemoryTokenStorage {
    /// An empty store.
    ///
    /// ```
    /// use mcp_oauth::{MemoryTokenStorage, OAuth};
    /// let builder = OAuth::builder("https://mcp.example.com/mcp").token_storage(MemoryTokenStorage::new());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

impl TokenStorage for MemoryTokenStorage {
    fn load(&self) -> BoxFuture<'_, Result<Option<StoredCredentials>>> {
        let stored = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Box::pin(async move { Ok(stored) })
    }

    fn save<'a>(&'a self, credentials: &'a StoredCredentials) -> BoxFuture<'a, Result<()>> {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(credentials.clone());
        Box::pin(async { Ok(()) })
    }

    fn clear(&self) -> BoxFuture<'_, Result<()>> {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Box::pin(async { Ok(()) })
    }
}
