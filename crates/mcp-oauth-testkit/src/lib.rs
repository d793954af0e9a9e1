//! A hand-written MCP server on loopback for integration tests.
//!
//! It speaks every transport and lifecycle the client must handle and can
//! misbehave on request, independently of any MCP SDK:
//!
//! - [`ServerMode::Stateful`]: Streamable HTTP with `initialize` and
//!   `Mcp-Session-Id` (revisions 2025-03-26 .. 2025-11-25); when 2026-07-28 is
//!   configured it also answers `server/discover` and session-less modern requests.
//! - [`ServerMode::Stateless`]: the 2026-07-28 lifecycle, `server/discover` and
//!   per-request `_meta`, no sessions.
//! - [`ServerMode::LegacySse`]: the 2024-11-05 HTTP+SSE transport.
//!
//! It serves the tools `echo`, `add` and `fail` (and those a test adds with
//! [`TestServerBuilder::tool`]), the resource `test://hello` and the prompt
//! `greet`, and records every HTTP request ([`RecordedRequest`]).
//!
//! [`AuthServer`] is an OAuth 2.1 authorization server on loopback (metadata,
//! dynamic registration, PKCE, resource indicators, refresh rotation, faults);
//! [`TestServerBuilder::protected_by`] makes the MCP server accept only its
//! tokens, with RFC 9728 metadata offered as [`PrmMode`] says. Stores get
//! services of a test's own too: a `redis-server` ([`RedisServer`]) and, on
//! Linux, a Secret Service (`KeyringDaemon`: a private D-Bus session bus
//! and gnome-keyring):
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mcp_oauth_testkit::{AuthServer, TestServer};
//! let auth = AuthServer::builder().start().await?;
//! let server = TestServer::builder().protected_by(&auth).start().await?;
//! // POST server.url() without a token: 401 with
//! // `WWW-Authenticate: Bearer resource_metadata="http://127.0.0.1:P/.well-known/oauth-protected-resource/mcp"`.
//! server.stop().await;
//! auth.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mcp_oauth_testkit::{ResponseStyle, TestServer};
//! let server = TestServer::builder().responses(ResponseStyle::Sse).start().await?;
//! let url = server.url(); // http://127.0.0.1:PORT/mcp
//! # let _ = url;
//! server.stop().await;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod auth;
mod config;
mod dpop;
mod forward_proxy;
mod jsonrpc;
#[cfg(target_os = "linux")]
mod keyring;
mod legacy_sse;
mod log;
mod methods;
mod modern;
#[cfg(target_os = "linux")]
mod netns;
mod protect;
mod redis;
mod respond;
mod server;
mod stdio;
mod streamable;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::{
    AuthFault, AuthRequest, AuthRequestKind, AuthServer, AuthServerBuilder, DeviceRequest,
    DeviceStatus, DpopPolicy, ENTRA_RESOURCE_REFUSAL, IssMode, IssuedToken, LoginMode,
    MetadataLocation, PreRegistered, RefreshMode, RegisteredClient, ResourceRefusal, UnknownClient,
};
pub use config::{Fault, ResponseStyle, ServerMode, ToolAnswer};
pub use forward_proxy::ForwardProxy;
#[cfg(target_os = "linux")]
pub use keyring::{KeyringDaemon, KeyringItem};
pub use log::RecordedRequest;
pub use modern::{Tamper, TestSkill};
#[cfg(target_os = "linux")]
pub use netns::NetHosts;
pub use protect::PrmMode;
pub use redis::{RedisServer, signal};
pub use stdio::serve_stdio;
pub use tls::TestCa;

use auth::AuthState;
use config::{ALL_VERSIONS, Config, Content, ExtraTool, LEGACY_SSE_VERSIONS};
use protect::Protection;
use server::{Shared, lock};

/// How long [`TestServer::stop`] waits for a graceful shutdown before aborting.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A running server. [`TestServer::stop`] it; dropping it also shuts it down.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    mode: ServerMode,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// `scheme://host:port`, as its URLs name it.
    origin: String,
    /// Declared last: dropped after the server task is aborted.
    auth: Option<AuthServer>,
}

