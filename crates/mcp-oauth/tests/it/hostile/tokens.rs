//! What authorization servers put in their answers: metadata for another
//! issuer, token types other than Bearer, OAuth errors sent with HTTP 200,
//! `expires_in` as a string or not at all.

use std::time::Duration;

use mcp_oauth::{
    Auth, Client, Error, FileTokenStorage, OAuth, OAuthBuilder, OAuthStep, TokenStorage,
};
use mcp_oauth_testkit::{AuthFault, AuthRequestKind, AuthServer, RefreshMode, TestServer};
use serde_json::Value;

use super::{
    SeededStore, bounded, mini_as,
    server::{Hostile, Reply},
};
use crate::support::{args, protected, scripted_browser, text_of};

fn oauth(server: &TestServer, dir: &std::path::Path) -> OAuthBuilder {
    OAuth::builder(server.url())
        .token_storage_cache_dir(dir)
        .user_agent(scripted_browser())
        .timeout(Duration::from_secs(20))
        .on_notice(|_| {})
}

/// The `tokens` object of the stored document, which must parse.
async fn stored_tokens(server: &TestServer, dir: &std::path::Path) -> Value {
    let storage = FileTokenStorage::in_dir(&server.url(), dir).unwrap();
    assert!(storage.load().await.unwrap().is_some(), "nothing stored");
    let text = std::fs::read_to_string(storage.path()).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["tokens"].clone()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn metadata_for_another_issuer_is_refused_naming_both() {
    let (auth, server) =
        protected(AuthServer::builder().metadata_issuer("https://other.example")).await;
    let store = SeededStore::new(&server.url()).await;
    let login = oauth(&server, &store.dir()).build().unwrap();
    let error = bounded(login.login()).await.unwrap_err();
    assert!(matches!(error, Error::Insecure { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("https://other.example"), "{text}");
    assert!(text.contains(&auth.issuer()), "{text}");
    assert_eq!(auth.requests().len(), 1, "only the metadata was asked for");
    store.assert_intact().await;
}

#[tokio::test]
async fn token_types_other_than_bearer_are_refused_and_lowercase_bearer_works() {
    for fault in [AuthFault::TokenType("DPoP"), AuthFault::TokenTypeNotBearer] {
        let (auth, server) = protected(AuthServer::builder().fault(fault)).await;
        let store = SeededStore::new(&server.url()).await;
        let login = oauth(&server, &store.dir()).build().unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        assert!(
            matches!(
                error,
                Error::OAuthAnswer {
                    step: OAuthStep::Token,
                    ..
                }
            ),
            "{fault:?}: {error:?}"
        );
        let text = error.to_string();
        let named = if fault == AuthFault::TokenTypeNotBearer {
            "\"mac\""
        } else {
            "\"DPoP\""
        };
        assert!(text.contains(named) && text.contains("Bearer"), "{text}");
        assert!(text.contains(&auth.token_endpoint()), "{text}");
        // The token was issued but is never shown or stored.
        let issued = &auth.tokens()[0].access_token;
        assert!(!text.contains(issued.as_str()));
        store.assert_intact().await;
    }

    let (auth, server) = protected(AuthServer::builder().fault(AuthFault::LowercaseBearer)).await;
    let dir = crate::support::tempdir().unwrap();
    let client = bounded(
        Client::builder(server.url())
            .auth(Auth::from(oauth(&server, dir.path()).build().unwrap()))
            .timeout(Duration::from_secs(20))
            .connect(),
    )
    .await
    .unwrap();
    let echoed = client
        .call_tool("echo", args(serde_json::json!({ "text": "lower" })))
        .await
        .unwrap();
    assert_eq!(text_of(&echoed), "lower");
    client.close().await;
    assert_eq!(
        stored_tokens(&server, dir.path()).await["token_type"],
        "Bearer"
    );
    assert_eq!(auth.issued_tokens(), 1);
}

#[tokio::test]
async fn a_refresh_answered_with_dpop_keeps_the_stored_tokens() {
    // Stable refresh tokens: with rotation, the refused answer would have
    // spent the old one (as on a real server).
    let builder = AuthServer::builder()
        .access_token_lifetime(Duration::from_secs(1))
        .refresh_tokens(RefreshMode::Stable);
    let (auth, server) = protected(builder).await;
    let dir = crate::support::tempdir().unwrap();
    let first = oauth(&server, dir.path()).build().unwrap();
    bounded(first.login()).await.unwrap();
    let before = stored_tokens(&server, dir.path()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    auth.set_fault(Some(AuthFault::TokenType("DPoP")));
    // A later run: the token has expired, the refresh gets a DPoP token.
    let later = oauth(&server, dir.path()).build().unwrap();
    let error = bounded(later.token()).await.unwrap_err();
    assert_eq!(error.oauth_step(), Some(OAuthStep::Token), "{error:?}");
    assert!(error.to_string().contains("DPoP"), "{error}");
    assert_eq!(stored_tokens(&server, dir.path()).await, before);
    // Once the server behaves, the kept refresh token still works.
    auth.set_fault(None);
    bounded(later.token()).await.unwrap();
    assert_ne!(stored_tokens(&server, dir.path()).await, before);
}

#[tokio::test]
async fn an_oauth_error_sent_with_http_200_is_the_servers_error() {
    let (auth, server) = protected(AuthServer::builder().fault(AuthFault::TokenErrorWith200)).await;
    let store = SeededStore::new(&server.url()).await;
    let login = oauth(&server, &store.dir()).build().unwrap();
    let error = bounded(login.login()).await.unwrap_err();
    match &error {
        Error::TokenEndpoint {
            url,
            status,
            error,
            description,
        } => {
            assert_eq!(url, &auth.token_endpoint());
            assert_eq!(*status, 200);
            assert_eq!(error, "invalid_grant");
            assert_eq!(
                description.as_deref(),
                Some("The code passed is incorrect or expired.")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains("invalid_grant (The code passed is incorrect or expired.)"),
        "{error}"
    );
    // One code exchange, not retried as if it were garbage.
    let tokens = auth.requests();
    let exchanges = tokens.iter().filter(|r| r.kind == AuthRequestKind::Token);
    assert_eq!(exchanges.count(), 1);
    store.assert_intact().await;
}

#[tokio::test]
async fn expires_in_as_a_string_is_read() {
    let (_auth, server) =
        protected(AuthServer::builder().fault(AuthFault::ExpiresInAsString)).await;
    let dir = crate::support::tempdir().unwrap();
    let login = oauth(&server, dir.path()).build().unwrap();
    let started = now();
    bounded(login.login()).await.unwrap();
    let expires_at = login.stored().await.unwrap().unwrap().expires_at().unwrap();
    assert!(
        (started + 3600..=now() + 3600).contains(&expires_at),
        "{expires_at}"
    );
}

/// Without `expires_in` the lifetime is unknown: the token is used until
/// the server refuses it, then refreshed (documented in the README).
#[tokio::test]
async fn a_missing_expires_in_means_use_until_refused() {
    let (auth, server) = protected(AuthServer::builder().fault(AuthFault::NoExpiresIn)).await;
    let dir = crate::support::tempdir().unwrap();
    let login = oauth(&server, dir.path()).build().unwrap();
    bounded(login.login()).await.unwrap();
    let stored = login.stored().await.unwrap().unwrap();
    assert_eq!(stored.expires_at(), None);
    assert!(stored.can_refresh());
    let first = stored_tokens(&server, dir.path()).await;

    // No refresh on a schedule: the same token, no request to the server.
    auth.clear_requests();
    let later = oauth(&server, dir.path()).build().unwrap();
    bounded(later.token()).await.unwrap();
    assert!(auth.requests().is_empty(), "{:#?}", auth.requests());

    // Refused by the MCP server: refreshed, and the call goes through.
    auth.expire_access_tokens();
    let client = bounded(
        Client::builder(server.url())
            .auth(Auth::from(later))
            .timeout(Duration::from_secs(20))
            .connect(),
    )
    .await
    .unwrap();
    client.close().await;
    let refreshes = auth.requests();
    let refreshes: Vec<_> = refreshes
        .iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .collect();
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].param("grant_type"), Some("refresh_token"));
    assert_ne!(stored_tokens(&server, dir.path()).await, first);
}

#[tokio::test]
async fn an_absurd_expires_in_is_survived() {
    let hostile = Hostile::start(|request, base| match request.path() {
        "/token" => Reply::Json(
            200,
            serde_json::json!({
                "access_token": "long-lived",
                "token_type": "Bearer",
                "expires_in": u64::MAX,
            }),
        ),
        _ => mini_as(request, base),
    })
    .await;
    let url = format!("{}/mcp", hostile.base());
    let dir = crate::support::tempdir().unwrap();
    let login = super::oauth(&url, dir.path().to_owned()).build().unwrap();
    bounded(login.login()).await.unwrap();
    let stored = login.stored().await.unwrap().unwrap();
    assert_eq!(stored.expires_at(), Some(u64::MAX));
    let token = bounded(login.token()).await.unwrap();
    assert_eq!(
        mcp_oauth::secrecy::ExposeSecret::expose_secret(&token),
        "long-lived"
    );
}
