//! [`WebFlow`]: the authorization code flow split in two for web platforms.
//!
//! A platform serves many people; each connects their own MCP servers from a
//! web page. [`WebFlow::begin`] answers with the authorization URL to
//! redirect the browser to, and keeps the attempt in a shared store;
//! [`WebFlow::complete`] takes the callback's query on whichever instance
//! receives it, and stores the account's tokens. Every later request, on
//! any instance, goes through [`WebFlow::oauth`]: the account's tokens,
//! refreshed once per expiry across all instances by the store's lock.

mod attempt;
mod builder;
mod exchange;

pub use self::builder::WebFlowBuilder;

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use secrecy::SecretString;
use url::Url;

use self::attempt::{Attempt, attempt_id, binding_of};
use super::{
    OAuth,
    builder::Settings,
    discovery::{Discovery, discover},
    flow::Flow,
    http::OAuthHttp,
    identity::{self, Purpose},
    session::Binding,
    wire::{AuthorizationRequest, Pkce, authorization_url, choose_scope},
};
use crate::{
    CredentialStore, Error, PendingAttempt, PendingStore, Result, ServerUrl, StoredCredentials,
    clock::now_ms, secret::random_token, store::check_account,
};

/// How long a begun sign-in may wait for its callback unless
/// [`WebFlowBuilder::attempt_lifetime`] says otherwise.
const DEFAULT_ATTEMPT_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long `begin` waits for another instance registering the client.
const REGISTRATION_LOCK_WAIT: Duration = Duration::from_secs(30);
/// The `OAuth`s kept for reuse; beyond, the cache starts again (each holds
/// only what its store holds too).
const MAX_CACHED: usize = 100_000;
/// How long a server's discovery serves the sign-ins begun for it: a
/// thousand people connecting one server make one round of metadata
/// requests, and a server that moves is followed within a few minutes.
const DISCOVERY_REUSE: Duration = Duration::from_secs(5 * 60);

/// The two-phase authorization flow of a web platform, over a store that
/// every instance shares.
///
/// ```no_run
/// # async fn run(store: mcp_oauth::MemoryStore, query: &str) -> mcp_oauth::Result<()> {
/// use mcp_oauth::{Auth, Client, WebFlow};
///
/// // Once per instance; `store` is shared by all (Redis, with mcp-oauth-redis).
/// let web = WebFlow::builder(store, "https://agents.example.com/oauth/callback")
///     .client_name("Example agents")
///     .build()?;
///
/// // GET /connect: redirect the browser to the authorization server.
/// let server = "https://mcp.example.com/mcp";
/// let url = web.begin(server, "user-42", "the session id").await?;
///
/// // GET /oauth/callback?code=…&state=… on any instance, same session.
/// let connected = web.complete(query, "user-42", "the session id").await?;
///
/// // Any request later, on any instance.
/// let oauth = web.oauth(connected.server_url(), "user-42")?;
/// let client = Client::builder(server).auth(Auth::from(oauth)).connect().await?;
/// let tools = client.list_tools().await?;
/// # Ok(()) }
/// ```
///
/// What it checks: the callback's `state` names an attempt that this
/// account and session began (single use, expiring after ten minutes), the
/// `iss` of the response is the issuer the attempt was begun with (RFC
/// 9207), PKCE S256, the same `redirect_uri` and `resource` at the token
/// endpoint. A refused callback changes nothing: an attempt presented by
/// another session stays for its own.
#[derive(Clone)]
pub struct WebFlow {
    inner: Arc<Inner>,
}

