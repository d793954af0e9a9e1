//! Streamable HTTP (`/mcp`): sessions for 2025-03-26 .. 2025-11-25, stateless for 2026-07-28.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use futures::stream;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::config::{Config, Fault, ResponseStyle, ServerMode, ToolAnswer, is_modern};
use crate::jsonrpc::{
    self, Body, HEADER_MISMATCH, INTERNAL_ERROR, INVALID_REQUEST, Incoming, METHOD_NOT_FOUND,
    PARSE_ERROR, RpcError, UNSUPPORTED_PROTOCOL_VERSION,
};
use crate::methods;
use crate::modern;
use crate::respond::{self, PROTOCOL_HEADER, SESSION_HEADER, header_str};
use crate::server::{Outbox, Session, Shared, lock};

type Params = Option<Map<String, Value>>;

/// `POST /mcp`.
pub(crate) async fn post(shared: &Arc<Shared>, headers: &HeaderMap, body: Body) -> Response {
    let message = match body {
        Body::Message(message) => message,
        Body::ParseError => return bad_request(None, &RpcError::new(PARSE_ERROR, "Parse error")),
        Body::Batch => {
            let error = RpcError::new(INVALID_REQUEST, "Batch requests are not supported");
            return bad_request(None, &error);
        }
        Body::Invalid(id) => {
            return bad_request(
                id.as_ref(),
                &RpcError::new(INVALID_REQUEST, "Invalid Request"),
            );
        }
    };
    let cfg = &shared.cfg;
    let session_id = header_str(headers, SESSION_HEADER);
    let header_version = header_str(headers, PROTOCOL_HEADER);
    let stateful = cfg.mode == ServerMode::Stateful;
    let request_id = match &message {
        Incoming::Request { id, .. } => Some(id),
        _ => None,
    };

    if let Incoming::Request { id, .. } = &message
        && shared.refuse_version_now()
    {
        let requested = jsonrpc::meta_protocol_version(match &message {
            Incoming::Request { params, .. } => params,
            _ => &None,
        })
        .or_else(|| header_version.clone())
        .unwrap_or_default();
        let error = RpcError::unsupported_version(&requested, &cfg.versions);
        return bad_request(Some(id), &error);
    }
    // How a server that predates 2026-07-28 rejects the modern probe.
    if let Incoming::Request { id, method, .. } = &message
        && method == "server/discover"
        && !cfg.supports_modern()
        && !(stateful && session_id.is_some())
    {
        return bad_request(Some(id), &RpcError::method_not_found());
    }
    if let Some(version) = &header_version
        && !cfg.supports(version)
    {
        let error = RpcError::new(
            INVALID_REQUEST,
            format!("Bad Request: Unsupported MCP-Protocol-Version: {version}"),
        );
        return bad_request(request_id, &error);
    }

    let (id, method, params) = match message {
        Incoming::Request { id, method, params } => (id, method, params),
        Incoming::Response { id } => {
            if let Some(response) = check_session(shared, session_id.as_deref(), &header_version) {
                return response;
            }
            shared.answer_ping(&id);
            return respond::accepted();
        }
        Incoming::Notification { .. } => {
            return check_session(shared, session_id.as_deref(), &header_version)
                .unwrap_or_else(respond::accepted);
        }
    };

    if method == "initialize" {
        return initialize(shared, &id, &params);
    }
    let meta_version = jsonrpc::meta_protocol_version(&params);
    let modern = meta_version.is_some()
        || method == "server/discover"
        || header_version.as_deref().is_some_and(is_modern);
    if stateful && let Some(session_id) = session_id {
        return in_session(shared, &session_id, id, &method, params).await;
    }
    if modern && (!stateful || cfg.supports_modern()) {
        return stateless(shared, headers, &id, &method, &params, meta_version);
    }
    if stateful {
        return missing_session(Some(&id));
    }
    // Stateless mode, a pre-2026 request after a session-less `initialize`.
    if !cfg.has_legacy() {
        return bad_request(Some(&id), &missing_meta());
    }
    let version = header_version.unwrap_or_else(|| methods::assumed_legacy_version(cfg));
    let outcome = methods::dispatch(cfg, &version, &method, &params);
    reply(shared, &id, outcome, false)
}

fn bad_request(id: Option<&Value>, error: &RpcError) -> Response {
    respond::rpc_error(StatusCode::BAD_REQUEST, id, error)
}

fn missing_meta() -> RpcError {
    RpcError::invalid_params(format!(
        "Invalid params: request _meta is missing {}",
        jsonrpc::META_PROTOCOL_VERSION
    ))
}

/// Session rules for notifications and responses; `None` means accept.
fn check_session(
    shared: &Shared,
    session_id: Option<&str>,
    header_version: &Option<String>,
) -> Option<Response> {
    if shared.cfg.mode != ServerMode::Stateful {
        return None;
    }
    match session_id {
        Some(id) if !lock(&shared.sessions).contains_key(id) => Some(session_not_found(None)),
        Some(_) => None,
        // A 2026-07-28 client has no session to send.
        None if shared.cfg.supports_modern()
            && header_version.as_deref().is_some_and(is_modern) =>
        {
            None
        }
        None => Some(missing_session(None)),
    }
}

