//! Everything rmcp is confined to: the three transports, the protocol
//! handshake, and the translation of rmcp's errors into [`Error`].

mod bridge;
mod errors;
mod extras;
mod frontmatter;
mod handler;
mod http;
mod requests;
mod rounds;
mod skills;
mod sse;
mod stdio;
mod streamable;
mod tool_headers;

use std::{fmt, sync::Arc, time::Duration};

use rmcp::{
    RoleClient,
    model::{
        ClientRequest, DiscoverRequest, DiscoverRequestParams, PingRequest, ProtocolVersion,
        ServerResult,
    },
    service::{ClientLifecycleMode, Peer, RunningService, serve_client_with_lifecycle},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::sync::Mutex;
use url::Url;

pub(crate) use self::handler::Handler;
pub use self::{
    bridge::{Bridge, bridge_stdio, bridge_stdio_until},
    handler::ElicitationPolicy,
    skills::LoadedSkill,
    streamable::AuthorizedHttpClient,
};
use self::{errors::from_init_error, errors::from_service_error, sse::LegacySseTransport};
pub(crate) use self::{extras::Extras, http::HttpCore};
#[cfg(feature = "fuzzing")]
pub(crate) use self::{
    http::{BodyError, cap_sse_events},
    sse::resolve_endpoint,
    streamable::{legacy_discover_event, legacy_discover_reply},
};
use crate::{Error, Result};

/// The largest single MCP message taken from either side: a server's event
/// or JSON answer (rmcp's Streamable HTTP client has the same default), or
/// a line of a host's on the bridge's stdin.
pub(crate) const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// The revision from which requests carry the SEP-2243 headers (`Mcp-Method`,
/// `Mcp-Name`, `Mcp-Param-*`) and results may take several rounds.
const STANDARD_HEADERS: &str = "2026-07-28";

/// Which transport to use for an `http(s)` server.
///
/// ```
/// use mcp_oauth::{Client, TransportMode};
/// let builder = Client::builder("https://mcp.example.com/mcp").transport(TransportMode::StreamableHttp);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportMode {
    /// Streamable HTTP first; legacy HTTP+SSE when the server answers the
    /// first POST with 400, 404 or 405.
    #[default]
    Auto,
    /// Streamable HTTP only (MCP 2025-03-26 and later).
    StreamableHttp,
    /// Legacy HTTP+SSE only (MCP 2024-11-05).
    Sse,
}

/// The transport a connected [`Client`](crate::Client) actually uses.
///
/// ```
/// use mcp_oauth::ConnectedVia;
/// assert_eq!(ConnectedVia::StreamableHttp.to_string(), "streamable-http");
/// assert_eq!(ConnectedVia::Stdio.to_string(), "stdio");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectedVia {
    /// Streamable HTTP.
    StreamableHttp,
    /// Legacy HTTP+SSE.
    Sse,
    /// A child process over stdin/stdout.
    Stdio,
}

impl fmt::Display for ConnectedVia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StreamableHttp => "streamable-http",
            Self::Sse => "sse",
            Self::Stdio => "stdio",
        })
    }
}

/// What the server told about itself during the handshake.
///
/// ```
/// # fn run(client: mcp_oauth::Client) {
/// let details = client.server();
/// println!("{} {}", details.name.as_deref().unwrap_or("?"), details.version.as_deref().unwrap_or("?"));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerDetails {
    /// The server's name, when it gave one.
    pub name: Option<String>,
    /// The server's version, when it gave one.
    pub version: Option<String>,
    /// The negotiated protocol revision, e.g. `"2025-11-25"`.
    pub protocol_version: String,
    /// The server's usage instructions, if any.
    pub instructions: Option<String>,
}

/// What a Streamable HTTP connection is told beyond its URL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamableOptions<'a> {
    /// The revision negotiated with this server last time, if remembered.
    pub(crate) remembered_revision: Option<&'a str>,
    /// Whether to open the GET stream for what the server sends outside
    /// the client's requests.
    pub(crate) listen_for_server_messages: bool,
}

/// Whether `revision` is one this client reaches through `initialize`, so
/// that a server remembered to speak it needs no `server/discover` probe.
fn speaks_initialize(revision: &str) -> bool {
    ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .any(|known| known.as_str() == revision && known.has_initialize())
}

