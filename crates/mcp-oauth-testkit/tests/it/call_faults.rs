//! Faults that shape a `tools/call`: notifications ahead of the result, and
//! answers held until the test releases them.

use mcp_oauth_testkit::{Fault, ResponseStyle, ServerMode, TestServer};
use serde_json::{Value, json};

use crate::{SseReader, client, initialize_params, message, post, request, wait_until};

/// Starts a Stateful server and opens a session: (server, session id).
async fn session(style: ResponseStyle, fault: Fault) -> (TestServer, String) {
    let server = TestServer::builder()
        .responses(style)
        .fault(fault)
        .start()
        .await
        .unwrap();
    let init = request(1, "initialize", initialize_params("2025-06-18"));
    let init = post(&server.url(), &init, &[]).await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (server, session)
}

fn echo(text: &str) -> Value {
    json!({ "name": "echo", "arguments": { "text": text } })
}

async fn next_json(events: &mut SseReader) -> Value {
    let (event, data) = events.next().await.expect("an event");
    assert_eq!(event, "message");
    serde_json::from_str(&data).unwrap()
}

#[tokio::test]
async fn notifications_precede_the_result_on_the_sse_response() {
    let (server, session) = session(ResponseStyle::Sse, Fault::NotifyDuringCall).await;
    let headers = [("mcp-session-id", session.as_str())];
    let mut params = echo("noted");
    params["_meta"] = json!({ "progressToken": 17 });
    let call = post(&server.url(), &request(2, "tools/call", params), &headers).await;
    let mut events = SseReader::new(call);
    let log = next_json(&mut events).await;
    assert_eq!(log["method"], "notifications/message");
    assert_eq!(log["params"]["data"], "calling echo");
    assert!(log.get("id").is_none(), "a notification: {log}");
    let progress = next_json(&mut events).await;
    assert_eq!(progress["method"], "notifications/progress");
    assert_eq!(progress["params"]["progressToken"], 17);
    let result = next_json(&mut events).await;
    assert_eq!(result["id"], 2);
    assert_eq!(result["result"]["content"][0]["text"], "noted");
    assert!(events.next().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn with_json_answers_notifications_wait_for_the_get_stream() {
    let (server, session) = session(ResponseStyle::Json, Fault::NotifyDuringCall).await;
    let headers = [("mcp-session-id", session.as_str())];
    let call = post(
        &server.url(),
        &request(2, "tools/call", echo("x")),
        &headers,
    )
    .await;
    assert_eq!(message(call).await["result"]["content"][0]["text"], "x");
    // Sent before any stream was open: queued for the first one.
    let get = client()
        .get(server.url())
        .header("mcp-session-id", &session)
        .send();
    let stream = tokio::time::timeout(crate::STEP, get)
        .await
        .unwrap()
        .unwrap();
    let mut events = SseReader::new(stream);
    assert_eq!(
        next_json(&mut events).await["method"],
        "notifications/message"
    );
    // And a stream that is open gets them as they come.
    let call = post(
        &server.url(),
        &request(3, "tools/call", echo("y")),
        &headers,
    )
    .await;
    assert_eq!(message(call).await["id"], 3);
    let log = next_json(&mut events).await;
    assert_eq!(log["params"]["data"], "calling echo");
    server.stop().await;
}

#[tokio::test]
async fn held_calls_wait_for_the_release_and_nothing_else_does() {
    let (server, session) = session(ResponseStyle::Json, Fault::HoldToolCalls).await;
    let (url, id) = (server.url(), session.clone());
    let held = tokio::spawn(async move {
        let headers = [("mcp-session-id", id.as_str())];
        message(post(&url, &request(2, "tools/call", echo("held")), &headers).await).await
    });
    wait_until("the call reached the server", || {
        server
            .requests()
            .iter()
            .any(|r| r.rpc_method.as_deref() == Some("tools/call"))
    })
    .await;
    let headers = [("mcp-session-id", session.as_str())];
    let list = post(
        &server.url(),
        &request(3, "tools/list", json!({})),
        &headers,
    )
    .await;
    assert_eq!(message(list).await["id"], 3, "other requests are answered");
    assert!(!held.is_finished());
    assert_eq!(server.requests().last().unwrap().status, 200);

    server.release_tool_calls();
    let answer = tokio::time::timeout(crate::STEP, held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "held");
    // The gate stays open.
    let call = post(
        &server.url(),
        &request(4, "tools/call", echo("now")),
        &headers,
    )
    .await;
    assert_eq!(message(call).await["id"], 4);
    server.stop().await;
}

#[tokio::test]
async fn a_held_call_is_answered_503_when_the_server_stops() {
    let (server, session) = session(ResponseStyle::Sse, Fault::HoldToolCalls).await;
    let url = server.url();
    let held = tokio::spawn(async move {
        let headers = [("mcp-session-id", session.as_str())];
        post(&url, &request(2, "tools/call", echo("never")), &headers)
            .await
            .status()
    });
    wait_until("the call reached the server", || {
        server.requests().len() == 2
    })
    .await;
    server.stop().await;
    let status = tokio::time::timeout(crate::STEP, held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 503);
}

#[tokio::test]
async fn legacy_sse_calls_notify_and_wait_on_the_session_stream() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .fault(Fault::NotifyDuringCall)
        .fault(Fault::HoldToolCalls)
        .start()
        .await
        .unwrap();
    let get = client()
        .get(server.url())
        .header("accept", "text/event-stream")
        .send();
    let stream = tokio::time::timeout(crate::STEP, get)
        .await
        .unwrap()
        .unwrap();
    let mut events = SseReader::new(stream);
    let (_, path) = events.next().await.unwrap();
    let endpoint = format!("{}{path}", server.base_url());
    let call = post(&endpoint, &request(5, "tools/call", echo("late")), &[]).await;
    assert_eq!(call.status(), 202);
    let ping = post(&endpoint, &request(6, "ping", json!({})), &[]).await;
    assert_eq!(ping.status(), 202);
    assert_eq!(next_json(&mut events).await["id"], 6, "not held");
    server.release_tool_calls();
    assert_eq!(
        next_json(&mut events).await["method"],
        "notifications/message"
    );
    assert_eq!(next_json(&mut events).await["id"], 5);
    server.stop().await;
}