struct Inner {
    credentials: Arc<dyn CredentialStore>,
    pending: Arc<dyn PendingStore>,
    redirect_uri: Url,
    settings: Settings,
    attempt_lifetime: Duration,
    /// One HTTP client for every account's OAuth requests.
    http: OAuthHttp,
    /// Per (server, account): the in-process side of the one-refresh rule,
    /// and the ready header of a fresh token.
    cache: Mutex<HashMap<(ServerUrl, Option<String>), OAuth>>,
    /// Recent discoveries, per server.
    discovered: Mutex<HashMap<ServerUrl, (Instant, Discovery)>>,
    /// One discovery at a time per server: the sign-ins begun meanwhile
    /// wait for it and use it.
    discovering: Mutex<HashMap<ServerUrl, Arc<tokio::sync::Mutex<()>>>>,
}

/// A completed web sign-in: whose tokens were stored, for which server.
///
/// ```no_run
/// # async fn run(web: mcp_oauth::WebFlow, query: &str) -> mcp_oauth::Result<()> {
/// let connected = web.complete(query, "user-42", "the session id").await?;
/// let oauth = web.oauth(connected.server_url(), connected.account())?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Connected {
    server_url: String,
    account: String,
}

impl Connected {
    /// The MCP server the account is now connected to.
    ///
    /// ```
    /// # fn run(connected: mcp_oauth::Connected) {
    /// println!("connected to {}", connected.server_url());
    /// # }
    /// ```
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The account whose tokens were stored.
    ///
    /// ```
    /// # fn run(connected: mcp_oauth::Connected) {
    /// println!("{} is connected", connected.account());
    /// # }
    /// ```
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl fmt::Debug for WebFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebFlow")
            .field("redirect_uri", &self.inner.redirect_uri.as_str())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl WebFlow {
    /// Starts configuring the flow over `store` (credentials and pending
    /// sign-ins, shared by every instance), for the platform's callback at
    /// `redirect_uri`: an `https` URL, or `http` on a loopback address for
    /// tests. The authorization server must accept it exactly: it is
    /// registered dynamically, or listed in a Client ID Metadata Document,
    /// or was registered with a static client.
    ///
    /// ```
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let builder = WebFlow::builder(MemoryStore::new(), "https://agents.example.com/oauth/callback");
    /// ```
    pub fn builder<S>(store: S, redirect_uri: impl Into<String>) -> WebFlowBuilder
    where
        S: CredentialStore + PendingStore + 'static,
    {
        let store = Arc::new(store);
        WebFlowBuilder {
            credentials: store.clone(),
            pending: store,
            redirect_uri: redirect_uri.into(),
            settings: Settings::default(),
            attempt_lifetime: DEFAULT_ATTEMPT_LIFETIME,
        }
    }

    /// The platform's callback URL, as registered.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::{MemoryStore, WebFlow};
    /// let callback = "https://agents.example.com/oauth/callback";
    /// let web = WebFlow::builder(MemoryStore::new(), callback).build()?;
    /// assert_eq!(web.redirect_uri(), callback);
    /// # Ok(()) }
    /// ```
    pub fn redirect_uri(&self) -> &str {
        self.inner.redirect_uri.as_str()
    }

    /// Begins a sign-in of `account` to the MCP server at `server_url`, for
    /// the caller's `session` (its session id, or a random value kept in a
    /// cookie): finds the authorization server, registers the platform's
    /// client there when needed (one registration for all accounts), keeps
    /// the attempt in the store, and returns the URL to redirect the
    /// browser to.
    ///
    /// ```no_run
    /// # async fn run(web: mcp_oauth::WebFlow) -> mcp_oauth::Result<()> {
    /// let url = web.begin("https://mcp.example.com/mcp", "user-42", "the session id").await?;
    /// // Redirect the browser to `url`.
    /// # Ok(()) }
    /// ```
    pub async fn begin(&self, server_url: &str, account: &str, session: &str) -> Result<Url> {
        check_account(account)?;
        let session = session_secret(session)?;
        let server = ServerUrl::parse(server_url)?;
        let inner = &self.inner;
        let discovery = self.discovery(&server).await?;
        let listed = discovery
            .resource_metadata
            .as_ref()
            .and_then(|prm| prm.scopes_supported.as_deref());
        let scope = choose_scope(
            inner.settings.scopes.as_deref(),
            None,
            listed,
            &discovery.metadata,
        );
        let registration = self
            .platform_client(&server, &discovery, scope.as_deref())
            .await?;
        let dpop = inner.settings.dpop.wanted(
            &discovery.metadata,
            discovery.resource_metadata.as_ref(),
            None,
        )?;
        let pkce = Pkce::new()?;
        let state = random_token()?;
        let url = authorization_url(
            &discovery.metadata,
            &AuthorizationRequest {
                client_id: &registration.client_id,
                redirect_uri: &inner.redirect_uri,
                challenge: &pkce.challenge,
                state: &state,
                resource: Some(&discovery.resource),
                scope: scope.as_deref(),
            },
        )?;
        let begun_at_ms = now_ms();
        let attempt = Attempt {
            server_url: server.as_str().to_owned(),
            account: account.to_owned(),
            metadata: discovery.metadata,
            resource: discovery.resource,
            scope,
            redirect_uri: inner.redirect_uri.as_str().to_owned(),
            registration,
            verifier: pkce.verifier,
            begun_at_ms,
            dpop,
        };
        let lifetime = u64::try_from(inner.attempt_lifetime.as_millis()).unwrap_or(u64::MAX);
        let pending = PendingAttempt::from_parts(
            attempt_id(&state),
            binding_of(account, &session),
            begun_at_ms.saturating_add(lifetime),
            attempt.to_document()?,
        );
        inner.pending.put(&pending).await?;
        tracing::debug!(server = %server, "began a web sign-in");
        Ok(url)
    }

    /// Completes a sign-in with the callback's query (`code`, `state`,
    /// `iss`, or `error`; with or without its `?`), for the `account` and
    /// `session` that began it, on any instance: checks it, exchanges the
    /// code and stores the account's tokens.
    ///
    /// Refusals: [`Error::CallbackRefused`] (an unknown, used or expired
    /// attempt, another session's, a malformed query), [`Error::Insecure`]
    /// (an `iss` that is not the attempt's issuer),
    /// [`Error::AuthorizationDenied`] (the server's `error=`). Each ends
    /// with nothing stored.
    ///
    /// ```no_run
    /// # async fn run(web: mcp_oauth::WebFlow, query: &str) -> mcp_oauth::Result<()> {
    /// let connected = web.complete(query, "user-42", "the session id").await?;
    /// println!("{} connected to {}", connected.account(), connected.server_url());
    /// # Ok(()) }
    /// ```
    pub async fn complete(&self, query: &str, account: &str, session: &str) -> Result<Connected> {
        let session = session_secret(session)?;
        exchange::complete(self, query, account, &session).await
    }

    /// The OAuth of `account` for the MCP server at `server_url`, to
    /// connect a [`Client`](crate::Client) with: the account's stored
    /// tokens, refreshed when they expire (one refresh across all instances
    /// sharing the store). It never signs in: a request the server refuses
    /// with no tokens to renew fails with [`Error::NotConnected`], the cue to
    /// [`begin`](Self::begin) a sign-in.
    ///
    /// ```no_run
    /// # async fn run(web: mcp_oauth::WebFlow) -> mcp_oauth::Result<()> {
    /// use mcp_oauth::{Auth, Client};
    /// let oauth = web.oauth("https://mcp.example.com/mcp", "user-42")?;
    /// let client = Client::builder("https://mcp.example.com/mcp").auth(Auth::from(oauth)).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn oauth(&self, server_url: &str, account: &str) -> Result<OAuth> {
        check_account(account)?;
        let server = ServerUrl::parse(server_url)?;
        self.oauth_for(&server, Some(account))
    }

