//! Accounts: one record per (server, account), each sealed to its account;
//! the default account's records, as they were written before accounts
//! existed, still open where they are.

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    digest,
};
use base64::Engine as _;
use mcp_oauth::{Client, CredentialStore, OAuth, TokenStorage, secrecy::ExposeSecret};
use mcp_oauth_redis::{RedisStore, StoreKeys};
use mcp_oauth_testkit::{AuthRequestKind, AuthServer, TestServer};
use redis::AsyncCommands as _;

use crate::support::{
    KEY_A, Redis, TIMEOUT, oauth, protected, scripted_browser, sign_in, store, store_builder,
};

/// Signs `account` in to `server`, its credentials in `store`; returns the
/// access token it was given.
async fn sign_in_as(server: &TestServer, store: &RedisStore, account: &str) -> String {
    let url = server.url();
    let oauth = OAuth::builder(&url)
        .account(account)
        .token_storage(store.storage_for(&url, Some(account)).unwrap())
        .user_agent(scripted_browser())
        .timeout(TIMEOUT)
        .on_notice(|_| {})
        .build()
        .unwrap();
    let client = Client::builder(&url)
        .auth(mcp_oauth::Auth::from(oauth.clone()))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    client.ping().await.unwrap();
    client.close().await;
    oauth.token().await.unwrap().expose_secret().to_owned()
}

async fn connection(redis: &Redis) -> redis::aio::MultiplexedConnection {
    redis
        .raw()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn two_accounts_on_one_server_keep_separate_records() {
    let redis = Redis::start();
    let (auth, server) = protected(AuthServer::builder()).await;
    let url = server.url();
    let store = store(&redis).await;
    let work = sign_in_as(&server, &store, "work").await;
    let home = sign_in_as(&server, &store, "home").await;
    assert_ne!(work, home);

    // Two records, each naming its account; no record for the default one.
    let mut raw = connection(&redis).await;
    let keys: Vec<String> = raw.keys("mcp-oauth:*:cred").await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let mut accounts = Vec::new();
    for key in &keys {
        let account: Option<String> = raw.hget(key, "acct").await.unwrap();
        accounts.push(account.unwrap());
    }
    accounts.sort();
    assert_eq!(accounts, ["home", "work"]);
    assert!(store.storage(&url).unwrap().load().await.unwrap().is_none());

    // Listed with their accounts, each its own tokens; the same through
    // the CredentialStore a platform uses.
    let listed = store.list().await.unwrap();
    let summary: Vec<(Option<&str>, String)> = listed
        .iter()
        .map(|entry| {
            let credentials = entry.credentials.as_ref().unwrap();
            assert_eq!(credentials.account(), entry.account.as_deref());
            let document = serde_json::to_value(credentials).unwrap();
            let token = document["tokens"]["access_token"].as_str().unwrap();
            (entry.account.as_deref(), token.to_owned())
        })
        .collect();
    assert_eq!(
        summary,
        [(Some("home"), home.clone()), (Some("work"), work.clone())]
    );
    let shared = CredentialStore::storage(&store, &url, Some("work")).unwrap();
    let stored = shared.load().await.unwrap().unwrap();
    assert_eq!(stored.account(), Some("work"));

    // A later process of each account uses its own record: no sign-in.
    auth.clear_requests();
    let again = sign_in_as(&server, &store, "work").await;
    assert_eq!(again, work);
    assert_eq!(
        auth.requests()
            .iter()
            .filter(|request| request.kind == AuthRequestKind::Authorize)
            .count(),
        0
    );

    // One account forgotten, the other kept; then every account.
    store
        .storage_for(&url, Some("work"))
        .unwrap()
        .clear()
        .await
        .unwrap();
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].account.as_deref(), Some("home"));
    assert_eq!(store.clear_all().await.unwrap(), 1);
    assert!(store.list().await.unwrap().is_empty());
    assert!(
        store
            .storage_for(&url, Some("bad\nname"))
            .is_err_and(|error| error.to_string().contains("account name"))
    );
}