fn missing_session(id: Option<&Value>) -> Response {
    let error = RpcError::new(
        INVALID_REQUEST,
        "Bad Request: Mcp-Session-Id header is required",
    );
    bad_request(id, &error)
}

fn session_not_found(id: Option<&Value>) -> Response {
    let error = RpcError::new(INVALID_REQUEST, "Session not found");
    respond::rpc_error(StatusCode::NOT_FOUND, id, &error)
}

fn initialize(shared: &Arc<Shared>, id: &Value, params: &Params) -> Response {
    let version = match methods::negotiate(&shared.cfg, params) {
        Ok(version) => version,
        Err(error) => return reply(shared, id, Err(error), false),
    };
    let result = methods::initialize_result(&shared.cfg, &version);
    let mut response = reply(shared, id, Ok(result), false);
    if shared.cfg.mode == ServerMode::Stateful {
        let session_id = shared.new_id();
        let (alive, _) = watch::channel(());
        let session = Session {
            version,
            served: 0,
            alive,
            outbox: Outbox::new(),
        };
        lock(&shared.sessions).insert(session_id.clone(), session);
        if let Ok(value) = HeaderValue::from_str(&session_id) {
            response.headers_mut().insert(SESSION_HEADER, value);
        }
    }
    response
}

async fn in_session(
    shared: &Arc<Shared>,
    session_id: &str,
    id: Value,
    method: &str,
    params: Params,
) -> Response {
    let version = {
        let mut sessions = lock(&shared.sessions);
        let Some(session) = sessions.get_mut(session_id) else {
            return session_not_found(Some(&id));
        };
        if let Some(limit) = shared.cfg.expire_after()
            && session.served >= limit
        {
            // Dropping the session also ends its GET stream.
            sessions.remove(session_id);
            return session_not_found(Some(&id));
        }
        session.served += 1;
        session.version.clone()
    };
    let cfg = &shared.cfg;
    let sse = cfg.style == ResponseStyle::Sse;
    if method == "tools/call" {
        if cfg.has_fault(Fault::HoldToolCalls) && !shared.tool_calls_released().await {
            return respond::text(StatusCode::SERVICE_UNAVAILABLE, "Server stopping");
        }
        if cfg.has_fault(Fault::ServerPing) && sse {
            return call_after_ping(shared, id, version, params);
        }
        if cfg.has_fault(Fault::NotifyDuringCall) {
            let notes: Vec<String> = methods::call_notifications(&params)
                .iter()
                .map(respond::sse_message)
                .collect();
            let outcome = methods::dispatch(cfg, &version, method, &params);
            if sse {
                return reply_after(shared, &id, outcome, false, notes);
            }
            if let Some(session) = lock(&shared.sessions).get(session_id) {
                notes.into_iter().for_each(|note| session.outbox.push(note));
            }
            return reply(shared, &id, outcome, false);
        }
    }
    let outcome = methods::dispatch(cfg, &version, method, &params);
    reply(shared, &id, outcome, false)
}

/// A modern (2026-07-28) request: everything the server needs is in the request itself.
fn stateless(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    id: &Value,
    method: &str,
    params: &Params,
    meta_version: Option<String>,
) -> Response {
    let cfg = &shared.cfg;
    let Some(version) = meta_version else {
        return bad_request(Some(id), &missing_meta());
    };
    if !cfg.supports(&version) {
        return bad_request(
            Some(id),
            &RpcError::unsupported_version(&version, &cfg.versions),
        );
    }
    let header_version = header_str(headers, PROTOCOL_HEADER);
    let mismatch = match header_version {
        None => {
            Some("request _meta protocolVersion requires MCP-Protocol-Version header".to_owned())
        }
        Some(header) if header != version => Some(format!(
            "MCP-Protocol-Version header ({header}) does not match request _meta protocolVersion ({version})"
        )),
        Some(_) => None,
    };
    let mismatch = mismatch.or_else(|| modern::header_mismatch(cfg, headers, method, params));
    if let Some(message) = mismatch {
        return bad_request(Some(id), &RpcError::new(HEADER_MISMATCH, message));
    }
    let capabilities = params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(|meta| meta.get("io.modelcontextprotocol/clientCapabilities"));
    if capabilities.is_none() {
        let error = RpcError::invalid_params(
            "Invalid params: missing _meta keys: io.modelcontextprotocol/clientCapabilities",
        );
        return bad_request(Some(id), &error);
    }
    let outcome = match modern_only(cfg, id, method, params) {
        Some(outcome) => outcome,
        None if method == "server/discover" => Ok(methods::discover_result(cfg)),
        None => methods::dispatch(cfg, &version, method, params),
    };
    reply(shared, id, outcome, is_modern(&version))
}

