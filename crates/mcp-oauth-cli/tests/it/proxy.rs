//! `mcp-oauth proxy`: a scripted stdio host talks to a protected remote
//! server through the bridge.

use std::{process::Stdio, time::Duration};

use mcp_oauth_testkit::{AuthServer, ServerMode, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::scripted_browser;

/// Starts the proxy, plays a host's part of the protocol, then closes stdin.
async fn host_session(url: &str, cache: &std::path::Path, browser: &str) {
    let (mut proxy, mut host) = start_proxy(url, cache, browser);
    let initialized = host.initialize().await;
    assert_eq!(
        initialized["result"]["serverInfo"]["name"], "mcp-oauth-testkit",
        "{initialized}"
    );
    host.tell(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;
    let listed = host
        .ask(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .await;
    assert!(
        listed["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "echo"),
        "{listed}"
    );
    let called = host
        .ask(json!({
            "jsonrpc": "2.0", "id": "three", "method": "tools/call",
            "params": { "name": "echo", "arguments": { "text": "through the proxy" } }
        }))
        .await;
    assert_eq!(called["id"], "three");
    assert_eq!(called["result"]["content"][0]["text"], "through the proxy");
    drop(host);
    let status = tokio::time::timeout(Duration::from_secs(10), proxy.wait())
        .await
        .expect("exits when stdin closes");
    assert!(status.unwrap().success());
}

/// Starts `mcp-oauth proxy url` with the host's pipes.
fn start_proxy(url: &str, cache: &std::path::Path, browser: &str) -> (tokio::process::Child, Host) {
    let mut proxy = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-oauth"))
        .args(["proxy", url, "--login-timeout", "15", "--cache-dir"])
        .arg(cache)
        .env("BROWSER", browser)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let host = Host {
        stdin: proxy.stdin.take().unwrap(),
        stdout: BufReader::new(proxy.stdout.take().unwrap()).lines(),
    };
    (proxy, host)
}

/// The host's side of the pipes.
struct Host {
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Host {
    async fn tell(&mut self, message: Value) {
        self.stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }

    /// The host's `initialize`, answered through the proxy.
    async fn initialize(&mut self) -> Value {
        let answer = self
            .ask(json!({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": { "name": "scripted-host", "version": "1" } }
            }))
            .await;
        assert_eq!(answer["id"], 1, "{answer}");
        answer
    }

    async fn ask(&mut self, message: Value) -> Value {
        self.tell(message).await;
        let line = tokio::time::timeout(Duration::from_secs(20), self.stdout.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("stdout carries only JSON-RPC: {line}"))
    }
}

#[tokio::test]
async fn a_host_reaches_a_protected_server_through_the_proxy() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // The first start logs in; the second uses the cached token, no browser.
    host_session(&server.url(), &cache, &scripted_browser(dir.path())).await;
    host_session(&server.url(), &cache, "false").await;
    assert_eq!(auth.issued_tokens(), 1);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn the_proxy_falls_back_to_legacy_sse() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    host_session(&server.url(), &dir.path().join("cache"), "false").await;
    server.stop().await;
}

#[tokio::test]
async fn sigterm_ends_the_proxy_cleanly_and_deletes_the_session() {
    let server = TestServer::builder()
        .protocol_versions(&["2025-06-18", "2025-11-25"])
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.initialize().await;
    host.tell(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;
    let listed = host
        .ask(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }))
        .await;
    assert_eq!(listed["id"], 2);
    let pid = proxy.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), proxy.wait())
        .await
        .expect("bounded");
    assert!(status.unwrap().success(), "a clean exit");
    assert!(
        server.requests().iter().any(|r| r.http_method == "DELETE"),
        "the session was deleted"
    );
    drop(host);
    server.stop().await;
}
