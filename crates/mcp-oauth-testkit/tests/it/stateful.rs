//! Stateful Streamable HTTP: initialize, sessions, tools, resources, prompts.

use mcp_oauth_testkit::{ResponseStyle, ServerMode, TestServer};
use serde_json::{Value, json};

use crate::{SseReader, content_type, initialize_params, message, post, request};

/// Initializes and returns the session id.
async fn initialize(url: &str, version: &str) -> (String, Value) {
    let response = post(
        url,
        &request(1, "initialize", initialize_params(version)),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("Mcp-Session-Id on initialize")
        .to_owned();
    let reply = message(response).await;
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let negotiated = reply["result"]["protocolVersion"]
        .as_str()
        .unwrap_or(version);
    let headers = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", negotiated),
    ];
    assert_eq!(post(url, &initialized, &headers).await.status(), 202);
    (session, reply)
}

async fn call(url: &str, session: &str, id: u64, method: &str, params: Value) -> Value {
    let headers = [
        ("mcp-session-id", session),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let response = post(url, &request(id, method, params), &headers).await;
    assert_eq!(response.status(), 200);
    message(response).await
}

async fn round_trip(style: ResponseStyle) {
    let server = TestServer::builder()
        .responses(style)
        .start()
        .await
        .unwrap();
    let url = server.url();
    let (session, init) = initialize(&url, "2025-06-18").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "mcp-oauth-testkit");
    assert!(init["result"]["capabilities"]["tools"].is_object());

    let tools = call(&url, &session, 2, "tools/list", json!({})).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "add", "fail"]);
    assert!(tools["result"]["tools"][0]["inputSchema"]["properties"]["text"].is_object());
    assert!(
        tools["result"].get("resultType").is_none(),
        "legacy results have no resultType"
    );

    let echo = json!({ "name": "echo", "arguments": { "text": "hi there" } });
    let echoed = call(&url, &session, 3, "tools/call", echo).await;
    assert_eq!(echoed["id"], 3);
    assert_eq!(
        echoed["result"]["content"],
        json!([{ "type": "text", "text": "hi there" }])
    );
    let add = json!({ "name": "add", "arguments": { "a": 2, "b": 3 } });
    let sum = call(&url, &session, 4, "tools/call", add).await;
    assert_eq!(sum["result"]["content"][0]["text"], "5");
    let failed = call(&url, &session, 5, "tools/call", json!({ "name": "fail" })).await;
    assert_eq!(failed["result"]["isError"], true);
    assert_eq!(
        failed["result"]["content"][0]["text"],
        "this tool always fails"
    );
    let unknown = call(&url, &session, 6, "tools/call", json!({ "name": "nope" })).await;
    assert_eq!(unknown["error"]["code"], -32602);
    assert_eq!(unknown["error"]["message"], "Unknown tool: nope");
    let missing = json!({ "name": "echo", "arguments": {} });
    let missing = call(&url, &session, 7, "tools/call", missing).await;
    assert_eq!(missing["error"]["code"], -32602);
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text")
    );

    server.stop().await;
}

#[tokio::test]
async fn json_round_trip() {
    round_trip(ResponseStyle::Json).await;
}

#[tokio::test]
async fn sse_round_trip() {
    round_trip(ResponseStyle::Sse).await;
}

#[tokio::test]
async fn sse_responses_are_event_streams() {
    let server = TestServer::builder()
        .responses(ResponseStyle::Sse)
        .start()
        .await
        .unwrap();
    let url = server.url();
    let (session, _) = initialize(&url, "2025-11-25").await;
    let headers = [("mcp-session-id", session.as_str())];
    let response = post(&url, &request(2, "ping", json!({})), &headers).await;
    assert!(content_type(&response).starts_with("text/event-stream"));
    let mut events = SseReader::new(response);
    let (event, data) = events.next().await.unwrap();
    assert_eq!(event, "message");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["result"],
        json!({})
    );
    assert!(
        events.next().await.is_none(),
        "the stream ends after the response"
    );
    server.stop().await;
}

#[tokio::test]
async fn resources_prompts_and_ping() {
    let server = TestServer::builder().start().await.unwrap();
    let url = server.url();
    let (session, _) = initialize(&url, "2025-03-26").await;
    let list = call(&url, &session, 2, "resources/list", json!({})).await;
    assert_eq!(list["result"]["resources"][0]["uri"], "test://hello");
    let read = call(
        &url,
        &session,
        3,
        "resources/read",
        json!({ "uri": "test://hello" }),
    )
    .await;
    assert_eq!(
        read["result"]["contents"][0]["text"],
        "Hello from the testkit"
    );
    let absent = call(
        &url,
        &session,
        4,
        "resources/read",
        json!({ "uri": "test://x" }),
    )
    .await;
    assert_eq!(absent["error"]["code"], -32002);
    let prompts = call(&url, &session, 5, "prompts/list", json!({})).await;
    assert_eq!(
        prompts["result"]["prompts"][0]["arguments"][0]["required"],
        true
    );
    let greet = json!({ "name": "greet", "arguments": { "name": "Ada" } });
    let greeting = call(&url, &session, 6, "prompts/get", greet).await;
    let text = &greeting["result"]["messages"][0]["content"]["text"];
    assert_eq!(text, "Hello, Ada!");
    let pong = call(&url, &session, 7, "ping", json!({})).await;
    assert_eq!(pong["result"], json!({}));
    let nope = call(&url, &session, 8, "no/such", json!({})).await;
    assert_eq!(nope["error"]["code"], -32601);
    server.stop().await;
}

