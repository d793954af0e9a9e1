//! What real identity providers do that the plain server does not: the
//! `jwt-bearer` grant of workload identity federation (RFC 7523 §2.1),
//! Microsoft Entra's refusal of the RFC 8707 `resource` parameter, and the
//! ways servers answer an authorization request from a client they do not
//! know (after a restart, or once a registration expired).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use url::Url;

use super::http::{Incoming, json_response, redirect};
use super::state::AuthState;
use super::token::{
    Issued, NewToken, Refusal, issue, refuse, requested_resource, requested_scopes,
};
use super::{AuthFault, AuthServer, AuthServerBuilder};
use crate::server::lock;

/// The RFC 7523 grant type a workload presents its platform's JWT with.
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What Microsoft Entra says when it refuses the `resource` parameter next
/// to v2 scopes (`api://…/.default`); the OAuth error is `invalid_target`.
pub const ENTRA_RESOURCE_REFUSAL: &str = "AADSTS9010010: The resource parameter provided in the \
    request doesn't match with the requested scopes.";

/// Where the server refuses the RFC 8707 `resource` parameter, as Microsoft
/// Entra does (`invalid_target`, [`ENTRA_RESOURCE_REFUSAL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResourceRefusal {
    /// Accepted everywhere (the default).
    #[default]
    Never,
    /// Token requests naming a resource get 400 `invalid_target` (before
    /// anything is checked or spent: the code stays good).
    AtToken,
    /// Authorization requests naming a resource are sent back to the
    /// redirect URI with `error=invalid_target`, and token requests refused
    /// as with [`AtToken`](Self::AtToken).
    AtAuthorizeAndToken,
}

/// How `GET /authorize` answers a `client_id` it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownClient {
    /// 400 with an HTML error page (the default), where a person would stay.
    #[default]
    ErrorPage,
    /// 400 with `{"error":"invalid_client"}`.
    JsonError,
    /// A redirect to the redirect URI given with `error=unauthorized_client`
    /// (and the `state`), as some servers do even for clients they do not
    /// know.
    Redirect,
}

impl AuthServerBuilder {
    /// Accepts the `jwt-bearer` grant (RFC 7523 §2.1) of workload identity
    /// federation at the token endpoint and advertises it: a JWT (see
    /// [`AuthServer::workload_assertion`]) whose `aud` is the issuer (or the
    /// origin, or the token endpoint) and that has not expired buys an
    /// access token, with or without a `client_id`. The signature is not
    /// checked. [`AuthFault::AssertionRefused`] refuses every assertion.
    pub fn workload_identity(mut self, on: bool) -> Self {
        self.cfg.workload_identity = on;
        self
    }

    /// Refuses the `resource` parameter as Microsoft Entra does; default
    /// [`ResourceRefusal::Never`].
    pub fn refuse_resource(mut self, refusal: ResourceRefusal) -> Self {
        self.cfg.resource_refusal = refusal;
        self
    }

    /// How an authorization request from an unknown client is answered;
    /// default [`UnknownClient::ErrorPage`].
    pub fn unknown_client(mut self, answer: UnknownClient) -> Self {
        self.cfg.unknown_client = answer;
        self
    }
}

impl AuthServer {
    /// A workload's JWT as its platform would issue it for this server:
    /// `sub` = `subject`, `aud` = the issuer, valid for five minutes, a
    /// `jti` of its own. Its signature is a placeholder.
    pub fn workload_assertion(&self, subject: &str) -> String {
        let now = unix_now();
        let claims = json!({
            "iss": "https://idp.workload.test",
            "sub": subject,
            "aud": self.issuer(),
            "iat": now,
            "exp": now + 300,
            "jti": self.state.new_id(),
        });
        let header = json!({ "alg": "ES256", "typ": "JWT" });
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(b"not a signature")
        )
    }
}

