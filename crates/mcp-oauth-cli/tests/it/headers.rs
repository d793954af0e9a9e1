//! `mcp-oauth headers`: the headers a host sends, as Claude Code's
//! `headersHelper` reads them: one JSON object of strings on stdout.

use std::path::Path;

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, DpopPolicy, TestServer};
use serde_json::{Value, json};

use crate::support::{
    Run, age_stored_tokens, http, mcp_oauth_with_env, protected, scripted_browser,
};

async fn run(args: &[&str], cache: &Path, env: &[(&str, &str)]) -> Run {
    let mut full = args.to_vec();
    full.extend(["--cache-dir", cache.to_str().unwrap()]);
    // No browser, unless the caller names one.
    let mut env = env.to_vec();
    env.insert(0, ("BROWSER", "false"));
    mcp_oauth_with_env(&full, &env).await
}

async fn login(url: &str, cache: &Path, dir: &Path) {
    let browser = scripted_browser(dir);
    run(
        &["login", url, "--login-timeout", "15"],
        cache,
        &[("BROWSER", browser.as_str())],
    )
    .await
    .success();
}

/// stdout as a host reads it: a JSON object whose values are all strings.
fn headers_of(run: &Run) -> serde_json::Map<String, Value> {
    let parsed: Value = serde_json::from_str(&run.success().stdout)
        .unwrap_or_else(|_| panic!("stdout is JSON: {run:#?}"));
    let object = parsed.as_object().expect("a JSON object").clone();
    assert!(object.values().all(Value::is_string), "{object:?}");
    object
}

/// The status of an `initialize` POSTed to `url` with `headers`, as a host
/// sends it.
async fn initialize_status(url: &str, headers: &serde_json::Map<String, Value>) -> u16 {
    let mut request = http()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": { "name": "a-host", "version": "1" } }
        }));
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn headers_carry_a_token_the_server_accepts() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    login(&url, &cache, dir.path()).await;

    let printed = run(&["headers", &url], &cache, &[]).await;
    let headers = headers_of(&printed);
    assert_eq!(headers.keys().collect::<Vec<_>>(), ["Authorization"]);
    assert!(
        headers["Authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert_eq!(printed.stderr, "", "a helper's stderr stays quiet");
    assert_eq!(initialize_status(&url, &headers).await, 200);
    assert_eq!(initialize_status(&url, &serde_json::Map::new()).await, 401);

    // As Claude Code runs its helper: no argument, the server's URL in the
    // environment.
    let helper = run(
        &["headers"],
        &cache,
        &[("CLAUDE_CODE_MCP_SERVER_URL", url.as_str())],
    )
    .await;
    assert_eq!(headers_of(&helper), headers);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn headers_refresh_an_expired_token_and_never_sign_in() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();

    // Nothing cached: the hint to log in, nothing on stdout, no browser.
    let refused = run(&["headers", &url], &cache, &[]).await;
    refused.exit(6);
    assert_eq!(refused.stdout, "");
    assert!(
        refused
            .stderr
            .contains(&format!("log in first: mcp-oauth login {url}")),
        "{}",
        refused.stderr
    );
    let authorizations = || {
        auth.requests()
            .iter()
            .filter(|r| r.kind == AuthRequestKind::Authorize)
            .count()
    };
    assert_eq!(authorizations(), 0);

    login(&url, &cache, dir.path()).await;
    let before = headers_of(&run(&["headers", &url], &cache, &[]).await);
    age_stored_tokens(&url, &cache);
    let after = headers_of(&run(&["headers", &url], &cache, &[]).await);
    assert_ne!(before, after, "the expired token was refreshed");
    assert_eq!(auth.issued_tokens(), 2);
    assert_eq!(authorizations(), 1, "only the login signed in");
    assert_eq!(initialize_status(&url, &after).await, 200);
    auth.stop().await;
    server.stop().await;
}

/// A DPoP-bound token needs a proof per request, which no static header
/// carries: `headers` refuses it and points to the proxy.
#[tokio::test]
async fn headers_refuse_a_dpop_bound_token() {
    let auth = AuthServer::builder()
        .dpop(DpopPolicy::On)
        .start()
        .await
        .unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .dpop(DpopPolicy::On)
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    login(&url, &cache, dir.path()).await;
    assert!(auth.tokens()[0].jkt.is_some(), "the token is bound");

    let refused = run(&["headers", &url], &cache, &[]).await;
    refused.exit(2);
    assert_eq!(refused.stdout, "");
    assert!(refused.stderr.contains("DPoP"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!("mcp-oauth proxy {url}")),
        "{}",
        refused.stderr
    );
    auth.stop().await;
    server.stop().await;
}
