//! One keychain item per (server, account): how it is named, labelled and
//! found, and the document it holds.
//!
//! Every item has the service `mcp-oauth` (the attribute every search of
//! the store's items matches on) and the user `<server URL>` for the
//! default account or `<server URL>#<account>` for a named one: a canonical
//! server URL never holds a `#` (it has no fragment), so the two parts are
//! told apart without ambiguity. Those are the names keyring-core gives
//! (service, user) on every OS, so other keyring tools find the items under
//! the same names. The secret is the credentials document as JSON.

use mcp_oauth::{Cause, Error, Result, ServerUrl, StoredCredentials, terminal_safe_line};

use crate::KEYCHAIN;

/// The service of every item of the store.
pub(crate) const SERVICE: &str = "mcp-oauth";

/// Which credentials an item holds: a server (its canonical URL) and an
/// account (`None`: the default one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemId {
    server: String,
    account: Option<String>,
}

impl ItemId {
    pub(crate) fn new(server: &ServerUrl, account: Option<&str>) -> Self {
        Self {
            server: server.as_str().to_owned(),
            account: account.map(str::to_owned),
        }
    }

    /// The item's user name: the server URL, and `#account` for a named
    /// account.
    pub(crate) fn user(&self) -> String {
        match &self.account {
            None => self.server.clone(),
            Some(account) => format!("{}#{account}", self.server),
        }
    }

    /// The credentials a user name names; `None` when it is not one this
    /// store makes.
    pub(crate) fn from_user(user: &str) -> Option<Self> {
        let (server, account) = match user.split_once('#') {
            Some((server, account)) => (server, Some(account)),
            None => (user, None),
        };
        let parsed = ServerUrl::parse(server).ok()?;
        if parsed.as_str() != server {
            return None;
        }
        if let Some(account) = account {
            mcp_oauth::check_account(account).ok()?;
        }
        Some(Self::new(&parsed, account))
    }

    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    pub(crate) fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// What a person sees in a keychain manager: never a token.
    pub(crate) fn label(&self) -> String {
        match &self.account {
            None => format!("{SERVICE}: {}", self.server),
            Some(account) => format!("{SERVICE}: {} (account {account:?})", self.server),
        }
    }

    /// The item as errors name it, safe for a terminal.
    pub(crate) fn describe(&self) -> String {
        terminal_safe_line(&format!("{KEYCHAIN} item {}", self.user()))
    }

    /// The item's secret for `credentials`, which must be this item's.
    pub(crate) fn encode(&self, credentials: &StoredCredentials) -> Result<Vec<u8>> {
        if credentials.account() != self.account() {
            return Err(self.error(
                format!(
                    "the credentials of {} cannot be kept in the item of {}; give the same \
                     account to the storage and to OAuthBuilder::account",
                    account_label(credentials.account()),
                    account_label(self.account()),
                ),
                None,
            ));
        }
        serde_json::to_vec(credentials).map_err(|error| {
            self.error(
                format!("could not encode the credentials: {error}"),
                Some(Cause::new(error)),
            )
        })
    }

    /// The credentials in the item's `secret`; an item that holds anything
    /// else (or another server's or account's) is an error that says what
    /// to do, and is left as it is.
    pub(crate) fn decode(&self, secret: &[u8]) -> Result<StoredCredentials> {
        let credentials: StoredCredentials = serde_json::from_slice(secret).map_err(|error| {
            self.error(
                format!(
                    "not a valid credentials document ({error}); forget these credentials \
                     and log in again"
                ),
                None,
            )
        })?;
        let server = ServerUrl::parse(credentials.server_url()).ok();
        let same_server = server.is_some_and(|url| url.as_str() == self.server);
        if !same_server || credentials.account() != self.account() {
            return Err(self.error(
                format!(
                    "the item holds the credentials of {} for {}, not of this item's (changed \
                     by hand?); forget these credentials and log in again",
                    account_label(credentials.account()),
                    terminal_safe_line(credentials.server_url()),
                ),
                None,
            ));
        }
        Ok(credentials)
    }

    /// A failure of this item's credentials (not of the keychain).
    pub(crate) fn error(&self, reason: String, source: Option<Cause>) -> Error {
        Error::Storage {
            path: self.describe(),
            reason,
            source,
        }
    }
}

/// An account as messages name it.
fn account_label(account: Option<&str>) -> String {
    match account {
        Some(name) => format!("account {:?}", terminal_safe_line(name)),
        None => "the default account".to_owned(),
    }
}

/// The keychain failing or refusing (not answering, locked): the store
/// cannot be used at all.
pub(crate) fn unreachable(reason: String, source: Option<Cause>) -> Error {
    Error::StoreUnreachable {
        store: KEYCHAIN.to_owned(),
        reason,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_named_by_its_server_and_account_and_read_back() {
        let server = ServerUrl::parse("HTTPS://Example.com:443/mcp").unwrap();
        let default = ItemId::new(&server, None);
        let work = ItemId::new(&server, Some("work #2"));
        assert_eq!(default.user(), "https://example.com/mcp");
        assert_eq!(work.user(), "https://example.com/mcp#work #2");
        assert_eq!(default.label(), "mcp-oauth: https://example.com/mcp");
        assert_eq!(
            work.label(),
            "mcp-oauth: https://example.com/mcp (account \"work #2\")"
        );
        for id in [&default, &work] {
            assert_eq!(ItemId::from_user(&id.user()).as_ref(), Some(id));
        }
        for foreign in [
            "",
            "notes",
            "HTTPS://Example.com/mcp",
            "https://x.example/#",
            "x#y",
        ] {
            assert_eq!(ItemId::from_user(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn a_document_is_refused_by_another_items_reader() {
        let server = ServerUrl::parse("https://example.com/mcp").unwrap();
        let work = ItemId::new(&server, Some("work"));
        let home = ItemId::new(&server, Some("home"));
        let document = br#"{"version":1,"server_url":"https://example.com/mcp","account":"work","updated_at":0}"#;
        let read = work.decode(document).unwrap();
        assert_eq!(read.account(), Some("work"));
        assert_eq!(
            work.encode(&read).unwrap(),
            serde_json::to_vec(&read).unwrap()
        );

        let refused = home.decode(document).unwrap_err().to_string();
        assert!(refused.contains("account \"work\""), "{refused}");
        assert!(home.encode(&read).is_err());
        let elsewhere = ItemId::new(
            &ServerUrl::parse("https://other.example/mcp").unwrap(),
            None,
        );
        assert!(
            elsewhere
                .decode(br#"{"version":1,"server_url":"https://example.com/mcp","updated_at":0}"#)
                .is_err()
        );
        let torn = work.decode(b"{ torn").unwrap_err();
        assert!(matches!(torn, Error::Storage { .. }), "{torn:?}");
        assert!(torn.to_string().contains("log in again"), "{torn}");
    }
}
