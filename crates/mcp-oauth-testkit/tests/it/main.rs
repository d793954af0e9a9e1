//! Integration tests: real HTTP against a started [`TestServer`], bounded waits only.

mod call_faults;
mod faults;
#[cfg(target_os = "linux")]
mod hosts;
mod legacy;
mod oauth_as;
mod oauth_as_tokens;
mod oauth_interactive;
mod oauth_protected;
mod oauth_support;
mod providers;
mod stateful;
mod stateless;

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};

/// Upper bound for any single step: it proves the step does not hang, and
/// is far beyond what any takes, even on a busy machine. Speed is for the
/// benches.
const STEP: Duration = Duration::from_secs(30);

/// Waits until `condition` holds, checking every 10 ms, for [`STEP`] at most.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let reached = async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(STEP, reached)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {STEP:?}"));
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

fn request(id: u64, method: &str, params: Value) -> Value {
    let mut message = json!({ "jsonrpc": "2.0", "id": id, "method": method });
    message["params"] = params;
    message
}

fn initialize_params(version: &str) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": { "name": "testkit-tests", "version": "0" },
    })
}

/// POSTs `body` with the given extra headers.
async fn post(url: &str, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut builder = client()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    tokio::time::timeout(STEP, builder.send())
        .await
        .expect("POST timed out")
        .expect("POST failed")
}

/// The JSON-RPC message of a response, whether framed as JSON or as one SSE event.
async fn message(response: reqwest::Response) -> Value {
    let is_sse = content_type(&response).starts_with("text/event-stream");
    if is_sse {
        let mut events = SseReader::new(response);
        let (event, data) = events.next().await.expect("an SSE event");
        assert_eq!(event, "message");
        serde_json::from_str(&data).expect("JSON in SSE data")
    } else {
        let text = tokio::time::timeout(STEP, response.text())
            .await
            .expect("body timed out")
            .expect("body");
        serde_json::from_str(&text).expect("JSON body")
    }
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Reads `event:`/`data:` pairs from a `text/event-stream` body; comments are skipped.
struct SseReader {
    body: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl SseReader {
    fn new(response: reqwest::Response) -> Self {
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event, or `None` when the stream ended; panics after [`STEP`].
    async fn next(&mut self) -> Option<(String, String)> {
        tokio::time::timeout(STEP, self.next_unbounded())
            .await
            .expect("no SSE event in time")
    }

    async fn next_unbounded(&mut self) -> Option<(String, String)> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = "message".to_owned();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                    }
                }
                if !data.is_empty() {
                    return Some((event, data.join("\n")));
                }
            }
            let chunk = self.body.next().await?.ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
