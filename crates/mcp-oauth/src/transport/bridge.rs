//! A stdio ↔ remote bridge: for hosts that only start local (stdio) MCP
//! servers. Every message goes through as it is, both ways; credentials,
//! sessions and the transport are the bridge's business.

use std::{collections::HashSet, time::Duration};

use rmcp::{
    RoleClient,
    model::{ClientJsonRpcMessage, ClientNotification, ErrorData, RequestId, ServerJsonRpcMessage},
    transport::{
        StreamableHttpClientTransport, Transport,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use super::{
    EndCause, HttpCore, TransportMode, sse::LegacySseTransport, streamable::AuthorizedHttpClient,
};
use crate::{Auth, Error, Result, ServerUrl, auth::Authorizer};

/// A bridge between a local stdio peer (one JSON-RPC message per line) and
/// a remote MCP server, for hosts that only start local servers.
///
/// The host's own handshake goes through untouched. A 401 from the server
/// runs the OAuth flow right there (the browser opens; progress goes to
/// stderr, never to the output). A failure that a request meets is
/// answered to the host as a JSON-RPC error naming the cause, and
/// [`authorization_hint`](Self::authorization_hint) adds what to do when
/// authorization failed. [`run`](Self::run) returns when the input ends or
/// the remote side closes; a Streamable HTTP session is deleted on the way
/// out.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::{Auth, Bridge, OAuth, UserAgent};
/// use tokio::io::BufReader;
///
/// let url = "https://example.com/mcp";
/// // stdin carries the host's messages: the sign-in must never read it.
/// let oauth = OAuth::builder(url).user_agent(UserAgent::BrowserOnly).build()?;
/// Bridge::new(url, Auth::from(oauth))
///     .authorization_hint("sign in from a terminal first")
///     .run(BufReader::new(tokio::io::stdin()), tokio::io::stdout())
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct Bridge {
    url: String,
    auth: Auth,
    mode: TransportMode,
    reporter: Reporter,
}

impl Bridge {
    /// A bridge to the server at `url`, presenting `auth`.
    pub fn new(url: impl Into<String>, auth: Auth) -> Self {
        Self {
            url: url.into(),
            auth,
            mode: TransportMode::Auto,
            reporter: Reporter::default(),
        }
    }

    /// Which HTTP transport to use (default: [`TransportMode::Auto`]).
    pub fn transport(mut self, mode: TransportMode) -> Self {
        self.mode = mode;
        self
    }

    /// What to do when authorization fails, added to the error the host
    /// sees: e.g. how to sign in where a browser or a terminal is at hand.
    pub fn authorization_hint(mut self, hint: impl Into<String>) -> Self {
        self.reporter.authorization_hint = Some(hint.into());
        self
    }

    /// Bridges until `input` ends or the remote side closes.
    pub async fn run<R, W>(self, input: R, output: W) -> Result<()>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        self.run_until(input, output, std::future::pending()).await
    }

    /// [`run`](Self::run) that also ends, cleanly (the remote session
    /// deleted), when `shutdown` completes: for SIGTERM.
    pub async fn run_until<R, W>(
        self,
        input: R,
        mut output: W,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let Self {
            url,
            auth,
            mode,
            reporter,
        } = self;
        let shutdown = std::pin::pin!(shutdown);
        let server = ServerUrl::parse(&url)?;
        let authorizer = Authorizer::interactive(auth.for_server(&server)?);
        let core = HttpCore::for_server(authorizer, Duration::from_secs(60), &server)?;
        let mut lines = input.lines();
        // The first message decides the transport: it must reach the server.
        let Some(first) = next_message(&mut lines, &mut output).await? else {
            return Ok(());
        };
        match mode {
            TransportMode::Sse => {
                let remote =
                    LegacySseTransport::connect(core, server.url(), EndCause::default()).await?;
                pump(
                    remote,
                    Some(first),
                    lines,
                    output,
                    HashSet::new(),
                    shutdown,
                    reporter,
                )
                .await
            }
            TransportMode::StreamableHttp | TransportMode::Auto => {
                let mut remote = streamable(&server, core.clone());
                match remote.send(first.clone()).await {
                    // The first request's answer is still to come through `receive`.
                    Ok(()) => {
                        let pending = request_id(&first).into_iter().collect();
                        pump(remote, None, lines, output, pending, shutdown, reporter).await
                    }
                    Err(error) if mode == TransportMode::Auto && falls_back(&error) => {
                        tracing::info!(url = %server, "no Streamable HTTP here; bridging to legacy HTTP+SSE");
                        let remote =
                            LegacySseTransport::connect(core, server.url(), EndCause::default())
                                .await?;
                        let pending = HashSet::new();
                        pump(
                            remote,
                            Some(first),
                            lines,
                            output,
                            pending,
                            shutdown,
                            reporter,
                        )
                        .await
                    }
                    Err(error) => {
                        reply_error(&mut output, &first, &reporter.reason(&error)).await?;
                        // Our own error keeps its kind (an authorization
                        // failure stays one); rmcp's is a protocol error.
                        Err(find_ours(&error)
                            .cloned()
                            .unwrap_or_else(|| Error::Protocol {
                                url: server.to_string(),
                                detail: describe(&error),
                            }))
                    }
                }
            }
        }
    }
}

/// Bridges MCP messages between a local stdio peer (`input`/`output`,
/// one JSON-RPC message per line) and the remote server at `url`: a
/// [`Bridge`] with the transport `mode`.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::{Auth, TransportMode, bridge_stdio};
/// use tokio::io::BufReader;
///
/// let url = "https://example.com/mcp";
/// let auth = Auth::from(mcp_oauth::OAuth::builder(url).build()?);
/// bridge_stdio(url, auth, TransportMode::Auto, BufReader::new(tokio::io::stdin()), tokio::io::stdout()).await?;
/// # Ok(()) }
/// ```
pub async fn bridge_stdio<R, W>(
    url: &str,
    auth: Auth,
    mode: TransportMode,
    input: R,
    output: W,
) -> Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    Bridge::new(url, auth)
        .transport(mode)
        .run(input, output)
        .await
}

