//! `--store keyring`: credentials in a Secret Service of the test's own
//! (gnome-keyring on a private D-Bus session bus), never in a file; the
//! cache folder holds the lock files only.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use mcp_oauth::TokenStorage as _;
use mcp_oauth_keyring::KeyringStore;
use mcp_oauth_testkit::{AuthRequestKind, AuthServer, KeyringDaemon, KeyringItem};

use crate::support::{Run, age_tokens, mcp_oauth_with_env, protected, scripted_browser};

/// Runs the CLI with `--store keyring` on the session bus at `bus`, its
/// credentials folder `cache` and its home folder `home` (so that nothing
/// goes to the default folders); commands that may sign in wait 15 s at most.
async fn run(args: &[&str], bus: &str, cache: &Path, home: &Path, browser: &str) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--store", "keyring", "--cache-dir", cache.to_str().unwrap()]);
    if !matches!(args.first(), Some(&("status" | "token" | "logout"))) {
        full.extend(["--login-timeout", "15"]);
    }
    let home = home.to_str().unwrap();
    let data = format!("{home}/data");
    mcp_oauth_with_env(
        &full,
        &[
            ("BROWSER", browser),
            ("DBUS_SESSION_BUS_ADDRESS", bus),
            ("HOME", home),
            ("XDG_DATA_HOME", &data),
        ],
    )
    .await
}

/// A test's folders: the credentials folder (not made yet) and an empty home.
fn folders() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = crate::support::tempdir().unwrap();
    let (cache, home) = (dir.path().join("cache"), dir.path().join("home"));
    std::fs::create_dir(&home).unwrap();
    (dir, cache, home)
}

