//! `mcp-oauth proxy`: a scripted stdio host talks to a protected remote
//! server through the bridge.

use std::path::Path;

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, DpopPolicy, Fault, ServerMode, TestServer};
use serde_json::json;

use crate::support::{BOUND, cli, echo, protected, scripted_browser, server_saw, start_proxy};

/// Starts the proxy, plays a host's part of the protocol, then closes stdin.
async fn host_session(url: &str, cache: &Path, browser: &str) {
    let (proxy, mut host) = start_proxy(url, cache, browser);
    host.handshake().await;
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
    let called = host.ask(echo("three", "through the proxy")).await;
    assert_eq!(called["result"]["content"][0]["text"], "through the proxy");
    assert!(host.finish(proxy).await.success());
}

#[tokio::test]
async fn a_host_reaches_a_protected_server_through_the_proxy() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // The first start logs in; the second uses the cached token, no browser.
    host_session(&server.url(), &cache, &scripted_browser(dir.path())).await;
    host_session(&server.url(), &cache, "false").await;
    assert_eq!(auth.issued_tokens(), 1);
    auth.stop().await;
    server.stop().await;
}

/// A DPoP server, nonces and all, through the proxy: the host sees nothing
/// of it, and every request the proxy makes carries a proof of its own.
#[tokio::test]
async fn a_host_reaches_a_dpop_server_through_the_proxy() {
    let auth = AuthServer::builder()
        .dpop(DpopPolicy::WithNonce)
        .start()
        .await
        .unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .dpop(DpopPolicy::WithNonce)
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    host_session(&server.url(), &cache, &scripted_browser(dir.path())).await;
    // A second start: the key and the bound token from the cache.
    host_session(&server.url(), &cache, "false").await;
    assert_eq!(auth.issued_tokens(), 1);
    assert!(auth.tokens()[0].jkt.is_some());
    let mut proofs = std::collections::HashSet::new();
    for request in server
        .requests()
        .iter()
        .filter(|r| r.authorization.is_some())
    {
        assert!(
            request
                .authorization
                .as_deref()
                .unwrap()
                .starts_with("DPoP ")
        );
        let proof = request.dpop.clone().expect("a proof with every request");
        assert!(proofs.insert(proof), "a proof is never sent twice");
    }
    assert!(proofs.len() >= 4);
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
    let dir = crate::support::tempdir().unwrap();
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
    let dir = crate::support::tempdir().unwrap();
    let (mut proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
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
    let status = tokio::time::timeout(BOUND, proxy.wait())
        .await
        .expect("bounded");
    assert!(status.unwrap().success(), "a clean exit");
    assert!(
        server.requests().iter().any(|r| r.http_method == "DELETE"),
        "the session was deleted"
    );
    // Whatever it wrote on the way out is protocol too.
    assert!(host.finish(proxy).await.success());
    server.stop().await;
}

/// The first request is where the proxy may wait longest (a server that
/// is slow to answer, a sign-in): SIGTERM ends that wait too.
#[tokio::test]
async fn sigterm_ends_the_proxy_while_its_first_request_awaits_the_server() {
    let server = TestServer::builder()
        .fault(Fault::Stall)
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (mut proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.tell(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "scripted-host", "version": "1" } }
    }))
    .await;
    server_saw(&server, "initialize", 1).await;
    let pid = proxy.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(BOUND, proxy.wait())
        .await
        .expect("the proxy ends on SIGTERM, not when the server answers");
    assert!(status.unwrap().success(), "a clean exit");
    assert!(host.finish(proxy).await.success());
    server.stop().await;
}

