//! Tokens that are not tokens: an access token that an `Authorization`
//! header cannot carry (a line break would inject a header of the server's
//! choosing into every request, and into the README's
//! `curl -H "Authorization: Bearer $(mcp-oauth token URL)"`), a refresh
//! token with control characters. Refused on every grant as the token
//! endpoint's failure, never stored, never quoted; one already stored is
//! never sent.

use std::{path::Path, time::Duration};

use mcp_oauth::{
    Auth, Client, Error, FileTokenStorage, OAuth, OAuthBuilder, OAuthStep, secrecy::ExposeSecret,
};
use mcp_oauth_testkit::{AuthFault, AuthServer, PreRegistered, RefreshMode, TestServer};
use serde_json::Value;

use super::{SeededStore, bounded};
use crate::support::{age_stored_tokens, protected, scripted_browser};

/// What a token endpoint bent on header injection answers.
const INJECTING: &str = "fresh\r\nX-Injected: yes";

fn oauth(server: &TestServer, dir: &Path) -> OAuthBuilder {
    OAuth::builder(server.url())
        .token_storage_cache_dir(dir)
        .user_agent(scripted_browser())
        .timeout(Duration::from_secs(20))
        .on_notice(|_| {})
}

/// The stored document, as text.
fn document(server: &TestServer, dir: &Path) -> String {
    let path = FileTokenStorage::in_dir(&server.url(), dir).unwrap().path();
    std::fs::read_to_string(path).unwrap()
}

