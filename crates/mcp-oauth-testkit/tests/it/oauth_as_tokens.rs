//! The authorization server's tokens: refresh rotation, `iss`, client
//! authentication, forgotten clients, token faults, and the device grant.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcp_oauth_testkit::{
    AuthFault, AuthServer, DeviceStatus, IssMode, LoginMode, PreRegistered, RefreshMode,
};
use serde_json::{Value, json};

use crate::oauth_support::{
    REDIRECT, authorize, browser, code_of, error_of, full_flow, location, pkce, redeem, register,
    token, token_with,
};

/// Whether a token response (status, body) shows the fault.
type Check = fn(u16, &Value) -> bool;

async fn refresh(
    auth: &AuthServer,
    client_id: &str,
    refresh_token: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
    ];
    form.extend_from_slice(extra);
    token(auth, &form).await
}

#[tokio::test]
async fn refresh_rotation_and_family_revocation() {
    let auth = AuthServer::builder().start().await.unwrap();
    let (client_id, first) = full_flow(&auth, &[("scope", "mcp:read mcp:write")]).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();

    let (status, body) = refresh(&auth, &client_id, &rt1, &[("scope", "mcp:read")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "mcp:read", "narrowed");
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");

    let (status, body) = refresh(&auth, &client_id, &rt2, &[("scope", "mcp:read admin")]).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_scope"));

    // Replaying the rotated token revokes the family: rt2 and all access tokens.
    let (status, body) = refresh(&auth, &client_id, &rt1, &[]).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_grant"));
    let (status, body) = refresh(&auth, &client_id, &rt2, &[]).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_grant"));
    assert!(auth.tokens().iter().all(|t| t.revoked));
    assert_eq!(auth.issued_tokens(), 2);
    auth.stop().await;
}

#[tokio::test]
async fn refresh_modes_and_revocation() {
    let auth = AuthServer::builder()
        .refresh_tokens(RefreshMode::Stable)
        .start()
        .await
        .unwrap();
    let (client_id, first) = full_flow(&auth, &[]).await;
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, body) = refresh(&auth, &client_id, &rt, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body["refresh_token"], rt.as_str());
    }
    // Another client may not use it.
    let other = register(&auth).await;
    let (status, body) = refresh(&auth, &other, &rt, &[]).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_grant"));
    auth.revoke_refresh_tokens();
    let (status, body) = refresh(&auth, &client_id, &rt, &[]).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_grant"));
    assert!(!auth.tokens()[0].revoked, "access tokens stay valid");
    auth.stop().await;

    let auth = AuthServer::builder()
        .refresh_tokens(RefreshMode::Off)
        .access_token_lifetime(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let (_, body) = full_flow(&auth, &[]).await;
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["expires_in"], 60);
    auth.stop().await;
}

#[tokio::test]
async fn iss_parameter_modes() {
    for (mode, expected) in [
        (IssMode::Off, None),
        (IssMode::On, Some("issuer")),
        (IssMode::Unadvertised, Some("issuer")),
        (IssMode::Wrong, Some("https://wrong-issuer.example.com")),
    ] {
        let auth = AuthServer::builder()
            .issuer_path("/oauth")
            .iss_parameter(mode)
            .start()
            .await
            .unwrap();
        let client_id = register(&auth).await;
        let p = pkce("iss");
        let (_, params) = location(&authorize(&auth, &client_id, &p, &[]).await);
        let expected = expected.map(|e| {
            if e == "issuer" {
                auth.issuer()
            } else {
                e.to_owned()
            }
        });
        assert_eq!(params.get("iss"), expected.as_ref(), "{mode:?}");
        // Errors carry it too.
        let (_, params) = location(&authorize(&auth, &client_id, &p, &[("scope", "nope")]).await);
        assert_eq!(params.get("iss"), expected.as_ref(), "{mode:?} on error");
        auth.stop().await;
    }
}

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

