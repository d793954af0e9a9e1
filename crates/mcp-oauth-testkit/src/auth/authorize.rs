//! The authorization endpoint and its interactive login and consent pages.

use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use url::Url;

use super::http::{Incoming, html, redirect, repeated};
use super::state::{AuthState, Code, Pending, valid_resource};
use super::{IssMode, LoginMode};
use crate::server::lock;

/// How long an authorization code may be redeemed.
const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// The interactive login's credentials.
pub(super) const USERNAME: &str = "demo";
pub(super) const PASSWORD: &str = "demo";
const SESSION_COOKIE: &str = "mcp_testkit_session";
/// The issuer [`IssMode::Wrong`] claims.
const WRONG_ISSUER: &str = "https://wrong-issuer.example.com";

/// `GET /authorize`.
pub(crate) fn authorize(state: &AuthState, incoming: &Incoming) -> Response {
    let query = &incoming.query;
    let Some(client_id) = incoming.query("client_id") else {
        return error_page("The request has no client_id.");
    };
    let Some(client) = state.client(client_id) else {
        return super::providers::unknown_client(state, incoming, client_id, error_page);
    };
    let (redirect_uri, redirect_given) = match incoming.query("redirect_uri") {
        Some(uri) if client.allows_redirect(uri) => (uri.to_owned(), true),
        Some(uri) => {
            return error_page(&format!(
                "The redirect_uri is not registered for this client: {uri}"
            ));
        }
        None => match client.sole_redirect() {
            Some(uri) => (uri.to_owned(), false),
            None => return error_page("The request has no redirect_uri."),
        },
    };
    let client_state = incoming.query("state").map(str::to_owned);
    let fail = |error: &str, description: &str| {
        let target = ErrorRedirect {
            redirect_uri: &redirect_uri,
            state: client_state.as_deref(),
        };
        target.send(state, StatusCode::FOUND, error, description)
    };
    if let Some(name) = repeated(query) {
        return fail("invalid_request", &format!("Repeated parameter: {name}"));
    }
    match incoming.query("response_type") {
        Some("code") => {}
        Some(other) => {
            return fail(
                "unsupported_response_type",
                &format!("Unsupported response_type: {other}"),
            );
        }
        None => return fail("invalid_request", "response_type is required"),
    }
    let Some(challenge) = incoming.query("code_challenge") else {
        return fail("invalid_request", "code_challenge is required (PKCE)");
    };
    if incoming.query("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256",
        );
    }
    let resources: Vec<&str> = query
        .iter()
        .filter(|(key, _)| key == "resource")
        .map(|(_, value)| value.as_str())
        .collect();
    if !resources.is_empty() && super::providers::refuses_resource_at_authorize(state) {
        return fail("invalid_target", super::ENTRA_RESOURCE_REFUSAL);
    }
    if resources.len() > 1 {
        return fail("invalid_target", "Only one resource is supported");
    }
    if let Some(bad) = resources.iter().find(|r| !valid_resource(r)) {
        return fail(
            "invalid_target",
            &format!("resource must be an absolute URI without a fragment: {bad}"),
        );
    }
    let scopes: Vec<String> = incoming
        .query("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if let Some(bad) = scopes.iter().find(|s| !state.cfg.scopes.contains(s)) {
        return fail("invalid_scope", &format!("Unknown scope: {bad}"));
    }
    let mut pending = Pending {
        client_id: client.client_id.clone(),
        client_name: client.display_name().to_owned(),
        redirect_uri: redirect_uri.clone(),
        redirect_given,
        challenge: challenge.to_owned(),
        resource: resources.first().map(|r| (*r).to_owned()),
        scopes,
        state: client_state.clone(),
        logged_in: false,
    };
    if state.cfg.login == LoginMode::AutoApprove {
        return approve(state, pending, StatusCode::FOUND);
    }
    let session = cookie(incoming, SESSION_COOKIE);
    pending.logged_in = session.is_some_and(|s| lock(&state.store).sessions.contains(s));
    let id = state.new_id();
    let page = if pending.logged_in {
        consent_page(state, &id, &pending)
    } else {
        login_page(state, &id, &pending, None)
    };
    lock(&state.store).pending.insert(id, pending);
    html(StatusCode::OK, page)
}

