//! The authorization server's entry handler: record, route, metadata, registration.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};
use url::form_urlencoded;

use super::state::{AuthState, Client, Redirects, valid_redirect_uri};
use super::{AuthFault, AuthRequest, AuthRequestKind, IssMode, authorize, device, token};
use crate::server::lock;

/// Bodies beyond this are refused.
const MAX_BODY: usize = 1024 * 1024;

/// The router's fallback for a standalone server.
pub(crate) async fn handle(State(state): State<Arc<AuthState>>, request: Request) -> Response {
    serve(&state, request).await
}

/// A parsed request, as the endpoint handlers see it.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
    pub(crate) json: Option<Value>,
    pub(crate) is_form: bool,
}

impl Incoming {
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    pub(crate) fn form(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }
}

pub(crate) fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The name of a parameter given more than once (RFC 6749 §3.1), `resource` excepted.
pub(crate) fn repeated(pairs: &[(String, String)]) -> Option<&str> {
    pairs.iter().enumerate().find_map(|(i, (key, _))| {
        (key != "resource" && pairs[..i].iter().any(|(k, _)| k == key)).then_some(key.as_str())
    })
}

fn decode(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input).into_owned().collect()
}

/// Records the request, answers it and records the status.
pub(crate) async fn serve(state: &Arc<AuthState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body = bytes.as_deref().unwrap_or_default();
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    let incoming = Incoming {
        query: decode(parts.uri.query().unwrap_or_default().as_bytes()),
        form: if is_form { decode(body) } else { Vec::new() },
        json: serde_json::from_slice(body).ok(),
        is_form,
        method: parts.method.clone(),
        headers: parts.headers.clone(),
    };
    let path = parts.uri.path();
    let prefetch = parts
        .headers
        .get("sec-purpose")
        .is_some_and(|value| value.as_bytes().starts_with(b"prefetch"));
    let kind = match classify(state, path) {
        AuthRequestKind::Authorize if prefetch => AuthRequestKind::AuthorizePrefetch,
        kind => kind,
    };
    let seq = state.log.push(AuthRequest {
        method: parts.method.to_string(),
        path: path.to_owned(),
        kind,
        query: incoming.query.clone(),
        form: incoming.form.clone(),
        json: incoming.json.clone(),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        dpop: parts
            .headers
            .get("dpop")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        status: 0,
        peer: crate::server::peer(&parts.extensions),
        headers: crate::log::all_headers(&parts.headers),
    });
    let response = if bytes.is_err() {
        text(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
    } else {
        route(state, kind, path, &incoming).await
    };
    state.log.set_status(seq, response.status().as_u16());
    response
}

/// Whether a path belongs to the authorization server (for embedding).
pub(crate) fn owns(state: &AuthState, path: &str) -> bool {
    classify(state, path) != AuthRequestKind::Other
}

fn classify(state: &AuthState, path: &str) -> AuthRequestKind {
    if path.contains("/.well-known/") {
        return AuthRequestKind::Metadata;
    }
    let Some(rest) = path.strip_prefix(state.cfg.issuer_path.as_str()) else {
        return AuthRequestKind::Other;
    };
    match rest {
        "/authorize" => AuthRequestKind::Authorize,
        "/token" => AuthRequestKind::Token,
        "/register" => AuthRequestKind::Register,
        "/login" | "/consent" | "/device" => AuthRequestKind::Interaction,
        "/device_authorization" if state.cfg.device.is_some() => {
            AuthRequestKind::DeviceAuthorization
        }
        _ => AuthRequestKind::Other,
    }
}

async fn route(
    state: &Arc<AuthState>,
    kind: AuthRequestKind,
    path: &str,
    incoming: &Incoming,
) -> Response {
    let method = &incoming.method;
    match kind {
        AuthRequestKind::Metadata => metadata(state, method, path),
        AuthRequestKind::Register if !state.cfg.dynamic_registration => not_found(),
        AuthRequestKind::Register if method == Method::POST => register(state, incoming),
        AuthRequestKind::Register => method_not_allowed("POST"),
        AuthRequestKind::Authorize | AuthRequestKind::AuthorizePrefetch
            if method == Method::GET =>
        {
            authorize::authorize(state, incoming)
        }
        AuthRequestKind::Authorize | AuthRequestKind::AuthorizePrefetch => {
            method_not_allowed("GET")
        }
        AuthRequestKind::Interaction if path.ends_with("/device") => {
            if method == Method::POST {
                device::verify(state, incoming)
            } else {
                device::verification_page(state, incoming)
            }
        }
        AuthRequestKind::Interaction if method == Method::POST => {
            if path.ends_with("/login") {
                authorize::login(state, incoming)
            } else {
                authorize::consent(state, incoming)
            }
        }
        AuthRequestKind::Interaction => method_not_allowed("POST"),
        AuthRequestKind::Token if method == Method::POST => token::token(state, incoming).await,
        AuthRequestKind::Token => method_not_allowed("POST"),
        AuthRequestKind::DeviceAuthorization if method == Method::POST => {
            device::device_authorization(state, incoming)
        }
        AuthRequestKind::DeviceAuthorization => method_not_allowed("POST"),
        AuthRequestKind::Other => not_found(),
    }
}

fn metadata(state: &AuthState, method: &Method, path: &str) -> Response {
    let served = state
        .cfg
        .metadata
        .iter()
        .any(|location| location.path(&state.cfg.issuer_path) == path);
    if state.has_fault(AuthFault::MetadataServerError) {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    if !served {
        return not_found();
    }
    if method != Method::GET {
        return method_not_allowed("GET");
    }
    json_response(StatusCode::OK, &metadata_document(state))
}

/// The RFC 8414 document (also served as OpenID configuration).
pub(crate) fn metadata_document(state: &AuthState) -> Value {
    let cfg = &state.cfg;
    let base = state.endpoint_base();
    let issuer = cfg
        .metadata_issuer
        .clone()
        .unwrap_or_else(|| state.issuer());
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": cfg.auth_methods,
        "scopes_supported": cfg.scopes,
        "client_id_metadata_document_supported": cfg.cimd,
    });
    let Some(obj) = doc.as_object_mut() else {
        return doc;
    };
    if cfg.dynamic_registration {
        obj.insert(
            "registration_endpoint".to_owned(),
            json!(format!("{base}/register")),
        );
    }
    if cfg.device.is_some() {
        obj.insert(
            "device_authorization_endpoint".to_owned(),
            json!(format!("{base}/device_authorization")),
        );
        if let Some(Value::Array(grants)) = obj.get_mut("grant_types_supported") {
            grants.push(json!(device::DEVICE_CODE_GRANT));
        }
    }
    if cfg.workload_identity
        && let Some(Value::Array(grants)) = obj.get_mut("grant_types_supported")
    {
        grants.push(json!(super::providers::JWT_BEARER_GRANT));
    }
    if let Some(methods) = &cfg.pkce_methods {
        obj.insert(
            "code_challenge_methods_supported".to_owned(),
            json!(methods),
        );
    }
    if cfg.dpop != super::DpopPolicy::Off {
        obj.insert(
            "dpop_signing_alg_values_supported".to_owned(),
            json!(["ES256"]),
        );
    }
    if matches!(cfg.iss, IssMode::On | IssMode::Wrong) {
        obj.insert(
            "authorization_response_iss_parameter_supported".to_owned(),
            json!(true),
        );
    }
    doc
}

