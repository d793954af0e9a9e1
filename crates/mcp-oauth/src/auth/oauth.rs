//! [`OAuth`]: OAuth 2.1 for one server, as FastMCP's `OAuth` helper does it:
//! token check, discovery, registration, the browser step, the code
//! exchange, caching and refresh.

use std::{fmt, path::PathBuf, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, MutexGuard};

use super::{
    authorize::{choose_scope, union_scope},
    builder::OAuthBuilder,
    callback::CallbackHost,
    challenge::BearerChallenge,
    discovery::{AuthServerMetadata, discover},
    fetch::{HttpOptions, OAuthHttp},
    machine::{CrossAppAccess, SigningAlgorithm, SigningKey, client_credentials, cross_app_access},
    registration::{Registration, RegistrationKind},
    token::Tokens,
    user_agent::UserAgent,
};
use crate::{Error, Result, ServerUrl, StoredCredentials, TokenStorage, secret::now};

pub(super) const DEFAULT_CLIENT_NAME: &str = "mcp-oauth";
/// How long to wait for another process's refresh (a token request is
/// bounded well below this).
pub(super) const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(60);
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

type Notice = Arc<dyn Fn(&str) + Send + Sync>;
type SignInHook = Arc<dyn Fn(SignIn) + Send + Sync>;

/// Where an interactive sign-in stands, for a progress display such as a
/// spinner; see [`OAuthBuilder::on_sign_in`].
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
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) settings: Settings,
    /// `None` for `Auth::oauth()` before it meets its server.
    pub(super) bound: Option<Bound>,
}

pub(super) struct Bound {
    pub(super) server: ServerUrl,
    pub(super) storage: Arc<dyn TokenStorage>,
    pub(super) http: OAuthHttp,
    pub(super) session: Mutex<Session>,
    /// The header of the fresh token, for requests that need nothing else:
    /// they take it without waiting on `session`. Set and cleared only by
    /// holders of `session` (every lock clears it), so it never outlives the
    /// credentials it was built from.
    pub(super) ready_header: std::sync::Mutex<Option<ReadyHeader>>,
    /// Bumped whenever new tokens are stored, so that callers refused at the
    /// same time run one authorization between them, not one each.
    pub(super) generation: std::sync::atomic::AtomicU64,
    pub(super) brakes: std::sync::Mutex<Brakes>,
}

/// An `Authorization` header and the moment (Unix seconds) its token is due
/// for a refresh.
pub(super) struct ReadyHeader {
    header: http::HeaderValue,
    fresh_until: u64,
}

/// Token requests and sign-ins in the last minute, per server.
#[derive(Debug, Default)]
pub(super) struct Brakes {
    token_requests: std::collections::VecDeque<std::time::Instant>,
    sign_ins: std::collections::VecDeque<std::time::Instant>,
}

const BRAKE_WINDOW: Duration = Duration::from_secs(60);
const MAX_TOKEN_REQUESTS: usize = 20;
const MAX_SIGN_INS: usize = 5;

