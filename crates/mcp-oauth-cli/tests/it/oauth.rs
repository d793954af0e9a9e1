//! The OAuth flow through the CLI, with a scripted browser.

use std::{path::Path, process::Stdio, time::Duration};

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::{
    BOUND, Run, age_stored_tokens, cli, mcp_oauth_with_env, protected, scripted_browser,
    stored_document,
};

/// Runs the CLI with `cache`; commands that may sign in wait 15 s at most
/// (`status`, `token` and `logout` never sign in, and take no such option).
async fn run(args: &[&str], cache: &Path, browser: &str) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--cache-dir", cache.to_str().unwrap()]);
    if !matches!(args.first(), Some(&("status" | "token" | "logout"))) {
        full.extend(["--login-timeout", "15"]);
    }
    mcp_oauth_with_env(&full, &[("BROWSER", browser)]).await
}

#[tokio::test]
async fn login_once_then_every_command_works_without_a_browser() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();

    let login = run(&["login", &url], &cache, &scripted_browser(dir.path())).await;
    login.success();
    assert!(
        login
            .stdout
            .starts_with(&format!("Logged in to {url} via {}", auth.issuer())),
        "{}",
        login.stdout
    );
    assert!(
        login.stderr.contains("/authorize?"),
        "the URL is always printed: {}",
        login.stderr
    );

    // No browser from now on: `false` would fail any attempt to open one.
    let call = run(
        &["call", &url, "add", "--args", r#"{"a":2,"b":40}"#],
        &cache,
        "false",
    )
    .await;
    assert_eq!(call.success().stdout, "42\n");
    let tools = run(&["tools", &url], &cache, "false").await;
    assert!(tools.success().stdout.contains("echo "));
    assert_eq!(
        auth.requests()
            .iter()
            .filter(|r| r.kind == AuthRequestKind::Authorize)
            .count(),
        1
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_first_call_logs_in_by_itself() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let call = run(
        &[
            "call",
            &server.url(),
            "echo",
            "--args",
            r#"{"text":"authorized"}"#,
        ],
        &dir.path().join("cache"),
        &scripted_browser(dir.path()),
    )
    .await;
    assert_eq!(call.success().stdout, "authorized\n");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn no_browser_login_completes_with_the_pasted_redirect_url() {
    let notices = login_by_pasting(&["--no-browser"]).await;
    assert!(
        notices.contains("Open this URL in a browser to sign in:"),
        "{notices}"
    );
    // Without a display the CLI would print the URL anyway, with this
    // prefix: its absence shows `--no-browser` was obeyed.
    assert!(!notices.contains("No graphical display"), "{notices}");
}

/// Without a display and without `$BROWSER`, no browser is pretended: the URL
/// is printed and a pasted redirect completes the login.
#[tokio::test]
async fn without_a_display_the_url_is_printed_instead() {
    let notices = login_by_pasting(&[]).await;
    assert!(notices.contains("No graphical display found."), "{notices}");
}

/// Logs in as a person who reads the URL on stderr, approves, and pastes
/// where the browser landed (the callback is never reached here); returns stderr.
async fn login_by_pasting(extra: &[&str]) -> String {
    let (_auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let mut child = cli()
        .args(["login", &server.url(), "--login-timeout", "15"])
        .args(extra)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env_remove("BROWSER")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("WSL_DISTRO_NAME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let paste = async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
            let Some(start) = line.find("http") else {
                continue;
            };
            if !line.contains("/authorize?") {
                continue;
            }
            let no_redirects = reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let answer = no_redirects.get(&line[start..]).send().await.unwrap();
            let landed = answer.headers()["location"].to_str().unwrap().to_owned();
            stdin
                .write_all(format!("{landed}\n").as_bytes())
                .await
                .unwrap();
            return;
        }
        panic!("no authorization URL was printed");
    };
    tokio::time::timeout(BOUND, paste).await.expect("bounded");
    let output = tokio::time::timeout(BOUND, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("Logged in to"), "{stdout}");
    seen
}

#[tokio::test]
async fn a_callback_port_in_use_is_named_with_the_fix() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let login = run(
        &["login", &server.url(), "--callback-port", &port],
        &dir.path().join("cache"),
        "false",
    )
    .await;
    login.exit(6);
    assert!(login.stderr.contains(&port), "{}", login.stderr);
    // The option is the command line's to name: in the hint.
    assert!(hint(&login).contains("--callback-port"), "{}", login.stderr);
    drop(busy);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_authorization_server_without_registration_asks_for_a_client_id() {
    let (auth, server) = protected(AuthServer::builder().dynamic_registration(false)).await;
    let dir = crate::support::tempdir().unwrap();
    let login = run(
        &["login", &server.url()],
        &dir.path().join("cache"),
        "false",
    )
    .await;
    login.exit(6);
    assert!(login.stderr.contains("registration"), "{}", login.stderr);
    assert!(hint(&login).contains("--client-id"), "{}", login.stderr);
    auth.stop().await;
    server.stop().await;
}

/// The `hint:` line of a failure.
fn hint(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|line| line.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint line: {}", run.stderr))
}

#[tokio::test]
async fn status_token_and_logout_manage_the_cache() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    run(&["login", &url], &cache, &scripted_browser(dir.path()))
        .await
        .success();

    let status = run(&["status", "--json"], &cache, "false").await;
    let listed: serde_json::Value = serde_json::from_str(&status.success().stdout).unwrap();
    assert_eq!(listed[0]["server"], url.as_str());
    assert_eq!(listed[0]["issuer"], auth.issuer().as_str());
    assert_eq!(listed[0]["can_refresh"], true);
    let status = run(&["status"], &cache, "false").await;
    assert!(
        status.success().stdout.contains("refreshable"),
        "{}",
        status.stdout
    );

    // `token` prints the cached token, for curl and scripts.
    let token = run(&["token", &url], &cache, "false").await;
    assert_eq!(token.success().stdout.trim(), auth.tokens()[0].access_token);
    let token = run(&["token", &url, "--json"], &cache, "false").await;
    let token: serde_json::Value = serde_json::from_str(&token.success().stdout).unwrap();
    assert_eq!(
        token["access_token"],
        auth.tokens()[0].access_token.as_str()
    );

    run(&["logout", &url], &cache, "false").await.success();
    let status = run(&["status", "--json"], &cache, "false").await;
    assert_eq!(status.success().stdout.trim(), "[]");
    let token = run(&["token", &url], &cache, "false").await;
    token.exit(6);
    assert!(token.stderr.contains("mcp-oauth login"), "{}", token.stderr);

    run(&["login", &url], &cache, &scripted_browser(dir.path()))
        .await
        .success();
    run(&["logout", "--all"], &cache, "false").await.success();
    let status = run(&["status", "--json"], &cache, "false").await;
    assert_eq!(status.success().stdout.trim(), "[]");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn eight_processes_with_an_expired_token_make_one_refresh() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    run(&["login", &url], &cache, &scripted_browser(dir.path()))
        .await
        .success();
    // Expired by hand: the refreshed token then lives an hour, however
    // long the eight take to start.
    age_stored_tokens(&url, &cache);
    auth.clear_requests();

    let calls = (0..8).map(|n| {
        let (cache, url) = (cache.clone(), url.clone());
        async move {
            let text = format!(r#"{{"text":"p{n}"}}"#);
            run(&["call", &url, "echo", "--args", &text], &cache, "false").await
        }
    });
    for (n, call) in futures::future::join_all(calls).await.iter().enumerate() {
        assert_eq!(call.success().stdout, format!("p{n}\n"));
    }
    let tokens: Vec<_> = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .collect();
    assert_eq!(tokens.len(), 1, "one refresh for all eight: {tokens:#?}");
    assert_eq!(tokens[0].param("grant_type"), Some("refresh_token"));
    let authorizations = auth
        .requests()
        .iter()
        .filter(|r| r.kind == AuthRequestKind::Authorize)
        .count();
    assert_eq!(authorizations, 0, "no new sign-in");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn four_processes_without_tokens_share_one_login() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let browser = scripted_browser(dir.path());
    let url = server.url();
    let calls = (0..4).map(|n| {
        let (cache, url, browser) = (cache.clone(), url.clone(), browser.clone());
        async move {
            let text = format!(r#"{{"text":"q{n}"}}"#);
            run(&["call", &url, "echo", "--args", &text], &cache, &browser).await
        }
    });
    for (n, call) in futures::future::join_all(calls).await.iter().enumerate() {
        assert_eq!(call.success().stdout, format!("q{n}\n"));
    }
    let count = |kind| auth.requests().iter().filter(|r| r.kind == kind).count();
    assert_eq!(count(AuthRequestKind::Authorize), 1, "one browser login");
    assert_eq!(count(AuthRequestKind::Register), 1);
    assert_eq!(count(AuthRequestKind::Token), 1);
    auth.stop().await;
    server.stop().await;
}

/// SIGKILL at random moments while the CLI refreshes and writes the store,
/// 200 times: the document always parses and keeps a refresh token.
#[tokio::test]
async fn killed_at_any_moment_the_store_is_never_torn() {
    use mcp_oauth_testkit::RefreshMode;
    use std::os::unix::process::ExitStatusExt;
    let (auth, server) = protected(AuthServer::builder().refresh_tokens(RefreshMode::Stable)).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    run(&["login", &url], &cache, &scripted_browser(dir.path()))
        .await
        .success();
    let document = stored_document(&url, &cache);

    // Every `token` run below refreshes (the stored token is aged first),
    // and so writes. Each is killed after its refresh request reached the
    // server: within twice the time a whole run takes from there to its
    // end, so that kills land between the answer, the write and the exit on
    // a fast machine and a loaded one alike.
    let (status, after_request) = refresh_once(&auth, &url, &cache, None).await;
    assert!(status.success(), "{status:?}");
    let window = (after_request.as_micros() as u64 * 2).max(1000);
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut cut_short = 0;
    for round in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % window);
        let (status, _) = refresh_once(&auth, &url, &cache, Some(delay)).await;
        if status.signal() == Some(9) {
            cut_short += 1;
        } else {
            assert!(status.success(), "round {round}: {status:?}");
        }
        let text = std::fs::read_to_string(&document).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("round {round}: torn document: {error}"));
        assert!(
            parsed["tokens"]["refresh_token"].is_string(),
            "round {round}: the refresh token is kept"
        );
    }
    eprintln!("{cut_short} of 200 refreshing runs killed before their end");
    // Only if every kill came after its run had ended: the window is twice
    // the length of a whole run, so that would mean runs got faster
    // hundredfold.
    assert!(cut_short > 0, "no run was cut short");
    // And it still works.
    let token = run(&["token", &url], &cache, "false").await;
    assert!(!token.success().stdout.trim().is_empty());
    auth.stop().await;
    server.stop().await;
}

