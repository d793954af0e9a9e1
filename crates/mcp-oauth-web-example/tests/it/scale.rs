//! A thousand users connected over four instances on one Redis; their
//! access tokens expire; then every user's requests arrive on all four
//! instances at once. Each user's tokens are refreshed exactly once, and
//! no refresh token is spent twice (which would revoke its family).
//!
//! Run with `--nocapture` to see each phase's wall time and the
//! authorization server's request counts; only the counts are asserted.

use std::{collections::HashSet, time::Instant};

use futures::{StreamExt as _, stream};
use mcp_oauth_testkit::{AuthRequest, AuthRequestKind, AuthServer, RedisServer};
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    fleet::STORE_KEY,
    support::{User, browser, connect, fleet, login, protected, tools},
};

const USERS: usize = 1_000;
const INSTANCES: usize = 4;
/// `/tools` requests after the expiry: each user's arrive on every instance.
const REQUESTS: usize = USERS * INSTANCES;
/// Requests under way at once.
const IN_FLIGHT: usize = 128;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_users_on_four_instances_each_refresh_once() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let server = server.url();
    let redis = RedisServer::start().unwrap();
    let instances = fleet(
        INSTANCES,
        &["--store", &redis.url()],
        &[("MCP_OAUTH_STORE_KEY", STORE_KEY)],
    );
    let (http, instances, server) = (&browser(), &instances, server.as_str());

    // Each user signs in on one instance, begins on the next, and comes
    // back to the callback on the one after.
    let started = Instant::now();
    let users: Vec<User> = stream::iter(0..USERS)
        .map(|i| async move {
            let user = login(http, &instances[i % INSTANCES], &format!("user-{i}")).await;
            let begin_on = &instances[(i + 1) % INSTANCES];
            let complete_on = &instances[(i + 2) % INSTANCES];
            connect(http, (begin_on, complete_on), &user, server).await;
            user
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    println!(
        "connected {USERS} users over {INSTANCES} instances in {:.1?}; the authorization \
         server saw {}",
        started.elapsed(),
        counts(&auth.requests())
    );
    assert_eq!(users.len(), USERS);
    // One discovery per instance serves every sign-in begun on it.
    let discoveries = auth
        .requests()
        .iter()
        .filter(|r| r.kind == AuthRequestKind::Metadata && r.status == 200)
        .count();
    assert!(discoveries <= INSTANCES, "{discoveries} metadata requests");

    auth.expire_access_tokens();
    auth.clear_requests();

    // Request j: user j / 4 on instance j % 4, so that each user's four
    // requests are under way together, one on each instance.
    let started = Instant::now();
    let answers: Vec<(StatusCode, serde_json::Value)> = stream::iter(0..REQUESTS)
        .map(|j| {
            let user = &users[(j / INSTANCES) % USERS];
            tools(http, &instances[j % INSTANCES], user, server)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let requests = auth.requests();
    println!(
        "{REQUESTS} /tools requests with expired tokens, {IN_FLIGHT} at a time, in {:.1?}; \
         the authorization server saw {}",
        started.elapsed(),
        counts(&requests)
    );

    for (status, names) in &answers {
        assert_eq!(*status, StatusCode::OK, "{names}");
        assert!(
            names.as_array().unwrap().contains(&json!("echo")),
            "{names}"
        );
    }
    // Only refreshes reached the token endpoint, each answered, one per
    // user: USERS of them, each spending a different refresh token.
    let token_requests: Vec<&AuthRequest> = requests
        .iter()
        .filter(|request| request.kind == AuthRequestKind::Token)
        .collect();
    assert!(
        token_requests
            .iter()
            .all(|r| r.param("grant_type") == Some("refresh_token") && r.status == 200),
        "{token_requests:#?}"
    );
    let spent: HashSet<&str> = token_requests
        .iter()
        .filter_map(|r| r.param("refresh_token"))
        .collect();
    assert_eq!(token_requests.len(), USERS);
    assert_eq!(spent.len(), USERS);
    assert!(requests.iter().all(|r| r.kind == AuthRequestKind::Token));
    let revoked = auth.tokens().iter().filter(|token| token.revoked).count();
    assert_eq!(revoked, 0, "no refresh token was spent twice");
}

/// "N metadata, N register, …": the requests of each kind.
fn counts(requests: &[AuthRequest]) -> String {
    let kinds = [
        (AuthRequestKind::Metadata, "metadata"),
        (AuthRequestKind::Register, "register"),
        (AuthRequestKind::Authorize, "authorize"),
        (AuthRequestKind::Token, "token"),
    ];
    let mut parts: Vec<String> = kinds
        .iter()
        .map(|(kind, name)| {
            let n = requests.iter().filter(|r| r.kind == *kind).count();
            format!("{n} {name}")
        })
        .collect();
    let refreshes = requests
        .iter()
        .filter(|r| r.param("grant_type") == Some("refresh_token"))
        .count();
    parts.push(format!("of which {refreshes} refresh_token grants"));
    parts.join(", ")
}
