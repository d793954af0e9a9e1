//! `login --device`: a person approves on another device while the CLI polls.

use std::{process::Stdio, time::Duration};

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, LoginMode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::support::{BOUND, cli, http, mcp_oauth_with_env, protected};

/// The URL and the code the CLI told the person about.
fn instructions(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("To sign in, open ")?;
    let (url, code) = rest.split_once(" and enter the code ")?;
    Some((url.to_owned(), code.trim().to_owned()))
}

#[tokio::test]
async fn a_person_approves_on_the_verification_page_and_the_cli_signs_in() {
    let (auth, server) = protected(
        AuthServer::builder()
            .login(LoginMode::Interactive)
            .device_authorization(Duration::from_secs(1)),
    )
    .await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let mut login = cli()
        .args(["login", "--device", &url, "--login-timeout", "25"])
        .arg("--cache-dir")
        .arg(&cache)
        // Any attempt to open a browser would fail.
        .env("BROWSER", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(login.stderr.take().unwrap()).lines();
    let (page, code) = tokio::time::timeout(BOUND, async {
        loop {
            let line = stderr
                .next_line()
                .await
                .unwrap()
                .expect("instructions on stderr");
            if let Some(found) = instructions(&line) {
                return found;
            }
        }
    })
    .await
    .expect("the code was shown");
    assert_eq!(page, format!("{}/device", auth.issuer()));

    // The person opens the page on their phone, signs in and approves.
    let person = http();
    let form = [
        ("user_code", code.as_str()),
        ("username", "demo"),
        ("password", "demo"),
        ("decision", "approve"),
    ];
    let approved = tokio::time::timeout(BOUND, person.post(&page).form(&form).send())
        .await
        .expect("the verification page answered in time")
        .unwrap();
    assert_eq!(approved.status(), 200);

    let status = tokio::time::timeout(BOUND, login.wait())
        .await
        .expect("login ended after approval")
        .unwrap();
    let mut stdout = String::new();
    login
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    assert!(status.success(), "{stdout}");
    assert!(
        stdout.starts_with(&format!("Logged in to {url}")),
        "{stdout}"
    );
    assert!(stdout.contains("refreshes automatically"), "{stdout}");
    let authorize = AuthRequestKind::Authorize;
    let authorizations = auth
        .requests()
        .iter()
        .filter(|r| r.kind == authorize)
        .count();
    assert_eq!(authorizations, 0, "no browser sign-in");

    // Signed in for good: a call needs no browser and no new code.
    let cache = cache.to_str().unwrap();
    let call = mcp_oauth_with_env(
        &[
            "call",
            &url,
            "add",
            "--args",
            r#"{"a":1,"b":2}"#,
            "--cache-dir",
            cache,
        ],
        &[("BROWSER", "false")],
    )
    .await;
    assert_eq!(call.success().stdout, "3\n");
    assert_eq!(auth.device_requests().len(), 1);
}

#[tokio::test]
async fn device_login_needs_a_server_that_offers_it_and_a_person() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let url = server.url();
    let refused = mcp_oauth_with_env(&["login", "--device", &url, "--cache-dir", cache], &[]).await;
    refused.exit(6);
    assert!(
        refused.stderr.contains("device_authorization_endpoint"),
        "{}",
        refused.stderr
    );
    // The way out names options: the command line's hint does.
    let hint = refused.stderr.lines().find(|l| l.starts_with("hint: "));
    assert!(
        hint.is_some_and(|hint| hint.contains("--no-browser")),
        "{}",
        refused.stderr
    );
    assert!(auth.registered_clients().is_empty());

    let machine = mcp_oauth_with_env(
        &[
            "login",
            "--device",
            "--grant",
            "client-credentials",
            "--client-id",
            "x",
            &url,
        ],
        &[],
    )
    .await;
    machine.exit(2);
    assert!(machine.stderr.contains("--device"), "{}", machine.stderr);
}