/// RFC 7591 dynamic client registration.
fn register(state: &AuthState, incoming: &Incoming) -> Response {
    let error = |code: &str, description: &str| {
        let body = json!({ "error": code, "error_description": description });
        json_response(StatusCode::BAD_REQUEST, &body)
    };
    let faults = state.faults();
    if faults.contains(&AuthFault::RegistrationRejected) {
        return error(
            "invalid_client_metadata",
            "Client registration was rejected",
        );
    }
    if let Some(description) = faults.iter().find_map(|fault| match fault {
        AuthFault::RegistrationRejectedWith(description) => Some(*description),
        _ => None,
    }) {
        return error("invalid_client_metadata", description);
    }
    let Some(Value::Object(submitted)) = &incoming.json else {
        return error("invalid_client_metadata", "The body must be a JSON object");
    };
    let redirect_uris: Option<Vec<String>> = match submitted.get("redirect_uris") {
        Some(Value::Array(uris)) if !uris.is_empty() => {
            uris.iter().map(|u| u.as_str().map(str::to_owned)).collect()
        }
        _ => None,
    };
    // A client that only uses the device grant has no redirect URI (RFC 8628 §3.4 / RFC 7591 §2).
    let device_only = submitted
        .get("grant_types")
        .and_then(Value::as_array)
        .is_some_and(|grants| {
            state.cfg.device.is_some()
                && !grants.iter().any(|g| g == "authorization_code")
                && grants.iter().any(|g| g == device::DEVICE_CODE_GRANT)
        });
    let redirect_uris = match redirect_uris {
        None if device_only => Some(Vec::new()),
        other => other,
    };
    let Some(redirect_uris) = redirect_uris else {
        return error(
            "invalid_redirect_uri",
            "redirect_uris must be a non-empty array of strings",
        );
    };
    if let Some(bad) = redirect_uris.iter().find(|u| !valid_redirect_uri(u)) {
        return error(
            "invalid_redirect_uri",
            &format!("Redirect URI not allowed (loopback http or https only): {bad}"),
        );
    }
    let client_name = submitted
        .get("client_name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if client_name.is_none() && faults.contains(&AuthFault::RegistrationRequiresClientName) {
        return error("invalid_client_metadata", "client_name is required");
    }
    let methods = &state.cfg.auth_methods;
    let method = submitted
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .filter(|m| methods.iter().any(|s| s == m))
        .map(str::to_owned)
        .or_else(|| methods.first().cloned())
        .unwrap_or_else(|| "none".to_owned());
    let client_id = faults
        .iter()
        .find_map(|fault| match fault {
            AuthFault::RegisteredClientId(id) => Some((*id).to_owned()),
            _ => None,
        })
        .unwrap_or_else(|| state.new_id());
    let secret = (method != "none").then(|| state.new_id());
    let issued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    let mut answer: Map<String, Value> = submitted.clone();
    answer.insert("client_id".to_owned(), json!(client_id));
    answer.insert("client_id_issued_at".to_owned(), json!(issued_at));
    answer.insert("token_endpoint_auth_method".to_owned(), json!(method));
    answer
        .entry("grant_types")
        .or_insert_with(|| json!(["authorization_code", "refresh_token"]));
    answer
        .entry("response_types")
        .or_insert_with(|| json!(["code"]));
    if let Some(secret) = &secret {
        answer.insert("client_secret".to_owned(), json!(secret));
        answer.insert("client_secret_expires_at".to_owned(), json!(0));
    }
    lock(&state.store).clients.push(Client {
        client_id,
        secret,
        method,
        redirects: Redirects::Exact(redirect_uris),
        name: client_name,
        metadata: Value::Object(submitted.clone()),
    });
    json_response(StatusCode::CREATED, &Value::Object(answer))
}

/// A JSON response that must not be cached (RFC 6749 §5.1).
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = build(status, "application/json", Body::from(value.to_string()));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An OAuth error body (RFC 6749 §5.2).
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    json_response(status, &body)
}

pub(crate) fn build(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Response {
    build(status, "text/plain; charset=utf-8", Body::from(body))
}

pub(crate) fn html(status: StatusCode, page: String) -> Response {
    build(status, "text/html; charset=utf-8", Body::from(page))
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "Not Found")
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A redirect to `location` (302 after a GET, 303 after a form POST).
pub(crate) fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}
