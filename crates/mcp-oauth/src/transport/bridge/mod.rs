//! A stdio ↔ remote bridge: for hosts that only start local (stdio) MCP
//! servers. Every message goes through as it is, both ways; credentials,
//! sessions and the transport are the bridge's business. What the host
//! writes that is no message is answered (or logged) here, never forwarded.

mod ignore;
mod input;
mod lines;
mod output;
mod pump;
mod sniff;

use std::{collections::HashSet, pin::Pin, time::Duration};

use rmcp::{
    model::{ClientJsonRpcMessage, ErrorCode, ErrorData, RequestId, ServerJsonRpcMessage},
    transport::{
        StreamableHttpClientTransport, Transport,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::io::{AsyncBufRead, AsyncWrite};

use self::{
    input::{FromHost, HostInput},
    output::{local_error, reply_error, write_line, write_raw},
    pump::{DRAIN_TIME, pump},
};
use super::{
    EndCause, Extras, HttpCore, TransportMode, sse::LegacySseTransport,
    streamable::AuthorizedHttpClient,
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
/// A line that is no message (not UTF-8, not JSON, not JSON-RPC, a batch,
/// or over the 16 MiB a message may take) is answered with a JSON-RPC error
/// when a request id can be made out of it, else noted in the log, and the
/// bridge goes on with the next line. A notification or an answer before
/// the host's first request has nowhere to go: it is dropped and logged.
/// Input is read no faster than the server takes it.
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
    extras: Extras,
}

impl Bridge {
    /// A bridge to the server at `url`, presenting `auth`.
    ///
    /// ```
    /// use mcp_oauth::{Auth, Bridge};
    /// let bridge = Bridge::new("https://mcp.example.com/mcp", Auth::bearer("…"));
    /// ```
    pub fn new(url: impl Into<String>, auth: Auth) -> Self {
        Self {
            url: url.into(),
            auth,
            mode: TransportMode::Auto,
            reporter: Reporter::default(),
            extras: Extras::default(),
        }
    }

    /// Sends the header `name: value` with every request to the server,
    /// as [`ClientBuilder::header`](crate::ClientBuilder::header) does.
    ///
    /// ```
    /// use mcp_oauth::{Auth, Bridge};
    /// let bridge = Bridge::new("https://mcp.example.com/mcp", Auth::None).header("X-Tenant", "acme");
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.extras.header(name, value);
        self
    }

    /// Trusts these certificate authorities (PEM) for the server's
    /// certificate too, as
    /// [`ClientBuilder::ca_certificates`](crate::ClientBuilder::ca_certificates) does.
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// use mcp_oauth::{Auth, Bridge};
    /// let pem = std::fs::read("/etc/ssl/company-ca.pem")?;
    /// let bridge = Bridge::new("https://mcp.example.com/mcp", Auth::None).ca_certificates(pem);
    /// # Ok(()) }
    /// ```
    pub fn ca_certificates(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.extras.ca_certificates(pem.as_ref());
        self
    }

    /// Which HTTP transport to use (default: [`TransportMode::Auto`]).
    ///
    /// ```
    /// use mcp_oauth::{Auth, Bridge, TransportMode};
    /// let bridge = Bridge::new("https://mcp.example.com/sse", Auth::None).transport(TransportMode::Sse);
    /// ```
    pub fn transport(mut self, mode: TransportMode) -> Self {
        self.mode = mode;
        self
    }

    /// What to do when authorization fails, added to the error the host
    /// sees: e.g. how to sign in where a browser or a terminal is at hand.
    ///
    /// ```
    /// use mcp_oauth::{Auth, Bridge};
    /// let bridge = Bridge::new("https://mcp.example.com/mcp", Auth::None)
    ///     .authorization_hint("run `mcp-oauth login https://mcp.example.com/mcp` first");
    /// ```
    pub fn authorization_hint(mut self, hint: impl Into<String>) -> Self {
        self.reporter.authorization_hint = Some(hint.into());
        self
    }

    /// Hides the tools whose names match `glob` (`*` any run of
    /// characters, `?` one) from the host: they are left out of every
    /// `tools/list` answer, and a call to one is answered with a JSON-RPC
    /// error without reaching the server. May be called several times.
    ///
    /// ```
    /// use mcp_oauth::{Auth, Bridge};
    /// let bridge = Bridge::new("https://mcp.example.com/mcp", Auth::None)
    ///     .ignore_tool("delete_*")
    ///     .ignore_tool("admin?");
    /// ```
    pub fn ignore_tool(mut self, glob: impl Into<String>) -> Self {
        self.reporter.ignored.add(glob.into());
        self
    }

    /// Bridges until `input` ends or the remote side closes.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::{Auth, Bridge};
    /// use tokio::io::BufReader;
    /// Bridge::new("https://mcp.example.com/mcp", Auth::bearer("…"))
    ///     .run(BufReader::new(tokio::io::stdin()), tokio::io::stdout())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run<R, W>(self, input: R, output: W) -> Result<()>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        self.run_until(input, output, std::future::pending()).await
    }

    /// [`run`](Self::run) that also ends, cleanly (the remote session
    /// deleted), when `shutdown` completes: for SIGTERM.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::{Auth, Bridge};
    /// use tokio::io::BufReader;
    /// let shutdown = async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// };
    /// Bridge::new("https://mcp.example.com/mcp", Auth::bearer("…"))
    ///     .run_until(BufReader::new(tokio::io::stdin()), tokio::io::stdout(), shutdown)
    ///     .await?;
    /// # Ok(()) }
    /// ```
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
            extras,
        } = self;
        let mut shutdown = std::pin::pin!(shutdown);
        let server = ServerUrl::parse(&url)?;
        let authorizer = Authorizer::interactive(auth.for_server(&server)?);
        let core = HttpCore::for_server(authorizer, Duration::from_secs(60), &server, &extras)?;
        let mut input = HostInput::new(input);
        let mut reporter = reporter;
        loop {
            // The host's first request decides the transport.
            let Some((first, id)) =
                first_request(&mut input, &mut output, shutdown.as_mut()).await?
            else {
                return Ok(());
            };
            if let Some(refusal) = reporter.ignored.refusal(&first) {
                write_line(&mut output, &refusal).await?;
                continue;
            }
            let starting = start(mode, &server, &core, first.clone(), &reporter);
            let Some(started) = until_host_leaves(starting, &mut input, shutdown.as_mut()).await
            else {
                return Ok(());
            };
            match started {
                // The first request's answer is still to come through `receive`.
                Started::Streamable(remote) => {
                    let pending = HashSet::from([id]);
                    return pump(remote, None, input, output, pending, shutdown, reporter).await;
                }
                Started::LegacySse(remote) => {
                    let pending = HashSet::new();
                    return pump(
                        remote,
                        Some(first),
                        input,
                        output,
                        pending,
                        shutdown,
                        reporter,
                    )
                    .await;
                }
                Started::Refused(error) => {
                    // The server's own answer: a request before `initialize`,
                    // say. The host may still start over.
                    write_line(&mut output, &ServerJsonRpcMessage::error(error, Some(id))).await?;
                }
                Started::Failed { reason, error } => {
                    reply_error(&mut output, id, &reason).await?;
                    return Err(error);
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
///
/// ```no_run
/// # async fn run(auth: mcp_oauth::Auth) -> mcp_oauth::Result<()> {
/// use mcp_oauth::{TransportMode, bridge_stdio_until};
/// use tokio::io::BufReader;
/// let input = BufReader::new(tokio::io::stdin());
/// let shutdown = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// bridge_stdio_until("https://mcp.example.com/mcp", auth, TransportMode::Auto, input, tokio::io::stdout(), shutdown).await?;
/// # Ok(()) }
/// ```
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

/// How a failure is told to the host, and which tools it never sees.
#[derive(Debug, Clone, Default)]
struct Reporter {
    authorization_hint: Option<String>,
    ignored: ignore::IgnoredTools,
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

/// The host's first request and its id; `None` when the input ends (or
/// `shutdown` comes) first. A bad line is answered on the way; a message
/// that is not a request has nowhere to go yet: a notification or an answer
/// needs the session that only a request starts, and the server has asked
/// nothing to answer.
async fn first_request<R, W>(
    input: &mut HostInput<R>,
    output: &mut W,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<(ClientJsonRpcMessage, RequestId)>>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let next = tokio::select! {
            next = input.next() => next.map_err(|error| local_error(&error))?,
            () = shutdown.as_mut() => return Ok(None),
        };
        match next {
            None => return Ok(None),
            Some(FromHost::Refusal(answer)) => write_raw(output, &answer).await?,
            Some(FromHost::Message(message, _)) => match request_id(&message) {
                Some(id) => return Ok(Some((*message, id))),
                None => tracing::warn!(
                    "ignored a line from the host: {} before its first request",
                    match *message {
                        ClientJsonRpcMessage::Notification(_) => "a notification",
                        _ => "an answer",
                    }
                ),
            },
        }
    }
}

/// How the server took the host's first request.
enum Started {
    /// Streamable HTTP, the request sent.
    Streamable(StreamableHttpClientTransport<AuthorizedHttpClient>),
    /// Legacy HTTP+SSE, connected; the request is yet to be sent.
    LegacySse(LegacySseTransport),
    /// The server answered the request with this error.
    Refused(ErrorData),
    /// No transport: the host is told `reason`, and the bridge ends.
    Failed { reason: String, error: Error },
}

/// Starts the transport with the host's first request.
async fn start(
    mode: TransportMode,
    server: &ServerUrl,
    core: &HttpCore,
    first: ClientJsonRpcMessage,
    reporter: &Reporter,
) -> Started {
    let legacy_sse =
        async || match LegacySseTransport::connect(core.clone(), server.url(), EndCause::default())
            .await
        {
            Ok(remote) => Started::LegacySse(remote),
            Err(error) => Started::Failed {
                reason: reporter.reason(&error),
                error,
            },
        };
    if mode == TransportMode::Sse {
        return legacy_sse().await;
    }
    let mut remote = streamable(server, core.clone());
    let error = match remote.send(first).await {
        Ok(()) => return Started::Streamable(remote),
        Err(error) => error,
    };
    if mode == TransportMode::Auto && falls_back(&error) {
        tracing::info!(url = %server, "no Streamable HTTP here; bridging to legacy HTTP+SSE");
        return legacy_sse().await;
    }
    match find_ours(&error) {
        Some(Error::Server {
            code,
            message,
            data,
        }) => Started::Refused(ErrorData::new(
            ErrorCode(*code),
            message.clone(),
            data.clone(),
        )),
        // Our own error keeps its kind (an authorization failure stays
        // one); rmcp's is a protocol error.
        ours => Started::Failed {
            reason: reporter.reason(&error),
            error: ours.cloned().unwrap_or_else(|| Error::Protocol {
                url: server.to_string(),
                detail: describe(&error),
            }),
        },
    }
}

/// Awaits `starting` (the server taking the host's first request) while
/// watching the host: once its input ends, the server has [`DRAIN_TIME`]
/// at most, as any request in flight has; `shutdown` ends the wait at once.
/// `None`: given up. Once there is more input, it waits to be read after.
async fn until_host_leaves<F: Future, R: AsyncBufRead + Unpin>(
    starting: F,
    input: &mut HostInput<R>,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Option<F::Output> {
    let mut starting = std::pin::pin!(starting);
    let ended = tokio::select! {
        started = starting.as_mut() => return Some(started),
        () = shutdown.as_mut() => return None,
        ended = input.at_end() => ended,
    };
    let bound = async {
        if ended {
            tokio::time::sleep(DRAIN_TIME).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        started = starting => Some(started),
        () = shutdown => None,
        () = bound => {
            tracing::warn!("the host left, and its first request was not answered in time");
            None
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
        AuthorizedHttpClient::from_core(core, EndCause::default()),
        config,
    )
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
