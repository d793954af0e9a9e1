//! Shared server state and the one entry handler: record, authorize, inject faults, route.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::auth::{self, AuthState};
use crate::config::{Config, Fault, ServerMode};
use crate::jsonrpc::Body;
use crate::log::{RecordedRequest, RequestLog};
use crate::protect::Protection;
use crate::respond::{self, MCP_METHOD_HEADER, MCP_NAME_HEADER, PROTOCOL_HEADER, SESSION_HEADER};
use crate::{legacy_sse, streamable};

/// Bodies beyond this are refused; no MCP message in a test comes close.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a `tools/call` waits for the client to answer a server `ping`.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A Streamable HTTP session (Stateful mode).
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) version: String,
    /// JSON-RPC requests served so far, for [`Fault::ExpireSessionAfter`].
    pub(crate) served: usize,
    /// Dropped with the session; GET streams watch it to end with the session.
    pub(crate) alive: watch::Sender<()>,
    /// Server-to-client messages for the session's GET stream.
    pub(crate) outbox: Outbox,
}

/// Events for a session's GET stream, queued until a stream takes them.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<String>,
    rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<String>>>>,
}

impl Outbox {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
        }
    }

    /// Queues one pre-formatted SSE event.
    pub(crate) fn push(&self, event: String) {
        // The receiver lives as long as the session: this cannot fail.
        let _ = self.tx.send(event);
    }

    /// The queued and future events, for one GET stream at a time (`None`
    /// while another stream has them); handed back when that stream ends,
    /// so a client that reconnects finds what was queued meanwhile.
    pub(crate) fn take(&self) -> Option<OutboxLease> {
        let rx = lock(&self.rx).take()?;
        Some(OutboxLease {
            slot: Arc::clone(&self.rx),
            rx: Some(rx),
        })
    }
}

/// One GET stream's hold on an [`Outbox`].
#[derive(Debug)]
pub(crate) struct OutboxLease {
    slot: Arc<Mutex<Option<mpsc::UnboundedReceiver<String>>>>,
    rx: Option<mpsc::UnboundedReceiver<String>>,
}

impl futures::Stream for OutboxLease {
    type Item = String;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<String>> {
        match self.get_mut().rx.as_mut() {
            Some(rx) => rx.poll_recv(cx),
            None => std::task::Poll::Ready(None),
        }
    }
}

impl Drop for OutboxLease {
    fn drop(&mut self) {
        if let Some(rx) = self.rx.take() {
            *lock(&self.slot) = Some(rx);
        }
    }
}

/// A legacy HTTP+SSE session: where its responses go.
#[derive(Debug)]
pub(crate) struct LegacySession {
    pub(crate) version: Option<String>,
    pub(crate) events: mpsc::UnboundedSender<String>,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: Config,
    /// OAuth protection ([`crate::TestServerBuilder::protected_by`]).
    pub(crate) protection: Option<Protection>,
    /// An authorization server answering on this server's origin.
    pub(crate) embedded_auth: Option<Arc<AuthState>>,
    pub(crate) log: RequestLog,
    pub(crate) sessions: Mutex<HashMap<String, Session>>,
    pub(crate) legacy: Mutex<HashMap<String, LegacySession>>,
    /// Server-to-client pings awaiting the client's response, keyed by JSON id.
    pings: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// Opened by the test for [`Fault::HoldToolCalls`]; stays open.
    tool_calls: watch::Sender<bool>,
    shutdown: watch::Receiver<bool>,
    counter: AtomicU64,
    random: RandomState,
    /// Whether [`Fault::UnsupportedVersionOnce`] has refused its request.
    refused_version: AtomicBool,
}

/// A listener on a free port of `bind` (default 127.0.0.1), and the
/// address the server's URLs name: always `127.0.0.1:PORT`, which a client
/// in another network namespace reaches through a relay on its own
/// loopback (see [`crate::NetHosts`]).
pub(crate) async fn listen(
    bind: Option<IpAddr>,
) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let ip = bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
    let port = listener.local_addr()?.port();
    Ok((listener, SocketAddr::from((Ipv4Addr::LOCALHOST, port))))
}

/// The address a request came from, when the server was started with
/// connection info.
pub(crate) fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

