//! No secret ever reaches the CLI's output, at its most verbose (`-vv` and
//! `RUST_LOG=trace`, every crate's every detail), on every path it offers:
//! the code flow, a refresh, the device grant, client credentials, the
//! proxy, a refused refresh and a denied sign-in. The secrets are taken
//! from what the authorization server saw and issued, and from the cache;
//! a failure names the kind of secret, never the secret.

use std::{path::Path, process::Stdio};

use mcp_oauth_testkit::{AuthServer, LoginMode, PreRegistered};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::support::{
    BOUND, Run, age_stored_tokens, cli, mcp_oauth_with_env, protected, scripted_browser,
    start_logging_proxy, stored_document,
};

/// Every secret the tests look for, with its kind.
#[derive(Default)]
struct Secrets(Vec<(&'static str, String)>);

impl Secrets {
    fn add(&mut self, kind: &'static str, secret: &str) {
        assert!(secret.len() >= 8, "a {kind} long enough to search for");
        if !self.0.iter().any(|(_, known)| known == secret) {
            self.0.push((kind, secret.to_owned()));
        }
    }

    /// What `auth` issued, and what clients sent it: access tokens, client
    /// secrets, authorization codes, PKCE verifiers, refresh tokens, device
    /// codes, client credentials in a `Basic` header; and the refresh token
    /// cached for `url` in `cache`.
    fn of(auth: &AuthServer, url: &str, cache: &Path) -> Self {
        let mut secrets = Self::default();
        for token in auth.tokens() {
            secrets.add("access token", &token.access_token);
        }
        for client in auth.registered_clients() {
            if let Some(secret) = &client.client_secret {
                secrets.add("client secret", secret);
            }
        }
        for request in auth.requests() {
            for (name, kind) in [
                ("code", "authorization code"),
                ("code_verifier", "PKCE verifier"),
                ("refresh_token", "refresh token"),
                ("device_code", "device code"),
                ("client_secret", "client secret"),
            ] {
                if let Some(secret) = request.param(name) {
                    secrets.add(kind, secret);
                }
            }
            if let Some(basic) = request
                .authorization
                .as_deref()
                .and_then(|header| header.strip_prefix("Basic "))
            {
                secrets.add("client authentication header", basic);
            }
        }
        if let Ok(text) = std::fs::read_to_string(stored_document(url, cache)) {
            let stored: serde_json::Value = serde_json::from_str(&text).unwrap();
            if let Some(refresh) = stored["tokens"]["refresh_token"].as_str() {
                secrets.add("refresh token", refresh);
            }
        }
        secrets
    }

    /// Fails unless every kind in `kinds` was found: a search for nothing
    /// would prove nothing.
    fn include(&self, kinds: &[&str]) -> &Self {
        for kind in kinds {
            assert!(
                self.0.iter().any(|(known, _)| known == kind),
                "no {kind} to look for"
            );
        }
        self
    }

    /// Fails, naming the kind of secret and where, when any appears in `text`.
    fn absent_from(&self, text: &str, place: &str) {
        for (kind, secret) in &self.0 {
            assert!(
                !text.contains(secret.as_str()),
                "the {kind} appears in {place}"
            );
        }
    }

    /// Checks both streams of `run`, and that it logged at trace level.
    fn absent_from_run(&self, run: &Run, what: &str) {
        assert!(run.stderr.contains("TRACE"), "{what}: no trace log");
        self.absent_from_output(run, what);
    }

    /// Checks both streams of `run`.
    fn absent_from_output(&self, run: &Run, what: &str) {
        self.absent_from(&run.stdout, &format!("the stdout of {what}"));
        self.absent_from(&run.stderr, &format!("the stderr of {what}"));
    }
}

/// Runs the CLI at its most verbose with `cache`, and `BROWSER`.
async fn verbose(args: &[&str], cache: &Path, browser: &str) -> Run {
    let mut full = vec!["-vv"];
    full.extend_from_slice(args);
    full.extend(["--cache-dir", cache.to_str().unwrap()]);
    mcp_oauth_with_env(&full, &[("RUST_LOG", "trace"), ("BROWSER", browser)]).await
}

/// A person at a browser: signs in as demo/demo on the testkit's login
/// page, then approves or denies on the consent page.
fn person(dir: &Path, decision: &str) -> String {
    let script = dir.join(format!("person-{decision}.sh"));
    let text = format!(
        r#"#!/bin/sh
set -eu
url=$1
origin=$(printf '%s' "$url" | sed -E 's#^(https?://[^/]+).*#\1#')
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT
field() {{ printf '%s' "$1" | sed -n "s/.*name=\"$2\" value=\"\([^\"]*\)\".*/\1/p" | head -n 1; }}
action() {{ printf '%s' "$1" | sed -n 's/.*<form method="post" action="\([^"]*\)".*/\1/p' | head -n 1; }}
get() {{ curl -sS --noproxy '*' --max-time 10 -c "$jar" -b "$jar" "$@"; }}
page=$(get "$url")
page=$(get --data-urlencode "request=$(field "$page" request)" \
  -d username=demo -d password=demo "$origin$(action "$page")")
get -L -o /dev/null --data-urlencode "request=$(field "$page" request)" \
  -d decision={decision} "$origin$(action "$page")"
"#
    );
    std::fs::write(&script, text).unwrap();
    format!("sh {}", script.display())
}

#[tokio::test]
async fn the_code_flow_and_a_refresh_log_no_secret() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let login = verbose(&["login", &url], &cache, &scripted_browser(dir.path())).await;
    login.success();
    let call = verbose(
        &["call", &url, "echo", "--args", r#"{"text":"x"}"#],
        &cache,
        "false",
    )
    .await;
    assert_eq!(call.success().stdout, "x\n");
    age_stored_tokens(&url, &cache);
    let refreshed = verbose(
        &["call", &url, "echo", "--args", r#"{"text":"y"}"#],
        &cache,
        "false",
    )
    .await;
    assert_eq!(refreshed.success().stdout, "y\n");
    assert_eq!(auth.issued_tokens(), 2, "a sign-in, then a refresh");
    let status = verbose(&["status", "--json"], &cache, "false").await;
    status.success();

    let secrets = Secrets::of(&auth, &url, &cache);
    secrets.include(&[
        "access token",
        "refresh token",
        "authorization code",
        "PKCE verifier",
    ]);
    secrets.absent_from_run(&login, "login");
    secrets.absent_from_run(&call, "a call with the cached token");
    secrets.absent_from_run(&refreshed, "a call that refreshed");
    // It reads the cache, and has nothing to log.
    secrets.absent_from_output(&status, "status");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn the_device_grant_logs_no_secret() {
    let (auth, server) = protected(
        AuthServer::builder()
            .login(LoginMode::Interactive)
            .device_authorization(std::time::Duration::from_secs(1)),
    )
    .await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let mut login = cli()
        .args(["-vv", "login", "--device", &url, "--login-timeout", "25"])
        .arg("--cache-dir")
        .arg(&cache)
        .env("RUST_LOG", "trace")
        .env("BROWSER", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = login.stdout.take().unwrap();
    let mut lines = BufReader::new(login.stderr.take().unwrap()).lines();
    let session = async {
        let mut stderr = String::new();
        let mut approved = false;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(code) = line.split(" and enter the code ").nth(1)
                && !approved
            {
                approved = auth.approve_device(code.trim());
                assert!(approved, "the code shown is the pending one");
            }
            stderr.push_str(&line);
            stderr.push('\n');
        }
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.unwrap();
        let status = login.wait().await.unwrap();
        Run {
            code: status.code(),
            stdout: out,
            stderr,
        }
    };
    let run = tokio::time::timeout(BOUND, session)
        .await
        .expect("the device login ended");
    assert!(
        run.success().stdout.starts_with("Logged in to"),
        "{}",
        run.stdout
    );
    let secrets = Secrets::of(&auth, &url, &cache);
    secrets.include(&["access token", "refresh token", "device code"]);
    secrets.absent_from_run(&run, "login --device");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn client_credentials_log_no_secret() {
    const SECRET: &str = "cc-secret-5f2a9d71e0";
    let (auth, server) = protected(
        AuthServer::builder().pre_registered(PreRegistered::confidential("machine", SECRET)),
    )
    .await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let machine = [
        "--grant",
        "client-credentials",
        "--client-id",
        "machine",
        "--client-secret",
        SECRET,
    ];
    let mut args = vec!["call", &url, "echo", "--args", r#"{"text":"m"}"#];
    args.extend(machine);
    let call = verbose(&args, &cache, "false").await;
    assert_eq!(call.success().stdout, "m\n");
    assert_eq!(auth.tokens()[0].grant_type, "client_credentials");

    let mut secrets = Secrets::of(&auth, &url, &cache);
    secrets.add("client secret", SECRET);
    secrets.include(&["access token", "client authentication header"]);
    secrets.absent_from_run(&call, "a call with client credentials");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn the_proxy_logs_no_secret() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    // The first start signs in.
    let (proxy, mut host, log) = start_logging_proxy(&url, &cache, &scripted_browser(dir.path()));
    host.handshake().await;
    let called = host.ask(crate::support::echo(2, "proxied")).await;
    assert_eq!(called["result"]["content"][0]["text"], "proxied");
    assert!(host.finish(proxy).await.success());
    let log = tokio::time::timeout(BOUND, log).await.unwrap().unwrap();
    assert!(log.contains("TRACE"), "no trace log");

    let secrets = Secrets::of(&auth, &url, &cache);
    secrets.include(&[
        "access token",
        "refresh token",
        "authorization code",
        "PKCE verifier",
    ]);
    secrets.absent_from(&log, "the proxy's log");
    for message in &host.seen {
        secrets.absent_from(&message.to_string(), "the proxy's messages to the host");
    }
    auth.stop().await;
    server.stop().await;
}

/// A confidential client signs in, its refresh token is then refused (for
/// `token`, which never signs in, and for a call, which signs in again),
/// and the person denies the new sign-in.
#[tokio::test]
async fn a_refused_refresh_and_a_denied_sign_in_log_no_secret() {
    const SECRET: &str = "web-secret-93c1b7d4a2";
    let (auth, server) = protected(
        AuthServer::builder()
            .login(LoginMode::Interactive)
            .pre_registered(PreRegistered::confidential("web", SECRET)),
    )
    .await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let client = ["--client-id", "web", "--client-secret", SECRET];
    let mut login = vec!["login", url.as_str()];
    login.extend(client);
    let approved = verbose(&login, &cache, &person(dir.path(), "approve")).await;
    approved.success();

    auth.revoke_refresh_tokens();
    age_stored_tokens(&url, &cache);
    let token = verbose(&["token", &url], &cache, "false").await;
    token.exit(6);
    let mut call = vec!["call", url.as_str(), "echo"];
    call.extend(client);
    let denied = verbose(&call, &cache, &person(dir.path(), "deny")).await;
    denied.exit(6);
    let authorizations = auth
        .requests()
        .iter()
        .filter(|r| r.kind == mcp_oauth_testkit::AuthRequestKind::Authorize)
        .count();
    assert_eq!(authorizations, 2, "signed in, then denied");

    let mut secrets = Secrets::of(&auth, &url, &cache);
    secrets.add("client secret", SECRET);
    secrets.include(&[
        "access token",
        "refresh token",
        "authorization code",
        "PKCE verifier",
        "client authentication header",
    ]);
    secrets.absent_from_run(&approved, "a confidential client's login");
    secrets.absent_from_run(&token, "token with a refused refresh token");
    secrets.absent_from_run(&denied, "a call whose new sign-in was denied");
    auth.stop().await;
    server.stop().await;
}
