//! `bridge_stdio` with in-memory pipes standing in for a host's stdio.

use mcp_oauth::{Auth, TransportMode, bridge_stdio};
use mcp_oauth_testkit::{Fault, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::task::JoinHandle;

use crate::support::TIMEOUT;

/// The host's ends of the pipes, and the bridge running between them.
struct Host {
    input: Option<DuplexStream>,
    output: Lines<BufReader<DuplexStream>>,
    bridge: JoinHandle<mcp_oauth::Result<()>>,
}

impl Host {
    fn start(server: &TestServer) -> Self {
        let (input, bridge_input) = tokio::io::duplex(64 * 1024);
        let (bridge_output, output) = tokio::io::duplex(64 * 1024);
        let url = server.url();
        let bridge = tokio::spawn(async move {
            bridge_stdio(
                &url,
                Auth::None,
                TransportMode::Auto,
                BufReader::new(bridge_input),
                bridge_output,
            )
            .await
        });
        Self {
            input: Some(input),
            output: BufReader::new(output).lines(),
            bridge,
        }
    }

    async fn tell(&mut self, message: Value) {
        let input = self.input.as_mut().expect("input open");
        input
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }

    /// Writes `bytes` as they are: for input that is not one message.
    async fn write(&mut self, bytes: &[u8]) {
        let input = self.input.as_mut().expect("input open");
        input.write_all(bytes).await.unwrap();
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(TIMEOUT, self.output.next_line())
            .await
            .expect("a message in time")
            .unwrap()
            .expect("output open");
        serde_json::from_str(&line).unwrap()
    }

    async fn ask(&mut self, message: Value) -> Value {
        let id = message["id"].clone();
        self.tell(message).await;
        let answer = self.next().await;
        assert_eq!(answer["id"], id, "{answer}");
        answer
    }

    async fn handshake(&mut self) {
        let answer = self
            .ask(json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": { "name": "in-memory-host", "version": "1" } }
            }))
            .await;
        assert!(answer["result"]["serverInfo"].is_object(), "{answer}");
        self.tell(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
    }

    /// Closes the input; the bridge must end (bounded) and write nothing more.
    async fn close(mut self) -> Vec<Value> {
        self.input = None;
        let ended = tokio::time::timeout(TIMEOUT, self.bridge)
            .await
            .expect("the bridge ends once its input closes");
        ended.unwrap().unwrap();
        let rest = async {
            let mut rest = Vec::new();
            while let Some(line) = self.output.next_line().await.unwrap() {
                rest.push(serde_json::from_str(&line).unwrap());
            }
            rest
        };
        tokio::time::timeout(TIMEOUT, rest)
            .await
            .expect("the output ends once the bridge has")
    }
}

fn echo(id: i64, text: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "text": text } }
    })
}

async fn wait_for(server: &TestServer, method: &str) {
    let seen = async {
        while !server
            .requests()
            .iter()
            .any(|r| r.rpc_method.as_deref() == Some(method))
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, seen)
        .await
        .unwrap_or_else(|_| panic!("the server never received {method}"));
}

#[tokio::test]
async fn a_request_the_host_cancelled_is_not_awaited_on_close() {
    let server = TestServer::builder()
        .fault(Fault::HoldToolCalls)
        .start()
        .await
        .unwrap();
    let mut host = Host::start(&server);
    host.handshake().await;
    host.tell(echo(1, "held")).await;
    wait_for(&server, "tools/call").await;
    host.tell(json!({
        "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": { "requestId": 1 }
    }))
    .await;
    wait_for(&server, "notifications/cancelled").await;
    // Within TIMEOUT, well short of the drain bound for unanswered requests.
    let rest = host.close().await;
    assert!(rest.is_empty(), "{rest:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_forgotten_session_is_renewed_inside_the_bridge() {
    let server = TestServer::builder()
        .protocol_versions(&["2025-06-18"])
        .fault(Fault::ExpireSessionAfter(1))
        .start()
        .await
        .unwrap();
    let mut host = Host::start(&server);
    host.handshake().await;
    for id in 1..=3 {
        let answer = host.ask(echo(id, &format!("n{id}"))).await;
        assert_eq!(answer["result"]["content"][0]["text"], format!("n{id}"));
    }
    assert!(host.close().await.is_empty());
    let log = server.requests();
    let initializes = log
        .iter()
        .filter(|r| r.rpc_method.as_deref() == Some("initialize"))
        .count();
    // One session per call: the host's own, then one per expiry.
    assert_eq!(initializes, 3, "{log:#?}");
    server.stop().await;
}

#[tokio::test]
async fn a_line_that_is_not_utf8_is_answered_and_the_bridge_goes_on() {
    let server = TestServer::builder().start().await.unwrap();
    let mut host = Host::start(&server);
    host.handshake().await;
    host.write(b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"\xff\"}}}\n")
        .await;
    let refused = host.next().await;
    assert_eq!(refused["id"], 5, "{refused}");
    assert_eq!(refused["error"]["code"], -32700, "{refused}");
    // Nothing to answer: the next line out answers the next request.
    host.write(b"\xfe\xff\n").await;
    let answer = host.ask(echo(6, "still here")).await;
    assert_eq!(answer["result"]["content"][0]["text"], "still here");
    assert!(host.close().await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn what_comes_before_the_first_request_is_dropped_and_the_input_end_still_ends_the_bridge() {
    let server = TestServer::builder().start().await.unwrap();
    // An answer to nothing, then the end: the bridge ends.
    let mut host = Host::start(&server);
    host.tell(json!({ "jsonrpc": "2.0", "id": 1, "result": {} }))
        .await;
    assert!(host.close().await.is_empty());
    // A notification, then the host's handshake: it is answered.
    let mut host = Host::start(&server);
    host.tell(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;
    host.handshake().await;
    let answer = host.ask(echo(1, "answered")).await;
    assert_eq!(answer["result"]["content"][0]["text"], "answered");
    assert!(host.close().await.is_empty());
    assert!(
        !server.requests().iter().any(|r| r.rpc_is_response),
        "the stray answer went nowhere"
    );
    server.stop().await;
}
