//! `--store redis://…`: every command on a shared store, as a new user
//! would try it, and what happens when the store cannot be used.

use std::path::Path;

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, RedisServer};

use crate::support::{Run, mcp_oauth_with_env, protected, scripted_browser};

/// A key in base64, as `openssl rand -base64 32` prints one.
pub(crate) const STORE_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The environment of a process of the fleet: the store, its key, a
/// browser.
pub(crate) fn fleet_env<'a>(
    redis: &'a str,
    prefix: &'a str,
    browser: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MCP_OAUTH_STORE", redis),
        ("MCP_OAUTH_STORE_KEY", STORE_KEY),
        ("MCP_OAUTH_STORE_PREFIX", prefix),
        ("BROWSER", browser),
    ]
}

async fn run(args: &[&str], env: &[(&str, &str)], cache: &Path) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    // A cache folder of the test's own: a shared store must not touch it.
    full.extend(["--cache-dir", cache.to_str().unwrap()]);
    mcp_oauth_with_env(&full, env).await
}

#[tokio::test]
async fn every_command_works_on_a_shared_store() {
    let redis = RedisServer::start().unwrap();
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let browser = scripted_browser(dir.path());
    let store = redis.url();
    let env = fleet_env(&store, "team-a", &browser);

    run(&["login", &url, "--login-timeout", "15"], &env, &cache)
        .await
        .success();
    // Another terminal, no browser: the tokens come from Redis.
    let silent = fleet_env(&store, "team-a", "false");
    let tools = run(&["tools", &url], &silent, &cache).await;
    assert!(tools.success().stdout.contains("echo "), "{tools:#?}");
    let call = run(
        &["call", &url, "add", "--args", r#"{"a":2,"b":40}"#],
        &silent,
        &cache,
    )
    .await;
    assert_eq!(call.success().stdout, "42\n");
    run(&["ping", &url], &silent, &cache).await.success();
    let token = run(&["token", &url], &silent, &cache).await;
    assert!(!token.success().stdout.trim().is_empty());
    assert!(!cache.exists(), "nothing written to the cache folder");

    let status = run(&["status"], &silent, &cache).await;
    let line = status.success().stdout.clone();
    assert!(
        line.contains(&url) && line.contains("generation") && line.contains("key k"),
        "{line}"
    );
    let json = run(&["status", "--json"], &silent, &cache).await;
    let listed: serde_json::Value = serde_json::from_str(&json.success().stdout).unwrap();
    assert_eq!(listed[0]["server"], url.as_str());

    // Another prefix is another fleet: logout --all leaves it alone.
    let other = fleet_env(&store, "team-b", &browser);
    run(&["login", &url, "--login-timeout", "15"], &other, &cache)
        .await
        .success();
    run(&["logout", "--all"], &silent, &cache).await.success();
    assert!(
        run(&["status"], &silent, &cache)
            .await
            .success()
            .stdout
            .is_empty()
    );
    let kept = run(&["status"], &other, &cache).await;
    assert!(kept.success().stdout.contains(&url), "{kept:#?}");
    run(&["logout", &url], &other, &cache).await.success();
    assert!(
        run(&["status"], &other, &cache)
            .await
            .success()
            .stdout
            .is_empty()
    );
    assert_eq!(
        auth.requests()
            .iter()
            .filter(|request| request.kind == AuthRequestKind::Authorize)
            .count(),
        2
    );
}

#[tokio::test]
async fn an_unreachable_store_exits_3_naming_it() {
    let mut redis = RedisServer::start().unwrap();
    let url = redis.url();
    redis.stop();
    let dir = crate::support::tempdir().unwrap();
    let env = fleet_env(&url, "mcp-oauth", "false");
    for args in [
        &["tools", "http://127.0.0.1:9/mcp"][..],
        &["status"],
        &["token", "http://127.0.0.1:9/mcp"],
        &["logout", "--all"],
    ] {
        let started = std::time::Instant::now();
        let failed = run(args, &env, dir.path()).await;
        failed.exit(3);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            failed
                .stderr
                .contains(&format!("127.0.0.1:{}", redis.port())),
            "{failed:#?}"
        );
        assert!(failed.stderr.contains("unreachable"), "{failed:#?}");
        assert!(!failed.stderr.contains("pw-"), "no password: {failed:#?}");
    }
}

#[tokio::test]
async fn a_shared_store_needs_a_key_unless_plaintext_is_asked_for() {
    let redis = RedisServer::start().unwrap();
    let dir = crate::support::tempdir().unwrap();
    let store = redis.url();
    let no_key = [("MCP_OAUTH_STORE", store.as_str())];
    let refused = run(&["status"], &no_key, dir.path()).await;
    refused.exit(2);
    assert!(
        refused.stderr.contains("openssl rand -base64 32"),
        "{refused:#?}"
    );
    run(&["status", "--store-plaintext"], &no_key, dir.path())
        .await
        .success();

    // A key file others may read is refused; 0600 is taken.
    let key = dir.path().join("store.key");
    std::fs::write(&key, format!("{STORE_KEY}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let key_arg = key.to_str().unwrap();
    let loose = run(
        &["status", "--store-key-file", key_arg],
        &no_key,
        dir.path(),
    )
    .await;
    assert!(loose.stderr.contains("chmod 600"), "{loose:#?}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    run(
        &["status", "--store-key-file", key_arg],
        &no_key,
        dir.path(),
    )
    .await
    .success();
    let bad = run(&["status", "--store", "memcached://x"], &[], dir.path()).await;
    bad.exit(2);
}

/// `rediss://` to a Redis whose certificate a private CA signed (made for
/// the test with `openssl`): with `--store-ca-file` (or
/// `MCP_OAUTH_STORE_CA_FILE`) it is a store like any other; without it the
/// certificate is refused, as an unreachable store (exit 3).
#[tokio::test]
async fn a_rediss_store_is_trusted_through_its_ca_file() {
    let redis = RedisServer::start_tls().unwrap();
    let (_auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let browser = scripted_browser(dir.path());
    let store = redis.url();
    assert!(store.starts_with("rediss://"), "{store}");
    let ca = redis.ca_file().unwrap();
    let ca = ca.to_str().unwrap();

    let mut env = fleet_env(&store, "tls", &browser);
    let refused = run(&["status"], &env, &cache).await;
    refused.exit(3);
    assert!(refused.stderr.contains("certificate"), "{refused:#?}");
    assert!(refused.stderr.contains("--store-ca-file"), "{refused:#?}");
    assert!(!refused.stderr.contains("pw-"), "no password: {refused:#?}");

    run(
        &[
            "login",
            &url,
            "--login-timeout",
            "15",
            "--store-ca-file",
            ca,
        ],
        &env,
        &cache,
    )
    .await
    .success();
    env.push(("MCP_OAUTH_STORE_CA_FILE", ca));
    env.retain(|(name, _)| *name != "BROWSER");
    env.push(("BROWSER", "false"));
    let tools = run(&["tools", &url], &env, &cache).await;
    assert!(tools.success().stdout.contains("echo "), "{tools:#?}");
    let status = run(&["status"], &env, &cache).await;
    assert!(status.success().stdout.contains(&url), "{status:#?}");
}