impl Bound {
    /// The session, locked. Whoever holds it may change the credentials, so
    /// the ready header goes: the next request builds it again.
    pub(super) async fn lock_session(&self) -> MutexGuard<'_, Session> {
        let session = self.session.lock().await;
        self.set_ready_header(None);
        session
    }

    /// The ready header, if its token is fresh at `now`.
    pub(super) fn ready_header(&self, now: u64) -> Option<http::HeaderValue> {
        let ready = self
            .ready_header
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ready
            .as_ref()
            .filter(|ready| now < ready.fresh_until)
            .map(|ready| ready.header.clone())
    }

    /// Keeps the header of the session's token ready while that token is
    /// fresh. Only with the session locked (`session` comes from its guard).
    pub(super) fn keep_ready_header(&self, session: &Session) {
        let tokens = session.credentials.as_ref().and_then(|c| c.tokens.as_ref());
        let Some(tokens) = tokens.filter(|tokens| tokens.is_fresh(now())) else {
            return;
        };
        if let Ok(header) = super::bearer_header(&tokens.access_token) {
            let fresh_until = tokens.fresh_until();
            self.set_ready_header(Some(ReadyHeader {
                header,
                fresh_until,
            }));
        }
    }

    fn set_ready_header(&self, ready: Option<ReadyHeader>) {
        *self
            .ready_header
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ready;
    }

    /// Counts a token request, or refuses it past the limit.
    pub(super) fn brake_token_request(&self) -> Result<()> {
        self.brake(
            |brakes| &mut brakes.token_requests,
            MAX_TOKEN_REQUESTS,
            "token requests",
        )
    }

    /// Counts a sign-in (a browser launch), or refuses it past the limit.
    pub(super) fn brake_sign_in(&self) -> Result<()> {
        self.brake(|brakes| &mut brakes.sign_ins, MAX_SIGN_INS, "sign-ins")
    }

    fn brake(
        &self,
        pick: impl Fn(&mut Brakes) -> &mut std::collections::VecDeque<std::time::Instant>,
        limit: usize,
        what: &str,
    ) -> Result<()> {
        let mut brakes = self
            .brakes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let recent = pick(&mut brakes);
        let now = std::time::Instant::now();
        while recent
            .front()
            .is_some_and(|at| now.duration_since(*at) > BRAKE_WINDOW)
        {
            recent.pop_front();
        }
        if recent.len() >= limit {
            return Err(Error::Throttled {
                url: self.server.to_string(),
                reason: format!("more than {limit} {what} in a minute"),
            });
        }
        recent.push_back(now);
        Ok(())
    }
}

#[derive(Default)]
pub(super) struct Session {
    pub(super) loaded: bool,
    pub(super) credentials: Option<StoredCredentials>,
}

