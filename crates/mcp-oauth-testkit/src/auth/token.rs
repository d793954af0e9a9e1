//! The token endpoint: client authentication and the three grants.

use std::time::Instant;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::form_urlencoded;

use super::device::{self, DEVICE_CODE_GRANT};
use super::http::{Incoming, build, json_response, oauth_error, repeated, text};
use super::providers::{self, JWT_BEARER_GRANT};
use super::state::{Access, AuthState, Client, Refresh, Store, valid_resource};
use super::{AuthFault, DpopPolicy, RefreshMode};
use crate::dpop::{self, Expected};

/// The nonce the token endpoint asks for under [`DpopPolicy::WithNonce`].
pub(crate) const AS_DPOP_NONCE: &str = "testkit-as-nonce";
use crate::server::lock;

/// The size of the access token [`AuthFault::HugeTokenBody`] answers: 2 MiB.
const HUGE_TOKEN_BODY: usize = 2 * 1024 * 1024;

/// A refusal, already shaped as the HTTP response.
pub(super) type Refusal = Box<Response>;

pub(super) fn refuse(error: &str, description: &str) -> Refusal {
    Box::new(oauth_error(StatusCode::BAD_REQUEST, error, description))
}

/// `POST /token`.
pub(crate) async fn token(state: &AuthState, incoming: &Incoming) -> Response {
    let faults = state.faults();
    for fault in &faults {
        if let AuthFault::SlowToken(delay) = fault {
            tokio::select! {
                () = tokio::time::sleep(*delay) => {}
                () = state.stopped() => {
                    return text(StatusCode::SERVICE_UNAVAILABLE, "Server stopping");
                }
            }
        }
    }
    if faults.contains(&AuthFault::TokenServerError) {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    if faults.contains(&AuthFault::TokenTemporarilyUnavailable) {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The token service is temporarily unavailable",
        );
    }
    if faults.contains(&AuthFault::TokenErrorWith200) {
        return oauth_error(
            StatusCode::OK,
            "invalid_grant",
            "The code passed is incorrect or expired.",
        );
    }
    if faults.contains(&AuthFault::MalformedTokenBody) {
        return build(
            StatusCode::OK,
            "application/json",
            axum::body::Body::from("{not json"),
        );
    }
    let jkt = match dpop_key(state, incoming) {
        Ok(jkt) => jkt,
        Err(refusal) => return *refusal,
    };
    match grant(state, incoming, jkt.as_deref()) {
        Ok(issued) => success(state, &faults, &issued),
        Err(refusal) => *refusal,
    }
}

/// The thumbprint of the key a request's valid DPoP proof names; `None`
/// without a proof (or with DPoP off). A bad proof, a replayed one, or one
/// without the nonce the server wants is refused.
fn dpop_key(state: &AuthState, incoming: &Incoming) -> Result<Option<String>, Refusal> {
    if state.cfg.dpop == DpopPolicy::Off {
        return Ok(None);
    }
    let bad = |reason: &str| refuse("invalid_dpop_proof", reason);
    let Some(proof) = dpop::proof_header(&incoming.headers).map_err(|reason| bad(&reason))? else {
        return Ok(None);
    };
    let url = format!("{}/token", state.endpoint_base());
    let expected = Expected {
        method: "POST",
        url: &url,
        access_token: None,
    };
    let verified =
        dpop::verify(proof, &expected, &state.dpop_jtis).map_err(|reason| bad(&reason))?;
    if state.cfg.dpop == DpopPolicy::WithNonce && verified.nonce.as_deref() != Some(AS_DPOP_NONCE) {
        let mut response = oauth_error(
            StatusCode::BAD_REQUEST,
            "use_dpop_nonce",
            "Authorization server requires nonce in DPoP proof",
        );
        response
            .headers_mut()
            .insert("dpop-nonce", HeaderValue::from_static(AS_DPOP_NONCE));
        return Err(Box::new(response));
    }
    Ok(Some(verified.jkt))
}

/// What a successful grant produced.
#[derive(Debug)]
pub(super) struct Issued {
    access_token: String,
    refresh_token: Option<String>,
    scopes: Vec<String>,
    /// Bound to a DPoP key: `token_type` `DPoP`.
    bound: bool,
}