/// The items of mcp-oauth in `daemon`'s keyring, as found by their service.
fn items(daemon: &KeyringDaemon) -> Vec<KeyringItem> {
    daemon.items(&[("service", "mcp-oauth")]).unwrap()
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                files.push(relative.display().to_string());
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn login_keeps_the_credentials_in_the_keychain_and_none_on_disk() {
    let daemon = KeyringDaemon::start().unwrap();
    let bus = daemon.bus_address();
    let (auth, server) = protected(AuthServer::builder()).await;
    let (dir, cache, home) = folders();
    let url = server.url();

    let login = run(
        &["login", &url],
        bus,
        &cache,
        &home,
        &scripted_browser(dir.path()),
    )
    .await;
    assert!(
        login
            .success()
            .stdout
            .starts_with(&format!("Logged in to {url}"))
    );
    let found = items(&daemon);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].attributes["server"], url);
    assert_eq!(found[0].attributes["username"], url);
    assert_eq!(found[0].label, format!("mcp-oauth: {url}"));
    let token = auth.tokens()[0].access_token.clone();
    assert!(
        !format!("{found:?}").contains(&token),
        "no token outside the secret"
    );

    // No credentials file anywhere: the cache folder holds the lock file
    // only, the home folder nothing at all.
    let lock = files_under(&cache);
    assert_eq!(lock.len(), 1, "{lock:?}");
    assert!(lock[0].ends_with(".lock"), "{lock:?}");
    assert!(std::fs::read(cache.join(&lock[0])).unwrap().is_empty());
    assert_eq!(files_under(&home), Vec::<String>::new());
    assert_eq!(
        files_under(dir.path()),
        ["browser.sh".to_owned(), format!("cache/{}", lock[0])]
    );

    // A new process, no browser (`false` fails any attempt to open one):
    // the tokens come from the keychain.
    let tools = run(&["tools", &url], bus, &cache, &home, "false").await;
    assert!(tools.success().stdout.contains("echo "), "{tools:?}");
    let count = |kind| auth.requests().iter().filter(|r| r.kind == kind).count();
    assert_eq!(count(AuthRequestKind::Authorize), 1, "one sign-in");
    assert_eq!(count(AuthRequestKind::Token), 1, "no refresh");
    let status = run(&["status"], bus, &cache, &home, "false").await;
    assert!(status.success().stdout.contains(&url), "{status:?}");
    assert!(status.stdout.contains("refreshable"), "{status:?}");
    let status = run(&["status", "--json"], bus, &cache, &home, "false").await;
    let listed: serde_json::Value = serde_json::from_str(&status.success().stdout).unwrap();
    assert_eq!(listed[0]["server"], url.as_str(), "{listed}");
    assert_eq!(listed[0]["account"], serde_json::Value::Null);

    // logout removes the item (and the lock file nobody holds).
    let logout = run(&["logout", &url], bus, &cache, &home, "false").await;
    assert_eq!(
        logout.success().stdout,
        format!("Forgot the credentials of {url}.\n")
    );
    assert_eq!(items(&daemon), Vec::new(), "the item is gone");
    assert_eq!(files_under(&cache), Vec::<String>::new());
    let status = run(&["status", "--json"], bus, &cache, &home, "false").await;
    assert_eq!(status.success().stdout.trim(), "[]");

    // logout --all forgets every account's item.
    for account in [None, Some("work")] {
        let mut args = vec!["login", url.as_str()];
        args.extend(
            account
                .map(|name| ["--account", name])
                .into_iter()
                .flatten(),
        );
        run(&args, bus, &cache, &home, &scripted_browser(dir.path()))
            .await
            .success();
    }
    assert_eq!(items(&daemon).len(), 2);
    let all = run(&["logout", "--all"], bus, &cache, &home, "false").await;
    assert!(all.success().stdout.starts_with("Forgot 2 "), "{all:?}");
    assert_eq!(items(&daemon), Vec::new());
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn no_keychain_or_a_locked_one_exits_3_with_a_hint_at_once() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let (dir, cache, home) = folders();
    let url = server.url();
    let browser = scripted_browser(dir.path());

    // A session bus address where nothing listens.
    let nowhere = format!("unix:path={}", dir.path().join("no-bus").display());
    let started = Instant::now();
    let refused = run(&["login", &url], &nowhere, &cache, &home, &browser).await;
    refused.exit(3);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        refused
            .stderr
            .contains("error: token store Secret Service is unreachable"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains(&nowhere), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("hint: --store keyring needs the OS keychain"),
        "{}",
        refused.stderr
    );
    assert!(auth.requests().is_empty(), "nothing asked of the server");
    assert!(!cache.exists(), "no file instead");

    // A keychain that is locked and cannot be unlocked (no prompter).
    let daemon = KeyringDaemon::start().unwrap();
    let bus = daemon.bus_address();
    run(&["login", &url], bus, &cache, &home, &browser)
        .await
        .success();
    daemon.lock().unwrap();
    auth.clear_requests();
    for command in ["login", "token"] {
        let started = Instant::now();
        let locked = run(&[command, &url], bus, &cache, &home, &browser).await;
        locked.exit(3);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(locked.stderr.contains("locked"), "{}", locked.stderr);
        assert!(
            locked.stderr.contains("hint: --store keyring"),
            "{}",
            locked.stderr
        );
    }
    assert!(auth.requests().is_empty(), "no token request");
    assert_eq!(items(&daemon).len(), 1, "the credentials are kept");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn eight_processes_with_an_expired_token_in_the_keychain_make_one_refresh() {
    let daemon = KeyringDaemon::start().unwrap();
    let bus = daemon.bus_address();
    let (auth, server) = protected(AuthServer::builder()).await;
    let (dir, cache, home) = folders();
    let url = server.url();
    run(
        &["login", &url],
        bus,
        &cache,
        &home,
        &scripted_browser(dir.path()),
    )
    .await
    .success();
    // Expired by hand, in the keychain: the refreshed token then lives an
    // hour, however long the eight take to start.
    let store = KeyringStore::builder()
        .session_bus(bus)
        .lock_dir(&cache)
        .open()
        .await
        .unwrap();
    let storage = store.storage(&url).unwrap();
    let mut document = serde_json::to_value(storage.load().await.unwrap().unwrap()).unwrap();
    age_tokens(&mut document);
    storage
        .save(&serde_json::from_value(document).unwrap())
        .await
        .unwrap();
    auth.clear_requests();

    let calls = (0..8).map(|n| {
        let (cache, home, url) = (cache.clone(), home.clone(), url.clone());
        async move {
            let text = format!(r#"{{"text":"p{n}"}}"#);
            run(
                &["call", &url, "echo", "--args", &text],
                bus,
                &cache,
                &home,
                "false",
            )
            .await
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
    assert_eq!(items(&daemon).len(), 1, "one item, refreshed in place");
    assert_eq!(files_under(&cache).len(), 1, "the lock file only");
    auth.stop().await;
    server.stop().await;
}
