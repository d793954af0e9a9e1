//! The 2026-07-28 lifecycle: `server/discover` and per-request `_meta`.

use mcp_oauth_testkit::{Fault, ResponseStyle, ServerMode, TestServer, TestSkill, ToolAnswer};
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

/// A modern request: `_meta` in the body, version, method and name (of a
/// tool, prompt or resource) in the headers.
async fn modern(url: &str, id: u64, method: &str, mut params: Value) -> reqwest::Response {
    params["_meta"] = meta(MODERN);
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut headers = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    if !name.is_empty() {
        headers.push(("mcp-name", &name));
    }
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

#[tokio::test]
async fn the_standard_headers_are_checked_against_the_body() {
    let schema = json!({ "type": "object", "properties": {
        "region": { "type": "string", "x-mcp-header": "Region" } } });
    let server = TestServer::builder()
        .mode(ServerMode::Stateless)
        .tool_with_schema("lookup", "x", schema, ToolAnswer::Text("ok".into()))
        .start()
        .await
        .unwrap();
    let url = server.url();
    let mut call = request(
        1,
        "tools/call",
        json!({ "name": "lookup",
        "arguments": { "region": "Zürich" }, "_meta": meta(MODERN) }),
    );
    let base = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", "lookup"),
    ];
    let refused = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 400);
        message(response).await["error"]["code"].clone()
    };
    // No Mcp-Param-Region for an annotated argument.
    assert_eq!(refused(post(&url, &call, &base).await).await, -32020);
    let mut headers = base.to_vec();
    headers.push(("mcp-param-region", "=?base64?WsO8cmljaA==?="));
    let reply = message(post(&url, &call, &headers).await).await;
    assert_eq!(reply["result"]["content"][0]["text"], "ok");
    // The header must name the tool the body names.
    headers[2] = ("mcp-name", "other");
    assert_eq!(refused(post(&url, &call, &headers).await).await, -32020);
    // A null argument has no header.
    call["params"]["arguments"]["region"] = Value::Null;
    headers[2] = ("mcp-name", "lookup");
    assert_eq!(refused(post(&url, &call, &headers).await).await, -32020);
    assert_eq!(
        server.requests()[1].mcp_params,
        [(
            "mcp-param-region".to_owned(),
            "=?base64?WsO8cmljaA==?=".to_owned()
        )]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_first_request_is_refused_as_an_unsupported_version_once() {
    let server = TestServer::builder()
        .mode(ServerMode::Stateless)
        .fault(Fault::UnsupportedVersionOnce)
        .start()
        .await
        .unwrap();
    let first = modern(&server.url(), 1, "server/discover", json!({})).await;
    assert_eq!(first.status(), 400);
    let error = message(first).await["error"].clone();
    assert_eq!(error["code"], -32022);
    assert_eq!(
        error["data"]["supported"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        MODERN
    );
    let second = modern(&server.url(), 2, "server/discover", json!({})).await;
    assert_eq!(second.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn a_tool_that_asks_first_wants_its_state_back_unchanged() {
    let server = TestServer::builder()
        .mode(ServerMode::Stateless)
        .tool("confirm", "x", ToolAnswer::AskFirst("Go on?".into()))
        .start()
        .await
        .unwrap();
    let url = server.url();
    let first = message(modern(&url, 1, "tools/call", json!({ "name": "confirm" })).await).await;
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required");
    assert_eq!(
        result["inputRequests"]["confirm"]["method"],
        "elicitation/create"
    );
    let state = result["requestState"].as_str().unwrap().to_owned();
    let answer = json!({ "confirm": { "action": "decline" } });
    let retry = |id, state: Value| {
        let url = url.clone();
        let params = json!({ "name": "confirm", "inputResponses": answer, "requestState": state });
        async move { message(modern(&url, id, "tools/call", params).await).await }
    };
    let same_id = retry(1, json!(state)).await;
    assert_eq!(same_id["error"]["code"], -32602);
    let reencoded: Value = serde_json::from_str(&state).unwrap();
    let changed = retry(2, json!(reencoded.to_string())).await;
    assert_eq!(changed["error"]["code"], -32602);
    let done = retry(3, json!(state)).await;
    assert_eq!(done["result"]["content"][0]["text"], "confirm: decline");
    server.stop().await;
}

#[tokio::test]
async fn skills_are_listed_and_served_with_digest_and_size() {
    let server = TestServer::builder()
        .mode(ServerMode::Stateless)
        .skill(TestSkill::new("notes", "Takes notes", "Body.\n").file("a.md", "A\n"))
        .start()
        .await
        .unwrap();
    let url = server.url();
    let discover = message(modern(&url, 1, "server/discover", json!({})).await).await;
    assert!(
        discover["result"]["capabilities"]["extensions"]["io.modelcontextprotocol/skills"]
            .is_object()
    );
    let list = message(modern(&url, 2, "skills/list", json!({})).await).await;
    let skill = &list["result"]["skills"][0];
    assert_eq!(skill["uri"], "skill://notes/SKILL.md");
    assert_eq!(skill["frontmatter"]["name"], "notes");
    let text = "---\nname: notes\ndescription: Takes notes\n---\n\nBody.\n";
    assert_eq!(skill["resources"][0]["size"], text.len());
    let read = modern(
        &url,
        3,
        "resources/read",
        json!({ "uri": "skill://notes/SKILL.md" }),
    )
    .await;
    assert_eq!(message(read).await["result"]["contents"][0]["text"], text);
    server.stop().await;
}