fn grant(state: &AuthState, incoming: &Incoming, jkt: Option<&str>) -> Result<Issued, Refusal> {
    if !incoming.is_form {
        return Err(refuse(
            "invalid_request",
            "The body must be application/x-www-form-urlencoded",
        ));
    }
    if let Some(name) = repeated(&incoming.form) {
        return Err(refuse(
            "invalid_request",
            &format!("Repeated parameter: {name}"),
        ));
    }
    if let Some(refusal) = providers::refused_resource_at_token(state, incoming) {
        return Err(refusal);
    }
    // The assertion stands in for the client: no client authentication.
    if incoming.form("grant_type") == Some(JWT_BEARER_GRANT) {
        return providers::jwt_bearer(state, incoming, jkt);
    }
    let client = authenticate(state, incoming)?;
    match incoming.form("grant_type") {
        Some("authorization_code") => authorization_code(state, incoming, &client, jkt),
        Some("refresh_token") => refresh(state, incoming, &client, jkt),
        Some("client_credentials") => client_credentials(state, incoming, &client, jkt),
        Some(DEVICE_CODE_GRANT) => device::device_code(state, incoming, &client, jkt),
        Some(other) => Err(refuse(
            "unsupported_grant_type",
            &format!("Unsupported grant_type: {other}"),
        )),
        None => Err(refuse("invalid_request", "grant_type is required")),
    }
}

/// 401 `invalid_client`; with a `Basic` challenge when the client tried Basic.
fn invalid_client(description: &str, basic: bool) -> Refusal {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if basic {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="mcp-testkit""#),
        );
    }
    Box::new(response)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(incoming: &Incoming) -> Option<Option<(String, String)>> {
    let value = incoming.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let credentials = decoded.and_then(|text| {
        let (id, secret) = text.split_once(':')?;
        Some((form_decode(id), form_decode(secret)))
    });
    Some(credentials)
}

