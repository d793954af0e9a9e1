//! `rediss://`: a Redis speaking only TLS, its certificate signed by a
//! certificate authority made for the test (a CA and a leaf for
//! `IP:127.0.0.1`, with the `openssl` command). Trusted through
//! `ca_file`, the store works as over plain TCP; without it, the system's
//! roots refuse the certificate, within the connect timeout.

use std::time::{Duration, Instant};

use mcp_oauth::TokenStorage as _;
use mcp_oauth_testkit::{AuthServer, RedisServer};

use crate::support::{TIMEOUT, connect, protected, store_builder};

fn tls_redis() -> RedisServer {
    RedisServer::start_tls()
        .expect("redis-server with TLS (apt-get install -y redis-server openssl)")
}

#[tokio::test]
async fn a_rediss_store_whose_ca_is_trusted_keeps_and_locks_the_credentials() {
    let redis = tls_redis();
    let url = redis.url();
    assert!(url.starts_with("rediss://"), "{url}");
    let (auth, server) = protected(AuthServer::builder()).await;
    let store = store_builder(&url)
        .ca_file(redis.ca_file().unwrap())
        .connect()
        .await
        .unwrap();
    let client = connect(&server, &store).await;
    client.ping().await.unwrap();
    client.close().await;
    let storage = store.storage(&server.url()).unwrap();
    assert!(storage.load().await.unwrap().is_some(), "saved over TLS");
    assert!(storage.generation() >= Some(1));
    let lock = storage.lock(TIMEOUT).await.unwrap();
    lock.release().await;

    // The same PEM given as text works too.
    let pem = std::fs::read(redis.ca_file().unwrap()).unwrap();
    let again = store_builder(&url)
        .ca_certificates(pem)
        .connect()
        .await
        .unwrap();
    assert_eq!(again.list().await.unwrap().len(), 1);
    let _ = auth;
}

#[tokio::test]
async fn without_its_ca_a_private_certificate_is_refused_in_time() {
    let redis = tls_redis();
    let started = Instant::now();
    let error = store_builder(&redis.url()).connect().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let message = format!("{error:#}");
    assert!(
        message.to_lowercase().contains("certificate"),
        "names the certificate: {message}"
    );
    assert!(!message.contains("pw-"), "no password in {message}");

    // A CA file is for TLS only, and must be PEM.
    let plain = redis.url().replacen("rediss://", "redis://", 1);
    let error = store_builder(&plain)
        .ca_file(redis.ca_file().unwrap())
        .connect()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("rediss://"), "{error}");
    let error = store_builder(&redis.url())
        .ca_certificates("not a certificate")
        .connect()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("PEM"), "{error}");
}