/// Ages the stored token and runs `mcp-oauth token`, which then refreshes;
/// once its refresh request has reached the server, kills it after `kill`
/// (or lets it end). The exit status, and the time from the request to it.
async fn refresh_once(
    auth: &AuthServer,
    url: &str,
    cache: &Path,
    kill: Option<Duration>,
) -> (std::process::ExitStatus, Duration) {
    age_stored_tokens(url, cache);
    auth.clear_requests();
    let mut child = cli()
        .args(["token", url, "--cache-dir"])
        .arg(cache)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let requested = async {
        loop {
            let asked = auth
                .requests()
                .iter()
                .any(|r| r.kind == AuthRequestKind::Token);
            if asked {
                return;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the run ended without a refresh request: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(BOUND, requested)
        .await
        .expect("the refresh request within the bound");
    let seen = std::time::Instant::now();
    if let Some(delay) = kill {
        tokio::time::sleep(delay).await;
        // The run may have ended already: then there is nothing to kill.
        let _ = child.start_kill();
    }
    let status = tokio::time::timeout(BOUND, child.wait())
        .await
        .expect("the run ends")
        .unwrap();
    (status, seen.elapsed())
}

#[tokio::test]
async fn login_to_a_server_that_needs_none_says_so() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let login = run(&["login", &server.url()], dir.path(), "false").await;
    assert!(
        login
            .success()
            .stdout
            .contains("answers without authorization: there is nothing to log in to"),
        "{login:#?}"
    );
    let json = run(&["login", "--json", &server.url()], dir.path(), "false").await;
    let answer: serde_json::Value = serde_json::from_str(&json.success().stdout).unwrap();
    assert_eq!(answer["authorization_required"], false);
}
