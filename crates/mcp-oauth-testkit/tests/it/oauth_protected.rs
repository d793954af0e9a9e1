//! The OAuth-protected MCP server and the embedded (2025-03-26)
//! authorization server.

use std::time::Duration;

use mcp_oauth_testkit::{
    AuthRequestKind, AuthServer, MetadataLocation, PrmMode, ServerMode, TestServer,
};
use serde_json::{Value, json};

use crate::oauth_support::{browser, full_flow, get_json};
use crate::{SseReader, initialize_params, message, post, request};

const VERSION: &str = "2025-06-18";

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `initialize` with an optional token; the response.
async fn initialize(server: &TestServer, token: Option<&str>) -> reqwest::Response {
    let init = request(1, "initialize", initialize_params(VERSION));
    match token {
        Some(token) => post(&server.url(), &init, &[("authorization", &bearer(token))]).await,
        None => post(&server.url(), &init, &[]).await,
    }
}

/// `initialize` that must succeed; returns the session id.
async fn open_session(server: &TestServer, token: &str) -> String {
    let response = initialize(server, Some(token)).await;
    assert_eq!(response.status(), 200, "{}", challenge(&response));
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = message(response).await;
    session
}

/// `tools/call` in a session.
async fn call(
    server: &TestServer,
    token: &str,
    session: &str,
    tool: &str,
    args: Value,
) -> reqwest::Response {
    let params = json!({ "name": tool, "arguments": args });
    let auth = bearer(token);
    let headers = [
        ("authorization", auth.as_str()),
        ("mcp-session-id", session),
        ("mcp-protocol-version", VERSION),
    ];
    post(&server.url(), &request(2, "tools/call", params), &headers).await
}