/// [`bridge_stdio`] that also ends, cleanly (the remote session deleted),
/// when `shutdown` completes: for SIGTERM.
pub async fn bridge_stdio_until<R, W>(
    url: &str,
    auth: Auth,
    mode: TransportMode,
    input: R,
    output: W,
    shutdown: impl Future<Output = ()>,
) -> Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    Bridge::new(url, auth)
        .transport(mode)
        .run_until(input, output, shutdown)
        .await
}

/// How a failure is told to the host.
#[derive(Debug, Clone, Default)]
struct Reporter {
    authorization_hint: Option<String>,
}

impl Reporter {
    /// The cause of `error`, as the host is told it.
    fn reason<E: std::error::Error + 'static>(&self, error: &E) -> String {
        match (find_ours(error), &self.authorization_hint) {
            (Some(ours), Some(hint)) if ours.is_authorization_failure() => {
                format!("{ours}; {hint}")
            }
            _ => describe(error),
        }
    }
}

fn request_id(message: &ClientJsonRpcMessage) -> Option<RequestId> {
    match message {
        ClientJsonRpcMessage::Request(request) => Some(request.id.clone()),
        _ => None,
    }
}

fn streamable(
    server: &ServerUrl,
    core: HttpCore,
) -> StreamableHttpClientTransport<AuthorizedHttpClient> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(server.as_str());
    config.allow_stateless = true;
    config.reinit_on_expired_session = true;
    StreamableHttpClientTransport::with_client(
        AuthorizedHttpClient::from_core(core, super::EndCause::default()),
        config,
    )
}

/// Moves messages both ways until either side ends.
async fn pump<T, R, W>(
    mut remote: T,
    first: Option<ClientJsonRpcMessage>,
    mut lines: tokio::io::Lines<R>,
    mut output: W,
    mut pending: HashSet<RequestId>,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    reporter: Reporter,
) -> Result<()>
where
    T: Transport<RoleClient>,
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (failures, mut failed) = tokio::sync::mpsc::channel::<(ClientJsonRpcMessage, String)>(16);
    // Sends run concurrently (a slow tool call must not hold back others),
    // but each is handed to the transport in the host's order: polled once
    // here, which queues it, then finished in the background.
    let send = async |remote: &mut T, message: ClientJsonRpcMessage| {
        let mut sending = Box::pin(remote.send(message.clone()));
        let failures = failures.clone();
        let reporter = reporter.clone();
        let outcome = match futures::poll!(sending.as_mut()) {
            std::task::Poll::Ready(outcome) => outcome,
            std::task::Poll::Pending => {
                tokio::spawn(async move {
                    if let Err(error) = sending.await {
                        let _ = failures.send((message, reporter.reason(&error))).await;
                    }
                });
                return;
            }
        };
        if let Err(error) = outcome {
            let _ = failures.send((message, reporter.reason(&error))).await;
        }
    };
    if let Some(first) = first {
        pending.extend(request_id(&first));
        send(&mut remote, first).await;
    }
    // When the host closes stdin, its requests still in flight are answered
    // (within a bound) before the bridge closes.
    let mut input_open = true;
    let mut drain_until = tokio::time::Instant::now();
    loop {
        if !input_open && pending.is_empty() {
            break;
        }
        tokio::select! {
            line = next_message(&mut lines, &mut output), if input_open => match line? {
                Some(message) => {
                    tracing::trace!(?message, "from the host");
                    track(&mut pending, &message);
                    send(&mut remote, message).await;
                }
                None => {
                    tracing::debug!(pending = pending.len(), "the host closed its input");
                    input_open = false;
                    drain_until = tokio::time::Instant::now() + DRAIN_TIME;
                }
            },
            incoming = remote.receive() => match incoming {
                Some(message) => {
                    tracing::trace!(?message, "from the server");
                    if let Some(id) = answered(&message) {
                        pending.remove(id);
                    }
                    write_line(&mut output, &message).await?;
                }
                None => {
                    tracing::info!("the remote server closed the connection");
                    break;
                }
            },
            Some((message, reason)) = failed.recv() => {
                if let ClientJsonRpcMessage::Request(request) = &message {
                    pending.remove(&request.id);
                }
                reply_error(&mut output, &message, &reason).await?;
            }
            () = shutdown.as_mut() => {
                tracing::info!("shutting down");
                break;
            }
            () = tokio::time::sleep_until(drain_until), if !input_open => {
                tracing::warn!(unanswered = pending.len(), "closing with requests unanswered");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), remote.close()).await;
    Ok(())
}

