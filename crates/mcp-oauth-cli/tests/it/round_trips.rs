//! The requests a one-shot command makes: a warm `ping` speaks the revision
//! the server was last found to speak, opens no stream it will not read,
//! and probes again (once) when the server has changed revision since.

use std::path::Path;

use mcp_oauth_testkit::{AuthServer, RecordedRequest, TestServer};
use serde_json::Value;

use crate::support::{mcp_oauth_with_env, scripted_browser, stored_document};

/// What servers deployed today speak: the `initialize` handshake only.
const UP_TO_2025_11_25: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];
const ONLY_2026_07_28: &[&str] = &["2026-07-28"];

/// A server speaking `versions`, protected by a fresh authorization server.
async fn protected(versions: &[&str]) -> (AuthServer, TestServer) {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protocol_versions(versions)
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    (auth, server)
}

/// `mcp-oauth ping url`, tokens in `cache`; `browser` signs in if needed.
async fn ping(url: &str, cache: &Path, browser: &str) {
    let cache = cache.to_str().unwrap();
    let args = ["ping", url, "--cache-dir", cache, "--login-timeout", "15"];
    mcp_oauth_with_env(&args, &[("BROWSER", browser)])
        .await
        .success();
}

/// Each request to the MCP endpoint (not to its metadata) as
/// `METHOD rpc-method`, e.g. `POST initialize`, `DELETE`.
fn exchanges(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|request| request.path == "/mcp")
        .map(|request| match &request.rpc_method {
            Some(method) => format!("{} {method}", request.http_method),
            None => request.http_method.clone(),
        })
        .collect()
}

/// A warm ping (no browser may open), and the requests the server saw.
async fn warm_ping(server: &TestServer, cache: &Path) -> Vec<String> {
    server.clear_requests();
    ping(&server.url(), cache, "false").await;
    exchanges(&server.requests())
}

fn stored_revision(url: &str, cache: &Path) -> Option<String> {
    let document: Value =
        serde_json::from_slice(&std::fs::read(stored_document(url, cache)).unwrap()).unwrap();
    document["protocol_version"].as_str().map(str::to_owned)
}

/// As if an earlier run had found the server speaking `revision`.
fn remember_revision(url: &str, cache: &Path, revision: &str) {
    let path = stored_document(url, cache);
    let mut document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    document["protocol_version"] = Value::from(revision);
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
}

const WARM_2025: [&str; 4] = [
    "POST initialize",
    "POST notifications/initialized",
    "POST ping",
    "DELETE",
];
/// 2026-07-28 has no `ping`: an uncached `server/discover` stands in.
const WARM_2026: [&str; 2] = ["POST server/discover", "POST server/discover"];

#[tokio::test]
async fn a_warm_ping_to_a_2025_server_makes_four_requests() {
    let (auth, server) = protected(UP_TO_2025_11_25).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();

    // Cold: the probe is refused for want of a token, the sign-in runs, the
    // probe is refused as unknown, the handshake follows; and no GET stream.
    ping(&url, &cache, &scripted_browser(dir.path())).await;
    let mut cold = vec!["POST server/discover", "POST server/discover"];
    cold.extend(WARM_2025);
    assert_eq!(exchanges(&server.requests()), cold);
    assert_eq!(stored_revision(&url, &cache).as_deref(), Some("2025-11-25"));

    assert_eq!(warm_ping(&server, &cache).await, WARM_2025);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_warm_ping_to_a_2026_server_makes_two_requests() {
    let (auth, server) = protected(ONLY_2026_07_28).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();

    // Cold: the probe refused for want of a token, then the warm requests.
    ping(&url, &cache, &scripted_browser(dir.path())).await;
    let mut cold = vec!["POST server/discover"];
    cold.extend(WARM_2026);
    assert_eq!(exchanges(&server.requests()), cold);
    assert_eq!(stored_revision(&url, &cache).as_deref(), Some("2026-07-28"));

    assert_eq!(warm_ping(&server, &cache).await, WARM_2026);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_server_upgraded_to_2026_is_probed_again_once() {
    let (auth, server) = protected(ONLY_2026_07_28).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    ping(&url, &cache, &scripted_browser(dir.path())).await;
    remember_revision(&url, &cache, "2025-11-25");

    // The remembered handshake is refused; the probe finds 2026-07-28.
    let mut expected = vec!["POST initialize"];
    expected.extend(WARM_2026);
    assert_eq!(warm_ping(&server, &cache).await, expected);
    assert_eq!(stored_revision(&url, &cache).as_deref(), Some("2026-07-28"));
    assert_eq!(warm_ping(&server, &cache).await, WARM_2026);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_server_downgraded_to_2025_is_probed_again_once() {
    let (auth, server) = protected(UP_TO_2025_11_25).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    ping(&url, &cache, &scripted_browser(dir.path())).await;
    remember_revision(&url, &cache, "2026-07-28");

    // The probe is refused, and `initialize` follows on the spot.
    let mut expected = vec!["POST server/discover"];
    expected.extend(WARM_2025);
    assert_eq!(warm_ping(&server, &cache).await, expected);
    assert_eq!(stored_revision(&url, &cache).as_deref(), Some("2025-11-25"));
    assert_eq!(warm_ping(&server, &cache).await, WARM_2025);
    auth.stop().await;
    server.stop().await;
}
