//! A server's record as Redis holds it: one hash with the generation, the
//! server's URL and the account (so that a store can be listed), and the
//! document, sealed or not, with the id of its key and its nonce; and the
//! opening of that document.

use mcp_oauth::{Result, StoredCredentials};
use redis::aio::ConnectionManager;

use crate::{
    seal::{OpenFailure, Sealed},
    store::{RedisStore, Sealing},
};

/// The key id of a document kept unsealed.
pub(crate) const PLAINTEXT_KEY_ID: &str = "plaintext";

/// The fields of a record.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// How many times the record was written; 0 when it never was.
    pub(crate) generation: u64,
    pub(crate) url: Option<String>,
    /// The account, for a named one; `None` for the default account.
    pub(crate) account: Option<String>,
    pub(crate) key_id: Option<String>,
    pub(crate) nonce: Option<Vec<u8>>,
    /// The document; `None` for an empty record (never written, or logged
    /// out of).
    pub(crate) document: Option<Vec<u8>>,
}

/// The record at `key`; `None` when there is no such key.
pub(crate) async fn read_record(
    connection: &mut ConnectionManager,
    key: &str,
) -> redis::RedisResult<Option<Record>> {
    type Fields = (
        Option<u64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let (generation, url, account, key_id, nonce, document): Fields = redis::cmd("HMGET")
        .arg(key)
        .arg(&["gen", "url", "acct", "kid", "nonce", "doc"])
        .query_async(connection)
        .await?;
    if generation.is_none() && document.is_none() && url.is_none() {
        return Ok(None);
    }
    Ok(Some(Record {
        generation: generation.unwrap_or(0),
        url,
        account: account.filter(|account| !account.is_empty()),
        key_id,
        nonce,
        document,
    }))
}

/// A record's owner as messages name it: the server, and a named account.
fn owner(server_url: &str, account: Option<&str>) -> String {
    match account {
        Some(account) => format!("{server_url} (account {account:?})"),
        None => server_url.to_owned(),
    }
}

impl RedisStore {
    /// The document in `record`, opened as `account`'s credentials for
    /// `server_url`; `None` for an empty record.
    pub(crate) fn open(
        &self,
        record: &Record,
        server_url: &str,
        account: Option<&str>,
    ) -> Result<Option<StoredCredentials>> {
        let Some(document) = &record.document else {
            return Ok(None);
        };
        let owner = mcp_oauth::terminal_safe_line(&owner(server_url, account));
        let plain = match (&self.inner.sealing, record.key_id.as_deref()) {
            (_, None | Some(PLAINTEXT_KEY_ID)) => {
                if matches!(self.inner.sealing, Sealing::Sealed(_)) {
                    tracing::warn!(store = %self.inner.name, server = server_url, "a plaintext record in a sealed store; it is sealed at its next save");
                }
                document.clone()
            }
            (Sealing::Plaintext, Some(key_id)) => {
                return Err(self.unusable(format!(
                    "the record of {owner} is sealed with key {key_id} and no store key \
                     was given; give the store's key"
                )));
            }
            (Sealing::Sealed(keys), Some(key_id)) => keys
                .open(Sealed {
                    server_url,
                    account,
                    generation: record.generation,
                    key_id,
                    nonce: record.nonce.as_deref().unwrap_or_default(),
                    sealed: document,
                })
                .map_err(|failure| {
                    self.unusable(match failure {
                        OpenFailure::UnknownKey => format!(
                            "the record of {owner} is sealed with key {key_id}, which is not \
                             among the keys given ({}); give that key too",
                            keys.active_id()
                        ),
                        OpenFailure::DoesNotOpen => format!(
                            "the record of {owner} does not open with key {key_id}: a wrong \
                             key under that id, or a record altered or moved from another \
                             server's or account's name"
                        ),
                    })
                })?,
        };
        let credentials: StoredCredentials = serde_json::from_slice(&plain).map_err(|error| {
            self.unusable(format!(
                "the record of {owner} is not a credentials document ({error}); log out of it \
                 and log in again"
            ))
        })?;
        if credentials.server_url() != server_url {
            return Err(self.unusable(format!(
                "the record under the name of {owner} is for another server"
            )));
        }
        if credentials.account() != account {
            return Err(self.unusable(format!(
                "the record under the name of {owner} holds the credentials of {}",
                match credentials.account() {
                    Some(other) => format!("account {:?}", mcp_oauth::terminal_safe_line(other)),
                    None => "the default account".to_owned(),
                }
            )));
        }
        Ok(Some(credentials))
    }
}
