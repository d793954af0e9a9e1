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

/// What "it did not hang" means in a test: generous, so that a busy machine
/// never fails it; how fast things are is for the benches to say.
pub(crate) const NO_HANG: Duration = Duration::from_secs(30);

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

/// An authorization server, a protected MCP server, and a cache holding the
/// tokens of a first run whose access token has expired since.
///
/// The server issues hour-long tokens and the stored one is aged by hand, so
/// that the token a refresh brings stays fresh however slowly the rest of a
/// test runs: "one token request" never depends on the machine's load.
pub(crate) async fn with_expired_tokens() -> (AuthServer, TestServer, tempfile::TempDir) {
    let (auth, server) = protected(AuthServer::builder()).await;
    let cache = tempdir().unwrap();
    let client = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap();
    client.close().await;
    age_stored_tokens(&server, cache.path());
    (auth, server, cache)
}

/// Makes the access token cached in `cache` for `server` expired an hour
/// ago, as if the run that stored it were long past.
pub(crate) fn age_stored_tokens(server: &TestServer, cache: &Path) {
    let path = mcp_oauth::FileTokenStorage::in_dir(&server.url(), cache)
        .unwrap()
        .path();
    let mut document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let tokens = document["tokens"].as_object_mut().expect("stored tokens");
    let received = tokens["received_at"].as_u64().unwrap().saturating_sub(7200);
    tokens.insert("received_at".into(), json!(received));
    tokens.insert("expires_at".into(), json!(received + 3600));
    tokens.remove("received_at_ms");
    tokens.remove("expires_at_ms");
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
}

/// A temporary folder only this user may enter, whatever the umask: the
/// store refuses a cache folder others may write in, and under a umask of
/// 002 `tempfile::tempdir()` makes one its group may write in.
pub(crate) fn tempdir() -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir()
}
