//! One instance on a memory store: the callback is refused for another
//! session, a replay, an expired attempt, an unknown state, a forged
//! `iss`, the server's `error=`, each with nothing stored; tools are called;
//! the session cookie is required and checked.

use std::time::Duration;

use mcp_oauth_testkit::{AuthServer, IssMode};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    User, approve, begin, browser, callback, connect, fleet, get, json_of, login, protected, tools,
};

/// The 400 of a refused callback: its `error` and `reason`.
async fn refused(answer: reqwest::Response) -> (String, String) {
    let (status, body) = json_of(answer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    (
        body["error"].as_str().unwrap().to_owned(),
        body["reason"].as_str().unwrap().to_owned(),
    )
}

async fn not_connected(
    http: &reqwest::Client,
    at: &crate::support::Instance,
    user: &User,
    server: &str,
) {
    let (status, body) = tools(http, at, user, server).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "error": "not_connected" })
        )
    );
}

#[tokio::test]
async fn a_callback_is_refused_for_another_session_a_replay_an_expired_attempt_an_unknown_state_a_forged_iss_and_an_error()
 {
    let (auth, server) = protected(AuthServer::builder().iss_parameter(IssMode::On)).await;
    let (_wrong_auth, mixed_up) =
        protected(AuthServer::builder().iss_parameter(IssMode::Wrong)).await;
    let (server, mixed_up) = (server.url(), mixed_up.url());
    let instance = &fleet(1, &["--store", "memory"], &[])[0];
    let http = browser();
    let alice = login(&http, instance, "alice").await;
    let bob = login(&http, instance, "bob").await;

    // Alice's callback, presented with Bob's cookie: refused, and hers stays.
    let authorize = begin(&http, instance, &alice, &server).await;
    let query = approve(&http, &authorize).await;
    let (error, reason) = refused(callback(&http, instance, &bob, &query).await).await;
    assert_eq!(error, "callback_refused");
    assert!(reason.contains("begun by another session"), "{reason}");
    not_connected(&http, instance, &bob, &server).await;
    not_connected(&http, instance, &alice, &server).await;
    let answer = callback(&http, instance, &alice, &query).await;
    assert_eq!(answer.status(), StatusCode::FOUND);
    let (status, names) = tools(&http, instance, &alice, &server).await;
    assert_eq!(status, StatusCode::OK, "{names}");

    // Replayed, by its own session.
    let (error, reason) = refused(callback(&http, instance, &alice, &query).await).await;
    assert_eq!(error, "callback_refused");
    assert!(reason.contains("completed already"), "{reason}");

    // A state nobody began.
    let (error, reason) =
        refused(callback(&http, instance, &bob, "code=x&state=never-begun").await).await;
    assert_eq!(error, "callback_refused");
    assert!(reason.contains("no sign-in was begun"), "{reason}");
    not_connected(&http, instance, &bob, &server).await;

    // The authorization server's `iss` is another issuer's: a mix-up.
    let authorize = begin(&http, instance, &bob, &mixed_up).await;
    let query = approve(&http, &authorize).await;
    let (error, reason) = refused(callback(&http, instance, &bob, &query).await).await;
    assert_eq!(error, "insecure_callback");
    assert!(reason.contains("mix-up"), "{reason}");
    not_connected(&http, instance, &bob, &mixed_up).await;

    // The authorization server's own refusal (with its `iss`: it says it
    // sends one, so an answer without is refused as a forgery).
    let authorize = begin(&http, instance, &bob, &server).await;
    let state = authorize
        .query_pairs()
        .find(|(name, _)| name == "state")
        .unwrap()
        .1;
    let iss: String = url::form_urlencoded::byte_serialize(auth.issuer().as_bytes()).collect();
    let query = format!("error=access_denied&error_description=No+thanks&state={state}&iss={iss}");
    let (error, reason) = refused(callback(&http, instance, &bob, &query).await).await;
    assert_eq!(error, "authorization_denied");
    assert!(reason.contains("access_denied (No thanks)"), "{reason}");
    not_connected(&http, instance, &bob, &server).await;

    // An attempt whose lifetime (one second here) is over.
    let brief = &fleet(1, &["--store", "memory", "--attempt-lifetime", "1"], &[])[0];
    let carol = login(&http, brief, "carol").await;
    let authorize = begin(&http, brief, &carol, &server).await;
    let query = approve(&http, &authorize).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (error, reason) = refused(callback(&http, brief, &carol, &query).await).await;
    assert_eq!(error, "callback_refused");
    assert!(reason.contains("expired"), "{reason}");
    not_connected(&http, brief, &carol, &server).await;
}

#[tokio::test]
async fn a_tool_is_called_with_the_json_object_of_the_body() {
    let (_auth, server) = protected(AuthServer::builder()).await;
    let server = server.url();
    let instance = &fleet(1, &["--store", "memory"], &[])[0];
    let http = browser();
    let alice = login(&http, instance, "alice").await;
    let call = |user: &User, body: &str| {
        http.post(format!("{}/call", instance.base))
            .query(&[("server", server.as_str()), ("tool", "echo")])
            .header(reqwest::header::COOKIE, &user.cookie)
            .body(body.to_owned())
            .send()
    };
    let (status, body) = json_of(call(&alice, r#"{"text": "hi"}"#).await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({ "error": "not_connected" })
        )
    );

    connect(&http, (instance, instance), &alice, &server).await;
    let (status, body) = json_of(call(&alice, r#"{"text": "hi"}"#).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["content"][0]["text"], "hi", "{body}");
    assert_ne!(body["isError"], true, "{body}");

    for not_an_object in [r#"["hi"]"#, "hi", ""] {
        let (status, body) = json_of(call(&alice, not_an_object).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_arguments");
    }
}

#[tokio::test]
async fn the_session_cookie_is_required_signed_and_shown_escaped() {
    let (_auth, server) = protected(AuthServer::builder()).await;
    let server = server.url();
    let instance = &fleet(1, &["--store", "memory"], &[])[0];
    let http = browser();

    for path in ["/connect", "/tools"] {
        let (status, body) =
            json_of(get(&http, instance, None, path, &[("server", &server)]).await).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "not_signed_in" })
            )
        );
    }
    let mut mallory = login(&http, instance, "mallory").await;
    // The same cookie naming another user: the signature no longer holds.
    let (name, value) = mallory.cookie.split_once('=').unwrap();
    let mut parts: Vec<String> = value.split('.').map(str::to_owned).collect();
    parts[1] = "YWxpY2U".to_owned(); // "alice"
    mallory.cookie = format!("{name}={}", parts.join("."));
    let answer = get(
        &http,
        instance,
        Some(&mallory),
        "/tools",
        &[("server", &server)],
    )
    .await;
    assert_eq!(json_of(answer).await.1, json!({ "error": "not_signed_in" }));

    let odd = login(&http, instance, "<b>Zoë</b> & \"co\"").await;
    let page = get(&http, instance, Some(&odd), "/", &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("&lt;b&gt;Zoë&lt;/b&gt; &amp; &quot;co&quot;"),
        "{page}"
    );
    assert!(!page.contains("<b>Zoë"), "{page}");

    let (status, body) =
        json_of(get(&http, instance, None, "/login", &[("user", " x")]).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_user");
}