/// What only 2026-07-28 serves: a tool that asks first, skills and their
/// files. `None`: the request is not one of those.
fn modern_only(
    cfg: &Config,
    id: &Value,
    method: &str,
    params: &Params,
) -> Option<Result<Value, RpcError>> {
    let empty = Map::new();
    let p = params.as_ref().unwrap_or(&empty);
    let target = p
        .get("name")
        .or_else(|| p.get("uri"))
        .and_then(Value::as_str);
    let outcome = match (method, target) {
        ("tools/call", Some(name)) => {
            let tool = cfg.content.tools.iter().find(|tool| tool.name == name)?;
            let ToolAnswer::AskFirst(question) = &tool.answer else {
                return None;
            };
            modern::ask_first(name, question, id, p)
        }
        ("skills/list", _) if !cfg.content.skills.is_empty() => Ok(modern::list_skills(cfg)),
        ("resources/read", Some(uri)) => Ok(modern::read_skill_file(cfg, uri)?),
        _ => return None,
    };
    Some(outcome.map(|mut result| {
        if let Some(obj) = result.as_object_mut() {
            obj.entry("resultType").or_insert(Value::from("complete"));
        }
        result
    }))
}

/// HTTP status of a JSON-RPC error; 2026-07-28 maps some codes onto HTTP (as rmcp's server does).
fn error_status(error: &RpcError, modern: bool) -> StatusCode {
    match error.code {
        METHOD_NOT_FOUND if modern => StatusCode::NOT_FOUND,
        UNSUPPORTED_PROTOCOL_VERSION | HEADER_MISMATCH if modern => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

/// Frames one response in the configured style; non-200 answers are always JSON.
fn reply(shared: &Shared, id: &Value, outcome: Result<Value, RpcError>, modern: bool) -> Response {
    reply_after(shared, id, outcome, modern, Vec::new())
}

/// [`reply`], with `before` (pre-formatted events) ahead of the response on
/// its stream when the style is SSE.
fn reply_after(
    shared: &Shared,
    id: &Value,
    outcome: Result<Value, RpcError>,
    modern: bool,
    before: Vec<String>,
) -> Response {
    let (status, message) = match outcome {
        Ok(result) => (StatusCode::OK, jsonrpc::success(id, result)),
        Err(error) => (error_status(&error, modern), error.to_message(Some(id))),
    };
    if status != StatusCode::OK || shared.cfg.style == ResponseStyle::Json {
        return respond::json(status, &message);
    }
    let events = before.into_iter().chain([respond::sse_message(&message)]);
    respond::sse(stream::iter(events), shared.stopped(), false)
}

/// [`Fault::ServerPing`]: the ping goes first on the response stream, the result
/// follows once the client POSTed its answer.
fn call_after_ping(shared: &Arc<Shared>, id: Value, version: String, params: Params) -> Response {
    let (ping_id, answer) = shared.register_ping();
    let ping = respond::sse_message(&jsonrpc::request(&ping_id, "ping"));
    let task_shared = Arc::clone(shared);
    let result = async move {
        let outcome = if task_shared.ping_answered(&ping_id, answer).await {
            methods::dispatch(&task_shared.cfg, &version, "tools/call", &params)
        } else {
            Err(RpcError::new(INTERNAL_ERROR, "client did not answer ping"))
        };
        let message = match outcome {
            Ok(result) => jsonrpc::success(&id, result),
            Err(error) => error.to_message(Some(&id)),
        };
        respond::sse_message(&message)
    };
    let events = stream::iter([ping]).chain(stream::once(result));
    respond::sse(events, shared.stopped(), false)
}

/// `GET /mcp`: the optional server-to-client stream of a session.
pub(crate) fn get(shared: &Shared, headers: &HeaderMap) -> Response {
    if shared.cfg.mode != ServerMode::Stateful {
        return respond::method_not_allowed("POST");
    }
    let Some(session_id) = header_str(headers, SESSION_HEADER) else {
        return missing_session(None);
    };
    let Some((mut alive, outbox)) = lock(&shared.sessions)
        .get(&session_id)
        .map(|session| (session.alive.subscribe(), session.outbox.take()))
    else {
        return session_not_found(None);
    };
    // A second stream of the same session stays quiet: its events go to one.
    let events = match outbox {
        Some(lease) => lease.boxed(),
        None => stream::pending().boxed(),
    };
    let stopped = shared.stopped();
    let stop = async move {
        tokio::select! {
            () = stopped => {}
            _ = alive.changed() => {}
        }
    };
    respond::sse(events, stop, true)
}

/// `DELETE /mcp`: ends a session.
pub(crate) fn delete(shared: &Shared, headers: &HeaderMap) -> Response {
    if shared.cfg.mode != ServerMode::Stateful {
        return respond::method_not_allowed("GET, POST");
    }
    let Some(session_id) = header_str(headers, SESSION_HEADER) else {
        return missing_session(None);
    };
    match lock(&shared.sessions).remove(&session_id) {
        Some(_) => respond::text(StatusCode::OK, ""),
        None => session_not_found(None),
    }
}
