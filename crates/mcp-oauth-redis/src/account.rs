//! Accounts: each (server, account) has its own record and lock. The
//! default account's keys are named as they always were, from the server's
//! URL alone, so records written before accounts existed are found, and
//! open, where they are.

use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine as _;
use mcp_oauth::{CredentialStore, Result, ServerUrl, TokenStorage, check_account};

use crate::{storage::RedisTokenStorage, store::RedisStore};

impl RedisStore {
    /// The storage of `account`'s credentials for one MCP server; `None` is
    /// the default account, the one [`storage`](Self::storage) gives. A
    /// name that [`check_account`] refuses is
    /// [`Error::InvalidConfig`](mcp_oauth::Error::InvalidConfig).
    ///
    /// ```no_run
    /// # async fn run(store: mcp_oauth_redis::RedisStore) -> mcp_oauth::Result<()> {
    /// use mcp_oauth::OAuth;
    ///
    /// let url = "https://mcp.example.com/mcp";
    /// let oauth = OAuth::builder(url)
    ///     .account("user-42")
    ///     .token_storage(store.storage_for(url, Some("user-42"))?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn storage_for(
        &self,
        server_url: &str,
        account: Option<&str>,
    ) -> Result<RedisTokenStorage> {
        if let Some(account) = account {
            check_account(account)?;
        }
        Ok(RedisTokenStorage::new(
            self.clone(),
            ServerUrl::parse(server_url)?,
            account.map(str::to_owned),
        ))
    }

    /// The names of `account`'s keys for `server`: `<prefix>:{<id>}:cred`
    /// and `…:lock`. The id is a hash of the canonical URL for the default
    /// account (as the file store names its files), and of the URL and the
    /// account, each preceded by its length, for a named one; so key names
    /// carry neither, and the braces put both keys in one Cluster slot.
    pub(crate) fn key_names(&self, server: &ServerUrl, account: Option<&str>) -> (String, String) {
        let hash = match account {
            None => digest::digest(&digest::SHA256, server.as_str().as_bytes()),
            Some(account) => digest::digest(&digest::SHA256, &pair(server.as_str(), account)),
        };
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash.as_ref()[..18]);
        let base = format!("{}:{{{id}}}", self.inner.prefix);
        (format!("{base}:cred"), format!("{base}:lock"))
    }
}

/// The (URL, account) pair as hashed: each part preceded by its length in
/// 8 bytes, big-endian. No two pairs give the same bytes, and none gives a
/// bare URL's (a URL never begins with a zero byte).
fn pair(url: &str, account: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16 + url.len() + account.len());
    for part in [url, account] {
        bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

/// A store of every server's and account's credentials, for what takes a
/// [`CredentialStore`] (a platform's web flow): the storage is
/// [`RedisStore::storage_for`]'s.
impl CredentialStore for RedisStore {
    fn storage(&self, server_url: &str, account: Option<&str>) -> Result<Arc<dyn TokenStorage>> {
        Ok(Arc::new(self.storage_for(server_url, account)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_come_first_so_no_two_pairs_collide() {
        assert_ne!(pair("ab", "c"), pair("a", "bc"));
        assert_eq!(
            pair("u", "a"),
            [
                &[0, 0, 0, 0, 0, 0, 0, 1][..],
                b"u",
                &[0, 0, 0, 0, 0, 0, 0, 1],
                b"a"
            ]
            .concat()
        );
    }
}
