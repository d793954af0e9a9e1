//! An OAuth 2.1 authorization server on loopback, for testing MCP OAuth clients.
//!
//! [`AuthServer`] implements what an MCP client meets in the wild: RFC 8414 and
//! OpenID Connect metadata at configurable locations, RFC 7591 dynamic client
//! registration, Client ID Metadata Documents, pre-registered clients, the
//! authorization code grant with PKCE S256, RFC 8707 resource indicators,
//! RFC 9207 `iss`, scopes, refresh token rotation and injectable faults. Every
//! request is recorded ([`AuthRequest`]) so tests can count them.
//!
//! A [`crate::TestServer`] built with [`crate::TestServerBuilder::protected_by`]
//! accepts only access tokens this server issued for it.

mod authorize;
mod device;
mod http;
mod modes;
mod providers;
mod state;
mod token;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::log::Answered;
use crate::server::lock;

pub use device::{DeviceRequest, DeviceStatus};
pub(crate) use http::{owns, serve as serve_http};
pub use modes::{
    AuthFault, DpopPolicy, IssMode, LoginMode, MetadataLocation, PreRegistered, RefreshMode,
};
pub use providers::{ENTRA_RESOURCE_REFUSAL, ResourceRefusal, UnknownClient};
pub(crate) use state::{AuthState, TokenCheck};

/// How long [`AuthServer::stop`] waits for a graceful shutdown before aborting.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What a request to the authorization server was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRequestKind {
    /// Any path containing `/.well-known/`, served or not.
    Metadata,
    /// The registration endpoint.
    Register,
    /// The authorization endpoint.
    Authorize,
    /// The authorization endpoint, asked by a client before it shows the
    /// page (`Sec-Purpose: prefetch`): answered as [`Authorize`](Self::Authorize)
    /// is, but no sign-in.
    AuthorizePrefetch,
    /// The interactive login and consent form posts.
    Interaction,
    /// The token endpoint.
    Token,
    /// The device authorization endpoint (RFC 8628).
    DeviceAuthorization,
    /// Anything else.
    Other,
}

/// One HTTP request the authorization server received (secrets included).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// What the request was for.
    pub kind: AuthRequestKind,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Decoded `application/x-www-form-urlencoded` body parameters, in order.
    pub form: Vec<(String, String)>,
    /// The body, when it was JSON.
    pub json: Option<Value>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `DPoP` proof header, when the request carried one.
    pub dpop: Option<String>,
    /// HTTP status answered; 0 while unanswered.
    pub status: u16,
    /// Where the request came from: the client's address, or that of a
    /// relay in front of the server.
    pub peer: Option<SocketAddr>,
    /// Every header, names in lower case, values as sent (lossy UTF-8).
    pub headers: Vec<(String, String)>,
}

impl AuthRequest {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::log::header_in(&self.headers, name)
    }

    /// The first value of a query or form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(&self.form)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Answered for AuthRequest {
    fn set_status(&mut self, status: u16) {
        self.status = status;
    }
}

/// A client created by dynamic registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredClient {
    /// The issued `client_id`.
    pub client_id: String,
    /// The issued secret, for confidential methods.
    pub client_secret: Option<String>,
    /// The method the server chose.
    pub token_endpoint_auth_method: String,
    /// The registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// `client_name`, if given.
    pub client_name: Option<String>,
    /// The metadata JSON the client submitted, unchanged.
    pub metadata: Value,
}

