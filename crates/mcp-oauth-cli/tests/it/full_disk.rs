//! A disk that cannot take the new credentials: nothing single-use is spent
//! (no refresh token, no authorization code), the stored credentials stay
//! as they were, and the error names the storage, not a login.
//!
//! The disk is a real small tmpfs, filled up, in a private mount namespace
//! (root only: the test says so and skips elsewhere); the file size limit
//! (`RLIMIT_FSIZE`) makes the same writes fail without any privilege.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use mcp_oauth_testkit::{
    AuthFault, AuthRequest, AuthRequestKind, AuthServer, PreRegistered, RefreshMode,
};

use crate::support::{
    Run, age_stored_tokens, cli, mcp_oauth_with_env, protected, run_to_end, scripted_browser,
    stored_document, wait_until, without_settings,
};

/// Logs in to `url` with a cache in `cache`, through the scripted browser.
async fn log_in(url: &str, cache: &Path, dir: &Path) {
    mcp_oauth_with_env(
        &[
            "login",
            url,
            "--cache-dir",
            cache.to_str().unwrap(),
            "--login-timeout",
            "15",
        ],
        &[("BROWSER", &scripted_browser(dir))],
    )
    .await
    .success();
}

/// The refresh grants the authorization server received.
fn refreshes(requests: &[AuthRequest]) -> Vec<&AuthRequest> {
    requests
        .iter()
        .filter(|r| {
            r.kind == AuthRequestKind::Token && r.param("grant_type") == Some("refresh_token")
        })
        .collect()
}

/// The refresh token stored in `document`.
fn stored_refresh_token(document: &[u8]) -> String {
    let document: serde_json::Value = serde_json::from_slice(document).unwrap();
    document["tokens"]["refresh_token"]
        .as_str()
        .expect("a stored refresh token")
        .to_owned()
}

/// A failure that names the storage and its folder, the cause, and no login.
fn assert_storage_failure(run: &Run, folder: &Path, cause: &str) {
    run.exit(8);
    assert!(
        run.stderr
            .contains(&format!("token storage at {}", folder.display())),
        "the folder is named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(cause),
        "the cause is named: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("log in") && !run.stderr.contains("login"),
        "the way out is not a new login: {}",
        run.stderr
    );
}

