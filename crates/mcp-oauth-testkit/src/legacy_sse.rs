//! The 2024-11-05 HTTP+SSE transport: `GET /sse` stream, `POST /messages?sessionId=..`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use futures::{StreamExt, stream};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::config::Fault;
use crate::jsonrpc::{
    self, Body, INTERNAL_ERROR, INVALID_REQUEST, Incoming, PARSE_ERROR, RpcError,
};
use crate::methods;
use crate::respond;
use crate::server::{LegacySession, Shared, lock};

/// Ends the session when its GET stream is dropped (client gone or server stopping).
#[derive(Debug)]
struct SessionGuard {
    shared: Arc<Shared>,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        lock(&self.shared.legacy).remove(&self.id);
    }
}

/// `GET /sse`: a new session whose first event names the POST endpoint.
pub(crate) fn open(shared: &Arc<Shared>) -> Response {
    let id = shared.new_id();
    let (events, rx) = mpsc::unbounded_channel();
    let session = LegacySession {
        version: None,
        events,
    };
    lock(&shared.legacy).insert(id.clone(), session);
    let endpoint = respond::sse_event("endpoint", &format!("/messages?sessionId={id}"));
    let guard = SessionGuard {
        shared: Arc::clone(shared),
        id,
    };
    let events = stream::iter([endpoint])
        .chain(UnboundedReceiverStream::new(rx))
        .map(move |event| {
            // The closure owns the guard, so the session lives exactly as long as the stream.
            let _ = &guard;
            event
        });
    respond::sse(events, shared.stopped(), true)
}

/// `POST /messages?sessionId=..`: accepted with 202; any response goes out on the stream.
pub(crate) fn post(shared: &Arc<Shared>, session_id: Option<String>, body: Body) -> Response {
    let Some(session_id) = session_id else {
        return respond::text(StatusCode::BAD_REQUEST, "Missing sessionId");
    };
    let Some((events, negotiated)) = lock(&shared.legacy)
        .get(&session_id)
        .map(|s| (s.events.clone(), s.version.clone()))
    else {
        return respond::text(StatusCode::NOT_FOUND, "Session not found");
    };
    let (id, method, params) = match body {
        Body::Message(Incoming::Request { id, method, params }) => (id, method, params),
        Body::Message(Incoming::Response { id }) => {
            shared.answer_ping(&id);
            return respond::accepted();
        }
        Body::Message(Incoming::Notification { .. }) => return respond::accepted(),
        Body::ParseError => {
            let error = RpcError::new(PARSE_ERROR, "Parse error");
            return respond::rpc_error(StatusCode::BAD_REQUEST, None, &error);
        }
        Body::Batch | Body::Invalid(_) => {
            let error = RpcError::new(INVALID_REQUEST, "Invalid Request");
            return respond::rpc_error(StatusCode::BAD_REQUEST, None, &error);
        }
    };
    let cfg = &shared.cfg;
    let version = negotiated.unwrap_or_else(|| methods::assumed_legacy_version(cfg));
    let outcome = if method == "initialize" {
        methods::negotiate(cfg, &params).map(|version| {
            if let Some(session) = lock(&shared.legacy).get_mut(&session_id) {
                session.version = Some(version.clone());
            }
            methods::initialize_result(cfg, &version)
        })
    } else if method == "tools/call" && CALL_FAULTS.iter().any(|f| cfg.has_fault(*f)) {
        let task_shared = Arc::clone(shared);
        tokio::spawn(async move {
            if let Some(outcome) = call_with_faults(&task_shared, &events, &version, &params).await
            {
                send(&task_shared, &events, &to_message(&id, outcome));
            }
        });
        return respond::accepted();
    } else {
        methods::dispatch(cfg, &version, &method, &params)
    };
    send(shared, &events, &to_message(&id, outcome));
    respond::accepted()
}

/// The faults that make a `tools/call` wait or talk before its answer.
const CALL_FAULTS: [Fault; 3] = [
    Fault::HoldToolCalls,
    Fault::NotifyDuringCall,
    Fault::ServerPing,
];

/// A `tools/call` under [`CALL_FAULTS`]; `None` when it is never answered
/// (the server stopped while it was held).
async fn call_with_faults(
    shared: &Shared,
    events: &mpsc::UnboundedSender<String>,
    version: &str,
    params: &Option<Map<String, Value>>,
) -> Option<Result<Value, RpcError>> {
    let cfg = &shared.cfg;
    if cfg.has_fault(Fault::HoldToolCalls) && !shared.tool_calls_released().await {
        return None;
    }
    if cfg.has_fault(Fault::NotifyDuringCall) {
        for note in methods::call_notifications(params) {
            send(shared, events, &note);
        }
    }
    if cfg.has_fault(Fault::ServerPing) {
        let (ping_id, answer) = shared.register_ping();
        send(shared, events, &jsonrpc::request(&ping_id, "ping"));
        if !shared.ping_answered(&ping_id, answer).await {
            return Some(Err(RpcError::new(
                INTERNAL_ERROR,
                "client did not answer ping",
            )));
        }
    }
    Some(methods::dispatch(cfg, version, "tools/call", params))
}

fn to_message(id: &Value, outcome: Result<Value, RpcError>) -> Value {
    match outcome {
        Ok(result) => jsonrpc::success(id, result),
        Err(error) => error.to_message(Some(id)),
    }
}

/// Queues a `message` event; the payload faults corrupt it here.
fn send(shared: &Shared, events: &mpsc::UnboundedSender<String>, message: &Value) {
    let data = if shared.cfg.has_fault(Fault::GarbageJson) {
        "{not json".to_owned()
    } else if shared.cfg.has_fault(Fault::NotJsonRpc) {
        r#"{"hello":"world"}"#.to_owned()
    } else {
        message.to_string()
    };
    // A closed stream means the session just ended; the message has nowhere to go.
    let _ = events.send(respond::sse_event("message", &data));
}
