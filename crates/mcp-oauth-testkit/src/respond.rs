//! HTTP response builders shared by the transports.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::jsonrpc::RpcError;

pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
pub(crate) const PROTOCOL_HEADER: &str = "mcp-protocol-version";
pub(crate) const MCP_METHOD_HEADER: &str = "mcp-method";
pub(crate) const MCP_NAME_HEADER: &str = "mcp-name";

/// How often an idle SSE stream sends a comment, so proxies and clients see it alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn build(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) fn json(status: StatusCode, value: &Value) -> Response {
    build(status, "application/json", Body::from(value.to_string()))
}

pub(crate) fn rpc_error(status: StatusCode, id: Option<&Value>, error: &RpcError) -> Response {
    json(status, &error.to_message(id))
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Response {
    build(status, "text/plain; charset=utf-8", Body::from(body))
}

pub(crate) fn raw(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    build(status, content_type, Body::from(body))
}

pub(crate) fn accepted() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// One SSE event; `data` must be a single line (compact JSON is).
pub(crate) fn sse_event(event: &str, data: &str) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

pub(crate) fn sse_message(value: &Value) -> String {
    sse_event("message", &value.to_string())
}

/// A `text/event-stream` response of pre-formatted events that ends when
/// `events` does or when `stop` completes (server shutdown, session gone).
pub(crate) fn sse(
    events: impl Stream<Item = String> + Send + 'static,
    stop: impl Future<Output = ()> + Send + 'static,
    keep_alive: bool,
) -> Response {
    let events = if keep_alive {
        let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
            tokio::time::Instant::now() + KEEP_ALIVE,
            KEEP_ALIVE,
        ))
        .map(|_| ": keep-alive\n\n".to_owned());
        // `select` would outlive a finished event stream through the ticks; end with the events.
        futures::stream::select(
            events
                .map(Some)
                .chain(futures::stream::once(async { None })),
            ticks.map(Some),
        )
        .take_while(|item| std::future::ready(item.is_some()))
        .filter_map(std::future::ready)
        .boxed()
    } else {
        events.boxed()
    };
    let body = events
        .take_until(stop)
        .map(|event| Ok::<_, Infallible>(Bytes::from(event)));
    let mut response = build(StatusCode::OK, "text/event-stream", Body::from_stream(body));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
