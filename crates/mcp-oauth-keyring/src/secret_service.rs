//! Linux and the BSDs: the Secret Service (gnome-keyring, KeePassXC,
//! KWallet) on the D-Bus session bus, through `secret-service`'s async API
//! on this process's tokio runtime, its session encrypted (Diffie-Hellman,
//! AES in Rust).
//!
//! Items live in the default collection with the attributes `service`
//! (`mcp-oauth`) and `username` (see [`crate::item`]), and, for people
//! and their tools, `server` (the URL) and `account` (for a named one).
//! Locked items are unlocked through the service's prompt when read; a
//! prompt nobody can answer (no desktop session) is dismissed at once.

use std::{collections::HashMap, fmt, time::Duration};

use mcp_oauth::{Cause, Result};
use secret_service::{EncryptionType, Error as SsError, Item, SecretService};

use crate::{
    Options,
    item::{ItemId, SERVICE, unreachable},
};

/// The secret's content type.
const CONTENT_TYPE: &str = "application/json";

pub(crate) struct Backend {
    service: SecretService<'static>,
    timeout: Duration,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretService")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// An item found, with what it holds.
pub(crate) struct Found {
    pub(crate) id: Option<ItemId>,
    pub(crate) secret: Result<Vec<u8>>,
}

impl Backend {
    /// Connects to the session bus and opens a session with the Secret
    /// Service.
    pub(crate) async fn open(options: &Options) -> Result<Self> {
        let timeout = options.timeout;
        let bus = options.session_bus.clone();
        let where_ = match &bus {
            Some(address) => address.clone(),
            None => std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_else(|_| {
                "the default address (DBUS_SESSION_BUS_ADDRESS is unset)".into()
            }),
        };
        let connection = bounded(timeout, "connecting to the D-Bus session bus", async {
            let connection = match &bus {
                Some(address) => {
                    zbus::connection::Builder::address(address.as_str())?
                        .build()
                        .await
                }
                None => zbus::Connection::session().await,
            };
            connection.map_err(SsError::Zbus)
        })
        .await
        .map_err(|error| {
            unreachable(
                format!("no D-Bus session bus answers at {where_} ({error})"),
                Some(Cause::new(error)),
            )
        })?;
        let service = bounded(
            timeout,
            "opening a session with the Secret Service",
            SecretService::connect_with_existing(EncryptionType::Dh, connection),
        )
        .await
        .map_err(|error| {
            unreachable(
                format!(
                    "no Secret Service answers on the D-Bus session bus at {where_} (start \
                     gnome-keyring, KeePassXC or KWallet in this session) ({error})"
                ),
                Some(Cause::new(error)),
            )
        })?;
        Ok(Self { service, timeout })
    }

    /// Checks that the default collection, where new items go, exists and
    /// is unlocked, unlocking it if it is not (the service may prompt).
    pub(crate) async fn check(&self) -> Result<()> {
        self.bounded("checking the default collection", async {
            let collection = match self.service.get_default_collection().await {
                Err(SsError::NoResult) => {
                    return Err(unreachable(
                        "the Secret Service has no default collection to keep items in; \
                         create one (a login keyring) and make it the default"
                            .into(),
                        None,
                    ));
                }
                other => other.map_err(failed)?,
            };
            if collection.is_locked().await.map_err(failed)? {
                tracing::debug!("the default collection is locked; asking to unlock it");
                collection.unlock().await.map_err(|error| {
                    unreachable(
                        format!(
                            "the default collection is locked and was not unlocked ({error}); \
                             unlock it (log in to the desktop, or `gnome-keyring-daemon \
                             --unlock` with its password on stdin)"
                        ),
                        Some(Cause::new(error)),
                    )
                })?;
            }
            Ok(())
        })
        .await
    }

    /// The secret of `id`'s item, if there is one.
    pub(crate) async fn read(&self, id: &ItemId) -> Result<Option<Vec<u8>>> {
        self.bounded("reading an item", async {
            let Some(item) = self.find(id).await? else {
                return Ok(None);
            };
            item.get_secret().await.map(Some).map_err(failed)
        })
        .await
    }

    /// Replaces the secret of `id`'s item, or creates the item.
    pub(crate) async fn write(&self, id: &ItemId, secret: &[u8]) -> Result<()> {
        self.bounded("saving an item", async {
            if let Some(item) = self.find(id).await? {
                return item.set_secret(secret, CONTENT_TYPE).await.map_err(failed);
            }
            let collection = self
                .service
                .get_default_collection()
                .await
                .map_err(failed)?;
            if collection.is_locked().await.map_err(failed)? {
                collection.unlock().await.map_err(failed)?;
            }
            let user = id.user();
            let mut attributes = HashMap::from([
                ("service", SERVICE),
                ("username", user.as_str()),
                ("server", id.server()),
            ]);
            if let Some(account) = id.account() {
                attributes.insert("account", account);
            }
            collection
                .create_item(&id.label(), attributes, secret, true, CONTENT_TYPE)
                .await
                .map(drop)
                .map_err(failed)
        })
        .await
    }