/// `POST /login`: username and password of a pending authorization request.
pub(crate) fn login(state: &AuthState, incoming: &Incoming) -> Response {
    let id = incoming.form("request").unwrap_or_default();
    let Some(pending) = lock(&state.store).pending.get(id).cloned() else {
        return error_page("This sign-in request is unknown or already used.");
    };
    let username = incoming.form("username").unwrap_or_default();
    let password = incoming.form("password").unwrap_or_default();
    if username != USERNAME || password != PASSWORD {
        let message = "Invalid username or password.";
        return html(
            StatusCode::OK,
            login_page(state, id, &pending, Some(message)),
        );
    }
    let session = state.new_id();
    let page = {
        let mut store = lock(&state.store);
        store.sessions.insert(session.clone());
        let Some(pending) = store.pending.get_mut(id) else {
            return error_page("This sign-in request is unknown or already used.");
        };
        pending.logged_in = true;
        consent_page(state, id, pending)
    };
    let mut response = html(StatusCode::OK, page);
    let cookie = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /consent`: `decision` = `approve` or `deny`.
pub(crate) fn consent(state: &AuthState, incoming: &Incoming) -> Response {
    let id = incoming.form("request").unwrap_or_default();
    let decision = incoming.form("decision").unwrap_or_default();
    if !matches!(decision, "approve" | "deny") {
        return error_page("The decision must be approve or deny.");
    }
    let pending = {
        let mut store = lock(&state.store);
        match store.pending.get(id) {
            Some(p) if p.logged_in => store.pending.remove(id),
            _ => None,
        }
    };
    let Some(pending) = pending else {
        return error_page("This consent request is unknown, already used or not signed in.");
    };
    if decision == "approve" {
        return approve(state, pending, StatusCode::SEE_OTHER);
    }
    let target = ErrorRedirect {
        redirect_uri: &pending.redirect_uri,
        state: pending.state.as_deref(),
    };
    target.send(
        state,
        StatusCode::SEE_OTHER,
        "access_denied",
        "The user denied the authorization request",
    )
}

/// Issues a code and redirects back to the client.
fn approve(state: &AuthState, grant: Pending, status: StatusCode) -> Response {
    let code = state.new_id();
    let Ok(mut location) = Url::parse(&grant.redirect_uri) else {
        return error_page("The redirect_uri is not a URL.");
    };
    {
        let mut pairs = location.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(client_state) = &grant.state {
            pairs.append_pair("state", client_state);
        }
        if let Some(iss) = iss_value(state) {
            pairs.append_pair("iss", &iss);
        }
    }
    let mut store = lock(&state.store);
    let family = store.new_family();
    store.codes.insert(
        code,
        Code {
            grant,
            expires_at: Instant::now() + CODE_LIFETIME,
            used: false,
            family,
        },
    );
    redirect(status, location.as_str())
}

fn iss_value(state: &AuthState) -> Option<String> {
    match state.cfg.iss {
        IssMode::On | IssMode::Unadvertised => Some(state.issuer()),
        IssMode::Wrong => Some(WRONG_ISSUER.to_owned()),
        _ => None,
    }
}

/// Where an authorization error goes once the redirect URI is trusted.
struct ErrorRedirect<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
}

impl ErrorRedirect<'_> {
    fn send(
        &self,
        auth: &AuthState,
        status: StatusCode,
        error: &str,
        description: &str,
    ) -> Response {
        let Ok(mut location) = Url::parse(self.redirect_uri) else {
            return error_page(description);
        };
        {
            let mut pairs = location.query_pairs_mut();
            pairs.append_pair("error", error);
            pairs.append_pair("error_description", description);
            if let Some(client_state) = self.state {
                pairs.append_pair("state", client_state);
            }
            if let Some(iss) = iss_value(auth) {
                pairs.append_pair("iss", &iss);
            }
        }
        redirect(status, location.as_str())
    }
}

fn cookie<'a>(incoming: &'a Incoming, name: &str) -> Option<&'a str> {
    incoming
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}\
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.3rem;margin-top:0}\
label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem;\
box-sizing:border-box}button{padding:.5rem 1.2rem;margin-right:.5rem}\
.error{color:#b00020}.hint{color:#666;font-size:.85rem}dt{font-weight:600}dd{margin:0 0 .6rem}";

pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} - mcp-oauth-testkit</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        title = escape(title),
    )
}

fn error_page(message: &str) -> Response {
    let body = format!(
        "<h1>Authorization error</h1><p class=\"error\">{}</p>",
        escape(message)
    );
    html(StatusCode::BAD_REQUEST, page("Authorization error", &body))
}

fn login_page(state: &AuthState, id: &str, pending: &Pending, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1><p>to continue to <strong>{client}</strong></p>{error}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <label>Username<input name=\"username\" autocomplete=\"username\" required autofocus></label>\
         <label>Password<input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"hint\">Test account: demo / demo</p>",
        client = escape(&pending.client_name),
        action = escape(&format!("{}/login", state.cfg.issuer_path)),
        id = escape(id),
    );
    page("Sign in", &body)
}

fn consent_page(state: &AuthState, id: &str, pending: &Pending) -> String {
    let scopes = if pending.scopes.is_empty() {
        "<li>(no scopes requested)</li>".to_owned()
    } else {
        let items = pending.scopes.iter();
        items.map(|s| format!("<li>{}</li>", escape(s))).collect()
    };
    let resource = pending.resource.as_deref().unwrap_or("(none named)");
    let body = format!(
        "<h1>Authorize access</h1><p><strong>{client}</strong> wants to access your account.</p>\
         <dl><dt>Client ID</dt><dd>{client_id}</dd><dt>Scopes</dt><dd><ul>{scopes}</ul></dd>\
         <dt>Resource</dt><dd>{resource}</dd><dt>Redirect URI</dt><dd>{redirect}</dd></dl>\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"request\" value=\"{id}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        client = escape(&pending.client_name),
        client_id = escape(&pending.client_id),
        resource = escape(resource),
        redirect = escape(&pending.redirect_uri),
        action = escape(&format!("{}/consent", state.cfg.issuer_path)),
        id = escape(id),
    );
    page("Authorize access", &body)
}