impl TestServer {
    /// A builder with the defaults: Stateful, JSON responses, every revision, no faults.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// The MCP endpoint: `http://127.0.0.1:PORT/mcp`, or `/sse` in [`ServerMode::LegacySse`].
    pub fn url(&self) -> String {
        let path = match self.mode {
            ServerMode::LegacySse => "/sse",
            _ => "/mcp",
        };
        format!("{}{path}", self.base_url())
    }

    /// `http://127.0.0.1:PORT` (`https://` with [`TestServerBuilder::tls`],
    /// another host with [`TestServerBuilder::host`]), for building other
    /// URLs against the server.
    pub fn base_url(&self) -> String {
        self.origin.clone()
    }

    /// The address its URLs name: `127.0.0.1:PORT` (see
    /// [`TestServerBuilder::bind_address`] for where it listens).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every HTTP request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log.snapshot()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// The authorization server embedded on this server's origin
    /// ([`TestServerBuilder::with_embedded_auth`]).
    pub fn auth(&self) -> Option<&AuthServer> {
        self.auth.as_ref()
    }

    /// Sessions currently alive (Stateful sessions plus open legacy SSE streams).
    pub fn active_sessions(&self) -> usize {
        lock(&self.shared.sessions).len() + lock(&self.shared.legacy).len()
    }

    /// Answers every `tools/call` held by [`Fault::HoldToolCalls`], and
    /// from now on answers them at once.
    pub fn release_tool_calls(&self) {
        self.shared.release_tool_calls();
    }

    /// Shuts down gracefully, ending open streams and stalled requests; aborts
    /// after 2 s. The port is released when this returns.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Configures and starts a [`TestServer`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TestServerBuilder {
    mode: ServerMode,
    style: ResponseStyle,
    versions: Option<Vec<String>>,
    page_size: Option<usize>,
    faults: Vec<Fault>,
    bearer: Option<String>,
    auth: Option<Arc<AuthState>>,
    embedded_auth: Option<AuthServerBuilder>,
    prm: PrmMode,
    prm_resource: Option<String>,
    required_scopes: Vec<String>,
    tool_scopes: Vec<(String, Vec<String>)>,
    challenge_scope: Option<String>,
    refuse_tokens_for_tool_calls: bool,
    dpop: DpopPolicy,
    no_challenge: bool,
    legacy_probe_status: Option<u16>,
    content: Content,
    bind: Option<IpAddr>,
    public: tls::Public,
}

impl TestServerBuilder {
    /// Serves https with a certificate `ca` signed: its URLs say `https://`.
    pub fn tls(mut self, ca: &TestCa) -> Self {
        self.public.tls = Some(ca.acceptor());
        self
    }

    /// The host its URLs name instead of `127.0.0.1` (it still listens
    /// there): a name a client reaches through a proxy that knows it, or an
    /// address of [`bind_address`](Self::bind_address).
    pub fn host(mut self, host: &str) -> Self {
        self.public.host = Some(host.to_owned());
        self
    }

    /// The `serverInfo` object the server describes itself with (in the
    /// `initialize` and `server/discover` results); default
    /// `{"name": "mcp-oauth-testkit", "version": "0.1.0"}`.
    pub fn server_info(mut self, info: serde_json::Value) -> Self {
        self.content.server_info = Some(info);
        self
    }

    /// `instructions` in the `initialize` result; default none.
    pub fn instructions(mut self, text: &str) -> Self {
        self.content.instructions = Some(text.to_owned());
        self
    }

    /// Adds a tool, listed after `echo`, `add` and `fail` with `description`
    /// and no parameters; every call of it gets `answer`. May be called
    /// several times.
    pub fn tool(mut self, name: &str, description: &str, answer: ToolAnswer) -> Self {
        self.content.tools.push(ExtraTool {
            name: name.to_owned(),
            description: description.to_owned(),
            answer,
            input_schema: None,
        });
        self
    }

