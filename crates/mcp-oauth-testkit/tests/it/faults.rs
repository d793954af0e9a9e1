//! Injected faults and shutdown.

use std::time::Duration;

use mcp_oauth_testkit::{Fault, ResponseStyle, TestServer};
use serde_json::{Value, json};

use crate::{
    SseReader, client, content_type, initialize_params, message, post, request, wait_until,
};

fn init() -> Value {
    request(1, "initialize", initialize_params("2025-06-18"))
}

#[tokio::test]
async fn html_page() {
    let server = TestServer::builder()
        .fault(Fault::HtmlPage)
        .start()
        .await
        .unwrap();
    let response = post(&server.url(), &init(), &[]).await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/html"));
    assert!(
        response
            .text()
            .await
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    let get = client().get(server.url()).send().await.unwrap();
    assert!(content_type(&get).starts_with("text/html"));
    server.stop().await;
}

#[tokio::test]
async fn garbage_and_not_jsonrpc() {
    for (fault, body) in [
        (Fault::GarbageJson, "{not json"),
        (Fault::NotJsonRpc, r#"{"hello":"world"}"#),
    ] {
        let server = TestServer::builder().fault(fault).start().await.unwrap();
        let response = post(&server.url(), &init(), &[]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(content_type(&response), "application/json");
        assert_eq!(response.text().await.unwrap(), body);
        server.stop().await;
    }
}

#[tokio::test]
async fn stall_is_bounded_by_the_client_and_by_stop() {
    let server = TestServer::builder()
        .fault(Fault::Stall)
        .start()
        .await
        .unwrap();
    let url = server.url();
    let stalled = tokio::spawn(async move {
        client()
            .post(url)
            .json(&init())
            .timeout(Duration::from_millis(300))
            .send()
            .await
    });
    let outcome = tokio::time::timeout(crate::STEP, stalled)
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.unwrap_err().is_timeout());

    // A request still stalled when the server stops must not hold it up:
    // it is answered 503.
    let url = server.url();
    let pending = tokio::spawn(async move { client().post(url).json(&init()).send().await });
    wait_until("the second request reached the server", || {
        server.requests().len() == 2
    })
    .await;
    assert_eq!(server.requests()[1].status, 0, "never answered");
    tokio::time::timeout(crate::STEP, server.stop())
        .await
        .expect("stop does not wait for the stalled request");
    let answer = tokio::time::timeout(crate::STEP, pending)
        .await
        .unwrap()
        .unwrap()
        .expect("the stalled request is answered");
    assert_eq!(answer.status(), 503);
}

#[tokio::test]
async fn expire_session_after() {
    let server = TestServer::builder()
        .fault(Fault::ExpireSessionAfter(2))
        .start()
        .await
        .unwrap();
    let url = server.url();
    let init = post(&url, &init(), &[]).await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let headers = [("mcp-session-id", session.as_str())];
    for id in 2..4 {
        let ok = post(&url, &request(id, "tools/list", json!({})), &headers).await;
        assert_eq!(ok.status(), 200);
    }
    let expired = post(&url, &request(4, "tools/list", json!({})), &headers).await;
    assert_eq!(expired.status(), 404);
    // A new initialize gets a fresh session.
    let again = post(&url, &crate::faults::init(), &[]).await;
    let fresh = again.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, session);
    let ok = post(
        &url,
        &request(5, "ping", json!({})),
        &[("mcp-session-id", &fresh)],
    )
    .await;
    assert_eq!(ok.status(), 200);
    server.stop().await;
}

async fn ping_server() -> (TestServer, String) {
    let server = TestServer::builder()
        .responses(ResponseStyle::Sse)
        .fault(Fault::ServerPing)
        .start()
        .await
        .unwrap();
    let init = post(&server.url(), &init(), &[]).await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (server, session)
}

#[tokio::test]
async fn server_ping_waits_for_the_answer() {
    let (server, session) = ping_server().await;
    let url = server.url();
    let headers = [("mcp-session-id", session.as_str())];
    let echo = json!({ "name": "echo", "arguments": { "text": "after ping" } });
    let call = post(&url, &request(2, "tools/call", echo), &headers).await;
    let mut events = SseReader::new(call);
    let (_, ping) = events.next().await.unwrap();
    let ping: Value = serde_json::from_str(&ping).unwrap();
    assert_eq!(ping["method"], "ping");
    let answer = json!({ "jsonrpc": "2.0", "id": ping["id"], "result": {} });
    assert_eq!(post(&url, &answer, &headers).await.status(), 202);
    let (_, result) = events.next().await.unwrap();
    let result: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["result"]["content"][0]["text"], "after ping");
    assert!(events.next().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn server_ping_unanswered_is_an_error() {
    let (server, session) = ping_server().await;
    let headers = [("mcp-session-id", session.as_str())];
    let call = json!({ "name": "fail" });
    let call = post(&server.url(), &request(2, "tools/call", call), &headers).await;
    let mut events = SseReader::new(call);
    assert!(events.next().await.unwrap().1.contains("\"ping\""));
    // The server gives up after 5 s.
    let (_, result) = events.next().await.unwrap();
    let result: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["error"]["message"], "client did not answer ping");
    server.stop().await;
}

#[tokio::test]
async fn stop_frees_the_port_even_with_open_streams() {
    let server = TestServer::builder().start().await.unwrap();
    let addr = server.addr();
    let init = post(&server.url(), &init(), &[]).await;
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = message(init).await;
    let get = client().get(server.url()).header("mcp-session-id", session);
    let stream = tokio::time::timeout(crate::STEP, get.send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stream.status(), 200);

    tokio::time::timeout(crate::STEP, server.stop())
        .await
        .expect("stop does not wait for the open stream");
    assert!(
        SseReader::new(stream).next().await.is_none(),
        "stream ended by stop"
    );
    if let Err(error) = tokio::net::TcpListener::bind(addr).await {
        panic!("port still taken: {error}");
    }
}
