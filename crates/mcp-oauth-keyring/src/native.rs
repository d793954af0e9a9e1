//! macOS and Windows: the login Keychain and the Credential Manager,
//! through keyring-core's API over their native stores. Its calls block,
//! so each runs on tokio's blocking threads, bounded in time.
//!
//! An item is the generic credential keyring-core makes for the service
//! `mcp-oauth` and the item's user (see [`crate::item`]); the store's items
//! are found by a search on the service (on Windows, on the end of the
//! credential's target name, `<user>.mcp-oauth`).

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use keyring_core::{CredentialStore, Entry, Error as KeyringError};
use mcp_oauth::{Cause, Result};

use crate::{
    Options,
    item::{ItemId, SERVICE, unreachable},
};

pub(crate) struct Backend {
    store: Arc<CredentialStore>,
    timeout: Duration,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keychain")
            .field("store", &self.store)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// An item found, with what it holds.
pub(crate) struct Found {
    pub(crate) id: Option<ItemId>,
    pub(crate) secret: Result<Vec<u8>>,
}

impl Backend {
    /// The OS's own store.
    #[cfg(any(target_os = "macos", windows))]
    pub(crate) async fn open(options: &Options) -> Result<Self> {
        let store = blocking(options.timeout, "opening the keychain", || {
            #[cfg(target_os = "macos")]
            let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
            #[cfg(windows)]
            let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
            Ok(store)
        })
        .await?;
        Ok(Self::on(store, options))
    }

    /// A backend on `store`.
    pub(crate) fn on(store: Arc<CredentialStore>, options: &Options) -> Self {
        Self {
            store,
            timeout: options.timeout,
        }
    }

    /// Checks that the keychain answers, with a read of an item that need
    /// not exist.
    pub(crate) async fn check(&self) -> Result<()> {
        let store = self.store.clone();
        self.run("checking the keychain", move || match Entry::new_in_store(
            &store, SERVICE, "check",
        )?
        .get_secret()
        {
            Ok(_) | Err(KeyringError::NoEntry) => Ok(()),
            Err(error) => Err(error),
        })
        .await
    }

    /// The secret of `id`'s item, if there is one.
    pub(crate) async fn read(&self, id: &ItemId) -> Result<Option<Vec<u8>>> {
        let (store, user) = (self.store.clone(), id.user());
        self.run("reading an item", move || {
            match Entry::new_in_store(&store, SERVICE, &user)?.get_secret() {
                Ok(secret) => Ok(Some(secret)),
                Err(KeyringError::NoEntry) => Ok(None),
                Err(error) => Err(error),
            }
        })
        .await
    }

    /// Replaces the secret of `id`'s item, or creates the item.
    pub(crate) async fn write(&self, id: &ItemId, secret: &[u8]) -> Result<()> {
        let (store, user, secret) = (self.store.clone(), id.user(), secret.to_vec());
        self.run("saving an item", move || {
            Entry::new_in_store(&store, SERVICE, &user)?.set_secret(&secret)
        })
        .await
    }

    /// Deletes `id`'s item; whether there was one.
    pub(crate) async fn delete(&self, id: &ItemId) -> Result<bool> {
        let (store, user) = (self.store.clone(), id.user());
        self.run("deleting an item", move || {
            match Entry::new_in_store(&store, SERVICE, &user)?.delete_credential() {
                Ok(()) => Ok(true),
                Err(KeyringError::NoEntry) => Ok(false),
                Err(error) => Err(error),
            }
        })
        .await
    }

    /// Every item of the store, with its secret.
    pub(crate) async fn list(&self) -> Result<Vec<Found>> {
        let store = self.store.clone();
        self.run("listing the items", move || {
            let mut found = Vec::new();
            for (id, entry) in own_entries(&store)? {
                match entry.get_secret() {
                    // Deleted since the search.
                    Err(KeyringError::NoEntry) => {}
                    secret => found.push(Found {
                        id: Some(id),
                        secret: secret.map_err(failed),
                    }),
                }
            }
            Ok(found)
        })
        .await
    }

    /// Deletes every item of the store; which credentials they held.
    pub(crate) async fn delete_all(&self) -> Result<Vec<Option<ItemId>>> {
        let store = self.store.clone();
        self.run("deleting the items", move || {
            let mut deleted = Vec::new();
            for (id, entry) in own_entries(&store)? {
                match entry.delete_credential() {
                    Ok(()) => deleted.push(Some(id)),
                    Err(KeyringError::NoEntry) => {}
                    Err(error) => return Err(error),
                }
            }
            Ok(deleted)
        })
        .await
    }