/// Whether `error`, the answer to a remembered `initialize`, says the server
/// no longer speaks that handshake: a JSON-RPC error (unknown method,
/// unsupported revision) or the 400, 404 or 405 with which servers refuse a
/// request they do not take. Not a refusal of credentials, a timeout, an
/// unreachable server or a failing one: probing would not help those.
fn refuses_the_revision(error: &Error) -> bool {
    matches!(
        error,
        Error::Server { .. }
            | Error::HttpStatus {
                status: 400 | 404 | 405,
                ..
            }
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// `server/discover` first (2026-07-28), `initialize` when the server is older.
    Negotiate,
    /// `initialize` only: the legacy SSE transport predates `server/discover`,
    /// and a server remembered to speak a revision with `initialize` needs
    /// no probe.
    Initialize,
}

type Service = RunningService<RoleClient, Handler>;

/// Why a transport, or one of its streams, ended by itself, when it knows:
/// reported instead of a bare "connection closed".
#[derive(Debug, Clone, Default)]
pub(crate) struct EndCause(Arc<std::sync::Mutex<Option<Cause>>>);

#[derive(Debug)]
struct Cause {
    error: Error,
    /// The whole transport ended (every later close has this cause), not one
    /// stream of a connection that goes on (only the next close has).
    lasting: bool,
}

impl EndCause {
    /// The transport ended: the first such cause explains every later close.
    fn ended(&self, error: Error) {
        self.record(error, true);
    }

    /// One stream was cut while the connection goes on: explains the close
    /// of the request it carried, and nothing after.
    fn cut(&self, error: Error) {
        self.record(error, false);
    }

    fn record(&self, error: Error, lasting: bool) {
        let mut slot = self.slot();
        if !slot.as_ref().is_some_and(|cause| cause.lasting) {
            *slot = Some(Cause { error, lasting });
        }
    }

    /// `error`, or the recorded cause when `error` only says the connection closed.
    fn explain(&self, error: Error) -> Error {
        if !matches!(error, Error::Closed { .. }) {
            return error;
        }
        let mut slot = self.slot();
        let cause = match slot.as_ref() {
            Some(cause) if cause.lasting => Some(cause.error.clone()),
            _ => slot.take().map(|cause| cause.error),
        };
        cause.unwrap_or(error)
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Cause>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One live MCP session, whatever carries it.
pub(crate) struct Connection {
    peer: Peer<RoleClient>,
    service: Mutex<Option<Service>>,
    target: String,
    via: ConnectedVia,
    end_cause: EndCause,
    /// Answers the questions of requests that take several rounds.
    handler: Handler,
    /// The tools left out of listings for invalid header annotations.
    refused: tool_headers::RefusedTools,
    /// Whether every page of the tools was listed, so that rmcp knows the
    /// schemas it builds a call's `Mcp-Param-*` headers from.
    tools_listed: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.target)
            .field("via", &self.via)
            .finish()
    }
}

impl Connection {
    /// Connects to an `http(s)` server.
    pub(crate) async fn http(
        url: &Url,
        mode: TransportMode,
        core: HttpCore,
        handler: Handler,
        streamable: StreamableOptions<'_>,
    ) -> Result<Self> {
        match mode {
            TransportMode::StreamableHttp => {
                Self::streamable_remembered(url, core, handler, streamable).await
            }
            TransportMode::Sse => Self::legacy_sse(url, core, handler).await,
            TransportMode::Auto => {
                match Self::streamable_remembered(url, core.clone(), handler, streamable).await {
                    Err(Error::HttpStatus {
                        status: 400 | 404 | 405,
                        ..
                    }) => {
                        tracing::debug!(%url, "no Streamable HTTP here; trying legacy HTTP+SSE");
                        Self::legacy_sse(url, core, handler).await
                    }
                    other => other,
                }
            }
        }
    }

    /// Streamable HTTP, starting with `initialize` when the server is
    /// remembered to speak a revision that has it; when it refuses that
    /// handshake as something it does not speak, the probe runs after all.
    async fn streamable_remembered(
        url: &Url,
        core: HttpCore,
        handler: Handler,
        options: StreamableOptions<'_>,
    ) -> Result<Self> {
        if options.remembered_revision.is_some_and(speaks_initialize) {
            match Self::streamable(url, core.clone(), handler, Lifecycle::Initialize, options).await
            {
                Err(error) if refuses_the_revision(&error) => {
                    tracing::debug!(%url, %error, "the remembered protocol revision was refused; probing again");
                }
                other => return other,
            }
        }
        Self::streamable(url, core, handler, Lifecycle::Negotiate, options).await
    }

    async fn streamable(
        url: &Url,
        core: HttpCore,
        handler: Handler,
        lifecycle: Lifecycle,
        options: StreamableOptions<'_>,
    ) -> Result<Self> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
        // Servers may run without sessions (2026-07-28, or stateless before).
        config.allow_stateless = true;
        config.reinit_on_expired_session = true;
        let end_cause = EndCause::default();
        let refused = tool_headers::RefusedTools::default();
        let client = AuthorizedHttpClient::from_core(core, end_cause.clone())
            .listening(options.listen_for_server_messages)
            .refusing_into(refused.clone());
        let transport = StreamableHttpClientTransport::with_client(client, config);
        let mut connection = Self::start(
            transport,
            lifecycle,
            url.as_str(),
            ConnectedVia::StreamableHttp,
            end_cause,
            handler,
        )
        .await?;
        connection.refused = refused;
        Ok(connection)
    }

    async fn legacy_sse(url: &Url, core: HttpCore, handler: Handler) -> Result<Self> {
        let end_cause = EndCause::default();
        let transport = LegacySseTransport::connect(core, url, end_cause.clone()).await?;
        Self::start(
            transport,
            Lifecycle::Initialize,
            url.as_str(),
            ConnectedVia::Sse,
            end_cause,
            handler,
        )
        .await
    }

    /// Starts `command` and speaks MCP over its stdin/stdout.
    pub(crate) async fn stdio(command: tokio::process::Command, handler: Handler) -> Result<Self> {
        let target = stdio::describe(&command);
        let transport = stdio::spawn(command)?;
        Self::start(
            transport,
            Lifecycle::Negotiate,
            &target,
            ConnectedVia::Stdio,
            EndCause::default(),
            handler,
        )
        .await
    }

    async fn start<T, E, A>(
        transport: T,
        lifecycle: Lifecycle,
        target: &str,
        via: ConnectedVia,
        end_cause: EndCause,
        handler: Handler,
    ) -> Result<Self>
    where
        T: rmcp::transport::IntoTransport<RoleClient, E, A>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let mode = match lifecycle {
            Lifecycle::Negotiate => ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
            },
            Lifecycle::Initialize => ClientLifecycleMode::Initialize,
        };
        let service = serve_client_with_lifecycle(handler, transport, mode)
            .await
            .map_err(|error| end_cause.explain(from_init_error(error, target)))?;
        Ok(Self {
            peer: service.peer().clone(),
            service: Mutex::new(Some(service)),
            target: target.to_owned(),
            via,
            end_cause,
            handler,
            refused: tool_headers::RefusedTools::default(),
            tools_listed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn via(&self) -> ConnectedVia {
        self.via
    }

    pub(crate) fn server(&self) -> ServerDetails {
        let info = self.peer.peer_info();
        let info = info.as_deref();
        let implementation = info.and_then(|info| info.server_info.as_ref());
        ServerDetails {
            name: implementation.map(|server| server.name.clone()),
            version: implementation.map(|server| server.version.clone()),
            protocol_version: info
                .map(|info| info.protocol_version.to_string())
                .unwrap_or_default(),
            instructions: info.and_then(|info| info.instructions.clone()),
        }
    }

    fn has_ping(&self) -> bool {
        self.peer
            .peer_info()
            .is_none_or(|info| info.protocol_version.has_initialize())
    }

    /// `ping` where the revision has it; from 2026-07-28 on, which has none,
    /// an uncached `server/discover`, the cheapest request a server answers.
    pub(crate) async fn ping(&self) -> Result<()> {
        let request = if self.has_ping() {
            ClientRequest::PingRequest(PingRequest::default())
        } else {
            ClientRequest::DiscoverRequest(DiscoverRequest::new(DiscoverRequestParams {}))
        };
        match self
            .peer
            .send_request(request)
            .await
            .map_err(|e| self.error(e))?
        {
            ServerResult::EmptyResult(_) | ServerResult::DiscoverResult(_) => Ok(()),
            // Some servers answer ping with an arbitrary object; it still answered.
            _ => Ok(()),
        }
    }

    /// Whether the connection speaks 2026-07-28 or later: requests carry
    /// the standard headers and results may take several rounds.
    fn standard_headers(&self) -> bool {
        self.peer
            .peer_info()
            .is_some_and(|info| info.protocol_version.as_str() >= STANDARD_HEADERS)
    }

    /// Ends the session: a Streamable HTTP session is deleted on the server,
    /// a child process is shut down. Bounded by `timeout`.
    pub(crate) async fn close(&self, timeout: Duration) {
        let service = self.service.lock().await.take();
        if let Some(mut service) = service
            && let Ok(None) = service.close_with_timeout(timeout).await
        {
            tracing::debug!(target = %self.target, "session did not close in time");
        }
    }

    fn error(&self, error: rmcp::ServiceError) -> Error {
        self.end_cause
            .explain(from_service_error(error, &self.target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed() -> Error {
        Error::Closed {
            url: "http://127.0.0.1:9/mcp".into(),
            detail: "closed".into(),
        }
    }

    fn protocol(detail: &str) -> Error {
        Error::Protocol {
            url: "http://127.0.0.1:9/mcp".into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn a_cut_stream_explains_the_next_close_only() {
        let cause = EndCause::default();
        cause.cut(protocol("event too large"));
        assert!(matches!(cause.explain(closed()), Error::Protocol { .. }));
        assert!(matches!(cause.explain(closed()), Error::Closed { .. }));
    }

    #[test]
    fn an_ended_transport_explains_every_close_and_outranks_a_cut() {
        let cause = EndCause::default();
        cause.ended(protocol("stream ended"));
        cause.cut(protocol("event too large"));
        for _ in 0..2 {
            let Error::Protocol { detail, .. } = cause.explain(closed()) else {
                panic!("the transport's end explains the close");
            };
            assert_eq!(detail, "stream ended");
        }
        let other = protocol("other");
        assert!(
            matches!(cause.explain(other), Error::Protocol { detail, .. } if detail == "other"),
            "an error that says more than closed stays as it is"
        );
    }
}
