//! [`OAuthBuilder`]: the parameters of FastMCP's `OAuth` helper, and more,
//! and the [`Settings`] they make.

use std::{fmt, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::{
    OAuth, SignIn,
    callback::CallbackHost,
    dpop::DpopMode,
    grants::{AssertionSource, CrossAppAccess, SigningAlgorithm, SigningKey},
    http::HttpOptions,
    session::Binding,
    user_agent::UserAgent,
};
use crate::{Result, ServerUrl, TokenStorage, check_account};

const DEFAULT_CLIENT_NAME: &str = "mcp-oauth";
const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

type Notice = Arc<dyn Fn(&str) + Send + Sync>;
type SignInHook = Arc<dyn Fn(SignIn) + Send + Sync>;

/// Everything an [`OAuth`] was configured with.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) scopes: Option<String>,
    pub(super) client_name: String,
    pub(super) cache_dir: Option<PathBuf>,
    pub(super) storage: Option<Arc<dyn TokenStorage>>,
    /// Whose credentials: `None` for the default account.
    pub(super) account: Option<String>,
    pub(super) additional_client_metadata: Option<Map<String, Value>>,
    pub(super) callback_port: Option<u16>,
    pub(super) callback_host: CallbackHost,
    /// The redirect URI's path (default `/callback`).
    pub(super) callback_path: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<SecretString>,
    pub(super) client_metadata_url: Option<String>,
    /// How long a sign-in waits for the person.
    pub(super) timeout: Duration,
    pub(super) user_agent: UserAgent,
    pub(super) notice: Notice,
    pub(super) sign_in: Option<SignInHook>,
    pub(super) grant: GrantKind,
    pub(super) private_key: Option<(SecretString, SigningAlgorithm)>,
    pub(super) http: HttpOptions,
    /// When tokens are bound to a key (RFC 9449).
    pub(super) dpop: DpopMode,
    /// Never send the RFC 8707 `resource` parameter.
    pub(super) omit_resource: bool,
}

/// How tokens are obtained.
#[derive(Clone, Debug)]
pub(super) enum GrantKind {
    /// A person signs in: the authorization code flow.
    AuthorizationCode,
    /// A person signs in on any device: the device authorization grant.
    Device,
    /// Machine to machine: `client_credentials`.
    ClientCredentials,
    /// Enterprise cross-app access: an ID-JAG, then `jwt-bearer`.
    CrossAppAccess(Box<CrossAppAccess>),
    /// Workload identity federation: the platform's JWT, `jwt-bearer`.
    JwtBearer(AssertionSource),
    /// Tokens come only from a web platform's two-phase sign-in
    /// ([`WebFlow`](super::WebFlow)); a refusal without tokens to renew
    /// ends with `Error::NotConnected`.
    WebSignIn,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            scopes: None,
            client_name: DEFAULT_CLIENT_NAME.to_owned(),
            cache_dir: None,
            storage: None,
            account: None,
            additional_client_metadata: None,
            callback_port: None,
            callback_host: CallbackHost::Loopback,
            callback_path: None,
            client_id: None,
            client_secret: None,
            client_metadata_url: None,
            timeout: DEFAULT_SIGN_IN_TIMEOUT,
            user_agent: UserAgent::SystemBrowser,
            notice: Arc::new(|message| eprintln!("{message}")),
            sign_in: None,
            grant: GrantKind::AuthorizationCode,
            private_key: None,
            http: HttpOptions::default(),
            dpop: DpopMode::Auto,
            omit_resource: false,
        }
    }
}

impl Settings {
    /// Tells the person something (the sign-in URL, a device code). A
    /// device code and its pages are the authorization server's words:
    /// every notice goes out terminal-safe, whichever hook shows it.
    pub(super) fn notify(&self, message: &str) {
        (self.notice)(&crate::terminal_safe(message));
    }

    /// Reports where an interactive sign-in stands.
    pub(super) fn signal(&self, state: SignIn) {
        if let Some(hook) = &self.sign_in {
            hook(state);
        }
    }
}