#[tokio::test]
async fn sessions_are_enforced_and_deletable() {
    let server = TestServer::builder().start().await.unwrap();
    let url = server.url();
    let list = request(2, "tools/list", json!({}));
    assert_eq!(post(&url, &list, &[]).await.status(), 400);
    let unknown = [("mcp-session-id", "nope")];
    assert_eq!(post(&url, &list, &unknown).await.status(), 404);
    let (session, _) = initialize(&url, "2025-06-18").await;
    let bad_version = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "1999-01-01"),
    ];
    assert_eq!(post(&url, &list, &bad_version).await.status(), 400);
    assert_eq!(server.active_sessions(), 1);

    // The optional server stream stays open until the session ends.
    let get = crate::client().get(&url).header("mcp-session-id", &session);
    let stream = tokio::time::timeout(crate::STEP, get.send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(content_type(&stream).starts_with("text/event-stream"));
    let no_session = crate::client().get(&url).send().await.unwrap();
    assert_eq!(no_session.status(), 400);

    let delete = crate::client()
        .delete(&url)
        .header("mcp-session-id", &session);
    assert_eq!(delete.send().await.unwrap().status(), 200);
    assert!(
        SseReader::new(stream).next().await.is_none(),
        "GET stream ends with the session"
    );
    let after = [("mcp-session-id", session.as_str())];
    assert_eq!(post(&url, &list, &after).await.status(), 404);
    assert_eq!(server.active_sessions(), 0);

    let log = server.requests();
    let methods: Vec<_> = log.iter().map(|r| r.http_method.as_str()).collect();
    assert!(methods.contains(&"DELETE") && methods.contains(&"GET"));
    let init = log
        .iter()
        .find(|r| r.rpc_method.as_deref() == Some("initialize"))
        .unwrap();
    assert_eq!((init.status, init.session_id.as_deref()), (200, None));
    let notified = log
        .iter()
        .find(|r| r.rpc_method.as_deref() == Some("notifications/initialized"))
        .unwrap();
    assert_eq!(notified.status, 202);
    assert_eq!(notified.protocol_version.as_deref(), Some("2025-06-18"));
    server.clear_requests();
    assert!(server.requests().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn initialize_negotiates_version() {
    let server = TestServer::builder()
        .protocol_versions(&["2025-03-26", "2025-06-18"])
        .start()
        .await
        .unwrap();
    let (_, init) = initialize(&server.url(), "2099-01-01").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    let (_, init) = initialize(&server.url(), "2025-03-26").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
    server.stop().await;

    let server = TestServer::builder().start().await.unwrap();
    let (_, init) = initialize(&server.url(), "2026-07-28").await;
    assert_eq!(
        init["result"]["protocolVersion"], "2025-11-25",
        "initialize never picks 2026"
    );
    server.stop().await;
}

#[tokio::test]
async fn discover_is_rejected_like_a_legacy_server() {
    let server = TestServer::builder()
        .protocol_versions(&["2025-06-18", "2025-11-25"])
        .start()
        .await
        .unwrap();
    let discover = json!({
        "jsonrpc": "2.0", "id": 9, "method": "server/discover",
        "params": { "_meta": { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } },
    });
    let response = post(
        &server.url(),
        &discover,
        &[("mcp-protocol-version", "2026-07-28")],
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        message(response).await,
        json!({"jsonrpc":"2.0","id":9,"error":{"code":-32601,"message":"Method not found"}})
    );
    server.stop().await;
}

#[tokio::test]
async fn pagination() {
    let server = TestServer::builder()
        .tools_page_size(2)
        .start()
        .await
        .unwrap();
    let url = server.url();
    let (session, _) = initialize(&url, "2025-06-18").await;
    let first = call(&url, &session, 2, "tools/list", json!({})).await;
    assert_eq!(first["result"]["tools"].as_array().unwrap().len(), 2);
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_owned();
    let second = call(&url, &session, 3, "tools/list", json!({ "cursor": cursor })).await;
    assert_eq!(second["result"]["tools"][0]["name"], "fail");
    assert!(second["result"].get("nextCursor").is_none());
    let bad = call(&url, &session, 4, "tools/list", json!({ "cursor": "zz" })).await;
    assert_eq!(bad["error"]["code"], -32602);
    server.stop().await;
}

#[tokio::test]
async fn bearer_is_required() {
    let server = TestServer::builder()
        .mode(ServerMode::Stateful)
        .bearer("s3cret")
        .start()
        .await
        .unwrap();
    let init = request(1, "initialize", initialize_params("2025-06-18"));
    let denied = post(&server.url(), &init, &[]).await;
    assert_eq!(denied.status(), 401);
    let challenge = denied.headers().get("www-authenticate").unwrap();
    assert_eq!(challenge, r#"Bearer realm="mcp-testkit""#);
    let wrong = post(&server.url(), &init, &[("authorization", "Bearer nope")]).await;
    assert_eq!(wrong.status(), 401);
    let ok = post(&server.url(), &init, &[("authorization", "Bearer s3cret")]).await;
    assert_eq!(ok.status(), 200);
    let log = server.requests();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        [401, 401, 200]
    );
    assert_eq!(log[2].authorization.as_deref(), Some("Bearer s3cret"));
    server.stop().await;
}
