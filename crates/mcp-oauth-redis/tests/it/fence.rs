//! The lock and the fence: one holder at a time, a lease renewed while
//! held, and no save from a holder whose record moved on.

use std::time::{Duration, Instant};

use mcp_oauth::TokenStorage;
use mcp_oauth_testkit::AuthServer;
use redis::AsyncCommands as _;

use crate::support::{Redis, TIMEOUT, protected, sign_in, store, store_builder};

/// Two hosts' views of one signed-in server: separate connections, separate
/// storages.
async fn two_hosts(
    redis: &Redis,
) -> (
    mcp_oauth_redis::RedisTokenStorage,
    mcp_oauth_redis::RedisTokenStorage,
    mcp_oauth_testkit::TestServer,
    AuthServer,
) {
    let (auth, server) = protected(AuthServer::builder()).await;
    let first = store(redis).await;
    sign_in(&server, &first).await;
    let second = store(redis).await;
    (
        first.storage(&server.url()).unwrap(),
        second.storage(&server.url()).unwrap(),
        server,
        auth,
    )
}

fn with_scope(stored: &mcp_oauth::StoredCredentials, scope: &str) -> mcp_oauth::StoredCredentials {
    let mut document = serde_json::to_value(stored).unwrap();
    document["tokens"]["scope"] = scope.into();
    serde_json::from_value(document).unwrap()
}

#[tokio::test]
async fn a_save_over_newer_credentials_is_refused_and_they_stay() {
    let redis = Redis::start();
    let (a, b, _server, _auth) = two_hosts(&redis).await;
    let read_by_a = a.load().await.unwrap().unwrap();
    let read_by_b = b.load().await.unwrap().unwrap();
    let generation = a.generation().unwrap();
    b.save(&with_scope(&read_by_b, "newer")).await.unwrap();
    assert_eq!(b.generation(), Some(generation + 1));

    let refused = a.save(&with_scope(&read_by_a, "older")).await.unwrap_err();
    assert!(refused.is_storage_conflict(), "{refused}");
    assert_eq!(a.load().await.unwrap().unwrap().scope(), Some("newer"));
    // Having read again, A may save.
    a.save(&with_scope(&read_by_a, "after")).await.unwrap();
    assert_eq!(b.load().await.unwrap().unwrap().scope(), Some("after"));
}

#[tokio::test]
async fn one_holder_at_a_time_renewed_while_held_and_released_at_once() {
    let redis = Redis::start();
    let (_auth, server) = protected(AuthServer::builder()).await;
    let lease = Duration::from_millis(600);
    let a = store_builder(&redis.url())
        .lease(lease)
        .connect()
        .await
        .unwrap();
    let b = store_builder(&redis.url())
        .lease(lease)
        .connect()
        .await
        .unwrap();
    let a = a.storage(&server.url()).unwrap();
    let b = b.storage(&server.url()).unwrap();

    let held = a.lock(TIMEOUT).await.unwrap();
    // Past two leases: renewed, so still held.
    tokio::time::sleep(lease * 2).await;
    let started = Instant::now();
    let refused = b.lock(Duration::from_millis(300)).await.unwrap_err();
    assert!(refused.to_string().contains("held the lock"), "{refused}");
    assert!(started.elapsed() < Duration::from_secs(2), "a bounded wait");

    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let lock = b.lock(TIMEOUT).await.unwrap();
        let waited = started.elapsed();
        lock.release().await;
        waited
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    held.release().await;
    let waited = waiter.await.unwrap();
    assert!(
        waited < Duration::from_millis(600),
        "taken soon after the release: {waited:?}"
    );
}

#[tokio::test]
async fn a_holder_whose_lease_ran_out_neither_sends_nor_saves() {
    let redis = Redis::start();
    let (a, b, _server, _auth) = two_hosts(&redis).await;
    // A holds the lock and has read the record...
    let a_lock = a.lock(TIMEOUT).await.unwrap();
    let read_by_a = a.load().await.unwrap().unwrap();
    // ...then stops answering long enough for its lease to go (here the
    // lock key is removed, as its expiry would).
    let mut raw = redis
        .raw()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let locks: Vec<String> = raw.keys("mcp-oauth:*:lock").await.unwrap();
    let _: () = raw.del(&locks).await.unwrap();
    // B takes over, refreshes and saves.
    let b_lock = b.lock(TIMEOUT).await.unwrap();
    let read_by_b = b.load().await.unwrap().unwrap();
    b.prepare_save(&read_by_b).await.unwrap();
    b.save(&with_scope(&read_by_b, "from-b")).await.unwrap();
    b_lock.release().await;

    // A wakes: it may not send (its lease is gone)...
    let refused = a.prepare_save(&read_by_a).await.unwrap_err();
    assert!(refused.is_storage_conflict(), "{refused}");
    // ...nor save what it read before.
    let refused = a.save(&with_scope(&read_by_a, "from-a")).await.unwrap_err();
    assert!(refused.is_storage_conflict(), "{refused}");
    a_lock.release().await;
    assert_eq!(b.load().await.unwrap().unwrap().scope(), Some("from-b"));
}

#[tokio::test]
async fn a_successor_waits_for_the_answer_of_a_request_already_sent() {
    let redis = Redis::start();
    let (a, b, _server, _auth) = two_hosts(&redis).await;
    // A marks its token request, then stops answering (its lease goes).
    let _a_lock = a.lock(TIMEOUT).await.unwrap();
    let read_by_a = a.load().await.unwrap().unwrap();
    a.prepare_save(&read_by_a).await.unwrap();
    let mut raw = redis
        .raw()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let locks: Vec<String> = raw.keys("mcp-oauth:*:lock").await.unwrap();
    let _: () = raw.del(&locks).await.unwrap();

    // B takes the lock, but waits before spending the same refresh token...
    let b_lock = b.lock(TIMEOUT).await.unwrap();
    let read_by_b = b.load().await.unwrap().unwrap();
    let waiting = tokio::spawn(async move {
        let outcome = b.prepare_save(&read_by_b).await;
        (b, b_lock, outcome)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "B waits while A's request may be answered"
    );
    // ...and A's answer arrives and is saved: B is told to use it.
    a.save(&with_scope(&read_by_a, "from-a")).await.unwrap();
    let (b, b_lock, outcome) = tokio::time::timeout(TIMEOUT, waiting)
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.unwrap_err().is_storage_conflict());
    b_lock.release().await;
    assert_eq!(b.load().await.unwrap().unwrap().scope(), Some("from-a"));
}