    /// [`Self::tool`] with the `inputSchema` given, kept exactly as written.
    /// On 2026-07-28 requests, each property marked `x-mcp-header: X` must
    /// come with a matching `Mcp-Param-X` header (or none, for a null or
    /// absent argument), else the call is refused with -32020.
    pub fn tool_with_schema(
        mut self,
        name: &str,
        description: &str,
        input_schema: serde_json::Value,
        answer: ToolAnswer,
    ) -> Self {
        self.content.tools.push(ExtraTool {
            name: name.to_owned(),
            description: description.to_owned(),
            answer,
            input_schema: Some(input_schema),
        });
        self
    }

    /// Serves `skill` (to 2026-07-28 requests: `skills/list`, and its files
    /// through `resources/read`) and declares the skills extension. May be
    /// called several times.
    pub fn skill(mut self, skill: TestSkill) -> Self {
        self.content.skills.push(skill);
        self
    }

    /// What a [`ServerMode::LegacySse`] server answers a POST to its stream
    /// URL, as a client probing for Streamable HTTP sends: 405 by default;
    /// real legacy servers also answer 400 or 404.
    pub fn legacy_probe_status(mut self, status: u16) -> Self {
        self.legacy_probe_status = Some(status);
        self
    }

    /// Transport and lifecycle; default [`ServerMode::Stateful`].
    pub fn mode(mut self, mode: ServerMode) -> Self {
        self.mode = mode;
        self
    }

    /// Framing of POST responses; default [`ResponseStyle::Json`].
    pub fn responses(mut self, style: ResponseStyle) -> Self {
        self.style = style;
        self
    }

    /// The revisions this server implements. Default: 2024-11-05 through
    /// 2026-07-28 (LegacySse: 2024-11-05 and 2025-03-26).
    pub fn protocol_versions(mut self, versions: &[&str]) -> Self {
        self.versions = Some(versions.iter().map(|v| (*v).to_owned()).collect());
        self
    }

    /// Paginates `tools/list` with `nextCursor`, `n` tools per page (at least 1).
    pub fn tools_page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Injects a fault; may be called several times.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Requires `Authorization: Bearer <token>`; otherwise 401 with
    /// `WWW-Authenticate: Bearer realm="mcp-testkit"` (plus `error="invalid_token"`
    /// when a wrong token was sent).
    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    /// Requires an access token `auth` issued: `Authorization: Bearer <token>`,
    /// unexpired, not revoked, and whose resource (if the client named one) is
    /// this server's MCP URL. Otherwise 401 with
    /// `WWW-Authenticate: Bearer resource_metadata="<PRM URL>"` (see
    /// [`PrmMode`]), plus `scope="…"` ([`Self::challenge_scope`]) and
    /// `error="invalid_token", error_description="…"` when a bad token was sent.
    /// Protects every path but the metadata (legacy SSE: `GET /sse` and
    /// `POST /messages`). Not meant to be combined with [`Self::bearer`].
    pub fn protected_by(mut self, auth: &AuthServer) -> Self {
        self.auth = Some(Arc::clone(auth.state()));
        self
    }

    /// Serves `auth`'s endpoints and metadata on this server's own origin and
    /// protects the server with it (as [`Self::protected_by`]); reach it with
    /// [`TestServer::auth`]. With [`PrmMode::None`] this is the 2025-03-26
    /// setup, where a client finds the AS at the MCP server's origin.
    pub fn with_embedded_auth(mut self, auth: AuthServerBuilder) -> Self {
        self.embedded_auth = Some(auth);
        self
    }

    /// How RFC 9728 metadata is offered; default [`PrmMode::PathInserted`].
    pub fn resource_metadata(mut self, mode: PrmMode) -> Self {
        self.prm = mode;
        self
    }

    /// Overrides the PRM `resource` (tokens are still checked against the real URL).
    pub fn prm_resource(mut self, resource: &str) -> Self {
        self.prm_resource = Some(resource.to_owned());
        self
    }

