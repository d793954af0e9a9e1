//! Helpers for driving the authorization server by hand, as a client would.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_testkit::AuthServer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::STEP;

/// Where the tests pretend to listen for the redirect; never contacted.
pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A client that shows redirects instead of following them.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

pub(crate) struct Pkce {
    pub(crate) verifier: String,
    pub(crate) challenge: String,
}

pub(crate) fn pkce(seed: &str) -> Pkce {
    let verifier = format!("{seed}-{}", "abcdefghij".repeat(5));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

/// Sends a request, bounded by [`STEP`].
pub(crate) async fn send(builder: reqwest::RequestBuilder) -> reqwest::Response {
    tokio::time::timeout(STEP, builder.send())
        .await
        .expect("request timed out")
        .expect("request failed")
}

/// GET; the status and the body as JSON (`Null` when not JSON).
pub(crate) async fn get_json(url: &str) -> (u16, Value) {
    let response = send(browser().get(url)).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// POSTs JSON to the registration endpoint.
pub(crate) async fn register_raw(auth: &AuthServer, metadata: &Value) -> (u16, Value) {
    let response = send(browser().post(auth.registration_endpoint()).json(metadata)).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Registers a public client with [`REDIRECT`]; returns its `client_id`.
pub(crate) async fn register(auth: &AuthServer) -> String {
    let metadata = json!({
        "client_name": "Test Client",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    });
    let (status, body) = register_raw(auth, &metadata).await;
    assert_eq!(status, 201, "{body}");
    body["client_id"].as_str().unwrap().to_owned()
}

/// GET /authorize with the usual parameters plus `extra`; redirects are not followed.
pub(crate) async fn authorize(
    auth: &AuthServer,
    client_id: &str,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
    ];
    for (key, value) in extra {
        query.retain(|(k, _)| k != key);
        query.push((key, value));
    }
    send(browser().get(auth.authorization_endpoint()).query(&query)).await
}

/// The `Location` of a redirect and its query parameters.
pub(crate) fn location(response: &reqwest::Response) -> (Url, HashMap<String, String>) {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    let location = response.headers()["location"].to_str().unwrap();
    let url = Url::parse(location).unwrap();
    let params = url.query_pairs().into_owned().collect();
    (url, params)
}

/// The code of a successful authorization redirect.
pub(crate) fn code_of(response: &reqwest::Response) -> String {
    let (url, params) = location(response);
    assert!(url.as_str().starts_with(REDIRECT), "{url}");
    params
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {url}"))
}

/// POSTs a form to the token endpoint.
pub(crate) async fn token(auth: &AuthServer, form: &[(&str, &str)]) -> (u16, Value) {
    token_with(browser().post(auth.token_endpoint()).form(form)).await
}

/// Sends a prepared token request.
pub(crate) async fn token_with(builder: reqwest::RequestBuilder) -> (u16, Value) {
    let response = send(builder).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Exchanges a code for tokens (public client).
pub(crate) async fn redeem(
    auth: &AuthServer,
    client_id: &str,
    code: &str,
    verifier: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
        ("code_verifier", verifier),
    ];
    form.extend_from_slice(extra);
    token(auth, &form).await
}

/// Register, authorize (with `extra` parameters) and redeem: the token response.
pub(crate) async fn full_flow(auth: &AuthServer, extra: &[(&str, &str)]) -> (String, Value) {
    let client_id = register(auth).await;
    let pkce = pkce("flow");
    let response = authorize(auth, &client_id, &pkce, extra).await;
    let code = code_of(&response);
    let resource: Vec<(&str, &str)> = extra
        .iter()
        .filter(|(k, _)| *k == "resource")
        .copied()
        .collect();
    let (status, body) = redeem(auth, &client_id, &code, &pkce.verifier, &resource).await;
    assert_eq!(status, 200, "{body}");
    (client_id, body)
}

/// The `error` of a JSON error body.
pub(crate) fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("<no error field>")
}