/// The token endpoint's failure, naming what was wrong, without the token.
fn assert_refused(error: &Error, auth: &AuthServer, field: &str, kind: &str) {
    assert!(
        matches!(
            error,
            Error::OAuthAnswer {
                step: OAuthStep::Token,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_authorization_failure(), "{error:?}");
    assert_eq!(error.oauth_step(), Some(OAuthStep::Token));
    let text = error.to_string();
    assert!(
        text.contains(&format!("{field} with characters {kind} may not contain")),
        "{text}"
    );
    assert!(text.contains(&auth.token_endpoint()), "{text}");
    assert!(
        !text.contains("X-Injected") && !text.contains('\u{1b}'),
        "{text}"
    );
    assert!(
        auth.issued_tokens() >= 1,
        "the server did answer with tokens"
    );
}

/// What makes an OAuth helper sign in with one grant.
type Grant = fn(OAuthBuilder) -> OAuthBuilder;

#[tokio::test]
async fn an_access_token_a_header_cannot_carry_is_refused_by_the_code_device_and_machine_grants() {
    let fault = AuthFault::AccessToken(INJECTING);
    let device = Duration::from_secs(1);
    let cases: [(&str, AuthServer, Grant); 3] = [
        (
            "authorization code",
            AuthServer::builder().fault(fault).start().await.unwrap(),
            |builder| builder,
        ),
        (
            "device",
            AuthServer::builder()
                .device_authorization(device)
                .fault(fault)
                .start()
                .await
                .unwrap(),
            OAuthBuilder::device_authorization,
        ),
        (
            "client credentials",
            AuthServer::builder()
                .pre_registered(PreRegistered::confidential("machine", "machine-secret"))
                .fault(fault)
                .start()
                .await
                .unwrap(),
            |builder| {
                builder
                    .client_id("machine")
                    .client_secret("machine-secret")
                    .client_credentials()
            },
        ),
    ];
    for (grant, auth, configure) in cases {
        let server = TestServer::builder()
            .protected_by(&auth)
            .start()
            .await
            .unwrap();
        let store = SeededStore::new(&server.url()).await;
        let login = configure(oauth(&server, &store.dir())).build().unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        assert_refused(&error, &auth, "an access_token", "a bearer token");
        // The tokens stored before are still there, untouched.
        store.assert_intact().await;
        assert!(
            !document(&server, &store.dir()).contains("X-Injected"),
            "{grant}"
        );
        server.stop().await;
        auth.stop().await;
    }
}

#[tokio::test]
async fn a_refresh_answered_with_an_injecting_token_keeps_the_stored_tokens() {
    // Stable refresh tokens: with rotation, the refused answer would have
    // spent the old one (as on a real server).
    let (auth, server) = protected(AuthServer::builder().refresh_tokens(RefreshMode::Stable)).await;
    let dir = crate::support::tempdir().unwrap();
    bounded(oauth(&server, dir.path()).build().unwrap().login())
        .await
        .unwrap();
    age_stored_tokens(&server, dir.path());
    let before = document(&server, dir.path());
    auth.set_fault(Some(AuthFault::AccessToken(INJECTING)));
    let later = oauth(&server, dir.path()).build().unwrap();
    let error = bounded(later.token()).await.unwrap_err();
    assert_refused(&error, &auth, "an access_token", "a bearer token");
    assert_eq!(document(&server, dir.path()), before);
    // Once the server behaves, the kept refresh token still works.
    auth.set_fault(None);
    let token = bounded(later.token()).await.unwrap();
    assert!(!token.expose_secret().contains('\n'));
    server.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn a_refresh_token_with_control_characters_is_refused() {
    for refresh_token in ["refresh\u{1b}]0;owned\u{7}", "refresh\0nul", "refresh\r\n"] {
        let (auth, server) =
            protected(AuthServer::builder().fault(AuthFault::RefreshToken(refresh_token))).await;
        let store = SeededStore::new(&server.url()).await;
        let login = oauth(&server, &store.dir()).build().unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        assert_refused(&error, &auth, "a refresh_token", "a refresh token");
        store.assert_intact().await;
        server.stop().await;
        auth.stop().await;
    }
}

/// Rewrites the stored access token, fresh for an hour; with or without
/// the refresh token.
fn store_access_token(server: &TestServer, dir: &Path, token: &str, keep_refresh: bool) {
    let path = FileTokenStorage::in_dir(&server.url(), dir).unwrap().path();
    let mut document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let tokens = document["tokens"].as_object_mut().expect("stored tokens");
    tokens.insert("access_token".into(), token.into());
    if !keep_refresh {
        tokens.remove("refresh_token");
    }
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
}

/// A document written by an older version (or by hand) with an access token
/// a header cannot carry: the token is never handed out nor sent. It is
/// renewed as an expired one would be: refreshed, else signed in again.
#[tokio::test]
async fn a_stored_access_token_a_header_cannot_carry_is_renewed_not_sent() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    bounded(oauth(&server, dir.path()).build().unwrap().login())
        .await
        .unwrap();

    // With its refresh token: refreshed, and the new token is stored.
    store_access_token(&server, dir.path(), INJECTING, true);
    let later = oauth(&server, dir.path()).build().unwrap();
    let token = bounded(later.token()).await.unwrap();
    assert!(!token.expose_secret().contains("X-Injected"));
    assert!(!document(&server, dir.path()).contains("X-Injected"));

    // Without: no token to hand out, and a client signs in again.
    store_access_token(&server, dir.path(), INJECTING, false);
    let later = oauth(&server, dir.path()).build().unwrap();
    let error = bounded(later.token()).await.unwrap_err();
    assert!(error.is_unauthorized(), "{error:?}");
    let client = bounded(
        Client::builder(server.url())
            .auth(Auth::from(later))
            .timeout(Duration::from_secs(20))
            .connect(),
    )
    .await
    .unwrap();
    client.ping().await.unwrap();
    client.close().await;
    assert!(!document(&server, dir.path()).contains("X-Injected"));
    let sent = server.requests();
    assert!(
        sent.iter()
            .filter_map(|request| request.authorization.as_deref())
            .all(|header| !header.contains("X-Injected")),
        "{sent:#?}"
    );
    server.stop().await;
    auth.stop().await;
}