/// Runs `script` with `sh` in a private mount namespace, where a filled-up
/// tmpfs of `size` is mounted on `$CACHE` (its first step copies what
/// `$SEED` holds into it). The mount lives only as long as the script's
/// processes and is never seen outside. `None`, after saying why, where
/// this machine does not allow it.
async fn in_full_tmpfs(
    cache: &Path,
    size: &str,
    script: &str,
    env: &[(&str, &str)],
) -> Option<Run> {
    let mut probe = without_settings(tokio::process::Command::new("unshare"));
    probe
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=64k tmpfs "$0" && umount "$0""#)
        .arg(cache);
    let allowed = match probe.output().await {
        Ok(output) if output.status.success() => true,
        Ok(output) => {
            eprintln!(
                "skipped: cannot mount a tmpfs in a private mount namespace here (it takes root, \
                 or CAP_SYS_ADMIN): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            false
        }
        Err(error) => {
            eprintln!("skipped: cannot run unshare(1) to get a private mount namespace: {error}");
            false
        }
    };
    if !allowed {
        return None;
    }
    let full = format!(
        r#"mount -t tmpfs -o size={size},mode=0700 tmpfs "$CACHE" || exit 97
trap 'umount "$CACHE"' EXIT
if [ -n "${{SEED:-}}" ]; then cp -p "$SEED"/* "$CACHE"/ || exit 97; fi
# Every block taken: nothing more can be written.
dd if=/dev/zero of="$CACHE/filler" bs=4096 2>/dev/null
{script}"#
    );
    let mut command = without_settings(tokio::process::Command::new("unshare"));
    command
        .args(["--mount", "--propagation", "private", "sh", "-c", &full])
        .env("CACHE", cache)
        .env("MCP", env!("CARGO_BIN_EXE_mcp-oauth"));
    for (key, value) in env {
        command.env(key, value);
    }
    let run = run_to_end(command).await;
    assert_ne!(
        run.code,
        Some(97),
        "the tmpfs could not be set up: {run:#?}"
    );
    Some(run)
}

/// The outcome of a CLI run the script recorded as `$OUT/<name>.{out,err,code}`.
fn recorded(out: &Path, name: &str) -> Run {
    let read = |extension: &str| {
        std::fs::read_to_string(out.join(format!("{name}.{extension}")))
            .unwrap_or_else(|error| panic!("{name}.{extension}: {error}"))
    };
    Run {
        code: read("code").trim().parse().ok(),
        stdout: read("out"),
        stderr: read("err"),
    }
}

#[tokio::test]
async fn a_full_disk_spends_no_refresh_token() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let (seed, cache, out) = folders(dir.path());
    let url = server.url();
    log_in(&url, &seed, dir.path()).await;
    age_stored_tokens(&url, &seed);
    let document = stored_document(&url, &seed);
    let before = std::fs::read(&document).unwrap();
    auth.clear_requests();

    let script = r#"
"$MCP" token "$URL" --cache-dir "$CACHE" >"$OUT/full.out" 2>"$OUT/full.err"
echo $? >"$OUT/full.code"
cp "$CACHE/$DOCUMENT" "$OUT/kept.json"
# Room again: the next run refreshes with the token that was kept.
rm "$CACHE/filler"
"$MCP" token "$URL" --cache-dir "$CACHE" >"$OUT/freed.out" 2>"$OUT/freed.err"
echo $? >"$OUT/freed.code"
"#;
    let name = document.file_name().unwrap().to_str().unwrap();
    let env = [
        ("SEED", seed.to_str().unwrap()),
        ("OUT", out.to_str().unwrap()),
        ("URL", url.as_str()),
        ("DOCUMENT", name),
    ];
    let Some(run) = in_full_tmpfs(&cache, "512k", script, &env).await else {
        auth.stop().await;
        server.stop().await;
        return;
    };
    assert_eq!(run.code, Some(0), "{run:#?}");

    let full = recorded(&out, "full");
    assert_storage_failure(&full, &cache, "No space left on device");
    assert_eq!(
        std::fs::read(out.join("kept.json")).unwrap(),
        before,
        "the stored credentials, refresh token included, are as they were"
    );
    let freed = recorded(&out, "freed");
    freed.success();
    let requests = auth.requests();
    let sent = refreshes(&requests);
    assert_eq!(
        sent.len(),
        1,
        "only the run with room refreshed: {requests:#?}"
    );
    assert_eq!(
        sent[0].param("refresh_token"),
        Some(stored_refresh_token(&before).as_str()),
        "with the refresh token kept"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.kind != AuthRequestKind::Authorize),
        "no sign-in was needed"
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_full_disk_exchanges_no_authorization_code() {
    let (auth, server) =
        protected(AuthServer::builder().pre_registered(PreRegistered::public("fixed-client")))
            .await;
    let dir = crate::support::tempdir().unwrap();
    let (_, cache, out) = folders(dir.path());
    let url = server.url();
    let script = r#"
"$MCP" login "$URL" --client-id fixed-client --cache-dir "$CACHE" --login-timeout 15 \
  >"$OUT/login.out" 2>"$OUT/login.err"
echo $? >"$OUT/login.code"
"#;
    let browser = scripted_browser(dir.path());
    let env = [
        ("OUT", out.to_str().unwrap()),
        ("URL", url.as_str()),
        ("BROWSER", browser.as_str()),
    ];
    let Some(run) = in_full_tmpfs(&cache, "256k", script, &env).await else {
        auth.stop().await;
        server.stop().await;
        return;
    };
    assert_eq!(run.code, Some(0), "{run:#?}");
    let login = recorded(&out, "login");
    login.exit(8);
    assert!(
        login
            .stderr
            .contains(&format!("token storage at {}", cache.display()))
            && login.stderr.contains("No space left on device"),
        "{}",
        login.stderr
    );
    let requests = auth.requests();
    assert!(
        requests.iter().all(|r| r.kind != AuthRequestKind::Token),
        "no code was exchanged for tokens that could not be kept: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.kind != AuthRequestKind::Authorize),
        "nobody was sent to sign in for nothing: {requests:#?}"
    );
    auth.stop().await;
    server.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_size_limit_spends_no_refresh_token() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    log_in(&url, &cache, dir.path()).await;
    age_stored_tokens(&url, &cache);
    let document = stored_document(&url, &cache);
    let before = std::fs::read(&document).unwrap();
    auth.clear_requests();

    // No file may grow past one block (512 or 1024 bytes, by the shell):
    // a credentials document cannot be written. SIGXFSZ is ignored (as
    // exec keeps it) so that the write fails with EFBIG instead of killing.
    let mut limited = without_settings(tokio::process::Command::new("sh"));
    limited
        .args(["-c", r#"trap '' XFSZ; ulimit -f 1 && exec "$0" "$@""#])
        .arg(env!("CARGO_BIN_EXE_mcp-oauth"))
        .args(["token", &url, "--cache-dir"])
        .arg(&cache);
    let run = run_to_end(limited).await;
    assert_storage_failure(&run, &cache, "File too large");
    assert_eq!(std::fs::read(&document).unwrap(), before, "kept as it was");
    assert!(
        refreshes(&auth.requests()).is_empty(),
        "no refresh was sent"
    );

    let run = mcp_oauth_with_env(
        &["token", &url, "--cache-dir", cache.to_str().unwrap()],
        &[],
    )
    .await;
    run.success();
    assert_eq!(
        refreshes(&auth.requests()).len(),
        1,
        "refreshed once, later"
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn room_for_the_new_tokens_is_taken_before_the_refresh_and_a_killed_run_leaves_none() {
    let (auth, server) = protected(AuthServer::builder().refresh_tokens(RefreshMode::Stable)).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    log_in(&url, &cache, dir.path()).await;
    age_stored_tokens(&url, &cache);
    let document = stored_document(&url, &cache);
    let stored = std::fs::read(&document).unwrap();
    auth.clear_requests();
    auth.set_fault(Some(AuthFault::SlowToken(Duration::from_secs(60))));

    let mut token = cli();
    token.args(["token", &url, "--cache-dir"]).arg(&cache);
    let mut running = token.spawn().unwrap();
    wait_until("the refresh reaches the token endpoint", || {
        !refreshes(&auth.requests()).is_empty()
    })
    .await;
    // While the refresh is out, the room for its answer is already taken.
    let reserved = temporary_files(&cache);
    assert_eq!(reserved.len(), 1, "{reserved:?}");
    let placeholder = std::fs::read(&reserved[0]).unwrap();
    assert!(
        placeholder.len() > stored.len(),
        "room for at least the document: {} bytes",
        placeholder.len()
    );
    let refresh_token = stored_refresh_token(&stored);
    assert!(
        !String::from_utf8_lossy(&placeholder).contains(&refresh_token),
        "the placeholder holds no secret"
    );

    running.start_kill().unwrap();
    tokio::time::timeout(Duration::from_secs(30), running.wait())
        .await
        .expect("killed in time")
        .unwrap();
    assert_eq!(temporary_files(&cache), reserved, "a killed run leaves it");
    auth.set_fault(None);
    mcp_oauth_with_env(
        &["token", &url, "--cache-dir", cache.to_str().unwrap()],
        &[],
    )
    .await
    .success();
    assert!(
        temporary_files(&cache).is_empty(),
        "the next run removes what the killed one left: {:?}",
        temporary_files(&cache)
    );
    auth.stop().await;
    server.stop().await;
}

/// A seed cache, the mount point of the small disk, and a folder for what
/// the runs inside report.
fn folders(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (seed, cache, out) = (dir.join("seed"), dir.join("cache"), dir.join("out"));
    for folder in [&cache, &out] {
        std::fs::create_dir(folder).unwrap();
    }
    (seed, cache, out)
}

/// The temporary files in `cache` (hidden, ending in `.tmp`), sorted.
fn temporary_files(cache: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with('.') && name.ends_with(".tmp")
        })
        .collect();
    found.sort();
    found
}
