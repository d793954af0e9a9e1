//! What a store holds, across servers and accounts: listed for `status`,
//! and emptied for `logout --all`.

use mcp_oauth::{Result, StoredCredentials};

use crate::{record::read_record, store::RedisStore};

impl RedisStore {
    /// Every server's credentials under this store's prefix, of every
    /// account, opened with its keys; a record that does not open is an
    /// error next to its server and account.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
    /// for listed in store.list().await? {
    ///     let state = if listed.credentials.is_ok() { "ok" } else { "does not open" };
    ///     println!("{} {:?}: {state}", listed.server_url, listed.account);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(&self) -> Result<Vec<Listed>> {
        let mut listed = Vec::new();
        for key in self.record_keys().await? {
            let read = self
                .run("could not read a record", |mut connection| {
                    let key = &key;
                    async move { read_record(&mut connection, key).await }
                })
                .await?;
            let Some(record) = read else {
                continue;
            };
            let Some(server_url) = record.url.clone() else {
                continue;
            };
            let key_id = record.key_id.clone();
            let generation = record.generation;
            if record.document.is_none() {
                continue;
            }
            let account = record.account.clone();
            let credentials = self
                .open(&record, &server_url, account.as_deref())
                .map(|document| document.expect("a record with a document opens to a document"));
            listed.push(Listed {
                server_url,
                account,
                generation,
                key_id,
                credentials,
            });
        }
        listed.sort_by(|a, b| (&a.server_url, &a.account).cmp(&(&b.server_url, &b.account)));
        Ok(listed)
    }

    /// Forgets every server's credentials under this store's prefix, of
    /// every account (and nothing else in Redis). Each record is emptied, not deleted, so that
    /// its generation goes on growing. Returns how many held credentials.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth_redis::RedisStore;
    ///
    /// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
    /// let cleared = store.clear_all().await?;
    /// println!("forgot {cleared} servers' credentials");
    /// # Ok(()) }
    /// ```
    pub async fn clear_all(&self) -> Result<usize> {
        let mut cleared = 0;
        for key in self.record_keys().await? {
            let record = self
                .run("could not read a record", |mut connection| {
                    let key = &key;
                    async move { read_record(&mut connection, key).await }
                })
                .await?;
            let Some(record) = record else { continue };
            if record.document.is_some() {
                cleared += 1;
            }
            let url = record.url.unwrap_or_default();
            crate::storage::write_empty(self, &key, &url, record.account.as_deref()).await?;
        }
        Ok(cleared)
    }

    /// The record keys under the prefix, found with `SCAN` (never `KEYS`,
    /// which blocks the server).
    async fn record_keys(&self) -> Result<Vec<String>> {
        let pattern = format!("{}:{{*}}:cred", glob_escape(&self.inner.prefix));
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .run("could not list the records", |mut connection| {
                    let pattern = &pattern;
                    async move {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(500)
                            .query_async(&mut connection)
                            .await
                    }
                })
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

/// One server's credentials as [`RedisStore::list`] finds them.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth_redis::RedisStore;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379").plaintext().connect().await?;
/// for listed in store.list().await? {
///     println!("{} generation {} key {:?}", listed.server_url, listed.generation, listed.key_id);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Listed {
    /// The MCP server.
    pub server_url: String,
    /// The account; `None` for the default one.
    pub account: Option<String>,
    /// How many times the record was written.
    pub generation: u64,
    /// The id of the key that sealed it; `None` for a plaintext record.
    pub key_id: Option<String>,
    /// The credentials, or why they do not open.
    pub credentials: Result<StoredCredentials>,
}

/// `prefix` as a literal in a `SCAN MATCH` pattern.
fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_matched_literally() {
        assert_eq!(glob_escape("team*[1]"), "team\\*\\[1\\]");
    }
}