/// An access token the server issued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The opaque token.
    pub access_token: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The RFC 8707 resource (audience); `None` when the client named none.
    pub resource: Option<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`, the
    /// device code grant or the `jwt-bearer` grant (their URNs).
    pub grant_type: String,
    /// Revoked by the reuse of a rotated refresh token or of the authorization code.
    pub revoked: bool,
    /// Past its lifetime (or expired by [`AuthServer::expire_access_tokens`]).
    pub expired: bool,
    /// The thumbprint of the DPoP key it is bound to; `None` for a bearer token.
    pub jkt: Option<String>,
}

/// The immutable configuration of one authorization server.
#[derive(Debug, Clone)]
pub(crate) struct AuthConfig {
    /// `""` or `/segment..`, without a trailing slash.
    pub(crate) issuer_path: String,
    pub(crate) trailing_slash: bool,
    pub(crate) metadata: Vec<MetadataLocation>,
    pub(crate) metadata_issuer: Option<String>,
    pub(crate) dynamic_registration: bool,
    pub(crate) cimd: bool,
    pub(crate) pre_registered: Vec<PreRegistered>,
    pub(crate) auth_methods: Vec<String>,
    pub(crate) pkce_methods: Option<Vec<String>>,
    pub(crate) scopes: Vec<String>,
    pub(crate) iss: IssMode,
    pub(crate) login: LoginMode,
    pub(crate) access_lifetime: Duration,
    pub(crate) refresh: RefreshMode,
    pub(crate) device: Option<device::DeviceConfig>,
    pub(crate) dpop: DpopPolicy,
    pub(crate) workload_identity: bool,
    pub(crate) resource_refusal: ResourceRefusal,
    pub(crate) unknown_client: UnknownClient,
    /// How its URLs name it: scheme and host.
    pub(crate) public: crate::tls::Public,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer_path: String::new(),
            trailing_slash: false,
            metadata: vec![MetadataLocation::OAuthInsert],
            metadata_issuer: None,
            dynamic_registration: true,
            cimd: false,
            pre_registered: Vec::new(),
            auth_methods: strings(&["none", "client_secret_basic", "client_secret_post"]),
            pkce_methods: Some(strings(&["S256"])),
            scopes: strings(&["mcp:read", "mcp:write", "offline_access"]),
            iss: IssMode::Off,
            login: LoginMode::AutoApprove,
            access_lifetime: Duration::from_secs(3600),
            refresh: RefreshMode::Rotating,
            device: None,
            dpop: DpopPolicy::Off,
            workload_identity: false,
            resource_refusal: ResourceRefusal::Never,
            unknown_client: UnknownClient::ErrorPage,
            public: crate::tls::Public::default(),
        }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The task serving a standalone [`AuthServer`].
#[derive(Debug)]
struct Runner {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// A running authorization server. [`AuthServer::stop`] it; dropping it also
/// shuts it down. One embedded in a [`crate::TestServer`] (see
/// [`crate::TestServerBuilder::with_embedded_auth`]) lives as long as that server.
#[derive(Debug)]
pub struct AuthServer {
    state: Arc<AuthState>,
    runner: Option<Runner>,
}

impl AuthServer {
    /// A builder with the defaults (see [`AuthServerBuilder`]).
    pub fn builder() -> AuthServerBuilder {
        AuthServerBuilder::default()
    }

    /// The issuer: `http://127.0.0.1:PORT` plus the configured path (and trailing slash).
    pub fn issuer(&self) -> String {
        self.state.issuer()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.state.base_url()
    }

    /// The address its URLs name: `127.0.0.1:PORT` (see
    /// [`AuthServerBuilder::bind_address`] for where it listens).
    pub fn addr(&self) -> SocketAddr {
        self.state.addr
    }

    /// `{issuer base}/authorize`.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.state.endpoint_base())
    }

    /// `{issuer base}/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.state.endpoint_base())
    }

    /// `{issuer base}/register` (answers 404 when registration is off).
    pub fn registration_endpoint(&self) -> String {
        format!("{}/register", self.state.endpoint_base())
    }

    /// The URL of each configured metadata location, in configuration order.
    pub fn metadata_urls(&self) -> Vec<String> {
        let base = self.state.base_url();
        let path = &self.state.cfg.issuer_path;
        let urls = self.state.cfg.metadata.iter();
        urls.map(|l| format!("{base}{}", l.path(path))).collect()
    }

    /// Every HTTP request received so far, in arrival order.
    pub fn requests(&self) -> Vec<AuthRequest> {
        self.state.log.snapshot()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state.log.clear();
    }

    /// The dynamically registered clients, in registration order.
    pub fn registered_clients(&self) -> Vec<RegisteredClient> {
        self.state.registered_clients()
    }

    /// How many access tokens were issued so far.
    pub fn issued_tokens(&self) -> usize {
        lock(&self.state.store).access.len()
    }

    /// Every access token issued so far, oldest first.
    pub fn tokens(&self) -> Vec<IssuedToken> {
        self.state.tokens()
    }

    /// Invalidates every refresh token (`invalid_grant` from now on).
    pub fn revoke_refresh_tokens(&self) {
        lock(&self.state.store).refresh.clear();
    }

    /// Makes every access token issued so far invalid (the MCP server then
    /// answers 401 `invalid_token`).
    pub fn expire_access_tokens(&self) {
        let now = std::time::Instant::now();
        for token in &mut lock(&self.state.store).access {
            token.expires_at = token.expires_at.min(now);
        }
    }

    /// Forgets every dynamically registered client, as after a restart: their
    /// `client_id` then gets `invalid_client` (token) or an error page (authorize).
    pub fn forget_clients(&self) {
        lock(&self.state.store).clients.clear();
    }

    /// Pre-registered clients become unknown as well (`invalid_client`), so
    /// tests can check that a client never drops credentials it was given.
    pub fn forget_pre_registered_clients(&self) {
        lock(&self.state.store).pre_registered_forgotten = true;
    }

    /// Replaces the injected faults at run time (`None`: no faults).
    pub fn set_fault(&self, fault: Option<AuthFault>) {
        *lock(&self.state.faults) = fault.into_iter().collect();
    }

    /// Shuts down gracefully, ending slow requests; aborts after 2 s. The port
    /// is released when this returns. Does nothing for an embedded server.
    pub async fn stop(mut self) {
        if let Some(runner) = &mut self.runner {
            let _ = runner.shutdown.send(true);
            if let Some(mut task) = runner.task.take()
                && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }

    pub(crate) fn state(&self) -> &Arc<AuthState> {
        &self.state
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        if let Some(runner) = &mut self.runner {
            let _ = runner.shutdown.send(true);
            if let Some(task) = runner.task.take() {
                task.abort();
            }
        }
    }
}

