//! The device authorization grant (RFC 8628): the device authorization
//! endpoint, the `device_code` grant at the token endpoint, and a
//! verification page where a person enters the user code.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::authorize::{PASSWORD, USERNAME, escape, page};
use super::http::{Incoming, html, json_response};
use super::state::{AuthState, Client};
use super::token::{
    Issued, NewToken, Refusal, authenticate, issue, refuse, requested_resource, requested_scopes,
};
use super::{AuthServer, AuthServerBuilder, LoginMode};
use crate::server::lock;

/// The `grant_type` of a device access token request.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How the server runs the device grant; see [`AuthServerBuilder::device_authorization`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceConfig {
    pub(crate) interval: Duration,
    pub(crate) lifetime: Duration,
}

/// Where a device authorization request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceStatus {
    /// Waiting for the person.
    Pending,
    /// Approved; the next poll gets tokens.
    Approved,
    /// Denied; polls get `access_denied`.
    Denied,
    /// Tokens were issued for it.
    Redeemed,
}

/// One device authorization request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceRequest {
    /// The code a person types on the verification page.
    pub user_code: String,
    /// The client that asked.
    pub client_id: String,
    /// Requested scopes.
    pub scopes: Vec<String>,
    /// The RFC 8707 resource named.
    pub resource: Option<String>,
    /// Where it stands.
    pub status: DeviceStatus,
    /// How many token requests polled it.
    pub polls: usize,
}

/// A device code in the server's store.
#[derive(Debug, Clone)]
pub(crate) struct DeviceGrant {
    pub(crate) request: DeviceRequest,
    pub(crate) expires_at: Instant,
    pub(crate) last_poll: Option<Instant>,
    /// `slow_down` answers still to give (the `DeviceSlowDown` fault).
    pub(crate) slow_downs: usize,
}

impl AuthServerBuilder {
    /// Offers the device authorization grant (RFC 8628) at
    /// `{issuer path}/device_authorization`, asking clients to poll every
    /// `interval` (whole seconds). Device codes live 10 minutes unless
    /// [`device_code_lifetime`](Self::device_code_lifetime) says otherwise.
    /// With [`LoginMode::AutoApprove`] a request is approved at its first
    /// poll (which still answers `authorization_pending`); with
    /// [`LoginMode::Interactive`] a person approves it at `{issuer path}/device`
    /// (demo / demo), or a test calls [`AuthServer::approve_device`].
    pub fn device_authorization(mut self, interval: Duration) -> Self {
        let lifetime = self
            .cfg
            .device
            .map_or(Duration::from_secs(600), |d| d.lifetime);
        self.cfg.device = Some(DeviceConfig { interval, lifetime });
        self
    }

    /// How long device codes live (`expires_in`); needs
    /// [`device_authorization`](Self::device_authorization).
    pub fn device_code_lifetime(mut self, lifetime: Duration) -> Self {
        if let Some(device) = &mut self.cfg.device {
            device.lifetime = lifetime;
        }
        self
    }
}

impl AuthServer {
    /// `{issuer base}/device_authorization`.
    pub fn device_authorization_endpoint(&self) -> String {
        format!("{}/device_authorization", self.state.endpoint_base())
    }

    /// Every device authorization request so far, oldest first.
    pub fn device_requests(&self) -> Vec<DeviceRequest> {
        let store = lock(&self.state.store);
        let mut grants: Vec<_> = store.devices.values().collect();
        grants.sort_by_key(|grant| grant.expires_at);
        grants.into_iter().map(|g| g.request.clone()).collect()
    }

    /// Approves the pending request with this user code; false if there is none.
    pub fn approve_device(&self, user_code: &str) -> bool {
        decide(&self.state, user_code, DeviceStatus::Approved)
    }

    /// Ends the life of every device code: their next poll gets `expired_token`.
    pub fn expire_device_codes(&self) {
        let now = Instant::now();
        for grant in lock(&self.state.store).devices.values_mut() {
            grant.expires_at = grant.expires_at.min(now);
        }
    }

    /// Denies the pending request with this user code; false if there is none.
    pub fn deny_device(&self, user_code: &str) -> bool {
        decide(&self.state, user_code, DeviceStatus::Denied)
    }
}

fn decide(state: &AuthState, user_code: &str, decision: DeviceStatus) -> bool {
    let wanted = normalize(user_code);
    let mut store = lock(&state.store);
    let found = store.devices.values_mut().find(|grant| {
        normalize(&grant.request.user_code) == wanted
            && grant.request.status == DeviceStatus::Pending
            && grant.expires_at > Instant::now()
    });
    match found {
        Some(grant) => {
            grant.request.status = decision;
            true
        }
        None => false,
    }
}

/// User codes are compared without case or dashes, as people type them.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `POST /device_authorization`.
pub(crate) fn device_authorization(state: &AuthState, incoming: &Incoming) -> Response {
    match start(state, incoming) {
        Ok(response) => response,
        Err(refusal) => *refusal,
    }
}

