//! DPoP (RFC 9449) against the testkit acting as a strict DPoP server: the
//! authorization server binds tokens to the key of a valid proof; the MCP
//! server takes a bound token only with a fresh proof of that key for the
//! very request (`htm`, `htu`, `iat`, `ath`, a `jti` never seen before).

use std::collections::HashSet;

use mcp_oauth::{DpopMode, Error};
use mcp_oauth_testkit::{AuthRequestKind, AuthServer, DpopPolicy, TestServer};

use crate::support::{TIMEOUT, connect, count, exercise_tools, oauth, tempdir};

async fn dpop_servers(auth: DpopPolicy, resource: DpopPolicy) -> (AuthServer, TestServer) {
    let auth = AuthServer::builder().dpop(auth).start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .dpop(resource)
        .start()
        .await
        .unwrap();
    (auth, server)
}

/// The `/mcp` requests that carried a token, and their proofs.
fn proofs(server: &TestServer) -> Vec<(String, Option<String>)> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/mcp")
        .filter_map(|r| Some((r.authorization?, r.dpop)))
        .collect()
}

#[tokio::test]
async fn tokens_are_bound_and_every_request_carries_a_fresh_proof() {
    let (auth, server) = dpop_servers(DpopPolicy::On, DpopPolicy::On).await;
    let cache = tempdir().unwrap();
    let client = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap();
    exercise_tools(&client).await;
    client.close().await;

    let token_requests: Vec<_> = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .collect();
    assert_eq!(token_requests.len(), 1);
    assert!(
        token_requests[0].dpop.is_some(),
        "a proof on the token request"
    );
    let issued = auth.tokens();
    assert!(issued[0].jkt.is_some(), "the token is bound to the key");

    let sent = proofs(&server);
    assert!(sent.len() >= 4, "{sent:#?}");
    let mut seen = HashSet::new();
    for (authorization, proof) in &sent {
        assert!(authorization.starts_with("DPoP "), "{authorization}");
        let proof = proof.as_deref().expect("a proof with every request");
        assert!(seen.insert(proof.to_owned()), "a proof is never sent twice");
    }
    // Every request the server refused was the first, unauthenticated one.
    let refused = server.requests().iter().filter(|r| r.status == 401).count();
    assert_eq!(refused, 1, "{:#?}", server.requests());

    let stored = std::fs::read_to_string(
        std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .unwrap(),
    )
    .unwrap();
    let document: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(document["version"], 2, "a document with a key is schema 2");
    assert!(document["dpop_key"].is_string());
    assert_eq!(document["tokens"]["token_type"], "DPoP");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn nonces_from_both_servers_are_honoured_with_one_retry_each() {
    let (auth, server) = dpop_servers(DpopPolicy::WithNonce, DpopPolicy::WithNonce).await;
    let client = connect(
        &server,
        oauth(&server).token_storage(mcp_oauth::MemoryTokenStorage::new()),
    )
    .await
    .unwrap();
    exercise_tools(&client).await;
    client.close().await;

    let statuses: Vec<u16> = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [400, 200],
        "one retry with the authorization server's nonce"
    );
    // The MCP server: the unauthenticated 401, one use_dpop_nonce 401, and
    // from then on the nonce goes with every proof unasked.
    let refused = server.requests().iter().filter(|r| r.status == 401).count();
    assert_eq!(refused, 2, "{:#?}", server.requests());
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 1);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn the_same_key_refreshes_after_a_restart() {
    let (auth, server) = dpop_servers(DpopPolicy::On, DpopPolicy::On).await;
    let cache = tempdir().unwrap();
    let first = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap();
    first.ping().await.unwrap();
    first.close().await;
    let bound_to = auth.tokens()[0].jkt.clone().unwrap();

    // A new process: its access token refused, it refreshes with the key
    // from the file (the server refuses a refresh with any other key).
    auth.expire_access_tokens();
    auth.clear_requests();
    let again = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap();
    exercise_tools(&again).await;
    again.close().await;
    let refreshes: Vec<_> = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .collect();
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].param("grant_type"), Some("refresh_token"));
    assert_eq!(refreshes[0].status, 200);
    let tokens = auth.tokens();
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        tokens[1].jkt.as_deref(),
        Some(bound_to.as_str()),
        "the same key"
    );
    assert_eq!(
        count(&auth, AuthRequestKind::Authorize),
        0,
        "no new sign-in"
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_replayed_proof_is_refused_by_the_server() {
    let (auth, server) = dpop_servers(DpopPolicy::On, DpopPolicy::On).await;
    let client = connect(
        &server,
        oauth(&server).token_storage(mcp_oauth::MemoryTokenStorage::new()),
    )
    .await
    .unwrap();
    client.ping().await.unwrap();
    let (authorization, proof) = proofs(&server).pop().unwrap();
    let replay = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .unwrap()
        .post(server.url())
        .header("authorization", authorization)
        .header("dpop", proof.unwrap())
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let challenge = replay.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    client.close().await;
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_bearer_only_server_keeps_bearer_tokens_and_never_forbids_them() {
    // The authorization server offers DPoP; the MCP server does not ask.
    let (auth, server) = dpop_servers(DpopPolicy::On, DpopPolicy::Off).await;
    let client = connect(
        &server,
        oauth(&server).token_storage(mcp_oauth::MemoryTokenStorage::new()),
    )
    .await
    .unwrap();
    exercise_tools(&client).await;
    client.close().await;
    assert!(auth.tokens()[0].jkt.is_none());
    for (authorization, proof) in proofs(&server) {
        assert!(authorization.starts_with("Bearer "));
        assert!(proof.is_none());
    }
    // `never` keeps bearer tokens even where both sides could.
    let (auth, server) = dpop_servers(DpopPolicy::On, DpopPolicy::On).await;
    let client = connect(
        &server,
        oauth(&server)
            .dpop(DpopMode::Never)
            .token_storage(mcp_oauth::MemoryTokenStorage::new()),
    )
    .await
    .unwrap();
    exercise_tools(&client).await;
    client.close().await;
    assert!(auth.tokens()[0].jkt.is_none());
    assert!(auth.requests().iter().all(|r| r.dpop.is_none()));
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn always_refuses_a_bearer_answer() {
    let (auth, server) = dpop_servers(DpopPolicy::Off, DpopPolicy::Off).await;
    let error = connect(
        &server,
        oauth(&server)
            .dpop(DpopMode::Always)
            .token_storage(mcp_oauth::MemoryTokenStorage::new()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, Error::Insecure { reason, .. } if reason.contains("bearer token")),
        "{error:?}"
    );
    auth.stop().await;
    server.stop().await;
}