/// Configures and starts an [`AuthServer`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct AuthServerBuilder {
    cfg: AuthConfig,
    faults: Vec<AuthFault>,
    bind: Option<IpAddr>,
}

impl AuthServerBuilder {
    /// The issuer's path: `""` (default: the issuer is the bare origin), `"/tenant1"`, ...
    /// Endpoints live under it (`/tenant1/authorize`).
    pub fn issuer_path(mut self, path: &str) -> Self {
        let trimmed = path.trim_matches('/');
        self.cfg.issuer_path = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// Ends the issuer with `/` (e.g. `http://127.0.0.1:PORT/`); default false.
    pub fn issuer_trailing_slash(mut self, yes: bool) -> Self {
        self.cfg.trailing_slash = yes;
        self
    }

    /// Where metadata is served; default `[OAuthInsert]`. Empty: nowhere (the
    /// 2025-03-26 default-endpoint fallback).
    pub fn metadata(mut self, locations: &[MetadataLocation]) -> Self {
        self.cfg.metadata = locations.to_vec();
        self
    }

    /// Serves metadata whose `issuer` is this value instead of the real issuer.
    pub fn metadata_issuer(mut self, issuer: &str) -> Self {
        self.cfg.metadata_issuer = Some(issuer.to_owned());
        self
    }

    /// RFC 7591 dynamic registration at `{issuer path}/register`; default true.
    pub fn dynamic_registration(mut self, on: bool) -> Self {
        self.cfg.dynamic_registration = on;
        self
    }

    /// Advertises `client_id_metadata_document_supported` and accepts any https
    /// URL with a path as a public `client_id` (not fetched; any loopback or
    /// https redirect URI). Default false.
    pub fn client_id_metadata_documents(mut self, on: bool) -> Self {
        self.cfg.cimd = on;
        self
    }

    /// Adds a pre-registered client; may be called several times.
    pub fn pre_registered(mut self, client: PreRegistered) -> Self {
        self.cfg.pre_registered.push(client);
        self
    }

    /// `token_endpoint_auth_methods_supported`; default `none`,
    /// `client_secret_basic`, `client_secret_post`. Registration honours the
    /// requested method if listed, else assigns the first listed.
    pub fn token_auth_methods(mut self, methods: &[&str]) -> Self {
        self.cfg.auth_methods = strings(methods);
        self
    }

    /// `code_challenge_methods_supported`; default `Some(["S256"])`, `None` omits
    /// the field. The server requires S256 whatever is advertised.
    pub fn pkce_methods(mut self, methods: Option<&[&str]>) -> Self {
        self.cfg.pkce_methods = methods.map(strings);
        self
    }

    /// `scopes_supported`; requested scopes must be among them. Default
    /// `mcp:read`, `mcp:write`, `offline_access`.
    pub fn scopes_supported(mut self, scopes: &[&str]) -> Self {
        self.cfg.scopes = strings(scopes);
        self
    }

    /// RFC 9207 `iss` in authorization responses; default [`IssMode::Off`].
    pub fn iss_parameter(mut self, mode: IssMode) -> Self {
        self.cfg.iss = mode;
        self
    }

    /// DPoP (RFC 9449) at the token endpoint; default [`DpopPolicy::Off`].
    pub fn dpop(mut self, policy: DpopPolicy) -> Self {
        self.cfg.dpop = policy;
        self
    }

    /// Default [`LoginMode::AutoApprove`].
    pub fn login(mut self, mode: LoginMode) -> Self {
        self.cfg.login = mode;
        self
    }

    /// Lifetime of access tokens (`expires_in`, whole seconds); default 3600 s.
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.cfg.access_lifetime = lifetime;
        self
    }

