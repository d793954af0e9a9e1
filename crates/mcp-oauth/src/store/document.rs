//! The stored document: everything remembered about one MCP server, and
//! the version of its schema.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::records::{AuthServerMetadata, Registration, Tokens};

/// The version of the credentials document this build writes and reads.
///
/// Optional fields are added without a new version: older builds ignore
/// fields they do not know (no `deny_unknown_fields`), and a version above
/// theirs is what makes them refuse a document.
pub(crate) const SCHEMA_VERSION: u32 = 2;

/// The schema of a document without a DPoP key: builds that read only
/// schema 1 keep reading it. A document with a key is schema 2, which they
/// refuse rather than rewrite without the key (and orphan its tokens).
const BASE_SCHEMA_VERSION: u32 = 1;

/// Everything remembered about one MCP server: the authorization server it
/// uses (so a refresh after a restart needs no discovery), the client
/// registration (with its secret) and the tokens (with an absolute expiry).
///
/// It serializes to JSON for storage; its `Debug` output hides every secret.
///
/// ```
/// # fn run() -> mcp_oauth::Result<()> {
/// let dir = mcp_oauth::FileTokenStorage::default_cache_dir()?;
/// for (_, credentials) in mcp_oauth::FileTokenStorage::list_in(dir)? {
///     let credentials = credentials?;
///     println!("{} (refreshable: {})", credentials.server_url(), credentials.can_refresh());
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredCredentials {
    pub(crate) version: u32,
    pub(crate) server_url: String,
    /// Whose credentials these are; `None` for the default account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resource: Option<String>,
    /// The authorization server refuses the RFC 8707 `resource` parameter
    /// (Microsoft Entra does, next to its own scopes): it is left out of
    /// every request, refreshes included.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) resource_refused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) authorization_server: Option<AuthServerMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) registration: Option<Registration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tokens: Option<Tokens>,
    /// The protocol revision last negotiated with the server over Streamable
    /// HTTP, so that the next connection can skip the `server/discover`
    /// probe. A hint only: a server that answers otherwise is probed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) protocol_version: Option<String>,
    /// The DPoP key the tokens are bound to (PKCS#8, base64url), when they
    /// are: a bound refresh token needs the same key (RFC 9449 §5).
    #[serde(
        default,
        with = "crate::secret::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) dpop_key: Option<secrecy::SecretString>,
    pub(crate) updated_at: u64,
}

impl StoredCredentials {
    pub(crate) fn new(server_url: &str) -> Self {
        Self {
            version: BASE_SCHEMA_VERSION,
            server_url: server_url.to_owned(),
            account: None,
            issuer: None,
            resource: None,
            resource_refused: false,
            authorization_server: None,
            registration: None,
            tokens: None,
            protocol_version: None,
            dpop_key: None,
            updated_at: crate::clock::now(),
        }
    }

    /// An empty document of `account`'s credentials (`None`: the default
    /// account) for the server at `server_url`.
    pub(crate) fn for_account(server_url: &str, account: Option<&str>) -> Self {
        Self {
            account: account.map(str::to_owned),
            ..Self::new(server_url)
        }
    }

    /// The MCP server these credentials are for.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// println!("credentials for {}", credentials.server_url());
    /// # }
    /// ```
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The account they belong to; `None` for the default account.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// let account = credentials.account().unwrap_or("default");
    /// # }
    /// ```
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The authorization server that issued them.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// if let Some(issuer) = credentials.issuer() {
    ///     println!("issued by {issuer}");
    /// }
    /// # }
    /// ```
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The client id at that authorization server.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// if let Some(client_id) = credentials.client_id() {
    ///     println!("registered as {client_id}");
    /// }
    /// # }
    /// ```
    pub fn client_id(&self) -> Option<&str> {
        self.registration
            .as_ref()
            .map(|registration| registration.client_id.as_str())
    }

    /// The scopes granted.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// let scope = credentials.scope().unwrap_or("(none)");
    /// # }
    /// ```
    pub fn scope(&self) -> Option<&str> {
        self.tokens
            .as_ref()
            .and_then(|tokens| tokens.scope.as_deref())
    }

    /// When the access token expires (Unix seconds), if known.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// let now = std::time::SystemTime::now()
    ///     .duration_since(std::time::UNIX_EPOCH)
    ///     .unwrap()
    ///     .as_secs();
    /// let expired = credentials.expires_at().is_some_and(|at| at <= now);
    /// # }
    /// ```
    pub fn expires_at(&self) -> Option<u64> {
        self.tokens.as_ref().and_then(|tokens| tokens.expires_at)
    }

    /// The protocol revision last negotiated with the server, e.g.
    /// `"2025-11-25"`, if remembered.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// if let Some(revision) = credentials.protocol_version() {
    ///     println!("speaks {revision}");
    /// }
    /// # }
    /// ```
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol_version.as_deref()
    }

    /// Whether the tokens are bound to a DPoP key kept with them.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// let kind = if credentials.is_dpop_bound() { "DPoP" } else { "bearer" };
    /// # }
    /// ```
    pub fn is_dpop_bound(&self) -> bool {
        self.dpop_key.is_some()
    }

    /// Sets the schema version the document needs, before it is written.
    pub(crate) fn stamp_schema(&mut self) {
        self.version = if self.dpop_key.is_some() {
            SCHEMA_VERSION
        } else {
            BASE_SCHEMA_VERSION
        };
    }

    /// Whether a refresh token is stored.
    ///
    /// ```
    /// # fn run(credentials: &mcp_oauth::StoredCredentials) {
    /// if !credentials.can_refresh() {
    ///     println!("a sign-in will be needed when the token expires");
    /// }
    /// # }
    /// ```
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
            .field("account", &self.account)
            .field("issuer", &self.issuer)
            .field("registration", &self.registration)
            .field("tokens", &self.tokens)
            .field("protocol_version", &self.protocol_version)
            .field("dpop_key", &self.dpop_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remembered_revision_is_optional_in_both_directions() {
        // A document written before the field existed still reads.
        let older = r#"{"version":1,"server_url":"http://127.0.0.1:9/mcp","updated_at":0}"#;
        let read: StoredCredentials = serde_json::from_str(older).unwrap();
        assert_eq!(read.protocol_version(), None);

        // A new document keeps schema 1, which builds without the field
        // read: to them it is one more unknown field, and those are skipped
        // (this one being the same struct, any unknown field shows it).
        let mut credentials = StoredCredentials::new("http://127.0.0.1:9/mcp");
        credentials.protocol_version = Some("2025-11-25".into());
        let mut written: serde_json::Value = serde_json::to_value(&credentials).unwrap();
        assert_eq!(written["version"], 1);
        assert_eq!(written["protocol_version"], "2025-11-25");
        written["a_field_of_a_later_build"] = serde_json::json!(true);
        let again: StoredCredentials = serde_json::from_value(written).unwrap();
        assert_eq!(again.protocol_version(), Some("2025-11-25"));
    }
}