/// The `jwt-bearer` grant: the assertion stands in for the client.
pub(super) fn jwt_bearer(
    state: &AuthState,
    incoming: &Incoming,
    jkt: Option<&str>,
) -> Result<Issued, Refusal> {
    if !state.cfg.workload_identity {
        return Err(refuse(
            "unsupported_grant_type",
            &format!("Unsupported grant_type: {JWT_BEARER_GRANT}"),
        ));
    }
    let Some(assertion) = incoming.form("assertion") else {
        return Err(refuse("invalid_request", "assertion is required"));
    };
    if state.has_fault(AuthFault::AssertionRefused) {
        return Err(refuse("invalid_grant", "The assertion was not accepted"));
    }
    let claims = assertion
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(|_| assertion.split('.').count() == 3);
    let Some(claims) = claims else {
        return Err(refuse("invalid_grant", "The assertion is not a JWT"));
    };
    let base = state.base_url();
    let audiences = [
        state.issuer(),
        base.clone(),
        format!("{base}/"),
        format!("{}/token", state.endpoint_base()),
    ];
    let names_us = |aud: &Value| {
        aud.as_str()
            .is_some_and(|aud| audiences.iter().any(|a| a == aud))
    };
    let audience_ok = match &claims["aud"] {
        Value::Array(list) => list.iter().any(names_us),
        aud => names_us(aud),
    };
    if !audience_ok {
        return Err(refuse(
            "invalid_grant",
            "The assertion is for another audience",
        ));
    }
    if claims["exp"].as_u64().is_none_or(|exp| exp <= unix_now()) {
        return Err(refuse("invalid_grant", "The assertion expired"));
    }
    let resource = requested_resource(incoming)?;
    let scopes = requested_scopes(state, incoming)?;
    let subject = claims["sub"].as_str().unwrap_or("workload");
    let client_id = incoming
        .form("client_id")
        .map_or_else(|| format!("workload:{subject}"), str::to_owned);
    let mut store = lock(&state.store);
    let new_token = NewToken {
        client_id: &client_id,
        scopes,
        resource,
        grant_type: JWT_BEARER_GRANT,
        family: None,
        jkt,
    };
    Ok(issue(state, &mut store, new_token, false))
}

/// The refusal of a token request's `resource`, where the server is set
/// to refuse it.
pub(super) fn refused_resource_at_token(state: &AuthState, incoming: &Incoming) -> Option<Refusal> {
    let refuses = state.cfg.resource_refusal != ResourceRefusal::Never;
    (refuses && incoming.form("resource").is_some())
        .then(|| refuse("invalid_target", ENTRA_RESOURCE_REFUSAL))
}

/// Whether an authorization request naming a resource is refused.
pub(super) fn refuses_resource_at_authorize(state: &AuthState) -> bool {
    state.cfg.resource_refusal == ResourceRefusal::AtAuthorizeAndToken
}

/// The answer to an authorization request from an unknown `client_id`.
pub(super) fn unknown_client(
    state: &AuthState,
    incoming: &Incoming,
    client_id: &str,
    error_page: impl FnOnce(&str) -> Response,
) -> Response {
    let description = format!("Unknown client: {client_id}");
    match state.cfg.unknown_client {
        UnknownClient::ErrorPage => error_page(&description),
        UnknownClient::JsonError => {
            let body = json!({ "error": "invalid_client", "error_description": description });
            json_response(StatusCode::BAD_REQUEST, &body)
        }
        UnknownClient::Redirect => {
            let target = incoming
                .query("redirect_uri")
                .and_then(|uri| Url::parse(uri).ok());
            let Some(mut location) = target else {
                return error_page(&description);
            };
            {
                let mut pairs = location.query_pairs_mut();
                pairs.append_pair("error", "unauthorized_client");
                pairs.append_pair("error_description", &description);
                if let Some(client_state) = incoming.query("state") {
                    pairs.append_pair("state", client_state);
                }
            }
            redirect(StatusCode::FOUND, location.as_str())
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