fn start(state: &AuthState, incoming: &Incoming) -> Result<Response, Refusal> {
    let Some(device) = state.cfg.device else {
        return Err(refuse("unsupported_grant_type", "No device grant here"));
    };
    let client = authenticate(state, incoming)?;
    let resource = requested_resource(incoming)?;
    let scopes = requested_scopes(state, incoming)?;
    let device_code = state.new_id();
    let raw = normalize(&state.new_id());
    let user_code = format!("{}-{}", &raw[..4], &raw[4..8]);
    let verification_uri = format!("{}/device", state.endpoint_base());
    let slow_downs = state
        .faults()
        .iter()
        .filter(|f| matches!(f, super::AuthFault::DeviceSlowDown))
        .count();
    lock(&state.store).devices.insert(
        device_code.clone(),
        DeviceGrant {
            request: DeviceRequest {
                user_code: user_code.clone(),
                client_id: client.client_id,
                scopes,
                resource,
                status: DeviceStatus::Pending,
                polls: 0,
            },
            expires_at: Instant::now() + device.lifetime,
            last_poll: None,
            slow_downs,
        },
    );
    let body = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
        "expires_in": device.lifetime.as_secs(),
        "interval": device.interval.as_secs(),
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// The `device_code` grant at the token endpoint.
pub(crate) fn device_code(
    state: &AuthState,
    incoming: &Incoming,
    client: &Client,
    jkt: Option<&str>,
) -> Result<Issued, Refusal> {
    let Some(device) = state.cfg.device else {
        return Err(refuse("unsupported_grant_type", "No device grant here"));
    };
    let Some(code) = incoming.form("device_code") else {
        return Err(refuse("invalid_request", "device_code is required"));
    };
    let auto_approve = state.cfg.login == LoginMode::AutoApprove;
    let mut store = lock(&state.store);
    let Some(grant) = store.devices.get_mut(code) else {
        return Err(refuse("invalid_grant", "Unknown device code"));
    };
    if grant.request.client_id != client.client_id {
        return Err(refuse(
            "invalid_grant",
            "The device code was issued to another client",
        ));
    }
    let now = Instant::now();
    grant.request.polls += 1;
    let too_soon = grant
        .last_poll
        .is_some_and(|last| now.duration_since(last) < device.interval);
    grant.last_poll = Some(now);
    if grant.expires_at <= now {
        return Err(refuse("expired_token", "The device code expired"));
    }
    if grant.slow_downs > 0 || too_soon {
        grant.slow_downs = grant.slow_downs.saturating_sub(1);
        return Err(refuse("slow_down", "Polling too fast"));
    }
    match grant.request.status {
        DeviceStatus::Pending => {
            if auto_approve {
                grant.request.status = DeviceStatus::Approved;
            }
            Err(refuse("authorization_pending", "Waiting for the user"))
        }
        DeviceStatus::Denied => Err(refuse("access_denied", "The user denied the request")),
        DeviceStatus::Redeemed => Err(refuse("invalid_grant", "The device code was used")),
        DeviceStatus::Approved => {
            grant.request.status = DeviceStatus::Redeemed;
            let scopes = grant.request.scopes.clone();
            let resource = match (
                requested_resource(incoming)?,
                grant.request.resource.clone(),
            ) {
                (Some(asked), Some(named)) if asked != named => {
                    return Err(refuse(
                        "invalid_target",
                        "resource differs from the device authorization request",
                    ));
                }
                (asked, named) => asked.or(named),
            };
            let family = store.new_family();
            let with_refresh = state.cfg.refresh != super::RefreshMode::Off;
            Ok(issue(
                state,
                &mut store,
                NewToken {
                    client_id: &client.client_id,
                    scopes,
                    resource,
                    grant_type: "device_code",
                    family: Some(family),
                    jkt,
                },
                with_refresh,
            ))
        }
    }
}

/// `GET /device`: the page where a person enters the code.
pub(crate) fn verification_page(state: &AuthState, incoming: &Incoming) -> Response {
    let code = incoming.query("user_code").unwrap_or_default();
    html(StatusCode::OK, device_page(state, code, None))
}

/// `POST /device`: the person's decision.
pub(crate) fn verify(state: &AuthState, incoming: &Incoming) -> Response {
    let code = incoming.form("user_code").unwrap_or_default();
    if state.cfg.login == LoginMode::Interactive
        && (incoming.form("username") != Some(USERNAME)
            || incoming.form("password") != Some(PASSWORD))
    {
        let page = device_page(state, code, Some("Wrong username or password."));
        return html(StatusCode::UNAUTHORIZED, page);
    }
    let decision = match incoming.form("decision") {
        Some("deny") => DeviceStatus::Denied,
        _ => DeviceStatus::Approved,
    };
    if !decide(state, code, decision) {
        let page = device_page(state, code, Some("Unknown or expired code."));
        return html(StatusCode::BAD_REQUEST, page);
    }
    let (title, text) = match decision {
        DeviceStatus::Denied => ("Request denied", "The device was not given access."),
        _ => ("Device approved", "You can return to your device."),
    };
    let body = format!("<h1>{title}</h1><p>{text}</p>");
    html(StatusCode::OK, page(title, &body))
}

fn device_page(state: &AuthState, code: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let credentials = if state.cfg.login == LoginMode::Interactive {
        "<label>Username<input name=\"username\" autocomplete=\"username\" required></label>\
         <label>Password<input type=\"password\" name=\"password\" required></label>\
         <p class=\"hint\">Test account: demo / demo</p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Connect a device</h1><p>Enter the code your device shows.</p>{error}\
         <form method=\"post\" action=\"{action}\">\
         <label>Code<input name=\"user_code\" value=\"{code}\" required autofocus></label>\
         {credentials}\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        action = escape(&format!("{}/device", state.cfg.issuer_path)),
        code = escape(code),
    );
    page("Connect a device", &body)
}