#[tokio::test]
async fn a_record_moved_to_another_accounts_name_does_not_open() {
    let redis = Redis::start();
    let (_auth, server) = protected(AuthServer::builder()).await;
    let url = server.url();
    for (prefix, store) in [
        ("mcp-oauth", store(&redis).await),
        (
            "plain",
            RedisStore::builder(redis.url())
                .prefix("plain")
                .plaintext()
                .connect()
                .await
                .unwrap(),
        ),
    ] {
        sign_in_as(&server, &store, "work").await;
        let mut raw = connection(&redis).await;
        let keys: Vec<String> = raw.keys(format!("{prefix}:*:cred")).await.unwrap();
        assert_eq!(keys.len(), 1);
        let fields: Vec<(String, Vec<u8>)> = raw.hgetall(&keys[0]).await.unwrap();
        // The record of "home" and of the default account, made once, then
        // given work's fields with their own account field.
        for account in [Some("home"), None] {
            let target = store.storage_for(&url, account).unwrap();
            target.clear().await.unwrap();
            let keys: Vec<String> = raw.keys(format!("{prefix}:*:cred")).await.unwrap();
            let mut other = None;
            for key in &keys {
                let acct: Option<String> = raw.hget(key, "acct").await.unwrap();
                if acct.as_deref() == account {
                    other = Some(key.clone());
                }
            }
            let other = other.expect("the target's record");
            for (field, value) in &fields {
                if field != "acct" {
                    let _: () = raw.hset(&other, field, value).await.unwrap();
                }
            }
            let message = target.load().await.unwrap_err().to_string();
            let expected = if prefix == "plain" {
                "holds the credentials of account \"work\""
            } else {
                "does not open"
            };
            assert!(message.contains(expected), "{message}");
        }
    }
}

/// What an earlier version wrote for `url`'s default account under
/// `prefix`, sealed with key A: its key name (a hash of the URL alone), its
/// fields, and its associated data, each made here by hand.
async fn write_earlier_record(redis: &Redis, prefix: &str, url: &str, document: &[u8]) {
    let hash = digest::digest(&digest::SHA256, url.as_bytes());
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash.as_ref()[..18]);
    let key_id = StoreKeys::parse(KEY_A).unwrap().active_id().to_owned();
    let generation = 4;
    let aad = format!("mcp-oauth/v1\0cred\0{url}\0{key_id}\0{generation}\0");
    let raw_key = base64::engine::general_purpose::STANDARD
        .decode(KEY_A)
        .unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw_key).unwrap());
    let nonce = [7u8; 12];
    let mut sealed = document.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut sealed,
    )
    .unwrap();
    let mut raw = connection(redis).await;
    let _: () = raw
        .hset_multiple(
            format!("{prefix}:{{{id}}}:cred"),
            &[
                ("gen", generation.to_string().into_bytes()),
                ("url", url.as_bytes().to_vec()),
                ("kid", key_id.into_bytes()),
                ("nonce", nonce.to_vec()),
                ("doc", sealed),
            ],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn default_account_records_written_before_accounts_still_open() {
    let redis = Redis::start();
    let (auth, server) = protected(AuthServer::builder()).await;
    let url = server.url();
    // A signed-in document, then written by hand as an earlier version
    // wrote it, under a prefix of its own.
    let signing = store(&redis).await;
    sign_in(&server, &signing).await;
    let stored = signing
        .storage(&url)
        .unwrap()
        .load()
        .await
        .unwrap()
        .unwrap();
    let document = serde_json::to_vec(&stored).unwrap();
    assert!(!String::from_utf8_lossy(&document).contains("\"account\""));
    write_earlier_record(&redis, "earlier", &url, &document).await;

    let earlier = store_builder(&redis.url())
        .prefix("earlier")
        .connect()
        .await
        .unwrap();
    for storage in [
        earlier.storage(&url).unwrap(),
        earlier.storage_for(&url, None).unwrap(),
    ] {
        let opened = storage.load().await.unwrap().expect("the earlier record");
        assert_eq!(opened.account(), None);
        assert_eq!(storage.generation(), Some(4));
    }
    let listed = earlier.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].account, None);
    assert!(listed[0].credentials.is_ok());
    assert!(
        earlier
            .storage_for(&url, Some("work"))
            .unwrap()
            .load()
            .await
            .unwrap()
            .is_none(),
        "a named account has a record of its own"
    );

    // A client uses its tokens as they are, with no request to the
    // authorization server, and saves over it as the default account.
    auth.clear_requests();
    let client = Client::builder(&url)
        .auth(mcp_oauth::Auth::from(
            oauth(&server, &earlier).build().unwrap(),
        ))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    client.ping().await.unwrap();
    client.close().await;
    assert!(auth.requests().is_empty(), "{:#?}", auth.requests());
    let storage = earlier.storage(&url).unwrap();
    let again = storage.load().await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&again).unwrap()["tokens"],
        serde_json::to_value(&stored).unwrap()["tokens"]
    );
    storage.save(&again).await.unwrap();
    assert_eq!(storage.generation(), Some(5));
    assert!(storage.load().await.unwrap().is_some());
    let mut raw = connection(&redis).await;
    let keys: Vec<String> = raw.keys("earlier:*:cred").await.unwrap();
    assert_eq!(keys.len(), 1, "the same record, not a new one");
    let account: Option<String> = raw.hget(&keys[0], "acct").await.unwrap();
    assert_eq!(account, None);
}
