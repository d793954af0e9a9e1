//! Storage the client cannot count on: a save that cannot be made sure of
//! (a full disk), a cache folder others may change, a planted lock link,
//! the files a killed writer leaves, a folder shared with other files.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use futures::future::BoxFuture;
use mcp_oauth::{
    Error, FileTokenStorage, MemoryTokenStorage, OAuth, PreparedSave, StoredCredentials,
    TokenStorage, UserAgent,
};
use mcp_oauth_testkit::{AuthRequestKind, AuthServer};

use crate::support::{TIMEOUT, connect, count, oauth, protected};

/// A store that, once told, cannot make sure of its next save, as a full
/// disk cannot; everything else works.
#[derive(Debug, Clone, Default)]
struct Unprepared {
    inner: MemoryTokenStorage,
    refusing: Arc<AtomicBool>,
}

impl TokenStorage for Unprepared {
    fn load(&self) -> BoxFuture<'_, mcp_oauth::Result<Option<StoredCredentials>>> {
        self.inner.load()
    }

    fn save<'a>(
        &'a self,
        credentials: &'a StoredCredentials,
    ) -> BoxFuture<'a, mcp_oauth::Result<()>> {
        self.inner.save(credentials)
    }

    fn clear(&self) -> BoxFuture<'_, mcp_oauth::Result<()>> {
        self.inner.clear()
    }

    fn prepare_save<'a>(
        &'a self,
        credentials: &'a StoredCredentials,
    ) -> BoxFuture<'a, mcp_oauth::Result<PreparedSave>> {
        if self.refusing.load(Ordering::SeqCst) {
            return Box::pin(async {
                Err(Error::Storage {
                    path: "the test's store".into(),
                    reason: "no room left".into(),
                    source: None,
                })
            });
        }
        self.inner.prepare_save(credentials)
    }
}

/// The stored credentials, as JSON, to compare.
async fn stored(storage: &impl TokenStorage) -> serde_json::Value {
    serde_json::to_value(storage.load().await.unwrap()).unwrap()
}

#[tokio::test]
async fn no_refresh_token_is_spent_when_the_save_cannot_be_made_sure_of() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let storage = Unprepared::default();
    let first = connect(&server, oauth(&server).token_storage(storage.clone()))
        .await
        .unwrap();
    first.close().await;
    let before = stored(&storage).await;
    storage.refusing.store(true, Ordering::SeqCst);
    auth.expire_access_tokens();
    auth.clear_requests();

    let error = connect(&server, oauth(&server).token_storage(storage.clone()))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Storage { .. }), "{error:?}");
    assert_eq!(
        count(&auth, AuthRequestKind::Token),
        0,
        "{:#?}",
        auth.requests()
    );
    assert_eq!(
        count(&auth, AuthRequestKind::Authorize),
        0,
        "nobody is sent to sign in for tokens that could not be kept"
    );
    assert_eq!(stored(&storage).await, before, "the refresh token is kept");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn no_device_code_is_asked_for_when_the_save_cannot_be_made_sure_of() {
    let (auth, server) =
        protected(AuthServer::builder().device_authorization(Duration::from_secs(1))).await;
    let storage = Unprepared::default();
    storage.refusing.store(true, Ordering::SeqCst);
    let no_browser = UserAgent::custom(|_| async { panic!("the device grant opens no browser") });
    let device = OAuth::builder(server.url())
        .device_authorization()
        .user_agent(no_browser)
        .token_storage(storage.clone())
        .timeout(TIMEOUT)
        .on_notice(|_| {});
    let error = connect(&server, device).await.unwrap_err();
    assert!(matches!(error, Error::Storage { .. }), "{error:?}");
    for kind in [AuthRequestKind::DeviceAuthorization, AuthRequestKind::Token] {
        assert_eq!(count(&auth, kind), 0, "{kind:?}: {:#?}", auth.requests());
    }
    auth.stop().await;
    server.stop().await;
}

const URL: &str = "https://example.com/mcp";

fn credentials(url: &str) -> StoredCredentials {
    serde_json::from_value(serde_json::json!({
        "version": 1, "server_url": url, "updated_at": 0
    }))
    .unwrap()
}

/// A store for `url` in `dir/cache`, with a document saved.
async fn saved(dir: &Path, url: &str) -> FileTokenStorage {
    let storage = FileTokenStorage::in_dir(url, dir.join("cache")).unwrap();
    storage.save(&credentials(url)).await.unwrap();
    storage
}