    /// `work` on a blocking thread, bounded by the timeout.
    async fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce() -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<T> {
        blocking(self.timeout, what, work).await
    }
}

/// The store's items: those of the service whose user names credentials
/// (a search may match others, on Windows by the end of their name).
fn own_entries(store: &Arc<CredentialStore>) -> keyring_core::Result<Vec<(ItemId, Entry)>> {
    let search = if cfg!(windows) {
        HashMap::from([("pattern", r"\.mcp-oauth$")])
    } else {
        HashMap::from([("service", SERVICE)])
    };
    let mut own = Vec::new();
    for entry in Entry::search_in_store(store, &search)? {
        let id = entry
            .get_specifiers()
            .filter(|(service, _)| service == SERVICE)
            .and_then(|(_, user)| ItemId::from_user(&user));
        if let Some(id) = id {
            own.push((id, entry));
        }
    }
    Ok(own)
}

async fn blocking<T: Send + 'static>(
    timeout: Duration,
    what: &'static str,
    work: impl FnOnce() -> keyring_core::Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(outcome)) => outcome.map_err(failed),
        Ok(Err(error)) => Err(unreachable(
            format!("{what} failed: {error}"),
            Some(Cause::new(error)),
        )),
        Err(_) => Err(unreachable(
            format!(
                "the keychain did not answer in time ({what} took over {} s)",
                timeout.as_secs()
            ),
            None,
        )),
    }
}

/// A call the keychain failed or refused.
fn failed(error: KeyringError) -> mcp_oauth::Error {
    let reason = match &error {
        KeyringError::NoStorageAccess(_) => {
            format!("the keychain is locked or refused access ({error}); unlock it and try again")
        }
        KeyringError::TooLong(..) => format!(
            "the credentials are too large for the keychain ({error}); keep them in files \
             instead"
        ),
        _ => format!("the keychain failed: {error}"),
    };
    unreachable(reason, Some(Cause::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_oauth::ServerUrl;

    fn backend() -> Backend {
        Backend::on(
            keyring_core::mock::Store::new().unwrap(),
            &Options::default(),
        )
    }

    #[tokio::test]
    async fn items_are_kept_found_and_forgotten_through_keyring_core() {
        let backend = backend();
        backend.check().await.unwrap();
        let server = ServerUrl::parse("https://example.com/mcp").unwrap();
        let default = ItemId::new(&server, None);
        let work = ItemId::new(&server, Some("work"));
        assert_eq!(backend.read(&default).await.unwrap(), None);
        backend.write(&default, b"one").await.unwrap();
        backend.write(&work, b"two").await.unwrap();
        backend.write(&work, b"three").await.unwrap();
        assert_eq!(
            backend.read(&work).await.unwrap().as_deref(),
            Some(&b"three"[..])
        );

        let mut listed: Vec<(Option<ItemId>, Vec<u8>)> = backend
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|found| (found.id, found.secret.unwrap()))
            .collect();
        listed.sort_by_key(|(_, secret)| secret.clone());
        assert_eq!(
            listed,
            [
                (Some(default.clone()), b"one".to_vec()),
                (Some(work.clone()), b"three".to_vec())
            ]
        );

        assert!(backend.delete(&work).await.unwrap());
        assert!(!backend.delete(&work).await.unwrap());
        assert_eq!(backend.read(&work).await.unwrap(), None);
        assert_eq!(
            backend.read(&default).await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(backend.delete_all().await.unwrap(), [Some(default.clone())]);
        assert_eq!(backend.read(&default).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_refusing_keychain_is_reported_as_unreachable() {
        let backend = backend();
        let server = ServerUrl::parse("https://example.com/mcp").unwrap();
        let id = ItemId::new(&server, None);
        backend.write(&id, b"x").await.unwrap();
        let entry = Entry::new_in_store(&backend.store, SERVICE, &id.user()).unwrap();
        let mock: &keyring_core::mock::Cred = entry.as_any().downcast_ref().unwrap();
        mock.set_error(KeyringError::NoStorageAccess("locked".into()));
        let error = backend.read(&id).await.unwrap_err();
        assert!(error.is_store_unreachable(), "{error:?}");
        assert!(error.to_string().contains("unlock it"), "{error}");
    }
}
