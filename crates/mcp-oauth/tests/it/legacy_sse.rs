//! The 2024-11-05 HTTP+SSE transport, chosen explicitly or by fallback.

use mcp_oauth::{ConnectedVia, Error, TransportMode};
use mcp_oauth_testkit::{Fault, ServerMode, TestServer};
use serde_json::json;

use crate::support::{args, builder, exercise_tools, text_of};

#[tokio::test]
async fn auto_mode_falls_back_to_legacy_sse() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    assert_eq!(client.connected_via(), ConnectedVia::Sse);
    client.ping().await.unwrap();
    exercise_tools(&client).await;
    client.close().await;
    let requests = server.requests();
    let first = &requests[0];
    assert_eq!(
        (first.http_method.as_str(), first.status),
        ("POST", 405),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.http_method == "GET" && r.path == "/sse")
    );
    assert!(
        requests
            .iter()
            .any(|r| r.http_method == "POST" && r.path == "/messages")
    );
    server.stop().await;
}

#[tokio::test]
async fn auto_mode_falls_back_on_400_and_404_too() {
    for status in [400, 404] {
        let server = TestServer::builder()
            .mode(ServerMode::LegacySse)
            .legacy_probe_status(status)
            .start()
            .await
            .unwrap();
        let client = builder(&server).connect().await.unwrap();
        assert_eq!(client.connected_via(), ConnectedVia::Sse, "{status}");
        client.ping().await.unwrap();
        client.close().await;
        let first = &server.requests()[0];
        assert_eq!((first.http_method.as_str(), first.status), ("POST", status));
        server.stop().await;
    }
}

#[tokio::test]
async fn explicit_sse_mode_goes_straight_to_the_stream() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .start()
        .await
        .unwrap();
    let client = builder(&server)
        .transport(TransportMode::Sse)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.connected_via(), ConnectedVia::Sse);
    exercise_tools(&client).await;
    client.close().await;
    assert_eq!(
        server.requests()[0].http_method,
        "GET",
        "no Streamable HTTP attempt"
    );
    server.stop().await;
}

#[tokio::test]
async fn explicit_streamable_mode_does_not_fall_back() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .start()
        .await
        .unwrap();
    let error = builder(&server)
        .transport(TransportMode::StreamableHttp)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::HttpStatus { status: 405, .. }),
        "{error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn server_to_client_ping_is_answered_over_sse() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .fault(Fault::ServerPing)
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    let echoed = client
        .call_tool("echo", args(json!({ "text": "pong first" })))
        .await
        .unwrap();
    assert_eq!(text_of(&echoed), "pong first");
    assert!(server.requests().iter().any(|r| r.rpc_is_response));
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn negotiates_the_servers_older_revision() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    assert_eq!(client.server().protocol_version, "2025-03-26");
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_stream_that_carries_no_json_rpc_fails_fast_with_the_cause() {
    for fault in [Fault::NotJsonRpc, Fault::GarbageJson] {
        let server = TestServer::builder()
            .mode(ServerMode::LegacySse)
            .fault(fault)
            .start()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let error = builder(&server).connect().await.unwrap_err();
        assert!(
            matches!(error, Error::Protocol { .. }),
            "{fault:?}: {error:?}"
        );
        assert!(error.to_string().contains("not JSON-RPC"), "{error}");
        // A protocol error, not the timeout: the cause ended the wait.
        assert!(started.elapsed() < crate::support::NO_HANG);
        server.stop().await;
    }
}
