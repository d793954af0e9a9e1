//! The host's input, line by line: a message to forward, or, for a line
//! that is none, the answer the host gets (or a line on stderr).

use rmcp::model::{ClientJsonRpcMessage, ErrorCode};
use serde_json::{Value, json};
use tokio::io::AsyncBufRead;

use super::{
    lines::{Line, LineReader},
    sniff::Sniffer,
};
use crate::{net::size, transport::MAX_MESSAGE_BYTES};

/// What a line of the host's brings about.
#[derive(Debug)]
pub(super) enum FromHost {
    /// A message to forward, and the size of its line.
    Message(Box<ClientJsonRpcMessage>, usize),
    /// A line that is no message, but names a request: this line of JSON
    /// answers it.
    Refusal(String),
}

/// The host's stdin: lines of at most [`MAX_MESSAGE_BYTES`].
#[derive(Debug)]
pub(super) struct HostInput<R> {
    lines: LineReader<R>,
}

impl<R: AsyncBufRead + Unpin> HostInput<R> {
    pub(super) fn new(input: R) -> Self {
        Self {
            lines: LineReader::new(input, MAX_MESSAGE_BYTES),
        }
    }

    /// What the next line that brings anything about brings; `None` once
    /// the input has ended. Blank lines are passed over, and so is a bad
    /// line that names no request, after a line on stderr.
    ///
    /// Cancel-safe: nothing is written here, and a line read in part stays
    /// for the next call.
    pub(super) async fn next(&mut self) -> std::io::Result<Option<FromHost>> {
        loop {
            let Some(line) = self.lines.next_line().await? else {
                return Ok(None);
            };
            if let Some(outcome) = judge(line) {
                return Ok(Some(outcome));
            }
        }
    }

    /// Whether the input has ended; false as soon as there is something
    /// to read (which stays to be read).
    pub(super) async fn at_end(&mut self) -> bool {
        self.lines.at_end().await
    }
}

fn judge(line: Line) -> Option<FromHost> {
    let line = match line {
        Line::Within(line) => line,
        Line::TooLong(sniffer) => {
            let reason = format!(
                "the message is larger than the {} limit",
                size(MAX_MESSAGE_BYTES)
            );
            return refuse(&sniffer, ErrorCode::INVALID_REQUEST, &reason);
        }
    };
    // Hosts may end lines with `\r\n` or leave blank lines: nothing to say.
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let not_rpc = match serde_json::from_slice::<ClientJsonRpcMessage>(&line) {
        Ok(message) => return Some(FromHost::Message(Box::new(message), line.len())),
        Err(error) => error,
    };
    let (code, reason) = match serde_json::from_slice::<Value>(&line) {
        Ok(Value::Array(batch)) => return refuse_batch(&batch),
        Ok(_) => (
            ErrorCode::INVALID_REQUEST,
            format!("not a JSON-RPC message of MCP's: {not_rpc}"),
        ),
        Err(_) if std::str::from_utf8(&line).is_err() => (
            ErrorCode::PARSE_ERROR,
            "the line is not UTF-8 text".to_owned(),
        ),
        Err(not_json) => (ErrorCode::PARSE_ERROR, format!("not JSON: {not_json}")),
    };
    refuse(&Sniffer::line(&line), code, &reason)
}

// Where a bad line names no request, JSON-RPC 2.0 would answer with
// `"id": null`. MCP hosts are better served by a line on stderr: MCP's
// schema has no null id (2025-06-18 requires a string or a number;
// 2025-11-25 lets an error leave the id out, never null), so the TypeScript
// and Python SDKs reject such an answer as an invalid message and log their
// validation error in place of the reason, while every host keeps a
// server's stderr in its log as it is. Nothing on stdout then waits for a
// request that nobody made.

/// Answers the request `sniffed` names with `code` and `reason`; else says
/// on stderr why the line was ignored.
fn refuse(sniffed: &Sniffer, code: ErrorCode, reason: &str) -> Option<FromHost> {
    if let Some(id) = sniffed.request_id() {
        tracing::warn!(%id, "refused a request from the host: {reason}");
        return Some(FromHost::Refusal(refusal(&id, code, reason).to_string()));
    }
    match sniffed.id() {
        // Only the server could be told; it gives up on its request as it
        // would with a host that never answers.
        Some(id) => tracing::warn!(
            %id,
            "ignored a line from the host (its answer to a request of the server's): {reason}"
        ),
        None => tracing::warn!("ignored a line from the host: {reason}"),
    }
    None
}

