//! The credentials folder as others may have left it: temporary files of a
//! killed run, files that are not the store's, entries that cannot be
//! removed, a folder open to other users, a planted lock link.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, TestServer};

use crate::support::{
    Run, age_stored_tokens, mcp_oauth_with_env, protected, scripted_browser, stored_document,
};

/// Runs the CLI on `cache`; `login` goes through the scripted browser.
async fn run(args: &[&str], cache: &Path) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--cache-dir", cache.to_str().unwrap()]);
    let browser = scripted_browser(cache.parent().unwrap());
    if args.first() == Some(&"login") {
        full.extend(["--login-timeout", "15"]);
    }
    mcp_oauth_with_env(&full, &[("BROWSER", &browser)]).await
}

/// A protected server, logged in to with a cache in `dir/cache`.
async fn logged_in(dir: &Path) -> (AuthServer, TestServer, PathBuf) {
    let (auth, server) = protected(AuthServer::builder()).await;
    let cache = dir.join("cache");
    run(&["login", &server.url()], &cache).await.success();
    (auth, server, cache)
}

/// Leaves in `cache` what a run killed between writing and renaming leaves,
/// a temporary file holding the whole document of `url`: one as this
/// version names them (`.<document stem>.<random>.tmp`, its writer gone),
/// one as earlier versions did (`.tmp` and six letters, ten minutes old).
fn leave_temporary_files(url: &str, cache: &Path) -> Vec<PathBuf> {
    let document = stored_document(url, cache);
    let contents = std::fs::read(&document).unwrap();
    let stem = document.file_stem().unwrap().to_str().unwrap();
    let left = vec![
        cache.join(format!(".{stem}.k1LL3dWr1t.tmp")),
        cache.join(".tmpAb3xQ9"),
    ];
    for path in &left {
        std::fs::write(path, &contents).unwrap();
        set_private(path);
    }
    std::fs::File::options()
        .write(true)
        .open(&left[1])
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(600))
        .unwrap();
    left
}

fn set_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The names in `cache`, sorted.
fn names(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn logout_removes_every_file_of_the_forgotten_server() {
    let dir = crate::support::tempdir().unwrap();
    let (auth, server, cache) = logged_in(dir.path()).await;
    let url = server.url();
    leave_temporary_files(&url, &cache);
    run(&["logout", &url], &cache).await.success();
    assert!(
        names(&cache).is_empty(),
        "document, lock and temporary files all go: {:?}",
        names(&cache)
    );

    run(&["login", &url], &cache).await.success();
    leave_temporary_files(&url, &cache);
    run(&["logout", "--all"], &cache).await.success();
    assert!(names(&cache).is_empty(), "{:?}", names(&cache));
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn logout_all_forgets_only_the_stores_files_and_reports_what_it_could_not_remove() {
    let dir = crate::support::tempdir().unwrap();
    let (auth, server, cache) = logged_in(dir.path()).await;
    let (other_auth, other_server) = protected(AuthServer::builder()).await;
    run(&["login", &other_server.url()], &cache).await.success();
    // Not the store's: any JSON, and JSON of another kind under a name
    // like the store's.
    std::fs::write(cache.join("notes.json"), r#"{"mine": true}"#).unwrap();
    let lookalike = "backup-0123456789abcdef.json";
    std::fs::write(cache.join(lookalike), r#"{"mine": true}"#).unwrap();
    // Named as a document, but a folder: it cannot be removed as a file.
    let stuck = "stuck.example-0123456789abcdef.json";
    std::fs::create_dir_all(cache.join(stuck).join("inside")).unwrap();

    let logout = run(&["logout", "--all"], &cache).await;
    logout.exit(8);
    assert!(logout.stderr.contains(stuck), "{}", logout.stderr);
    assert!(
        logout.stderr.contains("could not remove 1 "),
        "{}",
        logout.stderr
    );
    assert!(
        logout.stderr.contains("hint: every other file was removed"),
        "{}",
        logout.stderr
    );
    assert_eq!(
        names(&cache),
        [lookalike, "notes.json", stuck],
        "every other file of the store is gone, nothing else is"
    );
    for server in [&server, &other_server] {
        assert!(!stored_document(&server.url(), &cache).exists());
    }
    for stopped in [auth, other_auth] {
        stopped.stop().await;
    }
    server.stop().await;
    other_server.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_cache_folder_open_to_others_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::support::tempdir().unwrap();
    let (auth, server, cache) = logged_in(dir.path()).await;
    let url = server.url();
    let fix = format!("chmod 700 {}", cache.display());
    for mode in [0o777, 0o770, 0o1733] {
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(mode)).unwrap();
        for args in [&["token", &url][..], &["status"], &["login", &url]] {
            let refused = run(args, &cache).await;
            refused.exit(8);
            assert!(
                refused.stderr.contains(&fix),
                "{mode:o} {args:?}: {}",
                refused.stderr
            );
        }
    }
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    run(&["token", &url], &cache).await.success();

    if !is_root() {
        eprintln!("skipped the other owner's folder: only root can give a folder away");
    } else {
        std::os::unix::fs::chown(&cache, Some(65534), None).unwrap();
        let refused = run(&["token", &url], &cache).await;
        std::os::unix::fs::chown(&cache, Some(0), None).unwrap();
        refused.exit(8);
        assert!(
            refused.stderr.contains("belongs to another user"),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(
        auth.requests()
            .iter()
            .filter(|r| r.kind == AuthRequestKind::Authorize)
            .count(),
        1,
        "no sign-in in a refused folder"
    );
    auth.stop().await;
    server.stop().await;
}

#[cfg(unix)]
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // A file just made is owned by whoever runs the test.
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

#[cfg(unix)]
#[tokio::test]
async fn a_lock_file_that_is_a_link_is_refused_and_not_followed() {
    let dir = crate::support::tempdir().unwrap();
    let (auth, server, cache) = logged_in(dir.path()).await;
    let url = server.url();
    age_stored_tokens(&url, &cache);
    let document = stored_document(&url, &cache);
    let lock = document.with_extension("lock");
    std::fs::remove_file(&lock).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let planted = elsewhere.join("planted");
    std::os::unix::fs::symlink(&planted, &lock).unwrap();
    auth.clear_requests();

    let refused = run(&["token", &url], &cache).await;
    refused.exit(8);
    assert!(
        refused.stderr.contains(&lock.display().to_string())
            && refused.stderr.contains("symbolic link"),
        "{}",
        refused.stderr
    );
    assert!(!planted.exists(), "nothing was created through the link");
    assert!(
        auth.requests()
            .iter()
            .all(|r| r.kind != AuthRequestKind::Token),
        "no refresh without the lock"
    );
    auth.stop().await;
    server.stop().await;
}
