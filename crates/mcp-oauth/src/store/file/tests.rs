//! The file store by itself: documents, reservations, permissions.

use super::*;
use std::time::Duration;

fn storage(dir: &Path) -> FileTokenStorage {
    FileTokenStorage::in_dir("https://example.com/mcp", dir.join("cache")).unwrap()
}

#[tokio::test]
async fn round_trip_with_private_permissions() {
    let dir = private_tempdir().unwrap();
    let storage = storage(dir.path());
    assert!(storage.load().await.unwrap().is_none());
    let mut credentials = StoredCredentials::new("https://example.com/mcp");
    credentials.issuer = Some("https://as.example".into());
    storage.save(&credentials).await.unwrap();
    let loaded = storage.load().await.unwrap().unwrap();
    assert_eq!(loaded.issuer(), Some("https://as.example"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file_mode = std::fs::metadata(storage.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(file_mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(dir.path().join("cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }
    storage.clear().await.unwrap();
    assert!(storage.load().await.unwrap().is_none());
}

#[tokio::test]
async fn a_corrupt_document_is_reported_and_kept() {
    let dir = private_tempdir().unwrap();
    let storage = storage(dir.path());
    storage
        .save(&StoredCredentials::new("https://example.com/mcp"))
        .await
        .unwrap();
    std::fs::write(storage.path(), b"{ torn").unwrap();
    let error = storage.load().await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&storage.path().display().to_string()),
        "{text}"
    );
    assert!(text.contains("log in again"), "{text}");
    assert_eq!(
        std::fs::read(storage.path()).unwrap(),
        b"{ torn",
        "left untouched"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = private_tempdir().unwrap();
    let storage = storage(dir.path());
    storage
        .save(&StoredCredentials::new("https://example.com/mcp"))
        .await
        .unwrap();
    std::fs::write(
        storage.path(),
        br#"{"version": 99, "server_url": "x", "updated_at": 0}"#,
    )
    .unwrap();
    let error = storage.load().await.unwrap_err();
    assert!(error.to_string().contains("newer mcp-oauth"), "{error}");
}

#[tokio::test]
async fn clear_all_removes_every_document() {
    let dir = private_tempdir().unwrap();
    let cache = dir.path().join("cache");
    for url in ["https://a.example/mcp", "https://b.example/mcp"] {
        let storage = FileTokenStorage::in_dir(url, &cache).unwrap();
        storage.save(&StoredCredentials::new(url)).await.unwrap();
    }
    assert_eq!(FileTokenStorage::list_in(&cache).unwrap().len(), 2);
    FileTokenStorage::clear_all_in(&cache).unwrap();
    assert!(FileTokenStorage::list_in(&cache).unwrap().is_empty());
}

#[tokio::test]
async fn a_file_system_failure_keeps_its_cause() {
    let dir = private_tempdir().unwrap();
    // The cache folder is a file: nothing can be written under it.
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, b"").unwrap();
    let storage = FileTokenStorage::in_dir("https://example.com/mcp", &not_a_folder).unwrap();
    let error = storage
        .save(&StoredCredentials::new("https://example.com/mcp"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Storage { .. }), "{error:?}");
    let cause = std::error::Error::source(&error).expect("the io error is the source");
    assert!(
        cause.downcast_ref::<std::io::Error>().is_some(),
        "{cause:?}"
    );
}

#[tokio::test]
async fn each_account_has_its_own_file_and_is_forgotten_alone() {
    let dir = private_tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = "https://example.com/mcp";
    let of =
        |account: Option<&str>| FileTokenStorage::in_dir_for_account(url, account, &cache).unwrap();
    for account in [None, Some("work"), Some("home")] {
        let storage = of(account);
        storage
            .save(&StoredCredentials::for_account(url, account))
            .await
            .unwrap();
        assert_eq!(storage.load().await.unwrap().unwrap().account(), account);
    }
    assert_eq!(
        of(None).path(),
        storage(dir.path()).path(),
        "the file it always was"
    );
    assert_ne!(of(Some("work")).path(), of(Some("home")).path());
    let mut listed: Vec<Option<String>> = FileTokenStorage::list_in(&cache)
        .unwrap()
        .into_iter()
        .map(|(_, loaded)| loaded.unwrap().account().map(str::to_owned))
        .collect();
    listed.sort();
    assert_eq!(listed, [None, Some("home".into()), Some("work".into())]);

    // One account forgotten, the others kept; then all of them.
    of(Some("work")).clear().await.unwrap();
    assert!(of(Some("work")).load().await.unwrap().is_none());
    assert!(of(Some("home")).load().await.unwrap().is_some());
    assert!(of(None).load().await.unwrap().is_some());
    FileTokenStorage::clear_all_in(&cache).unwrap();
    assert!(FileTokenStorage::list_in(&cache).unwrap().is_empty());
}

#[tokio::test]
async fn another_accounts_document_is_neither_read_nor_saved() {
    let dir = private_tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = "https://example.com/mcp";
    let work = FileTokenStorage::in_dir_for_account(url, Some("work"), &cache).unwrap();
    let home = FileTokenStorage::in_dir_for_account(url, Some("home"), &cache).unwrap();
    work.save(&StoredCredentials::for_account(url, Some("work")))
        .await
        .unwrap();
    std::fs::copy(work.path(), home.path()).unwrap();
    let error = home.load().await.unwrap_err();
    assert!(matches!(error, Error::Storage { .. }), "{error:?}");
    let text = error.to_string();
    for part in [&home.path().display().to_string(), "\"home\"", "\"work\""] {
        assert!(text.contains(part), "{part} in {text}");
    }

    let refused = home
        .save(&StoredCredentials::for_account(url, None))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("the default account"),
        "{refused}"
    );
    assert!(
        home.prepare_save(&StoredCredentials::new(url))
            .await
            .is_err()
    );
    assert!(
        FileTokenStorage::in_dir_for_account(url, Some(""), &cache).is_err(),
        "an empty name is no account"
    );
}

#[tokio::test]
async fn a_lock_file_is_the_lock_the_file_store_takes() {
    let dir = private_tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = "https://example.com/mcp";
    let file_store = FileTokenStorage::in_dir_for_account(url, Some("work"), &cache).unwrap();
    let lock = LockFile::new(url, Some("work"), &cache).unwrap();
    assert_eq!(lock.path(), file_store.lock_file().path());
    assert_ne!(
        lock.path(),
        LockFile::new(url, None, &cache).unwrap().path(),
        "each account has its own"
    );
    assert!(LockFile::new(url, Some(" work"), &cache).is_err());

    // Held through the lock file, the file store waits for it...
    let held = lock.lock(Duration::from_secs(1)).await.unwrap();
    let waited = file_store
        .lock(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        waited.to_string().contains("held these credentials"),
        "{waited}"
    );
    assert!(
        !lock.remove_unless_held().unwrap(),
        "a held lock file stays"
    );
    // ...and has it once it is released; a free lock file can go.
    held.release().await;
    drop(file_store.lock(Duration::from_secs(1)).await.unwrap());
    assert!(lock.remove_unless_held().unwrap());
    assert!(!lock.path().exists());
}

/// The temporary files in the cache folder.
fn temporaries(storage: &FileTokenStorage) -> Vec<PathBuf> {
    store_files(&storage.dir)
        .unwrap()
        .into_iter()
        .filter(|file| file.kind == Kind::Temporary)
        .map(|file| file.path)
        .collect()
}

#[tokio::test]
async fn a_prepared_save_takes_the_room_first_and_writes_into_it() {
    let dir = private_tempdir().unwrap();
    let storage = storage(dir.path());
    let mut credentials = StoredCredentials::new("https://example.com/mcp");
    storage.save(&credentials).await.unwrap();
    let prepared = storage.prepare_save(&credentials).await.unwrap();
    let reserved = temporaries(&storage);
    assert_eq!(reserved.len(), 1, "{reserved:?}");
    let room = std::fs::metadata(&reserved[0]).unwrap().len();
    assert!(room >= ROOM_FOR_NEW_TOKENS, "{room} bytes taken");

    credentials.issuer = Some("https://as.example".into());
    storage.save_prepared(prepared, &credentials).await.unwrap();
    assert!(temporaries(&storage).is_empty(), "renamed into place");
    let saved = std::fs::read(storage.path()).unwrap();
    assert_eq!(
        saved,
        serde_json::to_vec_pretty(&credentials).unwrap(),
        "the document exactly, without the room beyond it"
    );

    // Prepared and never used (the token request failed): nothing stays.
    drop(storage.prepare_save(&credentials).await.unwrap());
    assert!(temporaries(&storage).is_empty());
}

#[tokio::test]
async fn a_reservation_of_another_folder_is_not_written_there() {
    let dir = private_tempdir().unwrap();
    let here = storage(dir.path());
    let elsewhere =
        FileTokenStorage::in_dir("https://example.com/mcp", dir.path().join("other")).unwrap();
    let credentials = StoredCredentials::new("https://example.com/mcp");
    let prepared = elsewhere.prepare_save(&credentials).await.unwrap();
    here.save_prepared(prepared, &credentials).await.unwrap();
    assert!(here.path().exists());
    assert!(!elsewhere.path().exists());
    assert!(temporaries(&elsewhere).is_empty(), "given back");
}

/// A temporary folder only this user may enter, whatever the umask (the
/// store refuses a folder its group may write in).
fn private_tempdir() -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir()
}
