//! Redis down, hung or slow: a clear error naming the store, within the
//! timeout, and nothing lost.

use std::time::{Duration, Instant};

use mcp_oauth::TokenStorage;
use mcp_oauth_testkit::AuthServer;

use crate::support::{Redis, TIMEOUT, protected, sign_in, store, store_builder};

#[tokio::test]
async fn a_redis_nobody_listens_on_is_unreachable_within_the_timeout() {
    let mut redis = Redis::start();
    let url = redis.url();
    redis.stop();
    let started = Instant::now();
    let error = store_builder(&url).connect().await.unwrap_err();
    assert!(error.is_store_unreachable(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{}", redis.port())),
        "{message}"
    );
    assert!(!message.contains("pw-"), "no password in {message}");
}

#[tokio::test]
async fn a_hung_redis_fails_each_call_in_time_and_loses_nothing() {
    let redis = Redis::start();
    let (_auth, server) = protected(AuthServer::builder()).await;
    let store = store(&redis).await;
    sign_in(&server, &store).await;
    let storage = store.storage(&server.url()).unwrap();
    let before = storage.load().await.unwrap().unwrap();

    redis.freeze();
    let started = Instant::now();
    let error = storage.load().await.unwrap_err();
    assert!(error.is_store_unreachable(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let error = storage.save(&before).await.unwrap_err();
    assert!(error.is_store_unreachable(), "{error}");
    let error = storage.lock(TIMEOUT).await.unwrap_err();
    assert!(error.is_store_unreachable(), "{error}");
    redis.thaw();

    // Back: everything is as it was, and the connection came back by itself.
    let deadline = Instant::now() + TIMEOUT;
    let after = loop {
        match storage.load().await {
            Ok(after) => break after.unwrap(),
            Err(error) if Instant::now() < deadline => {
                tracing_free_sleep(&error).await;
            }
            Err(error) => panic!("{error}"),
        }
    };
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
}

async fn tracing_free_sleep(_error: &mcp_oauth::Error) {
    tokio::time::sleep(Duration::from_millis(100)).await;
}
