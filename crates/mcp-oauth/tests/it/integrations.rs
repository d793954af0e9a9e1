//! The same OAuth for people who use rmcp directly, and for any reqwest
//! client through reqwest-middleware.

use mcp_oauth::{
    Auth, AuthorizedHttpClient, MemoryTokenStorage, OAuth, OAuthMiddleware,
    rmcp::{
        ServiceExt,
        transport::{
            StreamableHttpClientTransport,
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    },
};
use mcp_oauth_testkit::{AuthServer, TestServer};
use serde_json::json;

use crate::support::{TIMEOUT, oauth, protected};

/// OAuth for `server`, with tokens in memory.
fn scripted_oauth(server: &TestServer) -> OAuth {
    oauth(server)
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap()
}

#[tokio::test]
async fn rmcp_users_plug_oauth_into_the_streamable_http_transport() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let http = AuthorizedHttpClient::new(Auth::from(scripted_oauth(&server))).unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(server.url()),
    );
    let client = tokio::time::timeout(TIMEOUT, ().serve(transport))
        .await
        .unwrap()
        .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|tool| tool.name == "echo"));
    client.cancel().await.unwrap();
    assert_eq!(auth.issued_tokens(), 1);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn any_reqwest_client_gets_oauth_through_the_middleware() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let bystander = TestServer::builder().start().await.unwrap();
    let http = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder().no_proxy().build().unwrap(),
    )
    .with(OAuthMiddleware::new(scripted_oauth(&server)).unwrap())
    .build();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": { "name": "middleware-test", "version": "1" } }
    });
    let answer = http
        .post(server.url())
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "the 401 was answered by authorizing");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["result"]["serverInfo"]["name"], "mcp-oauth-testkit");

    // Another origin never sees the token.
    let elsewhere = http
        .post(bystander.url())
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 200);
    let seen = bystander.requests();
    assert!(!seen.is_empty(), "the bystander was asked");
    assert!(seen.iter().all(|r| r.authorization.is_none()));
    auth.stop().await;
    server.stop().await;
    bystander.stop().await;
}

/// Programs run clients on their own tasks: every future the client hands
/// out must be `Send` for `tokio::spawn`, OAuth and all.
#[tokio::test]
async fn client_futures_run_on_spawned_tasks() {
    let (_auth, server) = protected(AuthServer::builder()).await;
    let oauth = scripted_oauth(&server);
    let url = server.url();
    let client = tokio::spawn(async move {
        mcp_oauth::Client::builder(url)
            .auth(Auth::from(oauth))
            .timeout(TIMEOUT)
            .connect()
            .await
    })
    .await
    .unwrap()
    .unwrap();
    let calls: Vec<_> = (0..4)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let arguments = json!({ "text": format!("call {n}") });
                client
                    .call_tool("echo", arguments.as_object().cloned())
                    .await
            })
        })
        .collect();
    for (n, call) in calls.into_iter().enumerate() {
        let result = call.await.unwrap().unwrap();
        assert_eq!(crate::support::text_of(&result), format!("call {n}"));
    }
    let pinger = client.clone();
    tokio::spawn(async move { pinger.ping().await })
        .await
        .unwrap()
        .unwrap();
    let bridge = mcp_oauth::bridge_stdio(
        "http://127.0.0.1:9/mcp",
        Auth::None,
        mcp_oauth::TransportMode::Auto,
        tokio::io::BufReader::new(tokio::io::empty()),
        tokio::io::sink(),
    );
    // The proxy's bridge too (it ends at once and cleanly: its input is empty).
    tokio::spawn(bridge).await.unwrap().unwrap();
    client.close().await;
}
