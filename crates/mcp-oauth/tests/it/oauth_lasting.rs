//! Tokens that last: concurrent refusals, revoked refresh tokens, a server
//! that is down, forgotten clients, the login brake, static credentials.

use std::time::Duration;

use mcp_oauth::{Error, MemoryTokenStorage};
use mcp_oauth_testkit::{AuthFault, AuthRequestKind, AuthServer};
use serde_json::json;

use crate::support::{
    args, builder, connect, count, oauth, ping_with_cache, protected, text_of, with_expired_tokens,
};

/// Many calls refused at once share one remedy: one refresh, or one
/// authorization, never one each.
#[tokio::test]
async fn concurrent_refusals_share_one_refresh_or_one_authorization() {
    use mcp_oauth_testkit::RefreshMode;
    for mode in [RefreshMode::Rotating, RefreshMode::Off] {
        let (auth, server) = protected(AuthServer::builder().refresh_tokens(mode)).await;
        let client = connect(
            &server,
            oauth(&server).token_storage(MemoryTokenStorage::new()),
        )
        .await
        .unwrap();
        auth.expire_access_tokens();
        auth.clear_requests();
        // 1,000 calls across the expiry: one remedy, no failed call.
        let calls = (0..1000).map(|n| {
            let client = client.clone();
            async move {
                client
                    .call_tool("echo", args(json!({ "text": n.to_string() })))
                    .await
            }
        });
        for (n, result) in futures::future::join_all(calls)
            .await
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                text_of(&result.unwrap_or_else(|e| panic!("{mode:?}: {e}"))),
                n.to_string()
            );
        }
        let tokens = count(&auth, AuthRequestKind::Token);
        let authorizations = count(&auth, AuthRequestKind::Authorize);
        match mode {
            RefreshMode::Off => assert_eq!((authorizations, tokens), (1, 1), "{mode:?}"),
            _ => assert_eq!((authorizations, tokens), (0, 1), "{mode:?}: one refresh"),
        }
        client.close().await;
        auth.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_revoked_refresh_token_leads_to_one_new_login() {
    let (auth, server, cache) = with_expired_tokens().await;
    auth.revoke_refresh_tokens();
    auth.clear_requests();
    ping_with_cache(&server, cache.path()).await;
    assert_eq!(
        count(&auth, AuthRequestKind::Authorize),
        1,
        "{:#?}",
        auth.requests()
    );
    assert_eq!(
        count(&auth, AuthRequestKind::Register),
        0,
        "the registration is kept"
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_authorization_server_that_is_down_keeps_the_tokens_and_says_so() {
    let (auth, server, cache) = with_expired_tokens().await;
    auth.set_fault(Some(AuthFault::TokenServerError));
    let error = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, Error::TokenEndpoint { status: 500, .. }),
        "{error:?}"
    );
    let stored = mcp_oauth::FileTokenStorage::in_dir(&server.url(), cache.path()).unwrap();
    use mcp_oauth::TokenStorage;
    assert!(
        stored.load().await.unwrap().unwrap().can_refresh(),
        "the refresh token is kept"
    );

    auth.set_fault(None);
    auth.clear_requests();
    ping_with_cache(&server, cache.path()).await;
    assert_eq!(
        count(&auth, AuthRequestKind::Authorize),
        0,
        "recovered by refreshing"
    );
    assert_eq!(count(&auth, AuthRequestKind::Token), 1);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_forgotten_client_is_registered_again_once() {
    let (auth, server, cache) = with_expired_tokens().await;
    auth.forget_clients();
    auth.clear_requests();
    ping_with_cache(&server, cache.path()).await;
    assert_eq!(
        count(&auth, AuthRequestKind::Register),
        1,
        "{:#?}",
        auth.requests()
    );
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 1);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_login_loop_is_braked() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let oauth = oauth(&server)
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    for _ in 0..5 {
        oauth.login().await.unwrap();
    }
    let error = oauth.login().await.unwrap_err();
    assert!(matches!(error, Error::Throttled { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("more than 5 sign-ins in a minute"),
        "{error}"
    );
    assert_eq!(
        count(&auth, AuthRequestKind::Authorize),
        5,
        "no sixth browser tab"
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn static_credentials_are_never_dropped() {
    use mcp_oauth::TokenStorage;
    use mcp_oauth_testkit::PreRegistered;
    let (auth, server) = protected(
        AuthServer::builder()
            .dynamic_registration(false)
            .access_token_lifetime(Duration::from_secs(1))
            .pre_registered(PreRegistered::confidential("given-client", "given-secret")),
    )
    .await;
    let storage = MemoryTokenStorage::new();
    let builder = || {
        oauth(&server)
            .token_storage(storage.clone())
            .client_id("given-client")
            .client_secret("given-secret")
    };
    let client = connect(&server, builder()).await.unwrap();
    client.close().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    auth.forget_pre_registered_clients();
    let error = connect(&server, builder()).await.unwrap_err();
    assert!(matches!(error, Error::TokenEndpoint { .. }), "{error:?}");
    let stored = storage.load().await.unwrap().unwrap();
    assert_eq!(
        stored.client_id(),
        Some("given-client"),
        "kept: the user gave it"
    );
    assert_eq!(count(&auth, AuthRequestKind::Register), 0);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn token_requests_are_braked_at_twenty_a_minute() {
    use mcp_oauth_testkit::PreRegistered;
    let (auth, server) = protected(
        AuthServer::builder().pre_registered(PreRegistered::confidential("machine", "secret")),
    )
    .await;
    let oauth = oauth(&server)
        .token_storage(MemoryTokenStorage::new())
        .client_id("machine")
        .client_secret("secret")
        .client_credentials()
        .build()
        .unwrap();
    for _ in 0..20 {
        oauth.login().await.unwrap();
    }
    let error = oauth.login().await.unwrap_err();
    assert!(matches!(error, Error::Throttled { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("more than 20 token requests in a minute"),
        "{error}"
    );
    assert_eq!(count(&auth, AuthRequestKind::Token), 20, "no 21st request");
    auth.stop().await;
    server.stop().await;
}

/// A storage whose saves fail once told to, as a full disk does.
#[derive(Debug, Clone, Default)]
struct FailingSaves {
    inner: MemoryTokenStorage,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl mcp_oauth::TokenStorage for FailingSaves {
    fn load(
        &self,
    ) -> futures::future::BoxFuture<'_, mcp_oauth::Result<Option<mcp_oauth::StoredCredentials>>>
    {
        self.inner.load()
    }

    fn save<'a>(
        &'a self,
        credentials: &'a mcp_oauth::StoredCredentials,
    ) -> futures::future::BoxFuture<'a, mcp_oauth::Result<()>> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async {
                Err(Error::Storage {
                    path: "test".into(),
                    reason: "no space left on device".into(),
                    source: None,
                })
            });
        }
        self.inner.save(credentials)
    }

    fn clear(&self) -> futures::future::BoxFuture<'_, mcp_oauth::Result<()>> {
        self.inner.clear()
    }
}

#[tokio::test]
async fn new_tokens_that_cannot_be_saved_are_never_used() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let storage = FailingSaves::default();
    let first = connect(&server, oauth(&server).token_storage(storage.clone()))
        .await
        .unwrap();
    first.close().await;
    // The server now refuses the token; the refresh brings a new one that
    // cannot be saved.
    storage
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    auth.expire_access_tokens();
    let later = oauth(&server)
        .token_storage(storage.clone())
        .build()
        .unwrap();
    let refused = builder(&server)
        .auth(mcp_oauth::Auth::from(later.clone()))
        .connect()
        .await;
    let error = refused.unwrap_err();
    assert!(matches!(error, Error::Storage { .. }), "{error:?}");
    // Nor does the helper hand them out afterwards.
    let held = later.token().await.map(|token| {
        use mcp_oauth::secrecy::ExposeSecret;
        token.expose_secret().to_owned()
    });
    let issued: Vec<String> = auth
        .tokens()
        .into_iter()
        .filter(|token| token.grant_type != "authorization_code")
        .map(|token| token.access_token)
        .collect();
    assert!(!issued.is_empty(), "new tokens were issued");
    if let Ok(held) = &held {
        assert!(!issued.contains(held), "an unsaved token is handed out");
    }
    for request in server.requests() {
        let sent = request.authorization.unwrap_or_default();
        assert!(
            issued.iter().all(|token| !sent.contains(token.as_str())),
            "a token that was not saved reached the server"
        );
    }
    auth.stop().await;
    server.stop().await;
}

/// A server that refuses even fresh tokens for its tools: the long-lived
/// client stops renewing (no browser, no token request per call) and says
/// why, until a person signs in again, which it takes up at once.
#[tokio::test]
async fn renewals_pause_while_the_server_refuses_fresh_tokens_until_someone_signs_in() {
    use mcp_oauth_testkit::TestServer;
    for refresh in [
        mcp_oauth_testkit::RefreshMode::Rotating,
        mcp_oauth_testkit::RefreshMode::Off,
    ] {
        let auth = AuthServer::builder()
            .refresh_tokens(refresh)
            .start()
            .await
            .unwrap();
        let server = TestServer::builder()
            .protected_by(&auth)
            .refuse_tokens_for_tool_calls()
            .start()
            .await
            .unwrap();
        let cache = crate::support::tempdir().unwrap();
        let client = connect(
            &server,
            oauth(&server).token_storage_cache_dir(cache.path()),
        )
        .await
        .unwrap();
        let first = client.call_tool("echo", args(json!({ "text": "x" }))).await;
        assert!(
            matches!(first, Err(Error::RenewalsPaused { status: 401, .. })),
            "{refresh:?}: {first:?}"
        );
        let sign_ins = count(&auth, AuthRequestKind::Authorize);
        auth.clear_requests();
        for _ in 0..10 {
            let again = client.call_tool("echo", args(json!({ "text": "x" }))).await;
            let Err(error @ Error::RenewalsPaused { .. }) = again else {
                panic!("{refresh:?}: {again:?}");
            };
            assert!(error.is_authorization_failure());
        }
        assert!(
            auth.requests().is_empty(),
            "{refresh:?}: {:?}",
            auth.requests()
        );

        // A person signs in (another process, the same store): the paused
        // client takes the new tokens up at its next call.
        oauth(&server)
            .token_storage_cache_dir(cache.path())
            .build()
            .unwrap()
            .login()
            .await
            .unwrap();
        let person = count(&auth, AuthRequestKind::Authorize);
        assert_eq!(person, 1);
        let _ = client.call_tool("echo", args(json!({ "text": "x" }))).await;
        assert!(
            count(&auth, AuthRequestKind::Authorize) <= person + 1,
            "{refresh:?}: at most one sign-in of its own after the person's"
        );
        // One to connect, and without a refresh token one when the first
        // call was refused.
        assert!(
            sign_ins <= 2,
            "{refresh:?}: {sign_ins} sign-ins before the pause"
        );
        auth.stop().await;
        server.stop().await;
    }
}
