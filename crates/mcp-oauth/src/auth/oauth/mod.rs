//! [`OAuth`]: OAuth 2.1 for one server, as FastMCP's `OAuth` helper does it.
//!
//! The rooms, in the order a refused request walks through them:
//! - [`session`]: what is kept for the server between requests (the cached
//!   credentials, the ready header, the brakes), and the tokens between
//!   sign-ins (fresh, refreshed, or none);
//! - [`pause`]: the pause of renewals when the server refuses the token it
//!   was just given;
//! - [`flow`]: one authorization attempt, whose state every grant works on;
//! - [`discovery`]: where the authorization server is and what it offers;
//! - [`identity`]: who the client is to it (static > metadata document >
//!   dynamic registration), decided in one place for every grant;
//! - [`grants`]: the ways to tokens (authorization code, device, machine,
//!   refresh), each a function over the flow;
//! - [`wire`]: pure readers and writers of what travels (challenges,
//!   metadata, token and registration answers, authorization URLs);
//! - [`callback`] and [`user_agent`]: the loopback listener and how the
//!   person reaches the sign-in page.

mod builder;
pub(crate) mod callback;
mod checkup;
pub(crate) mod discovery;
mod dpop;
mod flow;
pub(crate) mod grants;
mod http;
mod identity;
mod pause;
mod session;
mod user_agent;
mod web;
pub(crate) mod wire;

use std::{fmt, sync::Arc};

use secrecy::SecretString;

use self::{builder::Settings, session::Binding, wire::BearerChallenge};
pub use self::{
    builder::{IntoScopes, OAuthBuilder},
    checkup::{CheckProblem, CheckStatus, CheckStep, Checkup, Finding},
    dpop::DpopMode,
    grants::{AssertionSource, CrossAppAccess, SigningAlgorithm},
    user_agent::UserAgent,
    web::{Connected, WebFlow, WebFlowBuilder},
};
use crate::{Error, Result, ServerUrl, StoredCredentials, auth::Rejection};

/// Where an interactive sign-in stands, for a progress display such as a
/// spinner; see [`OAuthBuilder::on_sign_in`].
///
/// ```
/// use mcp_oauth::{OAuth, SignIn};
/// let builder = OAuth::builder("https://mcp.example.com/mcp").on_sign_in(|state| match state {
///     SignIn::Waiting => eprintln!("waiting for the browser…"),
///     _ => eprintln!("done"),
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignIn {
    /// The sign-in page was shown (a browser opened, a URL or a device code
    /// printed); waiting for the person.
    Waiting,
    /// The wait is over, signed in or not.
    Done,
}