/// A token for `server` with `scope`, by the whole flow.
async fn token_for(auth: &AuthServer, server: &TestServer, scope: &str) -> String {
    let url = server.url();
    let mut extra = vec![("resource", url.as_str())];
    if !scope.is_empty() {
        extra.push(("scope", scope));
    }
    let (_, body) = full_flow(auth, &extra).await;
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn cold_flow_request_by_request() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    let base = server.base_url();
    let prm_url = format!("{base}/.well-known/oauth-protected-resource/mcp");

    let response = initialize(&server, None).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response),
        format!(r#"Bearer resource_metadata="{prm_url}""#)
    );

    let (status, prm) = get_json(&prm_url).await;
    assert_eq!(status, 200);
    assert_eq!(
        prm,
        json!({
            "resource": server.url(),
            "authorization_servers": [auth.issuer()],
            "scopes_supported": ["mcp:read", "mcp:write", "offline_access"],
            "bearer_methods_supported": ["header"],
        })
    );
    let as_metadata = format!("{}/.well-known/oauth-authorization-server", auth.issuer());
    assert_eq!(get_json(&as_metadata).await.0, 200);
    let token = token_for(&auth, &server, "mcp:read").await;
    assert_eq!(
        auth.tokens()[0].resource.as_deref(),
        Some(server.url().as_str())
    );

    let session = open_session(&server, &token).await;
    let reply =
        message(call(&server, &token, &session, "echo", json!({ "text": "hi" })).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "hi");

    let mcp: Vec<(String, u16)> = server
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert_eq!(
        mcp,
        [
            ("/mcp".to_owned(), 401),
            ("/.well-known/oauth-protected-resource/mcp".to_owned(), 200),
            ("/mcp".to_owned(), 200),
            ("/mcp".to_owned(), 200),
        ]
    );
    let kinds: Vec<_> = auth.requests().iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            AuthRequestKind::Metadata,
            AuthRequestKind::Register,
            AuthRequestKind::Authorize,
            AuthRequestKind::Token
        ]
    );
    server.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn bad_tokens_are_invalid_token() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .challenge_scope("mcp:read")
        .start()
        .await
        .unwrap();
    let prm = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        server.base_url()
    );
    let response = initialize(&server, None).await;
    assert_eq!(
        challenge(&response),
        format!(r#"Bearer resource_metadata="{prm}", scope="mcp:read""#)
    );
    let response = initialize(&server, Some("made-up")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response),
        format!(
            r#"Bearer resource_metadata="{prm}", scope="mcp:read", error="invalid_token", error_description="The access token is unknown""#
        )
    );

    // Issued for another resource.
    let (_, body) = full_flow(&auth, &[("resource", "http://127.0.0.1:1/mcp")]).await;
    let response = initialize(&server, body["access_token"].as_str()).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains("another resource"));

    // No resource named: accepted (and recorded as such).
    let (_, body) = full_flow(&auth, &[]).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(initialize(&server, Some(&token)).await.status(), 200);
    assert_eq!(auth.tokens()[1].resource, None);

    auth.expire_access_tokens();
    let response = initialize(&server, Some(&token)).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).ends_with(r#"error_description="The access token expired""#));
    server.stop().await;
    auth.stop().await;

    // A zero lifetime: expired at once.
    let auth = AuthServer::builder()
        .access_token_lifetime(Duration::ZERO)
        .start()
        .await
        .unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    let token = token_for(&auth, &server, "").await;
    let response = initialize(&server, Some(&token)).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains(r#"error="invalid_token""#));
    server.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn prm_modes() {
    let auth = AuthServer::builder().start().await.unwrap();
    let inserted = "/.well-known/oauth-protected-resource/mcp";
    let root = "/.well-known/oauth-protected-resource";
    let custom = "/custom/metadata/location.json";
    let cases: [(PrmMode, Option<&str>, Option<&str>); 5] = [
        (PrmMode::PathInserted, Some(inserted), Some(inserted)),
        (PrmMode::PathInsertedUnannounced, Some(inserted), None),
        (PrmMode::Root, Some(root), Some(root)),
        (PrmMode::Custom, Some(custom), Some(custom)),
        (PrmMode::None, None, None),
    ];
    for (mode, served, announced) in cases {
        let server = TestServer::builder()
            .protected_by(&auth)
            .resource_metadata(mode)
            .start()
            .await
            .unwrap();
        let base = server.base_url();
        let response = initialize(&server, None).await;
        let expected = match announced {
            Some(path) => format!(r#"Bearer resource_metadata="{base}{path}""#),
            None => "Bearer".to_owned(),
        };
        assert_eq!(challenge(&response), expected, "{mode:?}");
        for path in [inserted, root, custom] {
            let (status, doc) = get_json(&format!("{base}{path}")).await;
            if Some(path) == served {
                assert_eq!(status, 200, "{mode:?} {path}");
                let resource = if mode == PrmMode::Root {
                    base.clone()
                } else {
                    server.url()
                };
                assert_eq!(doc["resource"], resource);
            } else if path == custom {
                // Not metadata here: protected like any other path.
                assert_eq!(status, 401, "{mode:?} {path}");
            } else {
                assert_eq!(status, 404, "{mode:?} {path}");
            }
        }
        if mode == PrmMode::Root {
            // A token for the bare origin is good for the server.
            let (_, body) = full_flow(&auth, &[("resource", base.as_str())]).await;
            assert_eq!(
                initialize(&server, body["access_token"].as_str())
                    .await
                    .status(),
                200
            );
        }
        server.stop().await;
    }

    let server = TestServer::builder()
        .protected_by(&auth)
        .prm_resource("https://evil.example.com/mcp")
        .start()
        .await
        .unwrap();
    let (_, doc) = get_json(&format!("{}{inserted}", server.base_url())).await;
    assert_eq!(doc["resource"], "https://evil.example.com/mcp");
    server.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn insufficient_scope_and_step_up() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .required_scopes(&["mcp:read"])
        .tool_scopes("add", &["mcp:write"])
        .start()
        .await
        .unwrap();
    let prm = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        server.base_url()
    );

    let unscoped = token_for(&auth, &server, "").await;
    let response = initialize(&server, Some(&unscoped)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenge(&response),
        format!(
            r#"Bearer error="insufficient_scope", scope="mcp:read", resource_metadata="{prm}""#
        )
    );

    let read = token_for(&auth, &server, "mcp:read").await;
    let session = open_session(&server, &read).await;
    let echo = call(&server, &read, &session, "echo", json!({ "text": "x" })).await;
    assert_eq!(echo.status(), 200);
    let add = call(&server, &read, &session, "add", json!({ "a": 1, "b": 2 })).await;
    assert_eq!(add.status(), 403);
    assert_eq!(
        challenge(&add),
        format!(
            r#"Bearer error="insufficient_scope", scope="mcp:read mcp:write", resource_metadata="{prm}""#
        )
    );

    let write = token_for(&auth, &server, "mcp:read mcp:write").await;
    let add = call(&server, &write, &session, "add", json!({ "a": 1, "b": 2 })).await;
    assert_eq!(add.status(), 200);
    assert_eq!(message(add).await["result"]["content"][0]["text"], "3");
    server.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn legacy_sse_is_protected() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    let get = browser()
        .get(server.url())
        .header("accept", "text/event-stream");
    let response = get.send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response),
        format!(
            r#"Bearer resource_metadata="{}/.well-known/oauth-protected-resource/sse""#,
            server.base_url()
        )
    );
    let token = token_for(&auth, &server, "").await;
    let response = browser()
        .get(server.url())
        .header("accept", "text/event-stream")
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = SseReader::new(response);
    let (_, endpoint) = events.next().await.unwrap();
    let endpoint = format!("{}{endpoint}", server.base_url());
    let init = request(1, "initialize", initialize_params("2024-11-05"));
    assert_eq!(post(&endpoint, &init, &[]).await.status(), 401);
    let auth_header = bearer(&token);
    let accepted = post(&endpoint, &init, &[("authorization", &auth_header)]).await;
    assert_eq!(accepted.status(), 202);
    let (_, data) = events.next().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&data).unwrap()["id"], 1);
    drop(events);
    server.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn embedded_auth_2025_03_26() {
    let server = TestServer::builder()
        .with_embedded_auth(AuthServer::builder())
        .resource_metadata(PrmMode::None)
        .start()
        .await
        .unwrap();
    let auth = server.auth().expect("embedded");
    let base = server.base_url();
    assert_eq!(auth.issuer(), base);
    assert_eq!(auth.base_url(), base);

    let response = initialize(&server, None).await;
    assert_eq!(
        (response.status().as_u16(), challenge(&response)),
        (401, "Bearer".to_owned())
    );
    let (status, _) = get_json(&format!("{base}/.well-known/oauth-protected-resource/mcp")).await;
    assert_eq!(status, 404);
    let (status, doc) = get_json(&format!("{base}/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, 200);
    assert_eq!(doc["token_endpoint"], format!("{base}/token"));
    let token = token_for(auth, &server, "").await;
    assert_eq!(initialize(&server, Some(&token)).await.status(), 200);

    // The MCP log has the MCP and PRM requests, the AS log the rest.
    let mcp: Vec<(String, u16)> = server
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert_eq!(
        mcp,
        [
            ("/mcp".to_owned(), 401),
            ("/.well-known/oauth-protected-resource/mcp".to_owned(), 404),
            ("/mcp".to_owned(), 200),
        ]
    );
    let kinds: Vec<_> = auth.requests().iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            AuthRequestKind::Metadata,
            AuthRequestKind::Register,
            AuthRequestKind::Authorize,
            AuthRequestKind::Token
        ]
    );
    server.stop().await;

    // No metadata at all: the default endpoints still work.
    let server = TestServer::builder()
        .with_embedded_auth(AuthServer::builder().metadata(&[]))
        .resource_metadata(PrmMode::None)
        .start()
        .await
        .unwrap();
    let auth = server.auth().unwrap();
    let base = server.base_url();
    assert_eq!(
        get_json(&format!("{base}/.well-known/oauth-authorization-server"))
            .await
            .0,
        404
    );
    assert_eq!(auth.registration_endpoint(), format!("{base}/register"));
    let token = token_for(auth, &server, "mcp:read").await;
    assert_eq!(initialize(&server, Some(&token)).await.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn embedded_auth_with_prm_and_an_issuer_path() {
    let server = TestServer::builder()
        .with_embedded_auth(
            AuthServer::builder()
                .issuer_path("/oauth")
                .metadata(&[MetadataLocation::OidcAppend]),
        )
        .start()
        .await
        .unwrap();
    let auth = server.auth().unwrap();
    let base = server.base_url();
    let (_, prm) = get_json(&format!("{base}/.well-known/oauth-protected-resource/mcp")).await;
    assert_eq!(
        prm["authorization_servers"],
        json!([format!("{base}/oauth")])
    );
    let (status, doc) = get_json(&format!("{base}/oauth/.well-known/openid-configuration")).await;
    assert_eq!(status, 200);
    assert_eq!(doc["issuer"], format!("{base}/oauth"));
    let token = token_for(auth, &server, "").await;
    assert_eq!(initialize(&server, Some(&token)).await.status(), 200);
    server.stop().await;
}
