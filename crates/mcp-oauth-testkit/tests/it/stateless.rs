//! The 2026-07-28 lifecycle: `server/discover` and per-request `_meta`.

use mcp_oauth_testkit::{ResponseStyle, ServerMode, TestServer};
use serde_json::{Value, json};

use crate::{initialize_params, message, post, request};

const MODERN: &str = "2026-07-28";

fn meta(version: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientInfo": { "name": "testkit-tests", "version": "0" },
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A modern request: `_meta` in the body, version and method in the headers.
async fn modern(url: &str, id: u64, method: &str, mut params: Value) -> reqwest::Response {
    params["_meta"] = meta(MODERN);
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", method)];
    post(url, &request(id, method, params), &headers).await
}

async fn discover_answers(mode: ServerMode, style: ResponseStyle) {
    let server = TestServer::builder()
        .mode(mode)
        .responses(style)
        .start()
        .await
        .unwrap();
    let response = modern(&server.url(), 1, "server/discover", json!({})).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("mcp-session-id").is_none());
    let reply = message(response).await;
    let result = &reply["result"];
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["supportedVersions"],
        json!([
            "2024-11-05",
            "2025-03-26",
            "2025-06-18",
            "2025-11-25",
            MODERN
        ])
    );
    assert!(result["capabilities"]["tools"].is_object());
    assert_eq!(result["ttlMs"], 0);
    assert_eq!(result["cacheScope"], "private");
    let info = &result["_meta"]["io.modelcontextprotocol/serverInfo"];
    assert_eq!(info["name"], "mcp-oauth-testkit");
    server.stop().await;
}

#[tokio::test]
async fn discover_in_stateless_mode() {
    discover_answers(ServerMode::Stateless, ResponseStyle::Json).await;
    discover_answers(ServerMode::Stateless, ResponseStyle::Sse).await;
}

#[tokio::test]
async fn discover_in_stateful_mode_with_2026() {
    discover_answers(ServerMode::Stateful, ResponseStyle::Json).await;
}

#[tokio::test]
async fn modern_requests_without_session() {
    let server = TestServer::builder()
        .mode(ServerMode::Stateless)
        .start()
        .await
        .unwrap();
    let url = server.url();
    let add = json!({ "name": "add", "arguments": { "a": 1.5, "b": 2 } });
    let sum = message(modern(&url, 2, "tools/call", add).await).await;
    assert_eq!(sum["result"]["content"][0]["text"], "3.5");
    assert_eq!(sum["result"]["resultType"], "complete");
    let list = message(modern(&url, 3, "tools/list", json!({})).await).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 3);

    // No `ping` in 2026-07-28; unknown methods map to HTTP 404.
    let ping = modern(&url, 4, "ping", json!({})).await;
    assert_eq!(ping.status(), 404);
    assert_eq!(message(ping).await["error"]["code"], -32601);

    let bare = request(5, "tools/list", json!({}));
    let missing = post(&url, &bare, &[("mcp-protocol-version", MODERN)]).await;
    assert_eq!(missing.status(), 400);
    assert_eq!(message(missing).await["error"]["code"], -32602);

    let mut future = request(6, "tools/list", json!({ "_meta": meta("2099-01-01") }));
    let unsupported = post(&url, &future, &[("mcp-protocol-version", MODERN)]).await;
    assert_eq!(unsupported.status(), 400);
    let error = message(unsupported).await["error"].clone();
    assert_eq!(error["code"], -32022);
    assert_eq!(error["data"]["requested"], "2099-01-01");

    future["params"]["_meta"] = meta(MODERN);
    let no_header = post(&url, &future, &[]).await;
    assert_eq!(no_header.status(), 400);
    assert_eq!(message(no_header).await["error"]["code"], -32020);
    let headers = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
    ];
    let wrong_method = post(&url, &future, &headers).await;
    assert_eq!(message(wrong_method).await["error"]["code"], -32020);

    assert_eq!(
        crate::client().get(&url).send().await.unwrap().status(),
        405
    );
    assert_eq!(
        crate::client().delete(&url).send().await.unwrap().status(),
        405
    );

    let log = server.requests();
    assert_eq!(log[0].meta_protocol_version.as_deref(), Some(MODERN));
    assert_eq!(log[0].mcp_method.as_deref(), Some("tools/call"));
    assert!(log.iter().all(|r| r.session_id.is_none()));
    server.stop().await;
}

#[tokio::test]
async fn stateless_legacy_server() {
    let server = TestServer::builder()
        .mode(ServerMode::Stateless)
        .protocol_versions(&["2025-06-18"])
        .start()
        .await
        .unwrap();
    let url = server.url();
    let rejected = modern(&url, 1, "server/discover", json!({})).await;
    assert_eq!(rejected.status(), 400);
    assert_eq!(message(rejected).await["error"]["code"], -32601);

    let init = post(
        &url,
        &request(2, "initialize", initialize_params("2025-06-18")),
        &[],
    )
    .await;
    assert_eq!(init.status(), 200);
    assert!(
        init.headers().get("mcp-session-id").is_none(),
        "no session when stateless"
    );
    assert_eq!(
        message(init).await["result"]["protocolVersion"],
        "2025-06-18"
    );
    let echo = json!({ "name": "echo", "arguments": { "text": "x" } });
    let headers = [("mcp-protocol-version", "2025-06-18")];
    let reply = message(post(&url, &request(3, "tools/call", echo), &headers).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "x");
    server.stop().await;
}
