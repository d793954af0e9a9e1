//! Encryption at rest: nothing secret readable in Redis, a wrong key a
//! clear error, rotation.

use mcp_oauth::{Client, TokenStorage};
use mcp_oauth_redis::{RedisStore, StoreKeys};
use mcp_oauth_testkit::{AuthRequestKind, AuthServer, PreRegistered};
use redis::AsyncCommands as _;

use crate::support::{
    KEY_A, KEY_B, Redis, TIMEOUT, oauth, protected, sign_in, store, store_builder,
};

/// Every value in Redis, as bytes: strings, and every field and value of
/// every hash.
async fn every_value(redis: &Redis) -> Vec<Vec<u8>> {
    let mut connection = redis
        .raw()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = connection.keys("*").await.unwrap();
    let mut values = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        match kind.as_str() {
            "string" => values.push(connection.get::<_, Vec<u8>>(&key).await.unwrap()),
            "hash" => {
                let fields: Vec<Vec<u8>> = connection.hgetall(&key).await.unwrap();
                values.extend(fields);
            }
            other => panic!("unexpected {other} at {key}"),
        }
        values.push(key.into_bytes());
    }
    values
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn no_token_secret_or_verifier_is_readable_in_redis() {
    let redis = Redis::start();
    let (auth, server) = protected(
        AuthServer::builder()
            .dynamic_registration(false)
            .pre_registered(PreRegistered::confidential(
                "fleet-client",
                "s3cret-of-the-fleet",
            )),
    )
    .await;
    let store = store(&redis).await;
    let oauth = oauth(&server, &store)
        .client_id("fleet-client")
        .client_secret("s3cret-of-the-fleet");
    let client = Client::builder(server.url())
        .auth(mcp_oauth::Auth::from(oauth.build().unwrap()))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    client.ping().await.unwrap();
    client.close().await;

    // The secrets, from the document as the store opens it and from the
    // token request the authorization server saw.
    let stored = store
        .storage(&server.url())
        .unwrap()
        .load()
        .await
        .unwrap()
        .unwrap();
    let document = serde_json::to_value(&stored).unwrap();
    let verifier = auth
        .requests()
        .iter()
        .find(|request| request.kind == AuthRequestKind::Token)
        .and_then(|request| request.param("code_verifier").map(str::to_owned))
        .expect("a code exchange");
    let secrets = [
        document["tokens"]["access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
        document["tokens"]["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned(),
        document["registration"]["client_secret"]
            .as_str()
            .unwrap()
            .to_owned(),
        verifier,
    ];
    let values = every_value(&redis).await;
    assert!(!values.is_empty());
    for secret in &secrets {
        assert!(secret.len() >= 16, "a real secret");
        for value in &values {
            assert!(!contains(value, secret), "a secret in the clear in Redis");
        }
    }
    // The same run in plaintext shows the tokens: the scan would see them.
    let plain = RedisStore::builder(redis.url())
        .prefix("plain")
        .plaintext()
        .connect()
        .await
        .unwrap();
    plain
        .storage(&server.url())
        .unwrap()
        .save(&stored)
        .await
        .unwrap();
    let values = every_value(&redis).await;
    assert!(values.iter().any(|value| contains(value, &secrets[1])));
}

#[tokio::test]
async fn a_wrong_key_is_a_clear_error_and_rotation_reads_old_records() {
    let redis = Redis::start();
    let (_auth, server) = protected(AuthServer::builder()).await;
    let url = server.url();
    let old = store(&redis).await;
    let client = Client::builder(&url)
        .auth(mcp_oauth::Auth::from(oauth(&server, &old).build().unwrap()))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    client.close().await;

    // Another key under another id: the record names a key it lacks.
    let other = store_builder(&redis.url())
        .keys(StoreKeys::parse(KEY_B).unwrap())
        .connect()
        .await
        .unwrap();
    let error = other.storage(&url).unwrap().load().await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("not among the keys given"), "{message}");
    assert!(!message.contains("pw-"), "no password in {message}");

    // A wrong key under the right id: it does not open.
    let old_id = StoreKeys::parse(KEY_A).unwrap().active_id().to_owned();
    let impostor = store_builder(&redis.url())
        .keys(StoreKeys::parse(&format!("{old_id}:{KEY_B}")).unwrap())
        .connect()
        .await
        .unwrap();
    let message = impostor
        .storage(&url)
        .unwrap()
        .load()
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("does not open"), "{message}");

    // Rotation: the new key first, the old after. Old records open; the
    // next save seals with the new key, which the old store cannot read.
    let rotated = store_builder(&redis.url())
        .keys(StoreKeys::parse(&format!("new:{KEY_B},{KEY_A}")).unwrap())
        .connect()
        .await
        .unwrap();
    let storage = rotated.storage(&url).unwrap();
    let stored = storage.load().await.unwrap().expect("the old record opens");
    storage.save(&stored).await.unwrap();
    let listed = rotated.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key_id.as_deref(), Some("new"));
    assert!(old.storage(&url).unwrap().load().await.is_err());

    // No key and no plaintext asked for: refused.
    let refused = RedisStore::builder(redis.url())
        .connect()
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("no key to seal"), "{refused}");
}

#[tokio::test]
async fn a_record_moved_to_another_servers_name_does_not_open() {
    let redis = Redis::start();
    let (_auth, server) = protected(AuthServer::builder()).await;
    let store = store(&redis).await;
    sign_in(&server, &store).await;
    let mut connection = redis
        .raw()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = connection.keys("mcp-oauth:*:cred").await.unwrap();
    assert_eq!(keys.len(), 1);
    // Copy the record under another server's key (and URL field).
    let elsewhere = "http://127.0.0.1:1/other";
    let target = store.storage(elsewhere).unwrap();
    let fields: Vec<(String, Vec<u8>)> = connection.hgetall(&keys[0]).await.unwrap();
    // Find the other server's key name by saving there once.
    target.clear().await.unwrap();
    let other_keys: Vec<String> = connection.keys("mcp-oauth:*:cred").await.unwrap();
    let other = other_keys.iter().find(|key| **key != keys[0]).unwrap();
    for (field, value) in fields {
        let value = if field == "url" {
            elsewhere.as_bytes().to_vec()
        } else {
            value
        };
        let _: () = connection.hset(other, field, value).await.unwrap();
    }
    let message = target.load().await.unwrap_err().to_string();
    assert!(message.contains("does not open"), "{message}");
}