/// Never shows a secret.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("scopes", &self.scopes)
            .field("client_name", &self.client_name)
            .field("account", &self.account)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("callback_port", &self.callback_port)
            .field("user_agent", &self.user_agent)
            .field("grant", &self.grant)
            .finish_non_exhaustive()
    }
}

/// Configures an [`OAuth`]; see [`OAuth::builder`].
///
/// ```
/// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").scopes("read");
/// ```
#[must_use]
pub struct OAuthBuilder {
    mcp_url: String,
    settings: Settings,
    /// The first invalid setting, reported by [`build`](Self::build).
    invalid: Option<crate::Error>,
}

impl fmt::Debug for OAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBuilder")
            .field("mcp_url", &self.mcp_url)
            .finish_non_exhaustive()
    }
}

impl OAuthBuilder {
    /// How long a sign-in may wait for the person unless
    /// [`OAuthBuilder::timeout`] says otherwise.
    pub const DEFAULT_SIGN_IN_TIMEOUT: Duration = DEFAULT_SIGN_IN_TIMEOUT;

    /// The client name dynamic registration sends unless
    /// [`OAuthBuilder::client_name`] says otherwise.
    pub const DEFAULT_CLIENT_NAME: &str = DEFAULT_CLIENT_NAME;

    pub(super) fn for_url(mcp_url: String) -> Self {
        Self {
            mcp_url,
            settings: Settings::default(),
            invalid: None,
        }
    }

    /// Scopes to request, as a space-separated string or a list:
    /// `.scopes("read write")` or `.scopes(["read", "write"])`. Without
    /// them, the server's challenge or metadata decides.
    ///
    /// ```
    /// use mcp_oauth::OAuth;
    /// let builder = OAuth::builder("https://mcp.example.com/mcp").scopes("read write");
    /// let builder = builder.scopes(["read", "write"]);
    /// ```
    pub fn scopes(mut self, scopes: impl IntoScopes) -> Self {
        self.settings.scopes = Some(scopes.into_scopes()).filter(|s| !s.is_empty());
        self
    }