#[tokio::test]
async fn client_authentication_methods() {
    let auth = AuthServer::builder()
        .pre_registered(
            PreRegistered::confidential("conf:1", "s3cret/+").redirect_uris(&[REDIRECT]),
        )
        .pre_registered(
            PreRegistered::confidential("post-client", "pw").auth_method("client_secret_post"),
        )
        .pre_registered(PreRegistered::public("public-client"))
        .start()
        .await
        .unwrap();
    let endpoint = auth.token_endpoint();
    let cc = [("grant_type", "client_credentials"), ("scope", "mcp:read")];
    // client_secret_basic with URL-encoded credentials.
    let (status, body) = token_with(
        browser()
            .post(&endpoint)
            .header("authorization", basic("conf:1", "s3cret/+"))
            .form(&cc),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(auth.tokens()[0].grant_type, "client_credentials");
    let (status, body) = token_with(
        browser()
            .post(&endpoint)
            .header("authorization", basic("conf:1", "wrong"))
            .form(&cc),
    )
    .await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"));
    // The secret in the body is the wrong method for this client.
    let mut form = cc.to_vec();
    form.extend([("client_id", "conf:1"), ("client_secret", "s3cret/+")]);
    let (status, _) = token(&auth, &form).await;
    assert_eq!(status, 401);
    // client_secret_post.
    let mut form = cc.to_vec();
    form.extend([("client_id", "post-client"), ("client_secret", "pw")]);
    assert_eq!(token(&auth, &form).await.0, 200);
    // A public client may not use client_credentials.
    let mut form = cc.to_vec();
    form.push(("client_id", "public-client"));
    let (status, body) = token(&auth, &form).await;
    assert_eq!((status, error_of(&body)), (400, "unauthorized_client"));

    // Pre-registered redirect rules: exact list, or any loopback port.
    let p = pkce("pre");
    let response = authorize(
        &auth,
        "conf:1",
        &p,
        &[("redirect_uri", "http://127.0.0.1:10/callback")],
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = authorize(
        &auth,
        "public-client",
        &p,
        &[("redirect_uri", "http://localhost:5555/cb")],
    )
    .await;
    let (url, params) = location(&response);
    assert!(url.as_str().starts_with("http://localhost:5555/cb"));
    let code = params["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "http://localhost:5555/cb"),
        ("client_id", "public-client"),
        ("code_verifier", &p.verifier),
    ];
    assert_eq!(token(&auth, &form).await.0, 200);
    auth.stop().await;
}

#[tokio::test]
async fn client_id_metadata_documents_and_forgotten_clients() {
    let auth = AuthServer::builder()
        .client_id_metadata_documents(true)
        .start()
        .await
        .unwrap();
    let cimd = "https://client.example.com/oauth/metadata.json";
    let p = pkce("cimd");
    let code = code_of(&authorize(&auth, cimd, &p, &[]).await);
    let (status, body) = redeem(&auth, cimd, &code, &p.verifier, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(auth.registered_clients().is_empty(), "nothing registered");

    let client_id = register(&auth).await;
    auth.forget_clients();
    assert!(auth.registered_clients().is_empty());
    assert_eq!(authorize(&auth, &client_id, &p, &[]).await.status(), 400);
    let (status, body) = redeem(&auth, &client_id, "x", &p.verifier, &[]).await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"));
    auth.stop().await;

    let auth = AuthServer::builder().start().await.unwrap();
    assert_eq!(
        authorize(&auth, cimd, &p, &[]).await.status(),
        400,
        "CIMD off"
    );
    auth.stop().await;
}

#[tokio::test]
async fn token_response_faults() {
    let checks: [(AuthFault, Check); 13] = [
        (AuthFault::TokenServerError, |s, b| {
            s == 500 && b.is_string()
        }),
        (AuthFault::TokenTemporarilyUnavailable, |s, b| {
            s == 503 && b["error"] == "temporarily_unavailable"
        }),
        (AuthFault::TokenErrorWith200, |s, b| {
            s == 200 && b["error"] == "invalid_grant"
        }),
        (AuthFault::TokenTypeNotBearer, |s, b| {
            s == 200 && b["token_type"] == "mac"
        }),
        (AuthFault::TokenType("DPoP"), |s, b| {
            s == 200 && b["token_type"] == "DPoP"
        }),
        (AuthFault::ExpiresInAsString, |s, b| {
            s == 200 && b["expires_in"] == "3600"
        }),
        (AuthFault::NoExpiresIn, |s, b| {
            s == 200 && b.get("expires_in").is_none()
        }),
        (AuthFault::LowercaseBearer, |s, b| {
            s == 200 && b["token_type"] == "bearer"
        }),
        (AuthFault::MalformedTokenBody, |s, b| {
            s == 200 && b == "{not json"
        }),
        (AuthFault::NoAccessToken, |s, b| {
            s == 200 && b.get("access_token").is_none() && b["token_type"] == "Bearer"
        }),
        (AuthFault::AccessToken("a\r\nX-Injected: 1"), |s, b| {
            s == 200 && b["access_token"] == "a\r\nX-Injected: 1"
        }),
        (AuthFault::RefreshToken("r\u{1b}[2J"), |s, b| {
            s == 200 && b["refresh_token"] == "r\u{1b}[2J" && b["access_token"].is_string()
        }),
        (AuthFault::HugeTokenBody, |s, b| {
            s == 200 && b["access_token"].as_str().map(str::len) == Some(2 * 1024 * 1024)
        }),
    ];
    let auth = AuthServer::builder().start().await.unwrap();
    let client_id = register(&auth).await;
    let p = pkce("faults");
    for (fault, check) in checks {
        let code = code_of(&authorize(&auth, &client_id, &p, &[]).await);
        auth.set_fault(Some(fault));
        let (status, body) = redeem(&auth, &client_id, &code, &p.verifier, &[]).await;
        assert!(check(status, &body), "{fault:?}: {status} {body}");
        auth.set_fault(None);
    }
    auth.stop().await;
}

#[tokio::test]
async fn slow_token_is_slow_and_ends_with_stop() {
    let auth = AuthServer::builder()
        .fault(AuthFault::SlowToken(Duration::from_millis(300)))
        .start()
        .await
        .unwrap();
    let client_id = register(&auth).await;
    let p = pkce("slow");
    let code = code_of(&authorize(&auth, &client_id, &p, &[]).await);
    // A lower bound: the answer cannot come before the delay, however
    // fast or slow the machine.
    let started = Instant::now();
    let (status, _) = redeem(&auth, &client_id, &code, &p.verifier, &[]).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A token request still waiting when the server stops is answered 503.
    auth.set_fault(Some(AuthFault::SlowToken(Duration::from_secs(3600))));
    auth.clear_requests();
    let endpoint = auth.token_endpoint();
    let pending = tokio::spawn(async move {
        browser()
            .post(endpoint)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
    });
    crate::wait_until("the token request reached the server", || {
        auth.requests().len() == 1
    })
    .await;
    tokio::time::timeout(crate::STEP, auth.stop())
        .await
        .expect("stop does not wait for the slow answer");
    let answer = tokio::time::timeout(crate::STEP, pending)
        .await
        .unwrap()
        .unwrap()
        .expect("the waiting request is answered");
    assert_eq!(answer.status(), 503);
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Registers a public device client without a redirect URI at `auth`, and
/// starts a device authorization: the client id and the answer.
async fn start_device(auth: &AuthServer) -> (String, Value) {
    let (status, client) = crate::oauth_support::register_raw(
        auth,
        &json!({ "grant_types": [DEVICE_GRANT, "refresh_token"], "token_endpoint_auth_method": "none" }),
    )
    .await;
    assert_eq!(status, 201, "{client}");
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let (status, started) =
        token_with(browser().post(auth.device_authorization_endpoint()).form(&[
            ("client_id", client_id.as_str()),
            ("scope", "mcp:read"),
            ("resource", "http://127.0.0.1:1/mcp"),
        ]))
        .await;
    assert_eq!(status, 200, "{started}");
    (client_id, started)
}

/// A poll of the token endpoint for `started`'s device code.
async fn poll(auth: &AuthServer, client_id: &str, started: &Value) -> (u16, Value) {
    let device_code = started["device_code"].as_str().unwrap();
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code),
        ("client_id", client_id),
    ];
    token(auth, &form).await
}

/// Polls made faster than the interval are told to slow down. The interval
/// is a minute here: no machine is slow enough to poll twice in a row
/// more than a minute apart.
#[tokio::test]
async fn device_polls_faster_than_the_interval_slow_down() {
    let auth = AuthServer::builder()
        .device_authorization(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let (client_id, started) = start_device(&auth).await;
    assert_eq!(started["interval"], 60);
    let (status, body) = poll(&auth, &client_id, &started).await;
    assert_eq!((status, error_of(&body)), (400, "authorization_pending"));
    let (status, body) = poll(&auth, &client_id, &started).await;
    assert_eq!((status, error_of(&body)), (400, "slow_down"));
    auth.stop().await;
}

/// RFC 8628 at the HTTP level: a public client registered without a redirect
/// URI, a device code, a person's wrong password and approval on the
/// verification page, then tokens once. Every poll waits the interval.
#[tokio::test]
async fn device_grant_polls_and_the_verification_page() {
    let interval = Duration::from_secs(1);
    let auth = AuthServer::builder()
        .login(LoginMode::Interactive)
        .device_authorization(interval)
        .start()
        .await
        .unwrap();
    let (_, metadata) = crate::oauth_support::get_json(&auth.metadata_urls()[0]).await;
    assert_eq!(
        metadata["device_authorization_endpoint"],
        auth.device_authorization_endpoint()
    );
    let (client_id, started) = start_device(&auth).await;
    assert_eq!(started["interval"], 1);
    let user_code = started["user_code"].as_str().unwrap();
    let (status, body) = poll(&auth, &client_id, &started).await;
    assert_eq!((status, error_of(&body)), (400, "authorization_pending"));

    let http = browser();
    let page = auth
        .device_authorization_endpoint()
        .replace("device_authorization", "device");
    let (status, _) = token_with(http.post(&page).form(&[
        ("user_code", user_code),
        ("username", "demo"),
        ("password", "nope"),
    ]))
    .await;
    assert_eq!(status, 401);
    assert_eq!(auth.device_requests()[0].status, DeviceStatus::Pending);
    let typed = user_code.to_lowercase().replace('-', "");
    let (status, _) = token_with(http.post(&page).form(&[
        ("user_code", typed.as_str()),
        ("username", "demo"),
        ("password", "demo"),
        ("decision", "approve"),
    ]))
    .await;
    assert_eq!(status, 200);

    tokio::time::sleep(interval).await;
    let (status, tokens) = poll(&auth, &client_id, &started).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["refresh_token"].is_string());
    assert_eq!(
        auth.tokens()[0].resource.as_deref(),
        Some("http://127.0.0.1:1/mcp")
    );
    assert_eq!(auth.tokens()[0].grant_type, "device_code");
    tokio::time::sleep(interval).await;
    let (_, again) = poll(&auth, &client_id, &started).await;
    assert_eq!(
        error_of(&again),
        "invalid_grant",
        "a device code is redeemed once"
    );
    auth.stop().await;
}