/// Hosts often start all their servers at once: proxies that find no token
/// share one login instead of opening a browser each.
#[tokio::test]
async fn proxies_started_together_share_one_login() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let browser = scripted_browser(dir.path());
    let started: Vec<_> = (0..4)
        .map(|_| start_proxy(&server.url(), &cache, &browser))
        .collect();
    let hosts = started
        .into_iter()
        .enumerate()
        .map(|(n, (proxy, mut host))| async move {
            host.handshake().await;
            let text = format!("host {n}");
            let called = host.ask(echo(2, &text)).await;
            assert_eq!(called["result"]["content"][0]["text"], text.as_str());
            host.finish(proxy).await
        });
    for status in futures::future::join_all(hosts).await {
        assert!(status.success());
    }
    let count = |kind| auth.requests().iter().filter(|r| r.kind == kind).count();
    assert_eq!(count(AuthRequestKind::Authorize), 1, "one browser login");
    assert_eq!(count(AuthRequestKind::Token), 1, "one code exchange");
    assert_eq!(count(AuthRequestKind::Register), 1);
    let initializes = server
        .requests()
        .iter()
        .filter(|r| r.rpc_method.as_deref() == Some("initialize") && r.status == 200)
        .count();
    assert_eq!(initializes, 4, "every host got its own session");
    auth.stop().await;
    server.stop().await;
}

/// With nothing cached and no way to open a browser (no display, no
/// `$BROWSER`), the proxy never waits for a paste on stdin (the host's
/// messages): the host's request is answered at once with an error naming
/// `mcp-oauth login`, and the proxy exits as an authorization failure.
#[tokio::test]
async fn without_a_browser_the_proxy_asks_for_a_terminal_sign_in_and_never_reads_a_paste() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let url = server.url();
    let mut proxy = cli()
        .args(["proxy", &url, "--cache-dir"])
        .arg(dir.path().join("cache"))
        .env_remove("BROWSER")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WSL_DISTRO_NAME")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = proxy.stdin.take().unwrap();
    // The host's first request, then a line that a paste prompt would
    // take for the redirected address. stdin stays open, as a host's does.
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "scripted-host", "version": "1" } }
    });
    let paste = format!("{url}?code=pasted&state=pasted");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{initialize}\n{paste}\n").as_bytes())
        .await
        .unwrap();
    let output = tokio::time::timeout(BOUND, proxy.wait_with_output())
        .await
        .expect("the proxy gives up at once instead of waiting for a sign-in")
        .unwrap();
    drop(stdin);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains(&format!("mcp-oauth login {url}")),
        "the hint names the terminal sign-in: {stderr}"
    );
    assert!(!stderr.to_lowercase().contains("paste"), "{stderr}");
    let answers: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("stdout carries only JSON-RPC"))
        .collect();
    assert_eq!(answers.len(), 1, "one answer, to the one request: {stdout}");
    assert_eq!(answers[0]["id"], 1);
    let message = answers[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("mcp-oauth login") && message.contains("cannot sign in here"),
        "{message}"
    );
    let kinds: Vec<_> = auth.requests().into_iter().map(|r| r.kind).collect();
    assert!(
        !kinds.contains(&AuthRequestKind::Authorize) && !kinds.contains(&AuthRequestKind::Token),
        "no sign-in page was opened and nothing exchanged: {kinds:?}"
    );
    auth.stop().await;
    server.stop().await;
}

/// A server that refuses even the tokens its authorization server has just
/// issued, for every tool call: the proxy signs in once, then tells the host
/// why each call fails instead of opening a browser (or asking for a token)
/// per call.
#[tokio::test]
async fn a_server_refusing_fresh_tokens_gets_one_sign_in_not_a_storm() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .refuse_tokens_for_tool_calls()
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (proxy, mut host) = start_proxy(&server.url(), &cache, &scripted_browser(dir.path()));
    host.handshake().await;
    let signed_in = auth.requests();
    for id in 2..=12 {
        let answer = host.ask(echo(id, "refused")).await;
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("refused the token") && message.contains("no new sign-in"),
            "the host is told why: {answer}"
        );
    }
    assert!(host.finish(proxy).await.success());
    let kinds = |requests: &[mcp_oauth_testkit::AuthRequest], kind| {
        requests.iter().filter(|r| r.kind == kind).count()
    };
    let requests = auth.requests();
    assert_eq!(
        kinds(&signed_in, AuthRequestKind::Authorize),
        1,
        "the sign-in"
    );
    assert_eq!(
        kinds(&requests, AuthRequestKind::Authorize),
        1,
        "no sign-in for the refused calls"
    );
    assert!(
        kinds(&requests, AuthRequestKind::Token) <= kinds(&signed_in, AuthRequestKind::Token) + 1,
        "at most one refresh for the refused calls"
    );
    auth.stop().await;
    server.stop().await;
}
