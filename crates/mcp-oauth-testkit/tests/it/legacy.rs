//! The 2024-11-05 HTTP+SSE transport.

use mcp_oauth_testkit::{Fault, ServerMode, TestServer};
use serde_json::{Value, json};

use crate::{SseReader, client, initialize_params, post, request};

/// Opens `GET /sse`; returns the reader and the absolute POST endpoint.
async fn open(server: &TestServer) -> (SseReader, String) {
    let get = client()
        .get(server.url())
        .header("accept", "text/event-stream");
    let response = tokio::time::timeout(crate::STEP, get.send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = SseReader::new(response);
    let (event, data) = events.next().await.unwrap();
    assert_eq!(event, "endpoint");
    assert!(data.starts_with("/messages?sessionId="), "{data}");
    (events, format!("{}{data}", server.base_url()))
}

async fn next_message(events: &mut SseReader) -> Value {
    let (event, data) = events.next().await.expect("stream open");
    assert_eq!(event, "message");
    serde_json::from_str(&data).unwrap()
}

#[tokio::test]
async fn endpoint_event_and_round_trip() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .start()
        .await
        .unwrap();
    assert!(server.url().ends_with("/sse"));
    let (mut events, endpoint) = open(&server).await;

    let init = request(1, "initialize", initialize_params("2025-06-18"));
    assert_eq!(post(&endpoint, &init, &[]).await.status(), 202);
    let reply = next_message(&mut events).await;
    assert_eq!(reply["id"], 1);
    assert_eq!(
        reply["result"]["protocolVersion"], "2025-03-26",
        "newest legacy default"
    );
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    assert_eq!(post(&endpoint, &initialized, &[]).await.status(), 202);

    let echo = json!({ "name": "echo", "arguments": { "text": "over sse" } });
    assert_eq!(
        post(&endpoint, &request(2, "tools/call", echo), &[])
            .await
            .status(),
        202
    );
    let reply = next_message(&mut events).await;
    assert_eq!(reply["result"]["content"][0]["text"], "over sse");

    // Streamable HTTP probes see 405 and fall back.
    let probe = request(3, "initialize", initialize_params("2025-06-18"));
    assert_eq!(post(&server.url(), &probe, &[]).await.status(), 405);
    let mcp = format!("{}/mcp", server.base_url());
    assert_eq!(post(&mcp, &probe, &[]).await.status(), 405);
    let unknown = format!("{}/messages?sessionId=nope", server.base_url());
    assert_eq!(post(&unknown, &probe, &[]).await.status(), 404);

    let log = server.requests();
    assert!(
        log[1].session_id.is_some(),
        "the query's sessionId is recorded"
    );
    assert_eq!(log[1].path, "/messages");

    // Dropping the stream ends the session.
    assert_eq!(server.active_sessions(), 1);
    drop(events);
    crate::wait_until("the session ended", || server.active_sessions() == 0).await;
    assert_eq!(
        post(&endpoint, &request(4, "ping", json!({})), &[])
            .await
            .status(),
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn server_ping_over_legacy_stream() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .fault(Fault::ServerPing)
        .start()
        .await
        .unwrap();
    let (mut events, endpoint) = open(&server).await;
    let add = json!({ "name": "add", "arguments": { "a": 20, "b": 22 } });
    assert_eq!(
        post(&endpoint, &request(7, "tools/call", add), &[])
            .await
            .status(),
        202
    );
    let ping = next_message(&mut events).await;
    assert_eq!(ping["method"], "ping");
    let answer = json!({ "jsonrpc": "2.0", "id": ping["id"], "result": {} });
    assert_eq!(post(&endpoint, &answer, &[]).await.status(), 202);
    let reply = next_message(&mut events).await;
    assert_eq!(
        (
            reply["id"].clone(),
            reply["result"]["content"][0]["text"].clone()
        ),
        (json!(7), json!("42"))
    );
    assert!(server.requests().last().unwrap().rpc_is_response);
    server.stop().await;
}
