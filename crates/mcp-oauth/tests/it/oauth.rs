//! The OAuth flow end to end against the testkit's authorization server.

use mcp_oauth::{Auth, Client, Error, MemoryTokenStorage, OAuth, UserAgent};
use mcp_oauth_testkit::{
    AuthRequestKind, AuthServer, IssMode, MetadataLocation, PrmMode, TestServer,
};
use serde_json::json;

use crate::support::{
    TIMEOUT, args, connect, count, exercise_tools, oauth, ping_with_cache, protected, text_of,
    with_expired_tokens,
};

#[tokio::test]
async fn a_cold_flow_makes_only_the_requests_it_needs_and_a_warm_run_none() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let cache = crate::support::tempdir().unwrap();
    let client = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap();
    exercise_tools(&client).await;
    client.close().await;

    // One rejected MCP request, the metadata that answers, one registration,
    // one authorization, one token request.
    let rejected = server.requests().iter().filter(|r| r.status == 401).count();
    assert_eq!(rejected, 1);
    assert_eq!(
        count(&auth, AuthRequestKind::Metadata),
        1,
        "{:#?}",
        auth.requests()
    );
    assert_eq!(count(&auth, AuthRequestKind::Register), 1);
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 1);
    assert_eq!(count(&auth, AuthRequestKind::Token), 1);
    let authorize = auth
        .requests()
        .into_iter()
        .find(|r| r.kind == AuthRequestKind::Authorize)
        .unwrap();
    assert_eq!(authorize.param("code_challenge_method"), Some("S256"));
    assert_eq!(authorize.param("resource"), Some(server.url().as_str()));
    let token = auth
        .requests()
        .into_iter()
        .find(|r| r.kind == AuthRequestKind::Token)
        .unwrap();
    assert_eq!(token.param("resource"), Some(server.url().as_str()));
    let registered = &auth.registered_clients()[0];
    assert_eq!(registered.metadata["application_type"], "native");
    assert_eq!(registered.metadata["token_endpoint_auth_method"], "none");

    // A new process: cached tokens, no request to the authorization server.
    auth.clear_requests();
    server.clear_requests();
    ping_with_cache(&server, cache.path()).await;
    assert!(auth.requests().is_empty(), "{:#?}", auth.requests());
    let requests = server.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.status != 401));
    let token = &auth.tokens()[0].access_token;
    for request in server.requests().iter().filter(|r| r.path == "/mcp") {
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {token}").as_str())
        );
    }
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_without_the_browser() {
    let (auth, server, cache) = with_expired_tokens().await;
    auth.clear_requests();
    // A later run (a new helper, as after a restart) refreshes.
    let never = UserAgent::custom(|_| async { panic!("no browser may open for a refresh") });
    let builder = oauth(&server)
        .token_storage_cache_dir(cache.path())
        .user_agent(never);
    let client = connect(&server, builder).await.unwrap();
    client.ping().await.unwrap();
    client.close().await;
    let tokens: Vec<_> = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .collect();
    assert_eq!(tokens.len(), 1, "{tokens:#?}");
    assert_eq!(tokens[0].param("grant_type"), Some("refresh_token"));
    assert_eq!(tokens[0].param("resource"), Some(server.url().as_str()));
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 0);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_resource_mismatch_stops_before_any_authorization_request() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .prm_resource("https://evil.example.com/mcp")
        .start()
        .await
        .unwrap();
    let error = connect(
        &server,
        oauth(&server).token_storage(MemoryTokenStorage::new()),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::ResourceMismatch { .. }), "{error:?}");
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 0);
    assert_eq!(count(&auth, AuthRequestKind::Register), 0);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_authorization_server_without_s256_is_refused() {
    let (auth, server) = protected(AuthServer::builder().pkce_methods(Some(&["plain"]))).await;
    let error = connect(
        &server,
        oauth(&server).token_storage(MemoryTokenStorage::new()),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Insecure { .. }), "{error:?}");
    assert!(error.to_string().contains("S256"), "{error}");
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 0);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn metadata_for_another_issuer_is_refused() {
    let (auth, server) =
        protected(AuthServer::builder().metadata_issuer("https://other.example")).await;
    let error = connect(
        &server,
        oauth(&server).token_storage(MemoryTokenStorage::new()),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::Insecure { .. }), "{error:?}");
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 0);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn rfc_9207_iss_is_checked() {
    for (mode, works) in [
        (IssMode::On, true),
        (IssMode::Unadvertised, true),
        (IssMode::Wrong, false),
    ] {
        let (auth, server) = protected(AuthServer::builder().iss_parameter(mode)).await;
        let result = connect(
            &server,
            oauth(&server).token_storage(MemoryTokenStorage::new()),
        )
        .await;
        match result {
            Ok(client) => {
                assert!(works, "{mode:?} must fail");
                client.close().await;
            }
            Err(error) => {
                assert!(!works, "{mode:?}: {error:?}");
                assert!(matches!(error, Error::Insecure { .. }), "{error:?}");
                assert_eq!(count(&auth, AuthRequestKind::Token), 0, "no code redeemed");
            }
        }
        auth.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn metadata_is_found_at_each_location_in_spec_order() {
    for (path, location) in [
        ("", MetadataLocation::OidcInsert),
        ("/tenant1", MetadataLocation::OAuthInsert),
        ("/tenant1", MetadataLocation::OidcInsert),
        ("/tenant1", MetadataLocation::OidcAppend),
    ] {
        let (auth, server) = protected(
            AuthServer::builder()
                .issuer_path(path)
                .metadata(&[location]),
        )
        .await;
        let client = connect(
            &server,
            oauth(&server).token_storage(MemoryTokenStorage::new()),
        )
        .await
        .unwrap_or_else(|error| panic!("{path} {location:?}: {error}"));
        client.ping().await.unwrap();
        client.close().await;
        auth.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn the_2025_03_26_fallbacks_work() {
    for with_metadata in [true, false] {
        let mut embedded = AuthServer::builder();
        if !with_metadata {
            embedded = embedded.metadata(&[]);
        }
        let server = TestServer::builder()
            .with_embedded_auth(embedded)
            .resource_metadata(PrmMode::None)
            .start()
            .await
            .unwrap();
        let client = connect(
            &server,
            oauth(&server).token_storage(MemoryTokenStorage::new()),
        )
        .await
        .unwrap_or_else(|error| panic!("metadata {with_metadata}: {error}"));
        exercise_tools(&client).await;
        client.close().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn step_up_asks_for_the_union_of_scopes() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .challenge_scope("mcp:read")
        .tool_scopes("add", &["mcp:write"])
        .start()
        .await
        .unwrap();
    let client = connect(
        &server,
        oauth(&server).token_storage(MemoryTokenStorage::new()),
    )
    .await
    .unwrap();
    let sum = client
        .call_tool("add", args(json!({ "a": 1, "b": 2 })))
        .await
        .unwrap();
    assert_eq!(text_of(&sum), "3");
    let scopes: Vec<String> = auth
        .requests()
        .iter()
        .filter(|r| r.kind == AuthRequestKind::Authorize)
        .map(|r| r.param("scope").unwrap_or("").to_owned())
        .collect();
    assert_eq!(scopes.len(), 2, "{scopes:?}");
    assert!(scopes[0].split(' ').any(|s| s == "mcp:read"), "{scopes:?}");
    let second: Vec<&str> = scopes[1].split(' ').collect();
    assert!(
        second.contains(&"mcp:read") && second.contains(&"mcp:write"),
        "{scopes:?}"
    );
    client.close().await;
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn legacy_sse_servers_authorize_too() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .mode(mcp_oauth_testkit::ServerMode::LegacySse)
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    let client = connect(
        &server,
        oauth(&server).token_storage(MemoryTokenStorage::new()),
    )
    .await
    .unwrap();
    exercise_tools(&client).await;
    client.close().await;
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_denied_sign_in_ends_at_once_with_the_servers_words() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let denying = UserAgent::custom(|url| async move {
        // Instead of approving, the "user" comes back with an error.
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let callback = format!(
            "{}?error=access_denied&error_description=The+user+said+no&state={}",
            get("redirect_uri"),
            get("state")
        );
        let browser = reqwest::Client::builder().no_proxy().build().unwrap();
        let _ = tokio::time::timeout(TIMEOUT, browser.get(callback).send()).await;
        Ok(())
    });
    let started = std::time::Instant::now();
    let builder = oauth(&server)
        .token_storage(MemoryTokenStorage::new())
        .user_agent(denying);
    let error = connect(&server, builder).await.unwrap_err();
    assert!(
        matches!(error, Error::AuthorizationDenied { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("The user said no"), "{error}");
    // Denied, not timed out: the error ended the wait at once.
    assert!(started.elapsed() < crate::support::NO_HANG);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_oauth_helper_never_sends_its_tokens_to_another_server() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let other = TestServer::builder().start().await.unwrap();
    let oauth = oauth(&server)
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    let error = Client::builder(other.url())
        .auth(Auth::from(oauth))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidConfig { .. }), "{error:?}");
    assert!(other.requests().is_empty());
    auth.stop().await;
    server.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let oauth = OAuth::builder("https://example.com/mcp")
        .client_id("cid")
        .client_secret("super-secret-value")
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    let shown = format!("{oauth:?} {:?}", Auth::from(oauth.clone()));
    assert!(!shown.contains("super-secret-value"), "{shown}");
    assert!(shown.contains("cid"));
}
