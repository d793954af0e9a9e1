//! Many clients (each with its own connection, as separate processes
//! would have) on one identity: one refresh per expiry, one sign-in after
//! Redis forgot everything, even over a slow link.

use std::time::Duration;

use futures::future::join_all;
use mcp_oauth::{Client, OAuth, TokenStorage};
use mcp_oauth_testkit::{AuthRequestKind, AuthServer};
use secrecy::ExposeSecret as _;

use crate::support::{
    Redis, TIMEOUT, age_stored_tokens, delaying_proxy, invalid_grants, oauth, protected,
    refresh_requests, sign_in, store, store_builder,
};

const CLIENTS: usize = 8;

#[tokio::test]
async fn many_clients_over_a_slow_link_refresh_once() {
    let redis = Redis::start();
    // 15 ms each way on every Redis round trip.
    let proxy = delaying_proxy(redis.port(), Duration::from_millis(15)).await;
    let (auth, server) = protected(AuthServer::builder().fault(
        mcp_oauth_testkit::AuthFault::SlowToken(Duration::from_millis(300)),
    ))
    .await;
    let first = store(&redis).await;
    sign_in(&server, &first).await;
    age_stored_tokens(&first.storage(&server.url()).unwrap()).await;
    let before = refresh_requests(&auth);

    let mut clients: Vec<OAuth> = Vec::new();
    for _ in 0..CLIENTS {
        let store = store_builder(&redis.url_via(proxy))
            .response_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap();
        clients.push(oauth(&server, &store).build().unwrap());
    }
    let tokens = join_all(clients.iter().map(OAuth::token)).await;
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|token| token.unwrap().expose_secret().to_owned())
        .collect();
    assert_eq!(refresh_requests(&auth) - before, 1, "one refresh for all");
    assert!(
        tokens.windows(2).all(|pair| pair[0] == pair[1]),
        "one token for all"
    );
    assert_eq!(invalid_grants(&auth), 0, "no family revoked");
}

#[tokio::test]
async fn redis_restarted_without_persistence_costs_one_sign_in() {
    let mut redis = Redis::start();
    let (auth, server) = protected(AuthServer::builder()).await;
    let first = store(&redis).await;
    sign_in(&server, &first).await;
    let sign_ins = |auth: &AuthServer| {
        auth.requests()
            .iter()
            .filter(|request| request.kind == AuthRequestKind::Authorize)
            .count()
    };
    assert_eq!(sign_ins(&auth), 1);

    redis.restart();
    let mut stores = Vec::new();
    for _ in 0..CLIENTS {
        stores.push(store(&redis).await);
    }
    let connected: Vec<mcp_oauth::Result<()>> = join_all(stores.iter().map(|store| async {
        let client = Client::builder(server.url())
            .auth(mcp_oauth::Auth::from(oauth(&server, store).build()?))
            .timeout(TIMEOUT)
            .connect()
            .await?;
        client.ping().await?;
        client.close().await;
        Ok(())
    }))
    .await;
    for outcome in connected {
        outcome.unwrap();
    }
    assert_eq!(sign_ins(&auth), 2, "one more sign-in, shared by all");
    assert!(
        first
            .storage(&server.url())
            .unwrap()
            .load()
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_persistent_redis_keeps_the_tokens_across_a_restart() {
    let mut redis = Redis::start_persistent();
    let (auth, server) = protected(AuthServer::builder()).await;
    let store = store(&redis).await;
    sign_in(&server, &store).await;
    redis.restart();
    let again = crate::support::store(&redis).await;
    assert!(
        again
            .storage(&server.url())
            .unwrap()
            .load()
            .await
            .unwrap()
            .is_some()
    );
    let _ = auth;
}

/// Clients already connected, their tokens in memory, when Redis restarts
/// empty; then the access token is refused. None spends the refresh token
/// it holds: its spend mark went with Redis, so it may be spent already,
/// and a second spend would revoke the family. One sign-in, which every
/// client waits for and uses.
#[tokio::test]
async fn no_refresh_token_the_store_lost_is_spent_one_sign_in_instead() {
    let mut redis = Redis::start();
    let (auth, server) = protected(AuthServer::builder()).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let store = store(&redis).await;
        let client = Client::builder(server.url())
            .auth(mcp_oauth::Auth::from(
                oauth(&server, &store).build().unwrap(),
            ))
            .timeout(TIMEOUT)
            .connect()
            .await
            .unwrap();
        clients.push((store, client));
    }
    let sign_ins = |auth: &AuthServer| {
        auth.requests()
            .iter()
            .filter(|request| request.kind == AuthRequestKind::Authorize)
            .count()
    };
    assert_eq!(
        sign_ins(&auth),
        1,
        "the first signed in, the others used it"
    );

    redis.restart();
    auth.expire_access_tokens();
    let before = refresh_requests(&auth);
    let pinged = join_all(clients.iter().map(|(_, client)| client.ping())).await;
    for outcome in pinged {
        outcome.unwrap();
    }
    assert_eq!(
        refresh_requests(&auth),
        before,
        "no refresh token spent after the loss"
    );
    assert_eq!(sign_ins(&auth), 2, "one more sign-in, shared by all");
    assert_eq!(invalid_grants(&auth), 0);
    let stored = clients[0].0.storage(&server.url()).unwrap();
    assert!(stored.load().await.unwrap().is_some());
    for (_, client) in clients {
        client.close().await;
    }
}