#[derive(Clone)]
pub(super) struct Settings {
    pub(super) scopes: Option<String>,
    pub(super) client_name: String,
    pub(super) cache_dir: Option<PathBuf>,
    pub(super) storage: Option<Arc<dyn TokenStorage>>,
    pub(super) additional_client_metadata: Option<Map<String, Value>>,
    pub(super) callback_port: Option<u16>,
    pub(super) callback_host: CallbackHost,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<SecretString>,
    pub(super) client_metadata_url: Option<String>,
    pub(super) timeout: Duration,
    pub(super) user_agent: UserAgent,
    pub(super) notice: Notice,
    pub(super) sign_in: Option<SignInHook>,
    pub(super) grant: GrantKind,
    pub(super) private_key: Option<(SecretString, SigningAlgorithm)>,
    pub(super) http: HttpOptions,
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
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.inner.settings;
        f.debug_struct("OAuth")
            .field(
                "server",
                &self.inner.bound.as_ref().map(|bound| bound.server.as_str()),
            )
            .field("scopes", &settings.scopes)
            .field("client_name", &settings.client_name)
            .field("client_id", &settings.client_id)
            .field(
                "client_secret",
                &settings.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("callback_port", &settings.callback_port)
            .field("user_agent", &settings.user_agent)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// Starts configuring OAuth for the MCP server at `mcp_url`.
    pub fn builder(mcp_url: impl Into<String>) -> OAuthBuilder {
        OAuthBuilder {
            mcp_url: Some(mcp_url.into()),
            ..OAuthBuilder::default()
        }
    }

    /// All defaults, bound to its server when the client connects.
    pub(crate) fn deferred() -> Self {
        Self {
            inner: Arc::new(Inner {
                settings: OAuthBuilder::default().settings,
                bound: None,
            }),
        }
    }

    /// This OAuth for `server`: itself when built for it; a fresh binding of
    /// the same settings when built without a URL; an error for another
    /// server, since tokens only go to the server they were issued for.
    pub(crate) fn for_server(&self, server: &ServerUrl) -> Result<Self> {
        match &self.inner.bound {
            Some(bound) if &bound.server == server => Ok(self.clone()),
            Some(bound) => Err(Error::InvalidConfig {
                reason: format!(
                    "this OAuth was built for {}, not {server}: credentials are only sent to the \
                     server they were issued for",
                    bound.server
                ),
            }),
            None => OAuthBuilder {
                mcp_url: Some(server.to_string()),
                settings: self.inner.settings.clone(),
            }
            .build(),
        }
    }

    /// How many times new tokens were stored so far.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.bound.as_ref().map_or(0, |bound| {
            bound.generation.load(std::sync::atomic::Ordering::SeqCst)
        })
    }

    /// The server this helper is for, once bound.
    pub(crate) fn server(&self) -> Option<&ServerUrl> {
        self.inner.bound.as_ref().map(|bound| &bound.server)
    }

    pub(super) fn bound(&self) -> Result<&Bound> {
        self.inner.bound.as_ref().ok_or_else(|| Error::InvalidConfig {
            reason: "OAuth has no server URL yet; use OAuth::builder(url) or connect a Client with it"
                .into(),
        })
    }

    /// The credentials currently stored for the server, if any.
    pub async fn stored(&self) -> Result<Option<StoredCredentials>> {
        let session = self.session().await?;
        Ok(session.credentials.clone())
    }

    /// Runs the authorization flow now (`mcp-oauth login`), whatever is cached.
    pub async fn login(&self) -> Result<()> {
        self.authorize(None, None).await
    }

    /// Forgets the stored credentials of this server.
    pub async fn logout(&self) -> Result<()> {
        let bound = self.bound()?;
        let mut session = bound.lock_session().await;
        bound.storage.clear().await?;
        *session = Session {
            loaded: true,
            credentials: None,
        };
        Ok(())
    }

    pub(super) async fn session(&self) -> Result<MutexGuard<'_, Session>> {
        let bound = self.bound()?;
        let mut session = bound.lock_session().await;
        if !session.loaded {
            session.credentials = bound.storage.load().await?;
            session.loaded = true;
        }
        Ok(session)
    }

    /// The interactive flow, started by a 401 challenge (or none, for
    /// `login`). For a 403 `insufficient_scope`, asks for the union of the
    /// scopes granted and challenged.
    ///
    /// `seen` is the token generation the refused request saw: when tokens
    /// were stored since, another caller has just authorized and nothing
    /// more is done. `None` always runs the flow.
    pub(crate) async fn authorize(
        &self,
        www_authenticate: Option<&str>,
        seen: Option<u64>,
    ) -> Result<()> {
        let bound = self.bound()?;
        let challenge = www_authenticate.and_then(BearerChallenge::parse);
        let mut session = self.session().await?;
        if seen
            .is_some_and(|seen| seen != bound.generation.load(std::sync::atomic::Ordering::SeqCst))
        {
            return Ok(());
        }
        // One sign-in at a time across processes; the others wait for its
        // tokens (bounded by the sign-in timeout) and use them.
        let _lock = bound
            .storage
            .lock(self.inner.settings.timeout + REFRESH_LOCK_WAIT)
            .await?;
        if self
            .adopt_newer_tokens(bound, &mut session)
            .await?
            .is_some()
            && seen.is_some()
        {
            return Ok(());
        }
        let discovery = discover(&bound.http, &bound.server, challenge.as_ref()).await?;
        tracing::debug!(issuer = %discovery.metadata.issuer, source = ?discovery.source, "discovered the authorization server");
        let metadata = discovery.metadata;
        let mut credentials = session
            .credentials
            .take()
            .unwrap_or_else(|| StoredCredentials::new(bound.server.as_str()));
        // Credentials belong to the authorization server that issued them.
        if credentials
            .issuer
            .as_deref()
            .is_some_and(|issuer| issuer != metadata.issuer)
        {
            tracing::info!(server = %bound.server, "the server uses another authorization server now; forgetting the old credentials");
            credentials.registration = None;
            credentials.tokens = None;
        }
        credentials.issuer = Some(metadata.issuer.clone());
        credentials.resource = Some(discovery.resource.clone());
        credentials.authorization_server = Some(metadata.clone());

        let step_up = challenge
            .as_ref()
            .is_some_and(BearerChallenge::is_insufficient_scope);
        let challenged = challenge.as_ref().and_then(|c| c.scope.as_deref());
        let scope = if step_up {
            let granted = credentials.tokens.as_ref().and_then(|t| t.scope.as_deref());
            union_scope(granted, challenged)
        } else {
            let listed = discovery
                .resource_metadata
                .as_ref()
                .and_then(|prm| prm.scopes_supported.as_deref());
            choose_scope(
                self.inner.settings.scopes.as_deref(),
                challenged,
                listed,
                &metadata,
            )
        };

        if matches!(
            self.inner.settings.grant,
            GrantKind::ClientCredentials | GrantKind::CrossAppAccess(_)
        ) {
            let outcome = self
                .machine_tokens(
                    bound,
                    &mut credentials,
                    &metadata,
                    &discovery.resource,
                    scope.as_deref(),
                )
                .await;
            session.credentials = Some(credentials);
            return outcome;
        }

        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let result = if matches!(self.inner.settings.grant, GrantKind::Device) {
                self.authorize_device(
                    bound,
                    &mut credentials,
                    &metadata,
                    &discovery.resource,
                    scope.as_deref(),
                )
                .await
            } else {
                self.authorize_once(
                    bound,
                    &mut credentials,
                    &metadata,
                    discovery.source,
                    &discovery.resource,
                    scope.as_deref(),
                )
                .await
            };
            match result {
                // A dynamic registration the server no longer knows: register again, once.
                Err(
                    Error::TokenEndpoint { ref error, .. }
                    | Error::AuthorizationDenied { ref error, .. },
                ) if attempt == 1
                    && (error == "invalid_client" || error == "unauthorized_client")
                    && credentials
                        .registration
                        .as_ref()
                        .is_some_and(|r| r.kind == RegistrationKind::Dynamic) =>
                {
                    tracing::info!(
                        "the authorization server rejected the cached client; registering again"
                    );
                    credentials.registration = None;
                }
                other => break other,
            }
        };
        session.credentials = Some(credentials);
        outcome
    }

    /// Tokens without a person: `client_credentials` or cross-app access.
    async fn machine_tokens(
        &self,
        bound: &Bound,
        credentials: &mut StoredCredentials,
        metadata: &AuthServerMetadata,
        resource: &str,
        scope: Option<&str>,
    ) -> Result<()> {
        let settings = &self.inner.settings;
        let Some(client_id) = &settings.client_id else {
            return Err(Error::InvalidConfig {
                reason: "machine-to-machine grants need a client id (--client-id)".into(),
            });
        };
        let key = match &settings.private_key {
            Some((pem, algorithm)) => Some(SigningKey::from_pem(pem.expose_secret(), *algorithm)?),
            None => None,
        };
        let mut registration =
            Registration::fixed(client_id, settings.client_secret.clone(), metadata);
        if key.is_some() {
            registration.token_endpoint_auth_method = "private_key_jwt".into();
        }
        bound.brake_token_request()?;
        let tokens = match &settings.grant {
            GrantKind::CrossAppAccess(idp) => {
                cross_app_access(&bound.http, metadata, &registration, idp, scope, resource).await?
            }
            _ => {
                client_credentials(
                    &bound.http,
                    metadata,
                    &registration,
                    key.as_ref(),
                    scope,
                    resource,
                )
                .await?
            }
        };
        credentials.registration = Some(registration);
        self.store_tokens(bound, credentials, tokens).await
    }

    pub(super) fn signal(&self, state: SignIn) {
        if let Some(hook) = &self.inner.settings.sign_in {
            hook(state);
        }
    }

    pub(super) async fn store_tokens(
        &self,
        bound: &Bound,
        credentials: &mut StoredCredentials,
        tokens: Tokens,
    ) -> Result<()> {
        credentials.tokens = Some(tokens);
        credentials.updated_at = now();
        bound.storage.save(credentials).await?;
        bound
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

pub(super) fn token_endpoint(metadata: &AuthServerMetadata) -> Result<&str> {
    metadata
        .token_endpoint
        .as_deref()
        .ok_or_else(|| Error::Discovery {
            url: metadata.issuer.clone(),
            reason: "the authorization server metadata has no token_endpoint".into(),
        })
}
