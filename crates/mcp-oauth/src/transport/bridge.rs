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

/// Bridges MCP messages between a local stdio peer (`input`/`output`,
/// one JSON-RPC message per line) and the remote server at `url`.
///
/// The host's own handshake goes through untouched. A 401 from the server
/// runs the OAuth flow right there (the browser opens; progress goes to
/// stderr, never to `output`). Returns when `input` ends or the remote
/// side closes; a Streamable HTTP session is deleted on the way out.
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
    bridge_stdio_until(url, auth, mode, input, output, std::future::pending()).await
}

/// [`bridge_stdio`] that also ends, cleanly (the remote session deleted),
/// when `shutdown` completes: for SIGTERM.
pub async fn bridge_stdio_until<R, W>(
    url: &str,
    auth: Auth,
    mode: TransportMode,
    input: R,
    mut output: W,
    shutdown: impl Future<Output = ()>,
) -> Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let shutdown = std::pin::pin!(shutdown);
    let server = ServerUrl::parse(url)?;
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
            pump(remote, Some(first), lines, output, HashSet::new(), shutdown).await
        }
        TransportMode::StreamableHttp | TransportMode::Auto => {
            let mut remote = streamable(&server, core.clone());
            match remote.send(first.clone()).await {
                // The first request's answer is still to come through `receive`.
                Ok(()) => {
                    let pending = request_id(&first).into_iter().collect();
                    pump(remote, None, lines, output, pending, shutdown).await
                }
                Err(error) if mode == TransportMode::Auto && falls_back(&error) => {
                    tracing::info!(url = %server, "no Streamable HTTP here; bridging to legacy HTTP+SSE");
                    let remote =
                        LegacySseTransport::connect(core, server.url(), EndCause::default())
                            .await?;
                    pump(remote, Some(first), lines, output, HashSet::new(), shutdown).await
                }
                Err(error) => {
                    reply_error(&mut output, &first, &describe(&error)).await?;
                    Err(Error::Protocol {
                        url: server.to_string(),
                        detail: describe(&error),
                    })
                }
            }
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
        let outcome = match futures::poll!(sending.as_mut()) {
            std::task::Poll::Ready(outcome) => outcome,
            std::task::Poll::Pending => {
                tokio::spawn(async move {
                    if let Err(error) = sending.await {
                        let _ = failures.send((message, error.to_string())).await;
                    }
                });
                return;
            }
        };
        if let Err(error) = outcome {
            let _ = failures.send((message, error.to_string())).await;
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
