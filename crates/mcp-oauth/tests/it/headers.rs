//! Headers of the user's own on every MCP request, and never elsewhere.

use mcp_oauth::{Auth, Client, Error, MemoryTokenStorage};
use mcp_oauth_testkit::{AuthServer, ServerMode, TestServer};

use crate::support::{TIMEOUT, oauth, protected};

#[tokio::test]
async fn headers_go_on_every_mcp_request_and_never_to_the_authorization_server() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let oauth = oauth(&server)
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    let builder = Client::builder(server.url())
        .auth(Auth::from(oauth))
        .header("X-Api-Key", "k-123")
        .header("X-Tenant", "acme")
        .timeout(TIMEOUT);
    let shown = format!("{builder:?}");
    assert!(
        shown.contains("x-api-key") && !shown.contains("k-123"),
        "{shown}"
    );
    let client = builder.connect().await.unwrap();
    client.list_tools().await.unwrap();
    client.close().await;
    // Every MCP request; the metadata of the OAuth discovery is OAuth's.
    let requests = server.requests();
    let mcp: Vec<_> = requests.iter().filter(|r| r.path == "/mcp").collect();
    assert!(mcp.len() >= 3, "{requests:#?}");
    for request in mcp {
        assert_eq!(request.header("x-api-key"), Some("k-123"), "{request:?}");
        assert_eq!(request.header("x-tenant"), Some("acme"));
    }
    let sign_in = auth.requests();
    assert!(!sign_in.is_empty());
    assert!(sign_in.iter().all(|r| r.header("x-api-key").is_none()));
}

#[tokio::test]
async fn legacy_sse_carries_them_on_the_stream_and_the_messages() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .start()
        .await
        .unwrap();
    let client = Client::builder(server.url())
        .header("X-Api-Key", "k-456")
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    client.ping().await.unwrap();
    client.close().await;
    let requests = server.requests();
    assert!(requests.iter().any(|r| r.http_method == "GET"));
    assert!(requests.iter().any(|r| r.http_method == "POST"));
    assert!(
        requests
            .iter()
            .all(|r| r.header("x-api-key") == Some("k-456")),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn a_header_the_transport_owns_or_a_broken_value_fails_before_any_request() {
    let server = TestServer::builder().start().await.unwrap();
    for (name, value) in [
        ("Authorization", "Bearer x"),
        ("X-Ok", "a\nb"),
        ("X Bad", "v"),
    ] {
        let refused = Client::builder(server.url())
            .header(name, value)
            .connect()
            .await;
        let Err(error) = refused else {
            panic!("{name} was accepted");
        };
        assert!(matches!(error, Error::InvalidConfig { .. }), "{error}");
        assert!(!error.to_string().contains("Bearer x"), "{error}");
    }
    assert!(server.requests().is_empty());
}