fn stem(storage: &FileTokenStorage) -> String {
    let path = storage.path();
    path.file_stem().unwrap().to_str().unwrap().to_owned()
}

fn backdate(path: &Path, by: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn a_folder_other_users_may_write_in_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::support::tempdir().unwrap();
    let storage = saved(dir.path(), URL).await;
    let cache = dir.path().join("cache");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let fix = format!("chmod 700 {}", cache.display());
    let load = storage.load().await.unwrap_err();
    let save = storage.save(&credentials(URL)).await.unwrap_err();
    let lock = storage.lock(Duration::ZERO).await.unwrap_err();
    for refused in [load, save, lock] {
        assert!(matches!(refused, Error::Storage { .. }), "{refused:?}");
        assert!(refused.to_string().contains(&fix), "{refused}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_lock_file_that_is_a_link_is_refused_and_nothing_is_made_through_it() {
    let dir = crate::support::tempdir().unwrap();
    let storage = saved(dir.path(), URL).await;
    let lock = storage.path().with_extension("lock");
    let planted = dir.path().join("planted");
    std::os::unix::fs::symlink(&planted, &lock).unwrap();
    let refused = storage.lock(Duration::ZERO).await.unwrap_err();
    assert!(refused.to_string().contains("symbolic link"), "{refused}");
    assert!(!planted.exists(), "nothing was created through the link");
}

#[tokio::test]
async fn abandoned_temporary_files_go_and_a_live_writers_stays() {
    let dir = crate::support::tempdir().unwrap();
    let storage = saved(dir.path(), URL).await;
    let cache = dir.path().join("cache");
    let document = std::fs::read(storage.path()).unwrap();
    let stem = stem(&storage);
    let at = |name: String| -> PathBuf {
        let path = cache.join(name);
        std::fs::write(&path, &document).unwrap();
        path
    };
    // A writer killed between its write and its rename; one of an earlier
    // version (which never locked them) ten minutes ago, and one just now.
    let killed = at(format!(".{stem}.k1LL3dWr1t.tmp"));
    let old_version = at(".tmpQw12Er".into());
    backdate(&old_version, Duration::from_secs(600));
    let old_version_now = at(".tmpZx98Cv".into());
    // A writer alive: it holds the lock of its file.
    let live = at(format!(".{stem}.L1veWr1ter.tmp"));
    let writer = std::fs::File::open(&live).unwrap();
    writer.try_lock().unwrap();

    storage.load().await.unwrap();
    assert!(!killed.exists(), "a killed writer's file goes");
    assert!(!old_version.exists(), "an old abandoned file goes");
    assert!(old_version_now.exists(), "its writer may still be at work");
    assert!(live.exists(), "a live writer's file stays");

    drop(writer);
    storage.load().await.unwrap();
    assert!(!live.exists(), "its writer is gone now");
}

#[tokio::test]
async fn clear_all_forgets_only_the_stores_files_and_tries_every_one() {
    let dir = crate::support::tempdir().unwrap();
    let first = saved(dir.path(), URL).await;
    let second = saved(dir.path(), "http://127.0.0.1:8080/mcp").await;
    for storage in [&first, &second] {
        drop(storage.lock(Duration::ZERO).await.unwrap());
    }
    let cache = dir.path().join("cache");
    std::fs::write(cache.join("notes.json"), r#"{"mine": true}"#).unwrap();
    let lookalike = cache.join("backup-0123456789abcdef.json");
    std::fs::write(&lookalike, r#"{"mine": true}"#).unwrap();
    let stuck = cache.join("stuck.example-0123456789abcdef.json");
    std::fs::create_dir_all(stuck.join("inside")).unwrap();
    let live = cache.join(format!(".{}.L1veWr1ter.tmp", stem(&first)));
    std::fs::write(&live, b"").unwrap();
    let writer = std::fs::File::open(&live).unwrap();
    writer.try_lock().unwrap();

    let error = FileTokenStorage::clear_all_in(&cache).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("could not remove 2 "), "{text}");
    for left in [&stuck, &live] {
        assert!(text.contains(&left.display().to_string()), "{text}");
    }
    let mut names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected = [&live, &lookalike, &cache.join("notes.json"), &stuck]
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned());
    assert_eq!(
        names, expected,
        "documents and lock files gone, nothing else"
    );
    drop(writer);
}
