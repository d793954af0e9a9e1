//! [`WebFlowBuilder`]: the platform's client settings, and the rules for
//! its callback URL.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use secrecy::SecretString;
use serde_json::Value;
use url::Url;

use super::{Inner, WebFlow};
use crate::{
    CredentialStore, Error, PendingStore, Result, SignIn,
    auth::oauth::{
        builder::{GrantKind, IntoScopes, Settings},
        http::OAuthHttp,
    },
};

/// Configures a [`WebFlow`]; see [`WebFlow::builder`].
///
/// ```
/// use mcp_oauth::{MemoryStore, WebFlow};
/// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback").scopes("read");
/// ```
#[must_use]
pub struct WebFlowBuilder {
    pub(super) credentials: Arc<dyn CredentialStore>,
    pub(super) pending: Arc<dyn PendingStore>,
    pub(super) redirect_uri: String,
    pub(super) settings: Settings,
    pub(super) attempt_lifetime: Duration,
}

impl fmt::Debug for WebFlowBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebFlowBuilder")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl WebFlowBuilder {
    /// Scopes to ask every server for (default: what each server's
    /// metadata lists): `.scopes("read write")`.
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .scopes("read write");
    /// ```
    pub fn scopes(mut self, scopes: impl IntoScopes) -> Self {
        self.settings.scopes = Some(scopes.into_scopes()).filter(|s| !s.is_empty());
        self
    }

    /// The client name for dynamic registration: `.client_name("Example agents")`.
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .client_name("Example agents");
    /// ```
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.settings.client_name = name.into();
        self
    }

    /// A client registered beforehand with the platform's redirect URI.
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .client_id("example-agents");
    /// ```
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.settings.client_id = Some(client_id.into());
        self
    }

    /// The secret of that client.
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .client_id("example-agents")
    ///     .client_secret("…");
    /// ```
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.settings.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// The platform's Client ID Metadata Document URL, used as its client id
    /// where a server supports it (its `redirect_uris` must list the
    /// platform's callback).
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .client_metadata_url("https://agents.example.com/client.json");
    /// ```
    pub fn client_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.settings.client_metadata_url = Some(url.into());
        self
    }

    /// Extra fields for dynamic registration, e.g. `logo_uri`.
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .additional_client_metadata(serde_json::json!({ "logo_uri": "https://agents.example.com/logo.png" }));
    /// ```
    pub fn additional_client_metadata(mut self, metadata: Value) -> Self {
        self.settings.additional_client_metadata = match metadata {
            Value::Object(map) => Some(map),
            _ => None,
        };
        self
    }

    /// How long each request to an authorization server may take (default 30 s).
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// use std::time::Duration;
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .http_timeout(Duration::from_secs(10));
    /// ```
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.settings.http.timeout = timeout;
        self
    }

    /// Reaches `domain` at `address` instead of asking DNS (see
    /// [`OAuthBuilder::resolve`](crate::OAuthBuilder::resolve)).
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let address = "127.0.0.1:8443".parse().unwrap();
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .resolve("mcp.example.com", address);
    /// ```
    pub fn resolve(mut self, domain: impl Into<String>, address: std::net::SocketAddr) -> Self {
        self.settings.http.resolve.push((domain.into(), address));
        self
    }

    /// How long a begun sign-in waits for its callback (default 10 minutes).
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// use std::time::Duration;
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .attempt_lifetime(Duration::from_secs(300));
    /// ```
    pub fn attempt_lifetime(mut self, lifetime: Duration) -> Self {
        self.attempt_lifetime = lifetime;
        self
    }

    /// Builds the flow; the redirect URI must be `https`, or `http` on a
    /// loopback address, without a fragment.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let web = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback")
    ///     .client_name("Example agents")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<WebFlow> {
        let redirect_uri = check_redirect_uri(&self.redirect_uri)?;
        let mut settings = self.settings;
        settings.grant = GrantKind::WebSignIn;
        // Nothing here waits for a person, and nothing is printed.
        settings.notice = Arc::new(|_| {});
        settings.sign_in = Some(Arc::new(|_: SignIn| {}));
        let http = OAuthHttp::new(settings.http.clone());
        Ok(WebFlow {
            inner: Arc::new(Inner {
                credentials: self.credentials,
                pending: self.pending,
                redirect_uri,
                settings,
                attempt_lifetime: self.attempt_lifetime,
                http,
                cache: Mutex::default(),
                discovered: Mutex::default(),
                discovering: Mutex::default(),
            }),
        })
    }
}

fn check_redirect_uri(text: &str) -> Result<Url> {
    let invalid = |reason: &str| Error::InvalidConfig {
        reason: format!(
            "the redirect URI {:?} cannot be used: {reason}",
            crate::terminal_safe_line(text)
        ),
    };
    let url = Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
    if url.fragment().is_some() {
        return Err(invalid("it has a fragment (RFC 6749 §3.1.2)"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if crate::net::is_loopback(&url) => Ok(url),
        _ => Err(invalid(
            "it must be https, or http on a loopback address (the MCP specification requires it)",
        )),
    }
}
