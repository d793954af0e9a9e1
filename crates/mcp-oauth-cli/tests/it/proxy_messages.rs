//! `mcp-oauth proxy`: what is not a request from the host also goes
//! through — server notifications and requests, host notifications.

use mcp_oauth_testkit::{Fault, ResponseStyle, TestServer};
use serde_json::json;

use crate::support::{echo, is_answer, server, server_saw, start_proxy};

#[tokio::test]
async fn server_notifications_during_a_call_reach_the_host_before_its_result() {
    let server = server(ResponseStyle::Sse, Fault::NotifyDuringCall).await;
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
    let mut call = echo(2, "with progress");
    call["params"]["_meta"] = json!({ "progressToken": "tok-1" });
    host.tell(call).await;
    let (before, result) = host.answer_to(&json!(2)).await;
    assert_eq!(result["result"]["content"][0]["text"], "with progress");
    let methods: Vec<_> = before.iter().map(|m| m["method"].clone()).collect();
    assert_eq!(
        methods,
        ["notifications/message", "notifications/progress"],
        "{before:#?}"
    );
    assert_eq!(before[0]["params"]["data"], "calling echo");
    assert_eq!(before[1]["params"]["progressToken"], "tok-1");
    assert!(host.finish(proxy).await.success());
    server.stop().await;
}

#[tokio::test]
async fn server_notifications_on_the_session_stream_reach_the_host() {
    // JSON answers: the server has only the GET stream to notify on.
    let server = server(ResponseStyle::Json, Fault::NotifyDuringCall).await;
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
    host.tell(echo(2, "first")).await;
    host.tell(echo(3, "second")).await;
    // Two streams: the notifications and the answers may interleave in any
    // order, but every one of them arrives, once.
    let mut notes = Vec::new();
    let mut answers = Vec::new();
    while notes.len() < 2 || answers.len() < 2 {
        let message = host.next().await;
        if is_answer(&message) {
            answers.push(message);
        } else {
            notes.push(message);
        }
    }
    for note in &notes {
        assert_eq!(note["method"], "notifications/message", "{note}");
        assert_eq!(note["params"]["data"], "calling echo");
    }
    let mut ids: Vec<_> = answers.iter().map(|a| a["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [2, 3]);
    assert!(host.finish(proxy).await.success());
    let streams = server
        .requests()
        .iter()
        .filter(|r| r.http_method == "GET")
        .count();
    assert!(streams >= 1, "the proxy opened the session's stream");
    server.stop().await;
}

#[tokio::test]
async fn host_notifications_reach_the_server() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
    host.tell(json!({ "jsonrpc": "2.0", "method": "notifications/roots/list_changed" }))
        .await;
    host.tell(json!({
        "jsonrpc": "2.0", "method": "notifications/progress",
        "params": { "progressToken": "host-1", "progress": 1 }
    }))
    .await;
    server_saw(&server, "notifications/roots/list_changed", 1).await;
    server_saw(&server, "notifications/progress", 1).await;
    // Nothing answers a notification: the next line answers the next request.
    let listed = host
        .ask(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .await;
    assert!(listed["result"]["tools"].is_array());
    assert!(host.finish(proxy).await.success());
    let notifications: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| {
            r.rpc_method
                .as_deref()
                .is_some_and(|m| m.starts_with("notifications/"))
        })
        .collect();
    // initialized, then the host's two.
    assert_eq!(notifications.len(), 3, "{notifications:#?}");
    for notification in &notifications {
        assert_eq!(notification.status, 202, "{notification:#?}");
        assert!(notification.session_id.is_some(), "{notification:#?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_host_answers_a_server_request_through_the_proxy() {
    let server = server(ResponseStyle::Sse, Fault::ServerPing).await;
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
    host.tell(echo(2, "after the ping")).await;
    let ping = host.next().await;
    assert_eq!(ping["method"], "ping", "{ping}");
    assert!(ping["id"].is_string(), "a request: {ping}");
    // The server answers the call only once its ping is answered.
    host.tell(json!({ "jsonrpc": "2.0", "id": ping["id"], "result": {} }))
        .await;
    let (before, result) = host.answer_to(&json!(2)).await;
    assert!(before.is_empty(), "{before:#?}");
    assert_eq!(result["result"]["content"][0]["text"], "after the ping");
    assert!(host.finish(proxy).await.success());
    let answered = server
        .requests()
        .iter()
        .any(|r| r.rpc_is_response && r.status == 202);
    assert!(answered, "the host's answer reached the server");
    server.stop().await;
}

#[tokio::test]
async fn ignored_tools_are_hidden_from_the_host_and_their_calls_refused_headers_go_along() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let mut command = crate::support::proxy_command(&server.url(), dir.path(), "false");
    command.args([
        "--ignore-tool",
        "ad?",
        "--ignore-tool",
        "f*",
        "--header",
        "X-Tenant: acme",
    ]);
    let mut proxy = command.stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut host = crate::support::Host::of(&mut proxy);
    host.handshake().await;
    let listed = host
        .ask(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .await;
    let names: Vec<_> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["echo"], "{listed}");
    let call = json!({
        "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "add", "arguments": { "a": 1, "b": 2 } }
    });
    let refused = host.ask(call).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("add")
    );
    let echoed = host.ask(echo(4, "still here")).await;
    assert_eq!(echoed["result"]["content"][0]["text"], "still here");
    assert!(host.finish(proxy).await.success());
    let calls = server
        .requests()
        .into_iter()
        .filter(|r| r.rpc_method.as_deref() == Some("tools/call"));
    assert_eq!(
        calls.count(),
        1,
        "the refused call never reached the server"
    );
    server.stop().await;
}