    /// Deletes `id`'s item (and any duplicate of it); whether there was one.
    pub(crate) async fn delete(&self, id: &ItemId) -> Result<bool> {
        self.bounded("deleting an item", async {
            let user = id.user();
            let items = self
                .search(&[("service", SERVICE), ("username", &user)])
                .await?;
            for item in &items {
                item.delete().await.map_err(failed)?;
            }
            Ok(!items.is_empty())
        })
        .await
    }

    /// Every item of the store, with its secret.
    pub(crate) async fn list(&self) -> Result<Vec<Found>> {
        self.bounded("listing the items", async {
            let mut found = Vec::new();
            for item in self.search(&[("service", SERVICE)]).await? {
                found.push(Found {
                    id: id_of(&item).await,
                    secret: item.get_secret().await.map_err(failed),
                });
            }
            Ok(found)
        })
        .await
    }

    /// Deletes every item of the store; which credentials they held.
    pub(crate) async fn delete_all(&self) -> Result<Vec<Option<ItemId>>> {
        self.bounded("deleting the items", async {
            let mut deleted = Vec::new();
            for item in self.search(&[("service", SERVICE)]).await? {
                let id = id_of(&item).await;
                item.delete().await.map_err(failed)?;
                deleted.push(id);
            }
            Ok(deleted)
        })
        .await
    }

    /// The one item of `id`; several (made by hand, or by another tool) are
    /// an error, which names how to clear them.
    async fn find(&self, id: &ItemId) -> Result<Option<Item<'_>>> {
        let user = id.user();
        let mut items = self
            .search(&[("service", SERVICE), ("username", &user)])
            .await?;
        match items.len() {
            0 | 1 => Ok(items.pop()),
            count => Err(id.error(
                format!(
                    "{count} items hold these credentials, and which is right cannot be told; \
                     forget these credentials (logout) and log in again"
                ),
                None,
            )),
        }
    }

    /// The items whose attributes include `attributes`, unlocked (locked
    /// ones are unlocked first: the service may prompt).
    async fn search(&self, attributes: &[(&str, &str)]) -> Result<Vec<Item<'_>>> {
        let found = self
            .service
            .search_items(attributes.iter().copied().collect())
            .await
            .map_err(failed)?;
        if !found.locked.is_empty() {
            let locked: Vec<&Item<'_>> = found.locked.iter().collect();
            self.service.unlock_all(&locked).await.map_err(|error| {
                unreachable(
                    format!(
                        "the keyring holding these credentials is locked and was not unlocked \
                         ({error}); unlock it and try again"
                    ),
                    Some(Cause::new(error)),
                )
            })?;
        }
        Ok(found.unlocked.into_iter().chain(found.locked).collect())
    }

    async fn bounded<T>(&self, what: &str, work: impl Future<Output = Result<T>>) -> Result<T> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(outcome) => outcome,
            Err(_) => Err(did_not_answer(what, self.timeout)),
        }
    }
}

/// The credentials an item holds, by its `username` attribute.
async fn id_of(item: &Item<'_>) -> Option<ItemId> {
    let attributes = item.get_attributes().await.ok()?;
    ItemId::from_user(attributes.get("username")?)
}

/// `work`, given at most `timeout`; a timeout is reported as the service's
/// error would be.
async fn bounded<T>(
    timeout: Duration,
    what: &str,
    work: impl Future<Output = std::result::Result<T, SsError>>,
) -> std::result::Result<T, SsError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(outcome) => outcome,
        Err(_) => Err(SsError::ZbusFdo(zbus::fdo::Error::TimedOut(format!(
            "{what} took over {} s",
            timeout.as_secs()
        )))),
    }
}

fn did_not_answer(what: &str, timeout: Duration) -> mcp_oauth::Error {
    unreachable(
        format!(
            "the Secret Service did not answer in time ({what} took over {} s)",
            timeout.as_secs()
        ),
        None,
    )
}

/// A call the service failed or refused.
fn failed(error: SsError) -> mcp_oauth::Error {
    let reason = match &error {
        SsError::Locked | SsError::Prompt | SsError::PromptDisconnected => {
            format!("the keyring is locked and was not unlocked ({error}); unlock it and try again")
        }
        _ => format!("the Secret Service failed: {error}"),
    };
    unreachable(reason, Some(Cause::new(error)))
}
