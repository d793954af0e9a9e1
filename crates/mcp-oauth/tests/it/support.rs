//! Helpers shared by the integration tests.

use std::{path::Path, time::Duration};

use mcp_oauth::{
    Auth, Client, ClientBuilder, OAuth, OAuthBuilder, UserAgent, model::CallToolResult,
};
use mcp_oauth_testkit::{
    AuthRequestKind, AuthServer, AuthServerBuilder, RecordedRequest, TestServer,
};
use serde_json::{Value, json};

/// Every wait in these tests is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn builder(server: &TestServer) -> ClientBuilder {
    Client::builder(server.url()).timeout(TIMEOUT)
}

/// An authorization server started from `auth`, and an MCP server it protects.
pub(crate) async fn protected(auth: AuthServerBuilder) -> (AuthServer, TestServer) {
    let auth = auth.start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    (auth, server)
}

/// How many requests of `kind` the authorization server saw.
pub(crate) fn count(auth: &AuthServer, kind: AuthRequestKind) -> usize {
    auth.requests()
        .iter()
        .filter(|request| request.kind == kind)
        .count()
}

/// A browser that follows the authorization redirect into the callback,
/// as a person approving at once would.
pub(crate) fn scripted_browser() -> UserAgent {
    UserAgent::custom(|url| async move {
        let browser = reqwest::Client::builder()
            .no_proxy()
            .timeout(TIMEOUT)
            .build()
            .unwrap();
        let _ = browser.get(url).send().await;
        Ok(())
    })
}

/// OAuth for `server` with the scripted browser, bounded waits, no notices.
pub(crate) fn oauth(server: &TestServer) -> OAuthBuilder {
    OAuth::builder(server.url())
        .user_agent(scripted_browser())
        .timeout(TIMEOUT)
        .on_notice(|_| {})
}

pub(crate) async fn connect(server: &TestServer, oauth: OAuthBuilder) -> mcp_oauth::Result<Client> {
    Client::builder(server.url())
        .auth(Auth::from(oauth.build()?))
        .timeout(TIMEOUT)
        .connect()
        .await
}

/// A later run: connects with the tokens cached in `cache`, pings, closes.
pub(crate) async fn ping_with_cache(server: &TestServer, cache: &Path) {
    let client = connect(server, oauth(server).token_storage_cache_dir(cache))
        .await
        .unwrap();
    client.ping().await.unwrap();
    client.close().await;
}

pub(crate) fn args(value: Value) -> Option<mcp_oauth::model::JsonObject> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The text of the first content block.
pub(crate) fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|block| block.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// The JSON-RPC methods the server saw, in order.
pub(crate) fn rpc_methods(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter_map(|request| request.rpc_method.clone())
        .collect()
}

/// Echo and add work: the two calls every transport test makes.
pub(crate) async fn exercise_tools(client: &Client) {
    let echoed = client
        .call_tool("echo", args(json!({ "text": "hello there" })))
        .await
        .unwrap();
    assert_eq!(text_of(&echoed), "hello there");
    assert_ne!(echoed.is_error, Some(true));
    let sum = client
        .call_tool("add", args(json!({ "a": 2, "b": 3 })))
        .await
        .unwrap();
    assert_eq!(text_of(&sum), "5");
    let names: Vec<String> = client
        .list_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    assert!(
        names.contains(&"echo".to_owned()) && names.contains(&"add".to_owned()),
        "{names:?}"
    );
}

/// A protected server whose access tokens last 1 s, and a cache holding
/// tokens from a first run whose access token has just expired.
pub(crate) async fn with_expired_tokens() -> (AuthServer, TestServer, tempfile::TempDir) {
    let (auth, server) =
        protected(AuthServer::builder().access_token_lifetime(Duration::from_secs(1))).await;
    let cache = tempfile::tempdir().unwrap();
    let client = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap();
    client.close().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    (auth, server, cache)
}
