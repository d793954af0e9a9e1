//! `mcp-oauth doctor`: against a healthy server every step passes; against
//! the testkit set up to break one step at a time, that step fails, the
//! exit code is its own, the hint says what to do, and no secret is shown.

use std::path::Path;

use mcp_oauth_testkit::{
    AuthServer, AuthServerBuilder, PrmMode, RefreshMode, TestServer, TestServerBuilder,
};

use crate::support::{Run, mcp_oauth_with_env, scripted_browser};

/// `doctor` with `cache`, in a UTF-8 locale unless `ascii`.
async fn doctor(url: &str, cache: &Path, extra: &[&str], ascii: bool) -> Run {
    let mut args = vec!["doctor", url, "--cache-dir", cache.to_str().unwrap()];
    args.extend(extra);
    let locale = if ascii { "C" } else { "C.UTF-8" };
    mcp_oauth_with_env(&args, &[("LC_ALL", locale), ("BROWSER", "false")]).await
}

async fn servers(
    auth: AuthServerBuilder,
    server: impl FnOnce(TestServerBuilder) -> TestServerBuilder,
) -> (AuthServer, TestServer) {
    let auth = auth.start().await.unwrap();
    let server = server(TestServer::builder().protected_by(&auth))
        .start()
        .await
        .unwrap();
    (auth, server)
}

/// The line of `step`.
fn line<'a>(run: &'a Run, step: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|line| {
            line.split_once(' ')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(step))
        })
        .unwrap_or_else(|| panic!("no {step} line in {}", run.stdout))
}

/// `doctor` fails at `step` with `code`, and its hint contains `hint`.
async fn fails_at(
    auth: AuthServerBuilder,
    configure: impl FnOnce(TestServerBuilder) -> TestServerBuilder,
    step: &str,
    code: i32,
    hint: &str,
) {
    let (auth, server) = servers(auth, configure).await;
    let dir = crate::support::tempdir().unwrap();
    let run = doctor(&server.url(), dir.path(), &[], false).await;
    run.exit(code);
    assert!(line(&run, step).starts_with('✗'), "{}", run.stdout);
    assert!(run.stdout.contains(hint), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!("{step} failed")),
        "{}",
        run.stderr
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_healthy_server_passes_every_step_and_nothing_secret_is_shown() {
    let (auth, server) = servers(AuthServer::builder(), |s| s).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    // Before any sign-in: everything but the credentials, which are skipped.
    let before = doctor(&url, &cache, &[], false).await;
    before.success();
    for step in [
        "reachable",
        "MCP endpoint",
        "401 challenge",
        "resource metadata",
        "authorization server",
        "callback port",
    ] {
        assert!(
            line(&before, step).starts_with('✓'),
            "{step}: {}",
            before.stdout
        );
    }
    assert!(line(&before, "authorization server").contains(&auth.issuer()));
    assert!(line(&before, "stored credentials").contains("not signed in"));

    let login = mcp_oauth_with_env(
        &[
            "login",
            &url,
            "--cache-dir",
            cache.to_str().unwrap(),
            "--login-timeout",
            "15",
        ],
        &[("BROWSER", &scripted_browser(dir.path()))],
    )
    .await;
    login.success();
    let after = doctor(&url, &cache, &["--refresh"], false).await;
    after.success();
    assert!(
        line(&after, "stored credentials").contains("refreshable"),
        "{}",
        after.stdout
    );
    assert!(line(&after, "refresh").starts_with('✓'), "{}", after.stdout);
    // The tokens, old and new, appear nowhere.
    for token in auth.tokens() {
        assert!(
            !after.stdout.contains(&token.access_token)
                && !after.stderr.contains(&token.access_token)
        );
    }
    // The same as data, and in plain ASCII where the terminal is not UTF-8.
    let json = doctor(&url, &cache, &["--json"], false).await;
    let value: serde_json::Value = serde_json::from_str(&json.success().stdout).unwrap();
    assert_eq!(value["ok"], true);
    assert_eq!(value["findings"][0]["step"], "reachable");
    assert_eq!(value["findings"][0]["status"], "passed");
    let ascii = doctor(&url, &cache, &[], true).await;
    assert!(ascii.success().stdout.is_ascii(), "{}", ascii.stdout);
    assert!(line(&ascii, "reachable").starts_with("ok"));
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_server_without_a_challenge_fails_that_step() {
    fails_at(
        AuthServer::builder(),
        TestServerBuilder::no_challenge,
        "401 challenge",
        6,
        "WWW-Authenticate",
    )
    .await;
}

#[tokio::test]
async fn missing_resource_metadata_fails_that_step() {
    fails_at(
        AuthServer::builder(),
        |s| s.resource_metadata(PrmMode::None),
        "resource metadata",
        6,
        "protected resource metadata",
    )
    .await;
}

#[tokio::test]
async fn metadata_naming_another_issuer_fails_the_authorization_server() {
    fails_at(
        AuthServer::builder().metadata_issuer("https://someone-else.example.com"),
        |s| s,
        "authorization server",
        6,
        "mix-up",
    )
    .await;
}

#[tokio::test]
async fn an_authorization_server_without_s256_fails() {
    fails_at(
        AuthServer::builder().pkce_methods(Some(&["plain"])),
        |s| s,
        "authorization server",
        6,
        "S256",
    )
    .await;
}

#[tokio::test]
async fn no_registration_and_no_client_id_fails() {
    fails_at(
        AuthServer::builder().dynamic_registration(false),
        |s| s,
        "authorization server",
        6,
        "--client-id",
    )
    .await;
}

#[tokio::test]
async fn a_callback_port_in_use_fails() {
    let (auth, server) = servers(AuthServer::builder(), |s| s).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = crate::support::tempdir().unwrap();
    let run = doctor(
        &server.url(),
        dir.path(),
        &["--callback-port", &port],
        false,
    )
    .await;
    run.exit(6);
    assert!(
        line(&run, "callback port").starts_with('✗'),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("--callback-port"), "{}", run.stdout);
    drop(taken);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_expired_token_that_cannot_be_refreshed_fails() {
    let (auth, server) = servers(
        AuthServer::builder()
            .refresh_tokens(RefreshMode::Off)
            .access_token_lifetime(std::time::Duration::from_secs(1)),
        |s| s,
    )
    .await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    mcp_oauth_with_env(
        &[
            "login",
            &url,
            "--cache-dir",
            cache.to_str().unwrap(),
            "--login-timeout",
            "15",
        ],
        &[("BROWSER", &scripted_browser(dir.path()))],
    )
    .await
    .success();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let run = doctor(&url, &cache, &[], false).await;
    run.exit(6);
    assert!(
        line(&run, "stored credentials").starts_with('✗'),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("mcp-oauth login {url}")),
        "{}",
        run.stdout
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_fails_first_with_its_exit_code() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/mcp", free.local_addr().unwrap().port());
    drop(free);
    let dir = crate::support::tempdir().unwrap();
    let run = doctor(&url, dir.path(), &[], false).await;
    run.exit(3);
    assert!(line(&run, "reachable").starts_with('✗'), "{}", run.stdout);
}
