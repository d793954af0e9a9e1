//! Items kept, found, locked and forgotten in gnome-keyring; a session
//! without a keychain.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use mcp_oauth::{Error, FileTokenStorage, StoredCredentials, TokenStorage};
use mcp_oauth_keyring::{KeyringStore, KeyringTokenStorage};
use mcp_oauth_testkit::KeyringDaemon;
use serde_json::json;

const URL: &str = "https://example.com/mcp";

/// The store on `daemon`'s bus, its lock files in `dir`.
async fn open(daemon: &KeyringDaemon, dir: &Path) -> mcp_oauth::Result<KeyringStore> {
    KeyringStore::builder()
        .session_bus(daemon.bus_address())
        .lock_dir(dir)
        .timeout(Duration::from_secs(10))
        .open()
        .await
}

/// A document with tokens, of `account`.
fn credentials(account: Option<&str>, access_token: &str) -> StoredCredentials {
    let mut document = json!({
        "version": 1,
        "server_url": URL,
        "issuer": "https://as.example",
        "tokens": {
            "access_token": access_token,
            "token_type": "Bearer",
            "refresh_token": format!("refresh-{access_token}"),
            "expires_at": 4_000_000_000u64,
            "received_at": 1_700_000_000u64,
        },
        "updated_at": 0,
    });
    if let Some(account) = account {
        document["account"] = account.into();
    }
    serde_json::from_value(document).unwrap()
}

fn same(a: &StoredCredentials, b: &StoredCredentials) -> bool {
    serde_json::to_value(a).unwrap() == serde_json::to_value(b).unwrap()
}

async fn loaded(storage: &KeyringTokenStorage) -> Option<StoredCredentials> {
    storage.load().await.unwrap()
}

#[tokio::test]
async fn one_item_per_server_and_account_named_by_them_never_by_a_token() {
    let daemon = KeyringDaemon::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let store = open(&daemon, &cache).await.unwrap();
    let default = store.storage(URL).unwrap();
    let work = store.storage_for(URL, Some("work")).unwrap();
    assert!(loaded(&default).await.is_none());

    let mine = credentials(None, "token-of-the-default-account");
    let works = credentials(Some("work"), "token-of-work");
    default.save(&mine).await.unwrap();
    work.save(&works).await.unwrap();
    // Saved again: the item is replaced, not doubled.
    work.save(&works).await.unwrap();
    assert!(same(&loaded(&default).await.unwrap(), &mine));
    assert!(same(&loaded(&work).await.unwrap(), &works));

    let mut items = daemon.items(&[("service", "mcp-oauth")]).unwrap();
    items.sort_by(|a, b| a.label.cmp(&b.label));
    assert_eq!(items.len(), 2, "{items:#?}");
    assert_eq!(items[0].label, format!("mcp-oauth: {URL}"));
    assert_eq!(items[0].attributes["username"], URL);
    assert_eq!(items[0].attributes["server"], URL);
    assert!(!items[0].attributes.contains_key("account"));
    assert_eq!(
        items[1].label,
        format!("mcp-oauth: {URL} (account \"work\")")
    );
    assert_eq!(items[1].attributes["username"], format!("{URL}#work"));
    assert_eq!(items[1].attributes["account"], "work");
    let shown = format!("{items:?}");
    assert!(
        !shown.contains("token-of"),
        "no token outside the secret: {shown}"
    );

    let listed = store.list().await.unwrap();
    let accounts: Vec<Option<&str>> = listed.iter().map(|e| e.account.as_deref()).collect();
    assert_eq!(accounts, [None, Some("work")]);
    assert!(
        listed
            .iter()
            .all(|e| e.server_url == URL && e.credentials.is_ok())
    );

    // The lock is the file store's, in the cache folder.
    let file_store = FileTokenStorage::in_dir_for_account(URL, Some("work"), &cache).unwrap();
    assert_eq!(work.lock_file().path(), file_store.lock_file().path());
    drop(work.lock(Duration::from_secs(1)).await.unwrap());
    assert!(work.lock_file().path().exists());

    // One account forgotten, with its lock file; then every item.
    work.clear().await.unwrap();
    assert!(loaded(&work).await.is_none());
    assert!(!work.lock_file().path().exists());
    assert!(loaded(&default).await.is_some());
    assert_eq!(daemon.items(&[("service", "mcp-oauth")]).unwrap().len(), 1);
    assert_eq!(store.clear_all().await.unwrap(), 1);
    assert!(
        daemon
            .items(&[("service", "mcp-oauth")])
            .unwrap()
            .is_empty()
    );
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_locked_keychain_is_refused_before_a_token_request() {
    let daemon = KeyringDaemon::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&daemon, dir.path()).await.unwrap();
    let storage = store.storage(URL).unwrap();
    let stored = credentials(None, "kept");
    storage.save(&stored).await.unwrap();
    storage.prepare_save(&stored).await.unwrap();

    // Locked, and nothing can unlock it (no prompter on this bus).
    daemon.lock().unwrap();
    let started = Instant::now();
    let refused = storage.prepare_save(&stored).await.unwrap_err();
    assert!(refused.is_store_unreachable(), "{refused:?}");
    assert!(refused.to_string().contains("locked"), "{refused}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(storage.load().await.unwrap_err().is_store_unreachable());
    let reopened = open(&daemon, dir.path()).await.unwrap_err();
    assert!(reopened.to_string().contains("locked"), "{reopened}");
    assert_eq!(
        daemon.items(&[("service", "mcp-oauth")]).unwrap().len(),
        1,
        "kept"
    );
}

#[tokio::test]
async fn no_session_bus_or_no_secret_service_is_unreachable_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let nowhere = format!("unix:path={}", dir.path().join("no-bus").display());
    let error = KeyringStore::builder()
        .session_bus(&nowhere)
        .lock_dir(dir.path())
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::StoreUnreachable { store, .. } if store == mcp_oauth_keyring::KEYCHAIN),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("no D-Bus session bus answers at"), "{text}");
    assert!(text.contains(&nowhere), "{text}");

    let mut daemon = KeyringDaemon::start().unwrap();
    daemon.stop_keyring();
    let error = open(&daemon, dir.path()).await.unwrap_err();
    assert!(error.is_store_unreachable(), "{error:?}");
    assert!(
        error.to_string().contains("no Secret Service answers"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