/// Keeps `pending` up to date with a message from the host: a request
/// awaits its answer; a request the host cancelled awaits nothing (the
/// transport drops it, and the host ignores any late answer anyway).
fn track(pending: &mut HashSet<RequestId>, message: &ClientJsonRpcMessage) {
    match message {
        ClientJsonRpcMessage::Request(request) => {
            pending.insert(request.id.clone());
        }
        ClientJsonRpcMessage::Notification(notification) => {
            if let ClientNotification::CancelledNotification(cancelled) = &notification.notification
                && let Some(id) = &cancelled.params.request_id
            {
                pending.remove(id);
            }
        }
        _ => {}
    }
}

/// How long answers to requests in flight are awaited after stdin closes.
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// The request a server message answers, if it is an answer.
fn answered(message: &ServerJsonRpcMessage) -> Option<&RequestId> {
    match message {
        ServerJsonRpcMessage::Response(response) => Some(&response.id),
        ServerJsonRpcMessage::Error(error) => error.id.as_ref(),
        _ => None,
    }
}

/// The next message from the host; a line that is not JSON-RPC is answered
/// with a parse error, not forwarded.
async fn next_message<R, W>(
    lines: &mut tokio::io::Lines<R>,
    output: &mut W,
) -> Result<Option<ClientJsonRpcMessage>>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let Some(line) = lines
            .next_line()
            .await
            .map_err(|error| local_error(&error))?
        else {
            return Ok(None);
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ClientJsonRpcMessage>(&line) {
            Ok(message) => return Ok(Some(message)),
            Err(error) => {
                tracing::warn!(%error, "the host sent a line that is not a JSON-RPC message");
                let reply = serde_json::json!({
                    "jsonrpc": "2.0", "id": null,
                    "error": { "code": -32700, "message": format!("not a JSON-RPC message: {error}") }
                });
                write_raw(output, &reply.to_string()).await?;
            }
        }
    }
}

async fn reply_error<W: AsyncWrite + Unpin>(
    output: &mut W,
    message: &ClientJsonRpcMessage,
    reason: &str,
) -> Result<()> {
    // Only a request waits for an answer.
    let ClientJsonRpcMessage::Request(request) = message else {
        tracing::warn!(reason, "could not forward a message");
        return Ok(());
    };
    let error = ErrorData::internal_error(format!("mcp-oauth proxy: {reason}"), None);
    write_line(
        output,
        &ServerJsonRpcMessage::error(error, Some(request.id.clone())),
    )
    .await
}

async fn write_line<W: AsyncWrite + Unpin>(
    output: &mut W,
    message: &ServerJsonRpcMessage,
) -> Result<()> {
    let text = serde_json::to_string(message).map_err(|error| Error::Protocol {
        url: "stdio".into(),
        detail: format!("could not encode a message: {error}"),
    })?;
    write_raw(output, &text).await
}

async fn write_raw<W: AsyncWrite + Unpin>(output: &mut W, text: &str) -> Result<()> {
    output
        .write_all(text.as_bytes())
        .await
        .map_err(|error| local_error(&error))?;
    output
        .write_all(b"\n")
        .await
        .map_err(|error| local_error(&error))?;
    output.flush().await.map_err(|error| local_error(&error))
}

fn local_error(error: &std::io::Error) -> Error {
    Error::Closed {
        url: "stdio".into(),
        detail: error.to_string(),
    }
}

fn falls_back<E: std::error::Error + 'static>(error: &E) -> bool {
    matches!(
        find_ours(error),
        Some(Error::HttpStatus {
            status: 400 | 404 | 405,
            ..
        })
    )
}

fn describe<E: std::error::Error + 'static>(error: &E) -> String {
    find_ours(error).map_or_else(|| error.to_string(), |ours| ours.to_string())
}

/// Our own error inside rmcp's, when there is one.
fn find_ours<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(ours) = error.downcast_ref::<Error>() {
            return Some(ours);
        }
        if let Some(rmcp::transport::streamable_http_client::StreamableHttpError::Client(ours)) =
            error.downcast_ref::<rmcp::transport::streamable_http_client::StreamableHttpError<Error>>()
        {
            return Some(ours);
        }
        current = error.source();
    }
    None
}