    /// The client name for dynamic registration (default `"mcp-oauth"`):
    /// `.client_name("My agent")`.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").client_name("My agent");
    /// ```
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.settings.client_name = name.into();
        self
    }

    /// Where tokens are cached (default: `$MCP_OAUTH_CACHE_DIR`, else
    /// `~/.local/share/mcp-oauth` on Linux): `.token_storage_cache_dir("/tmp/cache")`.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp")
    ///     .token_storage_cache_dir("/tmp/mcp-oauth-cache");
    /// ```
    pub fn token_storage_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.cache_dir = Some(dir.into());
        self
    }

    /// A storage of your own instead of files, e.g. `MemoryTokenStorage::new()`.
    ///
    /// ```
    /// use mcp_oauth::{MemoryTokenStorage, OAuth};
    /// let builder = OAuth::builder("https://mcp.example.com/mcp").token_storage(MemoryTokenStorage::new());
    /// ```
    pub fn token_storage(mut self, storage: impl TokenStorage + 'static) -> Self {
        self.settings.storage = Some(Arc::new(storage));
        self
    }

    /// Whose credentials these are, when one server is used under several
    /// identities (a work and a personal account, the users of a platform):
    /// `.account("work")`. Each account has its own tokens and its own
    /// document in the store; without this, the default account's, the
    /// document there has always been. Checked by [`build`](Self::build)
    /// (see [`check_account`](crate::check_account)). With
    /// [`token_storage`](Self::token_storage), give that storage the same
    /// account (e.g. `FileTokenStorage::for_account`).
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").account("work");
    /// ```
    pub fn account(mut self, name: impl Into<String>) -> Self {
        self.settings.account = Some(name.into());
        self
    }

    /// Extra fields for dynamic registration:
    /// `.additional_client_metadata(json!({ "logo_uri": "https://..." }))`.
    /// A value that is not a JSON object is ignored.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp")
    ///     .additional_client_metadata(serde_json::json!({ "logo_uri": "https://app.example/logo.png" }));
    /// ```
    pub fn additional_client_metadata(mut self, metadata: Value) -> Self {
        self.settings.additional_client_metadata = match metadata {
            Value::Object(map) => Some(map),
            _ => None,
        };
        self
    }

    /// A fixed port for the loopback callback (default: the port of the
    /// cached registration, else any free port): `.callback_port(8765)`.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").callback_port(8765);
    /// ```
    pub fn callback_port(mut self, port: u16) -> Self {
        self.settings.callback_port = Some(port);
        self
    }

    /// Use `localhost` instead of `127.0.0.1` in the redirect URI, for
    /// servers that demand it: `.callback_host_localhost()`.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").callback_host_localhost();
    /// ```
    pub fn callback_host_localhost(mut self) -> Self {
        self.settings.callback_host = CallbackHost::Localhost;
        self
    }

    /// The path of the loopback redirect URI (default `/callback`), for a
    /// client registered beforehand whose redirect URI has a fixed path:
    /// `.callback_path("/oauth/callback")`. The listener answers that path
    /// only. An invalid path (not absolute, with a query) fails
    /// [`build`](Self::build).
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").callback_path("/oauth/callback");
    /// ```
    pub fn callback_path(mut self, path: impl Into<String>) -> Self {
        self.settings.callback_path = Some(path.into());
        self
    }

    /// A client registered beforehand: `.client_id("my-client")`.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").client_id("my-client");
    /// ```
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.settings.client_id = Some(client_id.into());
        self
    }

    /// The secret of that client: `.client_secret("…")`.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp")
    ///     .client_id("my-client")
    ///     .client_secret("…");
    /// ```
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.settings.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// A Client ID Metadata Document URL, used as the client id where the
    /// server supports it: `.client_metadata_url("https://app.example/client.json")`.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp")
    ///     .client_metadata_url("https://app.example/client.json");
    /// ```
    pub fn client_metadata_url(mut self, url: impl Into<String>) -> Self {
        self.settings.client_metadata_url = Some(url.into());
        self
    }

    /// How long to wait for the browser step (default 5 minutes).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").timeout(Duration::from_secs(120));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// How long each request to the authorization server (metadata,
    /// registration, tokens) may take, its answer included (default 30 s).
    /// A server that answers slower fails with [`Error::Timeout`](crate::Error::Timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").http_timeout(Duration::from_secs(10));
    /// ```
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.settings.http.timeout = timeout;
        self
    }

    /// Reaches `domain` at `address` in the requests of the OAuth flow
    /// (discovery, registration, tokens) instead of asking DNS, as curl's
    /// `--resolve` does: for a staging server, or a test server on
    /// loopback that stands in for a public name. May be called several
    /// times. Every rule still applies to the URL as written: TLS for the
    /// name, and the check that a public server does not send the client to
    /// a loopback or private address.
    /// `.resolve("mcp.example.com", "127.0.0.1:8443".parse().unwrap())`.
    ///
    /// ```
    /// let address = "127.0.0.1:8443".parse().unwrap();
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").resolve("mcp.example.com", address);
    /// ```
    pub fn resolve(mut self, domain: impl Into<String>, address: SocketAddr) -> Self {
        self.settings.http.resolve.push((domain.into(), address));
        self
    }

    /// Never sends the RFC 8707 `resource` parameter, for authorization
    /// servers that refuse it (Microsoft Entra answers `invalid_target`,
    /// `AADSTS9010010`, when it comes with its own scopes such as
    /// `api://…/.default`). Without this, such a refusal is noticed: the
    /// request is made again once without it, the person is told, and the
    /// stored credentials remember it, so refreshes leave it out too.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").no_resource();
    /// ```
    pub fn no_resource(mut self) -> Self {
        self.settings.omit_resource = true;
        self
    }

    /// Trusts the certificate authorities of this PEM bundle in the
    /// requests of the OAuth flow, besides the system's: for an
    /// authorization server behind a company's TLS inspection, or with a
    /// private CA. A bundle without a certificate fails [`build`](Self::build).
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// let pem = std::fs::read("/etc/ssl/company-ca.pem")?;
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").ca_certificates(pem);
    /// # Ok(()) }
    /// ```
    pub fn ca_certificates(mut self, pem: impl AsRef<[u8]>) -> Self {
        let what = "the CA certificate bundle";
        if let Err(error) = self.settings.http.roots.add_pem(pem.as_ref(), what) {
            self.invalid.get_or_insert(error);
        }
        self
    }

    /// How the authorization URL reaches the user (default: the system
    /// browser): `.user_agent(UserAgent::PrintUrl)`.
    ///
    /// ```
    /// use mcp_oauth::{OAuth, UserAgent};
    /// let builder = OAuth::builder("https://mcp.example.com/mcp").user_agent(UserAgent::PrintUrl);
    /// ```
    pub fn user_agent(mut self, agent: UserAgent) -> Self {
        self.settings.user_agent = agent;
        self
    }

    /// Where progress messages (the authorization URL) go; default stderr.
    /// They may span lines, and come already safe for a terminal (see
    /// [`terminal_safe`](crate::terminal_safe)).
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp")
    ///     .on_notice(|message| eprintln!("[sign-in] {message}"));
    /// ```
    pub fn on_notice(mut self, notice: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.settings.notice = Arc::new(notice);
        self
    }

    /// Called when an interactive sign-in starts waiting for the person and
    /// when that wait ends, e.g. to run a spinner:
    /// `.on_sign_in(|state| if state == SignIn::Waiting { /* start */ })`.
    ///
    /// ```
    /// use mcp_oauth::{OAuth, SignIn};
    /// let builder = OAuth::builder("https://mcp.example.com/mcp").on_sign_in(|state| {
    ///     if state == SignIn::Waiting {
    ///         eprintln!("waiting for the browser…");
    ///     }
    /// });
    /// ```
    pub fn on_sign_in(mut self, hook: impl Fn(SignIn) + Send + Sync + 'static) -> Self {
        self.settings.sign_in = Some(Arc::new(hook));
        self
    }

    /// A person signs in with the device authorization grant (RFC 8628)
    /// instead of a browser redirect: a code and a URL are shown (through
    /// [`on_notice`](Self::on_notice)) to open on any device, and this one
    /// polls until the person approves. Needs an authorization server that
    /// publishes a `device_authorization_endpoint`, and no callback port.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").device_authorization();
    /// ```
    pub fn device_authorization(mut self) -> Self {
        self.settings.grant = GrantKind::Device;
        self
    }

    /// When tokens are bound to a key of this client's with DPoP (RFC 9449):
    /// by default ([`DpopMode::Auto`]) when the authorization server offers
    /// it and the MCP server asks for it; `.dpop(DpopMode::Always)` insists,
    /// `.dpop(DpopMode::Never)` keeps bearer tokens. The key is kept with
    /// the tokens (encrypted where the store encrypts), and every request
    /// carries a fresh proof signed with it.
    ///
    /// ```
    /// use mcp_oauth::{DpopMode, OAuth};
    /// let builder = OAuth::builder("https://mcp.example.com/mcp").dpop(DpopMode::Always);
    /// ```
    pub fn dpop(mut self, mode: DpopMode) -> Self {
        self.settings.dpop = mode;
        self
    }

    /// Machine to machine: the `client_credentials` grant, no browser. Needs
    /// [`client_id`](Self::client_id) and a secret or a
    /// [`private_key_jwt`](Self::private_key_jwt) key.
    ///
    /// ```
    /// let builder = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp")
    ///     .client_id("my-service")
    ///     .client_secret("…")
    ///     .client_credentials();
    /// ```
    pub fn client_credentials(mut self) -> Self {
        self.settings.grant = GrantKind::ClientCredentials;
        self
    }

    /// Authenticate with a JWT signed by this PEM private key
    /// (`private_key_jwt`) instead of a client secret.
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// use mcp_oauth::{OAuth, SigningAlgorithm};
    /// let pem = std::fs::read_to_string("/etc/my-service/client-key.pem")?;
    /// let builder = OAuth::builder("https://mcp.example.com/mcp")
    ///     .client_id("my-service")
    ///     .private_key_jwt(pem, SigningAlgorithm::Es256)
    ///     .client_credentials();
    /// # Ok(()) }
    /// ```
    pub fn private_key_jwt(mut self, pem: impl Into<String>, algorithm: SigningAlgorithm) -> Self {
        self.settings.private_key = Some((SecretString::from(pem.into()), algorithm));
        self
    }

    /// Enterprise cross-app access: trade the user's identity-provider ID
    /// token for an ID-JAG, then for an access token. Needs
    /// [`client_id`](Self::client_id) and [`client_secret`](Self::client_secret).
    ///
    /// ```
    /// use mcp_oauth::{CrossAppAccess, OAuth};
    /// let idp = CrossAppAccess::new("https://idp.example/oauth2/token", "…", "my-app-at-idp");
    /// let builder = OAuth::builder("https://mcp.example.com/mcp")
    ///     .client_id("my-client")
    ///     .client_secret("…")
    ///     .cross_app_access(idp);
    /// ```
    pub fn cross_app_access(mut self, idp: CrossAppAccess) -> Self {
        self.settings.grant = GrantKind::CrossAppAccess(Box::new(idp));
        self
    }

    /// Workload identity federation (RFC 7523 §2.1): a machine presents a
    /// JWT its platform issued, read from `source` anew for every token
    /// request, and gets an access token. No secret is stored, nothing is
    /// registered, no browser opens; [`client_id`](Self::client_id) is
    /// optional. A refusal is reported as it is, never retried with the
    /// same assertion or another grant:
    /// `.jwt_bearer(AssertionSource::file("/var/run/secrets/tokens/mcp"))`.
    ///
    /// ```
    /// use mcp_oauth::{AssertionSource, OAuth};
    /// let builder = OAuth::builder("https://mcp.example.com/mcp")
    ///     .jwt_bearer(AssertionSource::file("/var/run/secrets/tokens/mcp"));
    /// ```
    pub fn jwt_bearer(mut self, source: AssertionSource) -> Self {
        self.settings.grant = GrantKind::JwtBearer(source);
        self
    }

    /// Builds the helper.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let oauth = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp")
    ///     .scopes("read")
    ///     .build()?;
    /// # let _ = oauth;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<OAuth> {
        if let Some(error) = self.invalid {
            return Err(error);
        }
        if let Some(path) = &self.settings.callback_path {
            super::callback::check_callback_path(path)?;
        }
        if let Some((pem, algorithm)) = &self.settings.private_key {
            // A bad key is reported now, not at the first request.
            SigningKey::from_pem(pem.expose_secret(), *algorithm)?;
        }
        if let Some(account) = &self.settings.account {
            check_account(account)?;
        }
        let server = ServerUrl::parse(&self.mcp_url)?;
        let binding = Binding::new(server, &self.settings)?;
        Ok(OAuth::from_parts(self.settings, Some(binding)))
    }
}

/// Scopes as a space-separated string or a list of strings.
///
/// ```
/// use mcp_oauth::OAuth;
/// let from_text = OAuth::builder("https://mcp.example.com/mcp").scopes("read write");
/// let from_list = OAuth::builder("https://mcp.example.com/mcp").scopes(vec!["read".to_string()]);
/// ```
pub trait IntoScopes {
    /// The scopes, space-separated.
    fn into_scopes(self) -> String;
}

impl IntoScopes for &str {
    fn into_scopes(self) -> String {
        self.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

impl IntoScopes for String {
    fn into_scopes(self) -> String {
        self.as_str().into_scopes()
    }
}

impl<const N: usize> IntoScopes for [&str; N] {
    fn into_scopes(self) -> String {
        self.join(" ").as_str().into_scopes()
    }
}

impl IntoScopes for Vec<String> {
    fn into_scopes(self) -> String {
        self.join(" ").as_str().into_scopes()
    }
}

impl IntoScopes for &[&str] {
    fn into_scopes(self) -> String {
        self.join(" ").as_str().into_scopes()
    }
}
