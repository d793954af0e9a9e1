//! Workload identity federation: the `jwt-bearer` grant (RFC 7523 §2.1)
//! with an assertion read anew for every token request.

use mcp_oauth::{AssertionSource, Auth, Client, Error, MemoryTokenStorage, OAuth, OAuthErrorCode};
use mcp_oauth_testkit::{AuthFault, AuthRequest, AuthRequestKind, AuthServer};

use crate::support::{TIMEOUT, count, protected};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn token_requests(auth: &AuthServer) -> Vec<AuthRequest> {
    let requests = auth.requests();
    let tokens = requests
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token);
    tokens.collect()
}

async fn call(url: &str, oauth: &OAuth) -> mcp_oauth::Result<()> {
    let client = Client::builder(url)
        .auth(Auth::from(oauth.clone()))
        .timeout(TIMEOUT)
        .listen_for_server_messages(false)
        .connect()
        .await?;
    client
        .call_tool(
            "echo",
            serde_json::json!({ "text": "hi" }).as_object().cloned(),
        )
        .await?;
    client.close().await;
    Ok(())
}

#[tokio::test]
async fn each_token_request_carries_the_assertion_the_file_holds_then() {
    let builder = AuthServer::builder()
        .workload_identity(true)
        .dynamic_registration(false);
    let (auth, server) = protected(builder).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let first = auth.workload_assertion("workload-1");
    std::fs::write(&path, format!("{first}\n")).unwrap();
    let oauth = OAuth::builder(server.url())
        .jwt_bearer(AssertionSource::file(&path))
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    call(&server.url(), &oauth).await.unwrap();

    // The platform rotates the file; the server stops taking the old token.
    let second = auth.workload_assertion("workload-1");
    assert_ne!(first, second);
    std::fs::write(&path, &second).unwrap();
    auth.expire_access_tokens();
    call(&server.url(), &oauth).await.unwrap();

    let tokens = token_requests(&auth);
    assert_eq!(tokens.len(), 2, "{tokens:#?}");
    assert_eq!(tokens[0].param("assertion"), Some(first.as_str()));
    assert_eq!(tokens[1].param("assertion"), Some(second.as_str()));
    for request in &tokens {
        assert_eq!(request.param("grant_type"), Some(JWT_BEARER));
        assert_eq!(request.param("resource"), Some(server.url().as_str()));
        // The scopes the server lists, without `offline_access`: no
        // refresh token is kept. Nothing of a client or a sign-in.
        assert_eq!(request.param("scope"), Some("mcp:read mcp:write"));
        let names: Vec<&str> = request.form.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["grant_type", "assertion", "resource", "scope"]);
        assert_eq!(request.authorization, None);
    }
    assert_eq!(count(&auth, AuthRequestKind::Register), 0);
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 0);
    // The assertion is kept nowhere: not in what is stored, not in Debug.
    let stored = oauth.stored().await.unwrap().unwrap();
    assert!(!format!("{stored:?}").contains(&second));
    assert!(!serde_json::to_string(&stored).unwrap().contains(&second));
    assert!(
        !stored.can_refresh(),
        "a new assertion, not a refresh token, renews"
    );
}

#[tokio::test]
async fn a_client_id_and_scopes_go_with_the_assertion() {
    let builder = AuthServer::builder()
        .workload_identity(true)
        .dynamic_registration(false);
    let (auth, server) = protected(builder).await;
    let variable = format!("MCP_OAUTH_TEST_JWT_{}", std::process::id());
    let assertion = auth.workload_assertion("ci-job");
    let oauth = OAuth::builder(server.url())
        .jwt_bearer(AssertionSource::command(
            "printf",
            ["%s", assertion.as_str()],
        ))
        .client_id("workload-client")
        .scopes("mcp:read")
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    call(&server.url(), &oauth).await.unwrap();
    let tokens = token_requests(&auth);
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].param("assertion"), Some(assertion.as_str()));
    assert_eq!(tokens[0].param("client_id"), Some("workload-client"));
    assert_eq!(tokens[0].param("scope"), Some("mcp:read"));
    assert_eq!(tokens[0].param("client_secret"), None);
    let missing = OAuth::builder(server.url())
        .jwt_bearer(AssertionSource::env(variable))
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    let error = call(&server.url(), &missing).await.unwrap_err();
    assert!(matches!(error, Error::InvalidConfig { .. }), "{error}");
    assert_eq!(
        token_requests(&auth).len(),
        1,
        "no request without an assertion"
    );
}

#[tokio::test]
async fn a_refused_assertion_is_one_request_never_retried() {
    let builder = AuthServer::builder()
        .workload_identity(true)
        .dynamic_registration(false)
        .fault(AuthFault::AssertionRefused);
    let (auth, server) = protected(builder).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    let assertion = auth.workload_assertion("workload-1");
    std::fs::write(&path, &assertion).unwrap();
    let oauth = OAuth::builder(server.url())
        .jwt_bearer(AssertionSource::file(&path))
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    let error = call(&server.url(), &oauth).await.unwrap_err();
    assert_eq!(
        error.oauth_error_code(),
        Some(&OAuthErrorCode::InvalidGrant),
        "{error}"
    );
    assert!(!error.to_string().contains(&assertion));
    assert!(!format!("{error:?}").contains(&assertion));
    assert_eq!(token_requests(&auth).len(), 1);
    let others = auth.requests().into_iter().filter(|r| {
        matches!(
            r.kind,
            AuthRequestKind::Register | AuthRequestKind::Authorize
        )
    });
    assert_eq!(others.count(), 0);
}