/// OAuth 2.1 for one MCP server, in the manner of FastMCP's `OAuth` helper.
///
/// Cached tokens are used without any request to the authorization server;
/// an expired one is refreshed; when the server answers 401 (or 403 for more
/// scope), the whole flow runs: discovery, registration, the browser, the
/// code exchange, and the new tokens are stored before they are used.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::{Auth, Client, OAuth};
///
/// let oauth = OAuth::builder("https://example.com/mcp")
///     .scopes("read write")
///     .client_name("My agent")
///     .callback_port(8765)
///     .build()?;
/// let client = Client::builder("https://example.com/mcp").auth(Auth::from(oauth)).connect().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuth {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    /// `None` for `Auth::oauth()` before it meets its server.
    binding: Option<Binding>,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("server", &self.server().map(ServerUrl::as_str))
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// Starts configuring OAuth for the MCP server at `mcp_url`.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let oauth = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(mcp_url: impl Into<String>) -> OAuthBuilder {
        OAuthBuilder::for_url(mcp_url.into())
    }

    /// All defaults, bound to its server when the client connects.
    pub(crate) fn deferred() -> Self {
        Self::from_parts(Settings::default(), None)
    }

    fn from_parts(settings: Settings, binding: Option<Binding>) -> Self {
        Self {
            inner: Arc::new(Inner { settings, binding }),
        }
    }

    /// This OAuth for `server`: itself when built for it; a fresh binding of
    /// the same settings when built without a URL; an error for another
    /// server, since tokens only go to the server they were issued for.
    pub(crate) fn for_server(&self, server: &ServerUrl) -> Result<Self> {
        match &self.inner.binding {
            Some(binding) if &binding.server == server => Ok(self.clone()),
            Some(binding) => Err(Error::InvalidConfig {
                reason: format!(
                    "this OAuth was built for {}, not {server}: credentials are only sent to the \
                     server they were issued for",
                    binding.server
                ),
            }),
            None => {
                let binding = Binding::new(server.clone(), &self.inner.settings)?;
                Ok(Self::from_parts(self.inner.settings.clone(), Some(binding)))
            }
        }
    }

    /// How many times new tokens were stored so far.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.binding.as_ref().map_or(0, Binding::generation)
    }

    /// The server this helper is for, once bound.
    pub(crate) fn server(&self) -> Option<&ServerUrl> {
        self.inner.binding.as_ref().map(|binding| &binding.server)
    }

    fn binding(&self) -> Result<&Binding> {
        self.inner.binding.as_ref().ok_or_else(|| Error::InvalidConfig {
            reason: "OAuth has no server URL yet; use OAuth::builder(url) or connect a Client with it"
                .into(),
        })
    }

    /// The account whose credentials this helper uses; `None` for the
    /// default one (see [`OAuthBuilder::account`]).
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let oauth = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").account("work").build()?;
    /// assert_eq!(oauth.account(), Some("work"));
    /// # Ok(()) }
    /// ```
    pub fn account(&self) -> Option<&str> {
        self.inner.settings.account.as_deref()
    }

    /// The credentials currently stored for the server, if any.
    ///
    /// ```no_run
    /// # async fn run(oauth: mcp_oauth::OAuth) -> mcp_oauth::Result<()> {
    /// match oauth.stored().await? {
    ///     Some(credentials) => println!("signed in (refreshable: {})", credentials.can_refresh()),
    ///     None => println!("not signed in"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn stored(&self) -> Result<Option<StoredCredentials>> {
        let session = self.binding()?.session().await?;
        Ok(session.credentials.clone())
    }

    /// The protocol revision remembered with the stored credentials. A hint
    /// for the handshake: a failure to read it is no reason to fail.
    pub(crate) async fn remembered_protocol(&self) -> Option<String> {
        let session = self.binding().ok()?.session().await.ok()?;
        session.credentials.as_ref()?.protocol_version.clone()
    }

    /// Stores `revision` with the credentials, when there are credentials
    /// and it differs from what they remember. The document is re-read under
    /// the storage lock first, so that tokens another process saved meanwhile
    /// are not overwritten with older ones. Failures are only logged: the
    /// next connection probes again, which is all a lost hint costs.
    pub(crate) async fn remember_protocol(&self, revision: Option<&str>) {
        let Ok(binding) = self.binding() else {
            return;
        };
        if let Err(error) = remember_protocol(binding, revision).await {
            tracing::debug!(%error, "the protocol revision was not remembered");
        }
    }

    /// Runs the authorization flow now, whatever is cached.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// let oauth = mcp_oauth::OAuth::builder("https://mcp.example.com/mcp").build()?;
    /// oauth.login().await?;
    /// # Ok(()) }
    /// ```
    pub async fn login(&self) -> Result<()> {
        let binding = self.binding()?;
        flow::authorize(&self.inner.settings, binding, None, None).await?;
        // A person signed in: whatever paused renewals is over.
        binding.renewals.reset();
        Ok(())
    }

    /// Forgets the stored credentials of this server (of this helper's
    /// account only).
    ///
    /// ```no_run
    /// # async fn run(oauth: mcp_oauth::OAuth) -> mcp_oauth::Result<()> {
    /// oauth.logout().await?;
    /// # Ok(()) }
    /// ```
    pub async fn logout(&self) -> Result<()> {
        self.binding()?.forget().await
    }

    /// A valid access token, e.g. for another HTTP client: the cached one,
    /// refreshed when it is about to expire. Runs no interactive flow: when
    /// there is no usable token, the error is [`Error::Unauthorized`].
    ///
    /// ```no_run
    /// # async fn run(oauth: mcp_oauth::OAuth) -> mcp_oauth::Result<()> {
    /// use mcp_oauth::secrecy::ExposeSecret;
    /// let token = oauth.token().await?;
    /// let header = format!("Bearer {}", token.expose_secret());
    /// # Ok(()) }
    /// ```
    pub async fn token(&self) -> Result<SecretString> {
        let binding = self.binding()?;
        binding.access_token().await?.ok_or(Error::Unauthorized {
            url: binding.server.to_string(),
            status: 401,
            www_authenticate: None,
        })
    }

    /// The `Authorization` header for the next request; `None` when there
    /// is no token (the server's 401 will start the flow).
    pub(crate) async fn access_header(&self) -> Result<Option<::http::HeaderValue>> {
        self.binding()?.access_header().await
    }

    /// After a 401/403: `true` when the request should be sent again because
    /// the token changed meanwhile or a refresh succeeded.
    pub(crate) async fn renew_after_rejection(
        &self,
        sent: Option<&::http::HeaderValue>,
        rejection: &Rejection,
    ) -> bool {
        match self.binding() {
            Ok(binding) => binding.renew_after_rejection(sent, rejection).await,
            Err(_) => false,
        }
    }

    /// How long renewals stay paused after `rejection` of the request sent
    /// with `sent`: `Some` when the server refused the token it was just
    /// given, and until something changes (see the `pause` module).
    pub(crate) async fn paused(
        &self,
        rejection: &Rejection,
        sent: Option<&::http::HeaderValue>,
    ) -> Option<std::time::Duration> {
        self.binding().ok()?.paused(rejection, sent).await
    }

    /// The DPoP proof for a request to `url` with `method` that carries
    /// `sent`, when that is a DPoP-bound token's header: a new one for
    /// every request, with the `ath` of the token and the nonce the
    /// server's origin gave last.
    pub(crate) fn dpop_proof(
        &self,
        method: &str,
        url: &url::Url,
        sent: &::http::HeaderValue,
    ) -> Result<Option<::http::HeaderValue>> {
        let Some(binding) = &self.inner.binding else {
            return Ok(None);
        };
        let token = sent
            .to_str()
            .ok()
            .and_then(|header| header.strip_prefix("DPoP "));
        let (Some(token), Some(key)) = (token, binding.dpop.key()) else {
            return Ok(None);
        };
        let token = SecretString::from(token.to_owned());
        let nonce = binding.dpop.nonce_for(url);
        let proof = key.proof(method, url, Some(&token), nonce.as_deref())?;
        let mut value = ::http::HeaderValue::try_from(proof).map_err(|_| Error::InvalidConfig {
            reason: "a DPoP proof is not a valid header value".into(),
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// Keeps the DPoP nonce an answer from `url` carries; `true` when it is
    /// a new one.
    pub(crate) fn remember_dpop_nonce(&self, url: &url::Url, headers: &::http::HeaderMap) -> bool {
        self.inner
            .binding
            .as_ref()
            .is_some_and(|binding| binding.dpop.remember_nonce(url, headers).is_some())
    }

    /// The server answered a request sent with `sent` without refusing it.
    pub(crate) fn accepted(&self, sent: &::http::HeaderValue) {
        if let Some(binding) = &self.inner.binding {
            binding.renewals.accepted(sent);
        }
    }

    /// The interactive flow, started by `rejection`. `seen` is the token
    /// generation the refused request saw: when tokens were stored since,
    /// another caller has just authorized and nothing more is done. New
    /// tokens are watched until the server accepts them.
    pub(crate) async fn authorize(&self, rejection: &Rejection, seen: u64) -> Result<()> {
        let binding = self.binding()?;
        let challenge: Option<&BearerChallenge> = rejection.challenge.as_ref();
        flow::authorize(&self.inner.settings, binding, challenge, Some(seen)).await?;
        if binding.generation() != seen {
            let session = binding.session().await?;
            binding.watch_renewal(&session, rejection);
        }
        Ok(())
    }
}

/// A short wait: the lock is held for a refresh or a sign-in, and a hint
/// not saved this time is saved by a later connection.
const REMEMBER_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn remember_protocol(binding: &session::Binding, revision: Option<&str>) -> Result<()> {
    let differs = |session: &session::Session| {
        session
            .credentials
            .as_ref()
            .is_some_and(|credentials| credentials.protocol_version.as_deref() != revision)
    };
    let mut session = binding.session().await?;
    if !differs(&session) {
        return Ok(());
    }
    let lock = binding.storage.lock(REMEMBER_LOCK_WAIT).await?;
    let outcome = remember_locked(binding, &mut session, revision, differs).await;
    lock.release().await;
    outcome
}

async fn remember_locked(
    binding: &session::Binding,
    session: &mut session::Session,
    revision: Option<&str>,
    differs: impl Fn(&session::Session) -> bool,
) -> Result<()> {
    // Forgotten meanwhile (a logout elsewhere): a hint brings nothing back.
    if binding.storage.load().await?.is_none() {
        return Ok(());
    }
    binding.adopt_newer_tokens(session).await?;
    if !differs(session) {
        return Ok(());
    }
    let Some(credentials) = session.credentials.as_mut() else {
        return Ok(());
    };
    let mut updated = credentials.clone();
    updated.protocol_version = revision.map(str::to_owned);
    binding.save(&mut updated).await?;
    *credentials = updated;
    Ok(())
}