    /// Default [`RefreshMode::Rotating`].
    pub fn refresh_tokens(mut self, mode: RefreshMode) -> Self {
        self.cfg.refresh = mode;
        self
    }

    /// Injects a fault; may be called several times.
    pub fn fault(mut self, fault: AuthFault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Listens on `ip` instead of 127.0.0.1 (on a free port), while its
    /// URLs still name `127.0.0.1:PORT`: for clients in other network
    /// namespaces, each reaching it through a relay that listens on its own
    /// loopback with the same port (see [`crate::NetHosts`]). A client
    /// refuses a plain-http authorization server anywhere but on loopback.
    pub fn bind_address(mut self, ip: IpAddr) -> Self {
        self.bind = Some(ip);
        self
    }

    /// Serves https with a certificate `ca` signed: its issuer and
    /// endpoints say `https://`.
    pub fn tls(mut self, ca: &crate::TestCa) -> Self {
        self.cfg.public.tls = Some(ca.acceptor());
        self
    }

    /// The host its URLs (issuer, endpoints) name instead of `127.0.0.1`
    /// (it still listens there): a name a client reaches through a proxy
    /// that knows it, or an address of [`bind_address`](Self::bind_address).
    pub fn host(mut self, host: &str) -> Self {
        self.cfg.public.host = Some(host.to_owned());
        self
    }

    /// Binds `127.0.0.1:0` (or the [`bind_address`](Self::bind_address))
    /// and serves in a background task of the current runtime.
    pub async fn start(self) -> std::io::Result<AuthServer> {
        let (listener, addr) = crate::server::listen(self.bind).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let tls = self.cfg.public.tls.clone();
        let state = Arc::new(AuthState::new(self.cfg, self.faults, addr, shutdown_rx));
        let router = axum::Router::new()
            .fallback(http::handle)
            .with_state(Arc::clone(&state));
        let stopped = state.stopped();
        let task = crate::tls::spawn(listener, tls, router, stopped, "authorization server");
        Ok(AuthServer {
            state,
            runner: Some(Runner {
                shutdown,
                task: Some(task),
            }),
        })
    }

    /// A server answering on another server's listener (the MCP server's origin).
    pub(crate) fn embed(
        mut self,
        addr: SocketAddr,
        public: crate::tls::Public,
        shutdown: watch::Receiver<bool>,
    ) -> AuthServer {
        self.cfg.public = public;
        AuthServer {
            state: Arc::new(AuthState::new(self.cfg, self.faults, addr, shutdown)),
            runner: None,
        }
    }
}