// A batch is refused: MCP has had no batches since 2025-06-18, rmcp's
// transports carry none, and the servers of those revisions refuse them.
// It is answered as JSON-RPC answers a batch (one array: an error for
// each request in it), which a host that batches knows how to read.
fn refuse_batch(batch: &[Value]) -> Option<FromHost> {
    let reason = "batches are not supported (MCP has had none since 2025-06-18): \
                  send one message per line";
    let answers: Vec<Value> = batch
        .iter()
        .filter_map(request_id)
        .map(|id| refusal(&id, ErrorCode::INVALID_REQUEST, reason))
        .collect();
    if answers.is_empty() {
        tracing::warn!("ignored a line from the host: a batch with no request in it; {reason}");
        return None;
    }
    tracing::warn!(
        requests = answers.len(),
        "refused a batch from the host: {reason}"
    );
    Some(FromHost::Refusal(Value::Array(answers).to_string()))
}

/// The id of `message` when it is a request (a string or number id, and no
/// answer in it).
fn request_id(message: &Value) -> Option<Value> {
    let id = message
        .get("id")
        .filter(|id| id.is_string() || id.is_number())?;
    let answers = message.get("result").is_some() || message.get("error").is_some();
    (message.get("method").is_some() || !answers).then(|| id.clone())
}

fn refusal(id: &Value, code: ErrorCode, reason: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code.0, "message": format!("mcp-oauth proxy: {reason}") },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer `line` gets, if any; panics if it is a message.
    fn answer(line: &[u8]) -> Option<Value> {
        match judge(Line::Within(line.to_vec())) {
            None => None,
            Some(FromHost::Refusal(answer)) => Some(serde_json::from_str(&answer).unwrap()),
            Some(FromHost::Message(message, _)) => panic!("a message: {message:?}"),
        }
    }

    #[test]
    fn a_message_goes_through_with_its_size() {
        let line = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let Some(FromHost::Message(message, size)) = judge(Line::Within(line.to_vec())) else {
            panic!("a message");
        };
        assert!(matches!(*message, ClientJsonRpcMessage::Request(_)));
        assert_eq!(size, line.len());
    }

    #[test]
    fn blank_lines_bring_nothing_about() {
        for line in [&b""[..], b" ", b"\t \t", b"\r"] {
            assert!(answer(line).is_none());
        }
    }

    #[test]
    fn a_bad_line_that_names_a_request_gets_an_error_with_its_id() {
        let cases: [(&[u8], Value, i32); 4] = [
            (br#"{"jsonrpc":"2.0","id":1,"method":"x""#, json!(1), -32700),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"\xff\"}",
                json!("a"),
                -32700,
            ),
            (br#"{"jsonrpc":"2.0","id":2,"method":3}"#, json!(2), -32600),
            (br#"{"jsonrpc":"2.0","id":3}"#, json!(3), -32600),
        ];
        for (line, id, code) in cases {
            let answer = answer(line).expect("an answer");
            assert_eq!(answer["id"], id, "{answer}");
            assert_eq!(answer["error"]["code"], code, "{answer}");
            assert_eq!(answer["jsonrpc"], "2.0");
        }
    }

    #[test]
    fn a_bad_line_that_names_no_request_is_not_answered() {
        for line in [
            &b"nonsense"[..],
            b"\xff",
            b"42",
            b"null",
            br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            br#"{"jsonrpc":"2.0","id":4,"result":{},"error":{}}"#,
            b"[]",
            br#"[{"jsonrpc":"2.0","method":"notifications/initialized"}, 5]"#,
        ] {
            assert!(answer(line).is_none(), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn a_batch_gets_an_array_with_an_error_for_each_request() {
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},{"jsonrpc":"2.0","id":"2","method":"c"},{"jsonrpc":"2.0","id":3,"result":{}}]"#;
        let answer = answer(batch).expect("an answer");
        let ids: Vec<_> = answer
            .as_array()
            .expect("an array")
            .iter()
            .map(|a| a["id"].clone())
            .collect();
        assert_eq!(ids, [json!(1), json!("2")]);
    }

    #[test]
    fn a_line_over_the_cap_names_the_cap() {
        let mut sniffer = Sniffer::default();
        sniffer.feed(br#"{"jsonrpc":"2.0","method":"x","params":"..."#);
        sniffer.feed(br#"...","id":9}"#);
        let Some(FromHost::Refusal(answer)) = judge(Line::TooLong(sniffer)) else {
            panic!("an answer");
        };
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["id"], 9);
        assert_eq!(answer["error"]["code"], -32600);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("16 MiB"), "{message}");
    }
}