/// A poisoned lock only means another test panicked; the data is still usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// True the first time only: whether this request is the one
    /// [`Fault::UnsupportedVersionOnce`] refuses.
    pub(crate) fn refuse_version_now(&self) -> bool {
        self.cfg.has_fault(Fault::UnsupportedVersionOnce)
            && !self.refused_version.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn new(
        cfg: Config,
        shutdown: watch::Receiver<bool>,
        protection: Option<Protection>,
        embedded_auth: Option<Arc<AuthState>>,
    ) -> Self {
        Self {
            cfg,
            protection,
            embedded_auth,
            log: RequestLog::default(),
            sessions: Mutex::default(),
            legacy: Mutex::default(),
            pings: Mutex::default(),
            tool_calls: watch::Sender::new(false),
            shutdown,
            counter: AtomicU64::new(0),
            refused_version: AtomicBool::new(false),
            random: RandomState::new(),
        }
    }

    /// An unguessable, unique id (the hasher is randomly keyed per server).
    pub(crate) fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let a = self.random.hash_one((n, 0u8));
        let b = self.random.hash_one((n, 1u8));
        format!("{a:016x}{b:016x}")
    }

    /// Completes when the server is stopping (or its handle was dropped).
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.clone();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }

    /// Lets every held `tools/call` ([`Fault::HoldToolCalls`]) be answered,
    /// now and from now on.
    pub(crate) fn release_tool_calls(&self) {
        self.tool_calls.send_replace(true);
    }

    /// Waits for [`Self::release_tool_calls`]; false if the server stops first.
    pub(crate) async fn tool_calls_released(&self) -> bool {
        let mut released = self.tool_calls.subscribe();
        tokio::select! {
            result = released.wait_for(|open| *open) => result.is_ok(),
            () = self.stopped() => false,
        }
    }

    /// Registers a server-to-client ping; returns its id and the answer signal.
    pub(crate) fn register_ping(&self) -> (Value, oneshot::Receiver<()>) {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = Value::String(format!("testkit-ping-{n}"));
        let (tx, rx) = oneshot::channel();
        lock(&self.pings).insert(id.to_string(), tx);
        (id, rx)
    }

    /// Delivers a client response; true if it answered one of our pings.
    pub(crate) fn answer_ping(&self, id: &Value) -> bool {
        match lock(&self.pings).remove(&id.to_string()) {
            Some(tx) => {
                let _ = tx.send(());
                true
            }
            None => false,
        }
    }

    /// Whether the client answered ping `id` in time (false on timeout or shutdown).
    pub(crate) async fn ping_answered(&self, id: &Value, answer: oneshot::Receiver<()>) -> bool {
        let answered = tokio::select! {
            result = tokio::time::timeout(PING_TIMEOUT, answer) => matches!(result, Ok(Ok(()))),
            () = self.stopped() => false,
        };
        lock(&self.pings).remove(&id.to_string());
        answered
    }
}

