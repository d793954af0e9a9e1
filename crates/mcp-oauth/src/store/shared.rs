//! A store of many servers' and accounts' credentials: the
//! [`CredentialStore`] trait, and [`MemoryStore`], which keeps everything
//! (pending web sign-ins too) in one process's memory.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use futures::future::BoxFuture;

use super::{
    MemoryTokenStorage, TokenStorage,
    account::check_account,
    pending::{PendingAttempt, PendingStore, Taken},
};
use crate::{Error, Result, ServerUrl};

/// Credentials for any server and account: what a platform that serves
/// many people, or a fleet, hands to [`WebFlow`](crate::WebFlow).
///
/// The Redis store of `mcp-oauth-redis` is one; [`MemoryStore`] keeps
/// everything in memory. A store gives one [`TokenStorage`] per (server,
/// account), and two accounts never share a document.
///
/// ```
/// # fn main() -> mcp_oauth::Result<()> {
/// use mcp_oauth::{CredentialStore, MemoryStore};
/// let store = MemoryStore::new();
/// let work = store.storage("https://mcp.example.com/mcp", Some("work"))?;
/// # Ok(()) }
/// ```
pub trait CredentialStore: Send + Sync + fmt::Debug {
    /// The storage of `account`'s credentials for the MCP server at
    /// `server_url`; `None` is the default account.
    fn storage(&self, server_url: &str, account: Option<&str>) -> Result<Arc<dyn TokenStorage>>;
}

/// Everything in this process's memory: credentials per (server, account)
/// and pending web sign-ins. Clones share it. For tests, and for a
/// platform that runs as one instance and may lose its users' tokens on a
/// restart; several instances need a shared store such as Redis.
///
/// ```
/// use mcp_oauth::{MemoryStore, WebFlow};
/// let store = MemoryStore::new();
/// let builder = WebFlow::builder(store.clone(), "https://agents.example.com/oauth/callback");
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    documents: Mutex<HashMap<(String, Option<String>), MemoryTokenStorage>>,
    pending: Mutex<HashMap<String, Slot>>,
}

/// How long a taken or expired attempt is remembered as such.
const REMEMBER_MS: u64 = 10 * 60 * 1000;

#[derive(Debug)]
enum Slot {
    Waiting(PendingAttempt),
    /// Taken; forgotten after the given moment.
    Used(u64),
}

impl MemoryStore {
    /// An empty store.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let web = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback").build()?;
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

impl CredentialStore for MemoryStore {
    fn storage(&self, server_url: &str, account: Option<&str>) -> Result<Arc<dyn TokenStorage>> {
        let server = ServerUrl::parse(server_url)?;
        if let Some(account) = account {
            check_account(account)?;
        }
        let key = (server.as_str().to_owned(), account.map(str::to_owned));
        let mut documents = self
            .inner
            .documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::new(documents.entry(key).or_default().clone()))
    }
}

impl PendingStore for MemoryStore {
    fn put<'a>(&'a self, attempt: &'a PendingAttempt) -> BoxFuture<'a, Result<()>> {
        let mut pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = crate::clock::now_ms();
        pending.retain(|_, slot| match slot {
            Slot::Waiting(attempt) => attempt.expires_at_ms + REMEMBER_MS > now,
            Slot::Used(until) => *until > now,
        });
        let outcome = if pending.contains_key(&attempt.id) {
            Err(Error::InvalidConfig {
                reason: "a pending sign-in with this id exists already".into(),
            })
        } else {
            pending.insert(attempt.id.clone(), Slot::Waiting(attempt.clone()));
            Ok(())
        };
        Box::pin(async move { outcome })
    }

    fn take<'a>(
        &'a self,
        id: &'a str,
        binding: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Taken>> {
        let mut pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let taken = match pending.get(id) {
            None => Taken::Unknown,
            Some(Slot::Used(_)) => Taken::AlreadyUsed,
            Some(Slot::Waiting(attempt)) if attempt.expires_at_ms <= now_ms => Taken::Expired,
            Some(Slot::Waiting(attempt)) if attempt.binding != binding => Taken::OtherSession,
            Some(Slot::Waiting(_)) => {
                match pending.insert(id.to_owned(), Slot::Used(now_ms + REMEMBER_MS)) {
                    Some(Slot::Waiting(attempt)) => Taken::Attempt(attempt),
                    _ => Taken::Unknown,
                }
            }
        };
        Box::pin(async move { Ok(taken) })
    }
}