    /// Forgets `account`'s tokens for the server (the registration, shared
    /// by all accounts, stays).
    ///
    /// ```no_run
    /// # async fn run(web: mcp_oauth::WebFlow) -> mcp_oauth::Result<()> {
    /// web.disconnect("https://mcp.example.com/mcp", "user-42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn disconnect(&self, server_url: &str, account: &str) -> Result<()> {
        self.oauth(server_url, account)?.logout().await
    }

    /// The server's discovery: a recent one, else a new one (kept when it
    /// succeeds).
    async fn discovery(&self, server: &ServerUrl) -> Result<Discovery> {
        let recent = |discovered: &HashMap<ServerUrl, (Instant, Discovery)>| {
            discovered
                .get(server)
                .filter(|(at, _)| at.elapsed() < DISCOVERY_REUSE)
                .map(|(_, discovery)| discovery.clone())
        };
        let lock = || {
            self.inner
                .discovered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(discovery) = recent(&lock()) {
            return Ok(discovery);
        }
        let turn = self
            .inner
            .discovering
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(server.clone())
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        if let Some(discovery) = recent(&lock()) {
            return Ok(discovery);
        }
        let discovery = discover(&self.inner.http, server, None).await?;
        let mut discovered = lock();
        discovered.retain(|_, (at, _)| at.elapsed() < DISCOVERY_REUSE);
        discovered.insert(server.clone(), (Instant::now(), discovery.clone()));
        Ok(discovery)
    }

    fn oauth_for(&self, server: &ServerUrl, account: Option<&str>) -> Result<OAuth> {
        let inner = &self.inner;
        let key = (server.clone(), account.map(str::to_owned));
        let mut cache = inner.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(oauth) = cache.get(&key) {
            return Ok(oauth.clone());
        }
        let mut settings = inner.settings.clone();
        settings.storage = Some(inner.credentials.storage(server.as_str(), account)?);
        settings.account = account.map(str::to_owned);
        let mut binding = Binding::new(server.clone(), &settings)?;
        binding.http = inner.http.with_dpop(binding.dpop.clone());
        let oauth = OAuth::from_parts(settings, Some(binding));
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, oauth.clone());
        Ok(oauth)
    }

    /// The platform's client at the server's authorization server: static,
    /// a metadata document, or one dynamic registration for every account,
    /// kept in the server's default-account document and made by one
    /// instance at a time.
    async fn platform_client(
        &self,
        server: &ServerUrl,
        discovery: &Discovery,
        scope: Option<&str>,
    ) -> Result<crate::store::Registration> {
        let shared = self.oauth_for(server, None)?;
        let binding = shared.binding()?;
        let mut session = binding.session().await?;
        let lock = binding.storage.lock(REGISTRATION_LOCK_WAIT).await?;
        let outcome = async {
            binding.reread(&mut session).await?;
            let mut credentials = session
                .credentials
                .take()
                .unwrap_or_else(|| StoredCredentials::new(server.as_str()));
            if credentials.issuer.as_deref() != Some(discovery.metadata.issuer.as_str()) {
                credentials.registration = None;
            }
            credentials.issuer = Some(discovery.metadata.issuer.clone());
            credentials.resource = Some(discovery.resource.clone());
            credentials.authorization_server = Some(discovery.metadata.clone());
            let mut flow = Flow {
                settings: &self.inner.settings,
                binding,
                credentials,
                metadata: discovery.metadata.clone(),
                source: discovery.source,
                resource: discovery.resource.clone(),
                omit_resource: self.inner.settings.omit_resource,
                client_checked: false,
                scope: scope.map(str::to_owned),
            };
            let client =
                identity::client(&mut flow, Purpose::Redirect(&self.inner.redirect_uri)).await;
            session.credentials = Some(flow.credentials);
            client
        }
        .await;
        lock.release().await;
        outcome
    }
}

fn session_secret(session: &str) -> Result<SecretString> {
    if session.is_empty() {
        return Err(Error::InvalidConfig {
            reason: "a web sign-in needs the caller's session (its id, or a random value kept \
                     in a cookie), and it was empty"
                .into(),
        });
    }
    Ok(SecretString::from(session.to_owned()))
}