/// The fallback handler for every path and method.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path();
    if let Some(auth) = &shared.embedded_auth
        && auth::owns(auth, path)
        && !shared
            .protection
            .as_ref()
            .is_some_and(|p| p.is_prm_path(path))
    {
        return auth::serve_http(auth, request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await;
    let parsed = match (&parts.method, &bytes) {
        (&Method::POST, Ok(bytes)) => Some(Body::parse(bytes)),
        _ => None,
    };
    let headers = &parts.headers;
    let query_session = query_param(parts.uri.query(), "sessionId");
    let seq = shared.log.push(RecordedRequest {
        http_method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        session_id: respond::header_str(headers, SESSION_HEADER).or_else(|| query_session.clone()),
        protocol_version: respond::header_str(headers, PROTOCOL_HEADER),
        authorization: respond::header_str(headers, header::AUTHORIZATION.as_str()),
        dpop: respond::header_str(headers, "dpop"),
        rpc_method: parsed.as_ref().and_then(Body::method).map(str::to_owned),
        rpc_is_response: parsed.as_ref().is_some_and(Body::is_response),
        meta_protocol_version: parsed.as_ref().and_then(Body::meta_protocol_version),
        mcp_method: respond::header_str(headers, MCP_METHOD_HEADER),
        mcp_name: respond::header_str(headers, MCP_NAME_HEADER),
        mcp_params: crate::modern::param_headers(headers),
        rpc_target: parsed.as_ref().and_then(Body::target),
        meta_client_name: parsed.as_ref().and_then(Body::meta_client_name),
        status: 0,
        peer: peer(&parts.extensions),
        headers: crate::log::all_headers(headers),
    });
    if bytes.is_err() {
        let response = respond::text(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
        shared.log.set_status(seq, response.status().as_u16());
        return response;
    }
    if let Some(protection) = &shared.protection {
        let response = if protection.is_prm_path(parts.uri.path()) {
            Some(protection.serve_prm(&parts.method, parts.uri.path()))
        } else {
            protection.check(&parts.method, &parts.uri, headers, parsed.as_ref())
        };
        if let Some(response) = response {
            shared.log.set_status(seq, response.status().as_u16());
            return response;
        }
    }
    if let Some(response) = precheck(&shared.cfg, &parts.method, headers) {
        shared.log.set_status(seq, response.status().as_u16());
        return response;
    }
    if shared.cfg.has_fault(Fault::Stall) {
        // Never answered: the record keeps status 0; the handler ends with the server.
        shared.stopped().await;
        return respond::text(StatusCode::SERVICE_UNAVAILABLE, "Server stopping");
    }
    let response = route(
        &shared,
        &parts.method,
        parts.uri.path(),
        headers,
        query_session,
        parsed,
    )
    .await;
    shared.log.set_status(seq, response.status().as_u16());
    response
}

/// Authorization, then the faults that replace whole responses.
fn precheck(cfg: &Config, method: &Method, headers: &HeaderMap) -> Option<Response> {
    if let Some(token) = &cfg.bearer {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if presented != Some(token.as_str()) {
            // RFC 6750 §3.1: a presented but wrong token is `invalid_token`.
            let challenge = if presented.is_some() {
                r#"Bearer realm="mcp-testkit", error="invalid_token""#
            } else {
                r#"Bearer realm="mcp-testkit""#
            };
            let mut response = respond::text(StatusCode::UNAUTHORIZED, "Unauthorized");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            return Some(response);
        }
    }
    let is_post = method == Method::POST;
    if cfg.has_fault(Fault::HtmlPage) && (is_post || method == Method::GET) {
        return Some(respond::raw(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><title>Welcome</title></head>\
             <body><h1>It works!</h1></body></html>",
        ));
    }
    // LegacySse answers POSTs with 202; its faults go into the SSE events instead.
    if is_post && cfg.mode != ServerMode::LegacySse {
        if cfg.has_fault(Fault::GarbageJson) {
            return Some(respond::raw(
                StatusCode::OK,
                "application/json",
                "{not json",
            ));
        }
        if cfg.has_fault(Fault::NotJsonRpc) {
            return Some(respond::raw(
                StatusCode::OK,
                "application/json",
                r#"{"hello":"world"}"#,
            ));
        }
    }
    None
}

async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    query_session: Option<String>,
    body: Option<Body>,
) -> Response {
    let legacy = shared.cfg.mode == ServerMode::LegacySse;
    match (path, legacy) {
        ("/mcp", false) => match (method, body) {
            (&Method::POST, Some(body)) => streamable::post(shared, headers, body).await,
            (&Method::GET, _) => streamable::get(shared, headers),
            (&Method::DELETE, _) => streamable::delete(shared, headers),
            _ => respond::method_not_allowed("GET, POST, DELETE"),
        },
        ("/sse", true) if method == Method::GET => legacy_sse::open(shared),
        ("/messages", true) => match (method, body) {
            (&Method::POST, Some(body)) => legacy_sse::post(shared, query_session, body),
            _ => respond::method_not_allowed("POST"),
        },
        // So a client probing Streamable HTTP first sees 405 (or the
        // configured status) and falls back.
        ("/sse" | "/mcp", true) => match shared.cfg.legacy_probe_status {
            Some(status) if method == Method::POST => respond::text(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                "Not a Streamable HTTP endpoint",
            ),
            _ => respond::method_not_allowed("GET"),
        },
        _ => respond::text(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// One query parameter, undecoded: our own ids never need percent-decoding.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