fn form_decode(text: &str) -> String {
    form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Authenticates the client with the method it registered.
pub(super) fn authenticate(state: &AuthState, incoming: &Incoming) -> Result<Client, Refusal> {
    let basic = basic_credentials(incoming);
    let used_basic = basic.is_some();
    let basic = match basic {
        Some(None) => return Err(invalid_client("Malformed Basic credentials", true)),
        Some(Some(credentials)) => Some(credentials),
        None => None,
    };
    let form_id = incoming.form("client_id");
    let form_secret = incoming.form("client_secret");
    if basic.is_some() && form_secret.is_some() {
        return Err(refuse(
            "invalid_request",
            "More than one client authentication method was used",
        ));
    }
    let client_id = match (&basic, form_id) {
        (Some((id, _)), Some(form)) if id != form => {
            return Err(invalid_client(
                "client_id differs from the Basic credentials",
                true,
            ));
        }
        (Some((id, _)), _) => id.clone(),
        (None, Some(id)) => id.to_owned(),
        (None, None) => {
            return Err(invalid_client("Client authentication is required", false));
        }
    };
    let Some(client) = state.client(&client_id) else {
        return Err(invalid_client(
            &format!("Unknown client: {client_id}"),
            used_basic,
        ));
    };
    let expected = client.secret.as_deref();
    let ok = match client.method.as_str() {
        "none" => basic.is_none() && form_secret.is_none(),
        "client_secret_basic" => {
            form_secret.is_none()
                && basic
                    .as_ref()
                    .is_some_and(|(_, s)| Some(s.as_str()) == expected)
        }
        "client_secret_post" => basic.is_none() && form_secret.is_some() && form_secret == expected,
        _ => false,
    };
    if !ok {
        let description = format!(
            "Client authentication failed (this client uses {})",
            client.method
        );
        return Err(invalid_client(&description, used_basic));
    }
    Ok(client)
}

/// The single `resource` of the token request, validated.
pub(super) fn requested_resource(incoming: &Incoming) -> Result<Option<String>, Refusal> {
    match incoming.form("resource") {
        Some(resource) if !valid_resource(resource) => Err(refuse(
            "invalid_target",
            "resource must be an absolute URI without a fragment",
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorization_code(
    state: &AuthState,
    incoming: &Incoming,
    client: &Client,
    jkt: Option<&str>,
) -> Result<Issued, Refusal> {
    let Some(code) = incoming.form("code") else {
        return Err(refuse("invalid_request", "code is required"));
    };
    let resource = requested_resource(incoming)?;
    let mut store = lock(&state.store);
    let Some(entry) = store.codes.get_mut(code) else {
        return Err(refuse("invalid_grant", "Unknown authorization code"));
    };
    if entry.grant.client_id != client.client_id {
        return Err(refuse(
            "invalid_grant",
            "The code was issued to another client",
        ));
    }
    if entry.used {
        let family = entry.family;
        store.revoke_family(family);
        return Err(refuse(
            "invalid_grant",
            "The authorization code was already used",
        ));
    }
    entry.used = true;
    if entry.expires_at <= Instant::now() {
        return Err(refuse("invalid_grant", "The authorization code expired"));
    }
    let grant = entry.grant.clone();
    let family = entry.family;
    match incoming.form("redirect_uri") {
        Some(uri) if uri != grant.redirect_uri => {
            return Err(refuse("invalid_grant", "redirect_uri does not match"));
        }
        None if grant.redirect_given => {
            return Err(refuse("invalid_grant", "redirect_uri is required"));
        }
        _ => {}
    }
    let Some(verifier) = incoming.form("code_verifier") else {
        return Err(refuse("invalid_request", "code_verifier is required"));
    };
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed || s256(verifier) != grant.challenge {
        return Err(refuse("invalid_grant", "PKCE verification failed"));
    }
    let resource = match (resource, grant.resource) {
        (Some(asked), Some(granted)) if asked != granted => {
            return Err(refuse(
                "invalid_target",
                "resource differs from the authorization request",
            ));
        }
        (asked, granted) => asked.or(granted),
    };
    let with_refresh = state.cfg.refresh != RefreshMode::Off;
    Ok(issue(
        state,
        &mut store,
        NewToken {
            client_id: &client.client_id,
            scopes: grant.scopes,
            resource,
            grant_type: "authorization_code",
            family: Some(family),
            jkt,
        },
        with_refresh,
    ))
}

fn refresh(
    state: &AuthState,
    incoming: &Incoming,
    client: &Client,
    jkt: Option<&str>,
) -> Result<Issued, Refusal> {
    let Some(presented) = incoming.form("refresh_token") else {
        return Err(refuse("invalid_request", "refresh_token is required"));
    };
    let resource = requested_resource(incoming)?;
    let mut store = lock(&state.store);
    let Some(entry) = store.refresh.get(presented).cloned() else {
        return Err(refuse("invalid_grant", "Unknown or revoked refresh token"));
    };
    if entry.client_id != client.client_id {
        return Err(refuse(
            "invalid_grant",
            "The refresh token was issued to another client",
        ));
    }
    // RFC 9449 §5: a public client's refresh token is bound to its key.
    if entry.jkt.is_some() && entry.jkt.as_deref() != jkt {
        return Err(refuse(
            "invalid_dpop_proof",
            "The refresh token is bound to another DPoP key",
        ));
    }
    if entry.rotated {
        store.revoke_family(entry.family);
        return Err(refuse(
            "invalid_grant",
            "The refresh token was already used; its family is revoked",
        ));
    }
    if let Some(asked) = &resource
        && entry.resource.as_ref() != Some(asked)
    {
        return Err(refuse(
            "invalid_target",
            "resource differs from the original grant",
        ));
    }
    let scopes = match incoming.form("scope") {
        Some(scope) => {
            let asked: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
            if let Some(extra) = asked.iter().find(|s| !entry.scopes.contains(s)) {
                return Err(refuse(
                    "invalid_scope",
                    &format!("Scope not in the original grant: {extra}"),
                ));
            }
            asked
        }
        None => entry.scopes.clone(),
    };
    let new_token = NewToken {
        client_id: &client.client_id,
        scopes,
        resource: resource.or(entry.resource.clone()),
        grant_type: "refresh_token",
        family: Some(entry.family),
        jkt,
    };
    match state.cfg.refresh {
        RefreshMode::Stable => {
            let mut issued = issue(state, &mut store, new_token, false);
            issued.refresh_token = Some(presented.to_owned());
            Ok(issued)
        }
        _ => {
            if let Some(old) = store.refresh.get_mut(presented) {
                old.rotated = true;
            }
            Ok(issue(state, &mut store, new_token, true))
        }
    }
}

fn client_credentials(
    state: &AuthState,
    incoming: &Incoming,
    client: &Client,
    jkt: Option<&str>,
) -> Result<Issued, Refusal> {
    if client.method == "none" {
        return Err(refuse(
            "unauthorized_client",
            "client_credentials needs a confidential client",
        ));
    }
    let resource = requested_resource(incoming)?;
    let scopes = requested_scopes(state, incoming)?;
    let mut store = lock(&state.store);
    let new_token = NewToken {
        client_id: &client.client_id,
        scopes,
        resource,
        grant_type: "client_credentials",
        family: None,
        jkt,
    };
    Ok(issue(state, &mut store, new_token, false))
}

/// The `scope` of a request without an earlier grant: each one must be supported.
pub(super) fn requested_scopes(
    state: &AuthState,
    incoming: &Incoming,
) -> Result<Vec<String>, Refusal> {
    let scopes: Vec<String> = incoming
        .form("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    match scopes.iter().find(|s| !state.cfg.scopes.contains(s)) {
        Some(bad) => Err(refuse("invalid_scope", &format!("Unknown scope: {bad}"))),
        None => Ok(scopes),
    }
}

/// What an access token is issued for.
#[derive(Debug)]
pub(super) struct NewToken<'a> {
    pub(super) client_id: &'a str,
    pub(super) scopes: Vec<String>,
    pub(super) resource: Option<String>,
    pub(super) grant_type: &'static str,
    pub(super) family: Option<u64>,
    /// The DPoP key to bind the tokens to.
    pub(super) jkt: Option<&'a str>,
}

pub(super) fn issue(
    state: &AuthState,
    store: &mut Store,
    new: NewToken<'_>,
    with_refresh: bool,
) -> Issued {
    let access_token = state.new_id();
    store.access.push(Access {
        token: access_token.clone(),
        client_id: new.client_id.to_owned(),
        scopes: new.scopes.clone(),
        resource: new.resource.clone(),
        grant_type: new.grant_type,
        expires_at: Instant::now() + state.cfg.access_lifetime,
        revoked: false,
        family: new.family,
        jkt: new.jkt.map(str::to_owned),
    });
    let refresh_token = match (with_refresh, new.family) {
        (true, Some(family)) => {
            let token = state.new_id();
            store.refresh.insert(
                token.clone(),
                Refresh {
                    client_id: new.client_id.to_owned(),
                    scopes: new.scopes.clone(),
                    resource: new.resource,
                    family,
                    rotated: false,
                    jkt: new.jkt.map(str::to_owned),
                },
            );
            Some(token)
        }
        _ => None,
    };
    Issued {
        access_token,
        refresh_token,
        scopes: new.scopes,
        bound: new.jkt.is_some(),
    }
}

fn success(state: &AuthState, faults: &[AuthFault], issued: &Issued) -> Response {
    let chosen = faults.iter().find_map(|fault| match fault {
        AuthFault::TokenType(token_type) => Some(*token_type),
        _ => None,
    });
    let token_type = if let Some(token_type) = chosen {
        token_type
    } else if faults.contains(&AuthFault::TokenTypeNotBearer) {
        "mac"
    } else if faults.contains(&AuthFault::LowercaseBearer) {
        "bearer"
    } else if issued.bound {
        "DPoP"
    } else {
        "Bearer"
    };
    let lifetime = state.cfg.access_lifetime.as_secs();
    let access_token = faults
        .iter()
        .find_map(|fault| match fault {
            AuthFault::AccessToken(token) => Some((*token).to_owned()),
            AuthFault::HugeTokenBody => Some("a".repeat(HUGE_TOKEN_BODY)),
            _ => None,
        })
        .unwrap_or_else(|| issued.access_token.clone());
    let mut body = json!({ "access_token": access_token, "token_type": token_type });
    if let Some(obj) = body.as_object_mut() {
        if faults.contains(&AuthFault::NoAccessToken) {
            obj.remove("access_token");
        }
        if faults.contains(&AuthFault::ExpiresInAsString) {
            obj.insert("expires_in".to_owned(), json!(lifetime.to_string()));
        } else if !faults.contains(&AuthFault::NoExpiresIn) {
            obj.insert("expires_in".to_owned(), json!(lifetime));
        }
        let refresh = faults.iter().find_map(|fault| match fault {
            AuthFault::RefreshToken(token) => Some(*token),
            _ => None,
        });
        if let Some(refresh) = refresh.or(issued.refresh_token.as_deref()) {
            obj.insert("refresh_token".to_owned(), json!(refresh));
        }
        let scope = faults.iter().find_map(|fault| match fault {
            AuthFault::TokenScope(scope) => Some((*scope).to_owned()),
            _ => None,
        });
        if let Some(scope) =
            scope.or_else(|| (!issued.scopes.is_empty()).then(|| issued.scopes.join(" ")))
        {
            obj.insert("scope".to_owned(), Value::from(scope));
        }
    }
    json_response(StatusCode::OK, &body)
}