    /// Scopes every request needs; a valid token lacking one gets 403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope", scope="<needed>", resource_metadata="…"`.
    pub fn required_scopes(mut self, scopes: &[&str]) -> Self {
        self.required_scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Extra scopes a `tools/call` of `tool` needs (step-up); the 403 challenge
    /// then names the required scopes plus these.
    pub fn tool_scopes(mut self, tool: &str, scopes: &[&str]) -> Self {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.tool_scopes.push((tool.to_owned(), scopes));
        self
    }

    /// Adds `scope="<scope>"` to the 401 challenge.
    pub fn challenge_scope(mut self, scope: &str) -> Self {
        self.challenge_scope = Some(scope.to_owned());
        self
    }

    /// Answers every `tools/call` 401 `invalid_token`, whatever the token,
    /// even one its authorization server has just issued (other requests
    /// are served): a server whose settings for its tools are wrong.
    pub fn refuse_tokens_for_tool_calls(mut self) -> Self {
        self.refuse_tokens_for_tool_calls = true;
        self
    }

    /// DPoP (RFC 9449) at this protected server; default
    /// [`DpopPolicy::Off`]. With it on, a refusal challenges with `DPoP`
    /// (not `Bearer`), and a DPoP-bound token is taken only with a valid,
    /// fresh proof of its key.
    pub fn dpop(mut self, policy: DpopPolicy) -> Self {
        self.dpop = policy;
        self
    }

    /// Answers 401 without any `WWW-Authenticate` header, as some servers
    /// do: a client must find the metadata at its well-known places.
    pub fn no_challenge(mut self) -> Self {
        self.no_challenge = true;
        self
    }

    /// Listens on `ip` instead of 127.0.0.1 (on a free port), while its
    /// URLs still name `127.0.0.1:PORT`: for clients in other network
    /// namespaces, each reaching it through a relay that listens on its own
    /// loopback with the same port (see [`NetHosts`]).
    pub fn bind_address(mut self, ip: IpAddr) -> Self {
        self.bind = Some(ip);
        self
    }

    /// Binds `127.0.0.1:0` (or the [`bind_address`](Self::bind_address))
    /// and serves in a background task of the current runtime.
    pub async fn start(self) -> std::io::Result<TestServer> {
        let mut versions = self.versions.unwrap_or_else(|| {
            let defaults: &[&str] = match self.mode {
                ServerMode::LegacySse => &LEGACY_SSE_VERSIONS,
                _ => &ALL_VERSIONS,
            };
            defaults.iter().map(|v| (*v).to_owned()).collect()
        });
        versions.sort();
        versions.dedup();
        let cfg = Config {
            mode: self.mode,
            style: self.style,
            versions,
            page_size: self.page_size,
            faults: self.faults,
            bearer: self.bearer,
            legacy_probe_status: self.legacy_probe_status,
            content: self.content,
        };
        let (listener, addr) = server::listen(self.bind).await?;
        let origin = self.public.origin(addr);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let public = self.public.clone();
        let embedded = self
            .embedded_auth
            .map(|builder| builder.embed(addr, public, shutdown_rx.clone()));
        let auth = embedded
            .as_ref()
            .map(|a| Arc::clone(a.state()))
            .or(self.auth);
        let protection = auth.map(|auth| Protection {
            auth,
            prm: self.prm,
            prm_resource: self.prm_resource,
            required: self.required_scopes,
            tool_scopes: self.tool_scopes,
            challenge_scope: self.challenge_scope,
            refuse_tokens_for_tool_calls: self.refuse_tokens_for_tool_calls,
            dpop: self.dpop,
            no_challenge: self.no_challenge,
            dpop_jtis: Arc::default(),
            base_url: origin.clone(),
            mcp_path: match self.mode {
                ServerMode::LegacySse => "/sse",
                _ => "/mcp",
            },
        });
        let embedded_state = embedded.as_ref().map(|a| Arc::clone(a.state()));
        let shared = Arc::new(Shared::new(cfg, shutdown_rx, protection, embedded_state));
        let router = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&shared));
        let stopped = shared.stopped();
        let task = tls::spawn(listener, self.public.tls, router, stopped, "server");
        Ok(TestServer {
            addr,
            mode: self.mode,
            shared,
            shutdown,
            task: Some(task),
            origin,
            auth: embedded,
        })
    }
}
