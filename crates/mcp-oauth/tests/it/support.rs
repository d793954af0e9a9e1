//! Helpers shared by the integration tests.

use std::time::Duration;

use mcp_oauth::{Client, ClientBuilder, model::CallToolResult};
use mcp_oauth_testkit::{RecordedRequest, TestServer};
use serde_json::{Value, json};

/// Every wait in these tests is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn builder(server: &TestServer) -> ClientBuilder {
    Client::builder(server.url()).timeout(TIMEOUT)
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
