//! `--account`: one server used under several identities, each signed in,
//! listed, used and forgotten on its own, in the cache folder and in a
//! shared store.

use std::path::Path;

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, RedisServer};
use serde_json::Value;

use crate::{
    shared_store::fleet_env,
    support::{Run, mcp_oauth_with_env, protected, scripted_browser},
};

/// Runs the CLI with `cache` and `env`; `login` waits 15 s at most.
async fn run(args: &[&str], cache: &Path, env: &[(&str, &str)]) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--cache-dir", cache.to_str().unwrap()]);
    if args.first() == Some(&"login") {
        full.extend(["--login-timeout", "15"]);
    }
    mcp_oauth_with_env(&full, env).await
}

/// The token `token <url> [--account NAME]` prints.
async fn token(url: &str, account: Option<&str>, cache: &Path, env: &[(&str, &str)]) -> String {
    let mut args = vec!["token", url];
    if let Some(account) = account {
        args.extend(["--account", account]);
    }
    let printed = run(&args, cache, env).await;
    printed.success().stdout.trim().to_owned()
}

/// `status --json`, as (account, server) pairs.
async fn listed(cache: &Path, env: &[(&str, &str)], extra: &[&str]) -> Vec<(Value, String)> {
    let mut args = vec!["status", "--json"];
    args.extend(extra);
    let status = run(&args, cache, env).await;
    let list: Vec<Value> = serde_json::from_str(&status.success().stdout).unwrap();
    let mut pairs: Vec<(Value, String)> = list
        .into_iter()
        .map(|entry| {
            assert!(entry.get("error").is_none(), "{entry}");
            (
                entry["account"].clone(),
                entry["server"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort_by_key(|(account, _)| account.to_string());
    pairs
}

#[tokio::test]
async fn two_accounts_sign_in_list_and_log_out_apart() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let browser = scripted_browser(dir.path());
    let signing = [("BROWSER", browser.as_str())];
    let silent = [("BROWSER", "false")];

    let a = run(&["login", &url, "--account", "a"], &cache, &signing).await;
    assert!(
        a.success()
            .stdout
            .starts_with(&format!("Logged in to {url} as account \"a\" via ")),
        "{}",
        a.stdout
    );
    run(&["--account", "b", "login", &url], &cache, &signing)
        .await
        .success();
    run(&["login", &url], &cache, &signing).await.success();
    assert_eq!(
        auth.requests()
            .iter()
            .filter(|request| request.kind == AuthRequestKind::Authorize)
            .count(),
        3,
        "each account signs in on its own"
    );

    // `status` lists every account; `--account` one of them.
    assert_eq!(
        listed(&cache, &silent, &[]).await,
        [
            (Value::from("a"), url.clone()),
            (Value::from("b"), url.clone()),
            (Value::Null, url.clone()),
        ]
    );
    assert_eq!(
        listed(&cache, &silent, &["--account", "b"]).await,
        [(Value::from("b"), url.clone())]
    );
    let status = run(&["status"], &cache, &silent).await;
    let lines: Vec<&str> = status.success().stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for shown in ["account \"a\"", "account \"b\"", "account default"] {
        assert!(
            lines
                .iter()
                .any(|line| line.contains(shown) && line.contains(&url)),
            "{shown} in {lines:?}"
        );
    }

    // Each account its own token.
    let token_a = token(&url, Some("a"), &cache, &silent).await;
    let token_b = token(&url, Some("b"), &cache, &silent).await;
    let token_default = token(&url, None, &cache, &silent).await;
    assert_ne!(token_a, token_b);
    assert_ne!(token_a, token_default);
    assert_ne!(token_b, token_default);
    let issued: Vec<String> = auth.tokens().into_iter().map(|t| t.access_token).collect();
    for token in [&token_a, &token_b, &token_default] {
        assert!(issued.contains(token), "{token} was issued");
    }

    // Forgetting a leaves b and the default account signed in; a's token
    // is gone, with the exit code of "not signed in" and a hint naming a.
    let forgot = run(&["logout", &url, "--account", "a"], &cache, &silent).await;
    assert!(
        forgot.success().stdout.contains("\"a\""),
        "{}",
        forgot.stdout
    );
    let gone = run(&["token", &url, "--account", "a"], &cache, &silent).await;
    gone.exit(6);
    assert!(
        gone.stderr
            .contains(&format!("mcp-oauth login {url} --account a")),
        "{}",
        gone.stderr
    );
    assert_eq!(token(&url, Some("b"), &cache, &silent).await, token_b);
    assert_eq!(token(&url, None, &cache, &silent).await, token_default);

    // `logout <URL>` forgets the default account only.
    run(&["logout", &url], &cache, &silent).await.success();
    run(&["token", &url], &cache, &silent).await.exit(6);
    assert_eq!(token(&url, Some("b"), &cache, &silent).await, token_b);
    assert_eq!(
        listed(&cache, &silent, &[]).await,
        [(Value::from("b"), url.clone())]
    );

    // `--all` is every account; with `--account` it would be ambiguous.
    run(&["logout", "--all", "--account", "b"], &cache, &silent)
        .await
        .exit(2);
    run(&["logout", "--all"], &cache, &silent).await.success();
    assert!(listed(&cache, &silent, &[]).await.is_empty());
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_account_name_the_library_refuses_is_a_usage_error() {
    let dir = crate::support::tempdir().unwrap();
    for bad in ["", " padded", "line\nbreak"] {
        let refused = run(
            &["token", "http://127.0.0.1:9/mcp", "--account", bad],
            dir.path(),
            &[],
        )
        .await;
        refused.exit(2);
        assert!(
            refused.stderr.contains("cannot be used"),
            "{}",
            refused.stderr
        );
    }
}

#[tokio::test]
async fn accounts_on_a_shared_store_are_kept_apart() {
    let redis = RedisServer::start().unwrap();
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let browser = scripted_browser(dir.path());
    let store = redis.url();
    let signing = fleet_env(&store, "accounts", &browser);
    let silent = fleet_env(&store, "accounts", "false");

    for account in ["a", "b"] {
        run(&["login", &url, "--account", account], &cache, &signing)
            .await
            .success();
    }
    let token_a = token(&url, Some("a"), &cache, &silent).await;
    let token_b = token(&url, Some("b"), &cache, &silent).await;
    assert_ne!(token_a, token_b);
    let status = run(&["status"], &cache, &silent).await;
    let text = status.success().stdout.clone();
    assert!(
        text.contains("account \"a\"") && text.contains("account \"b\""),
        "{text}"
    );
    // Nothing for the default account, and nothing in the cache folder.
    run(&["token", &url], &cache, &silent).await.exit(6);
    assert!(!cache.exists());

    run(&["logout", &url, "--account", "a"], &cache, &silent)
        .await
        .success();
    run(&["token", &url, "--account", "a"], &cache, &silent)
        .await
        .exit(6);
    assert_eq!(token(&url, Some("b"), &cache, &silent).await, token_b);
    assert_eq!(
        listed(&cache, &silent, &[]).await,
        [(Value::from("b"), url.clone())]
    );
    assert_eq!(
        auth.requests()
            .iter()
            .filter(|request| request.kind == AuthRequestKind::Authorize)
            .count(),
        2
    );
}
