//! Every kind of bad server or bad input ends in a clear error, in bounded time.

use std::time::{Duration, Instant};

use mcp_oauth::{Client, Error};
use mcp_oauth_testkit::{Fault, ServerMode, TestServer};
use serde_json::json;

use crate::support::{NO_HANG, TIMEOUT, args, builder};

#[tokio::test]
async fn refused_port_is_a_connect_error() {
    // Bound but not listening, and kept for the whole test: connections are
    // refused, and no other listener can take the port meanwhile.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let error = Client::builder(&url)
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert!(error.to_string().contains(&url), "{error}");
    assert!(
        error.to_string().to_lowercase().contains("refused"),
        "{error}"
    );
    // The HTTP client's error is kept, down to the system's own.
    let refused = std::iter::successors(std::error::Error::source(&error), |cause| cause.source())
        .find_map(|cause| cause.downcast_ref::<std::io::Error>());
    assert_eq!(
        refused.map(std::io::Error::kind),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{error:?}"
    );
    drop(held);
}

#[tokio::test]
async fn urls_that_are_not_http_are_refused_before_any_connection() {
    for url in [
        "ftp://127.0.0.1/mcp",
        "127.0.0.1:8080/mcp",
        "file:///etc/passwd",
        "http://",
    ] {
        let error = Client::builder(url).connect().await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidUrl { .. }),
            "{url}: {error:?}"
        );
    }
}

async fn error_from(fault: Fault) -> Error {
    let server = TestServer::builder().fault(fault).start().await.unwrap();
    let error = builder(&server).connect().await.unwrap_err();
    server.stop().await;
    error
}

#[tokio::test]
async fn an_html_page_is_not_mcp() {
    let error = error_from(Fault::HtmlPage).await;
    assert!(matches!(error, Error::NotMcp { .. }), "{error:?}");
    assert!(error.to_string().contains("HTML page"), "{error}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_not_mcp() {
    let error = error_from(Fault::GarbageJson).await;
    assert!(matches!(error, Error::NotMcp { .. }), "{error:?}");
    assert!(error.to_string().contains("not JSON"), "{error}");
}

#[tokio::test]
async fn json_that_is_not_json_rpc_is_a_protocol_error() {
    let error = error_from(Fault::NotJsonRpc).await;
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert!(
        error.to_string().contains("not a JSON-RPC message"),
        "{error}"
    );
}

#[tokio::test]
async fn a_stalled_server_times_out() {
    let server = TestServer::builder()
        .fault(Fault::Stall)
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let error = Client::builder(server.url())
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    // Its own timeout ended it: far sooner than a hang, however busy the machine.
    assert!(
        started.elapsed() < NO_HANG,
        "bounded: {:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_legacy_sse_server_times_out() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .fault(Fault::Stall)
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let error = Client::builder(server.url())
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < NO_HANG, "{:?}", started.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_path_is_reported_with_its_status() {
    let server = TestServer::builder().start().await.unwrap();
    let url = format!("{}/no-such-endpoint", server.base_url());
    let error = Client::builder(&url)
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::HttpStatus { status: 404, .. }),
        "{error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_tool_and_bad_arguments_are_server_errors() {
    let server = TestServer::builder().start().await.unwrap();
    let client = builder(&server).connect().await.unwrap();
    let error = client.call_tool("no-such-tool", None).await.unwrap_err();
    match &error {
        Error::Server { code, message, .. } => {
            assert_eq!(*code, -32602);
            assert!(message.contains("no-such-tool"), "{message}");
        }
        other => panic!("expected a server error, got {other:?}"),
    }
    let error = client
        .call_tool("add", args(json!({ "a": "two" })))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Server { code: -32602, .. }),
        "{error:?}"
    );
    // The session survives a refused request.
    client.ping().await.unwrap();
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_goes_away_fails_requests_cleanly() {
    let server = TestServer::builder().start().await.unwrap();
    let client = builder(&server).connect().await.unwrap();
    server.stop().await;
    let error = client.ping().await.unwrap_err();
    assert!(
        matches!(error, Error::Connect { .. } | Error::Closed { .. }),
        "a clear error, not a hang: {error:?}"
    );
}
