//! `mcp-oauth proxy` fed what a host should never write: each bad line is
//! answered when it names a request (else one line on stderr), the proxy
//! goes on with the next line, and the end of stdin always ends it.

use mcp_oauth_testkit::{Fault, TestServer};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::support::{BOUND, echo, peak_memory, server_saw, start_proxy_with_log, wait_until};

/// What the proxy writes on stderr for a line it can answer to nobody.
const IGNORED: &str = "ignored a line from the host";

const MIB: u64 = 1024 * 1024;
/// The proxy's cap on one message: the largest it takes from a server too.
const MESSAGE_CAP: u64 = 16 * MIB;

fn list(id: impl Into<Value>) -> Value {
    json!({ "jsonrpc": "2.0", "id": id.into(), "method": "tools/list" })
}

/// The error `answer` carries, after checking it answers `id` with `code`.
fn error_of(answer: &Value, id: &Value, code: i64) -> String {
    assert_eq!(&answer["id"], id, "{answer}");
    assert_eq!(answer["error"]["code"], code, "{answer}");
    answer["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_bad_line_is_answered_when_it_names_a_request_and_the_proxy_goes_on() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host, log) = start_proxy_with_log(&server.url(), dir.path(), &[]);
    host.handshake().await;
    // Lines whose request id can be made out: each gets an error with it.
    let answered: [(&[u8], Value, i64); 4] = [
        // Not UTF-8 (one byte inside a string), so not JSON.
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"\xff\"}}}\n",
            json!(10),
            -32700,
        ),
        // Cut short.
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"tools/list\"\n",
            json!(11),
            -32700,
        ),
        // JSON, but not JSON-RPC: a method that is not a string.
        (
            b"{\"jsonrpc\":\"2.0\",\"id\":\"twelve\",\"method\":42}\n",
            json!("twelve"),
            -32600,
        ),
        // No `jsonrpc` member.
        (b"{\"id\":13,\"method\":\"tools/list\"}\n", json!(13), -32600),
    ];
    let mut next_id = 100;
    for (line, id, code) in &answered {
        host.write(line).await;
        let answer = host.next().await;
        let message = error_of(&answer, id, *code);
        assert!(message.starts_with("mcp-oauth proxy: "), "{message}");
        next_id += 1;
        let listed = host.ask(list(next_id)).await;
        assert!(listed["result"]["tools"].is_array(), "{listed}");
    }
    // Lines that name no request: nothing to answer, one line on stderr each.
    let unaddressed: [&[u8]; 8] = [
        b"\xff\xfe\xfd\n",
        b"not JSON at all\n",
        b"42\n",
        b"\"a string\"\n",
        b"null\n",
        b"true\n",
        b"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"tools/list\"}\n",
        // An answer from the host that is not JSON-RPC: never answered back.
        b"{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{},\"error\":{}}\n",
    ];
    for line in unaddressed {
        host.write(line).await;
        next_id += 1;
        // The next line out answers the next request: nothing came between.
        let listed = host.ask(list(next_id)).await;
        assert!(listed["result"]["tools"].is_array(), "{listed}");
    }
    assert!(host.finish(proxy).await.success());
    let log = log.all().await;
    let ignored: Vec<_> = log.iter().filter(|l| l.contains(IGNORED)).collect();
    assert_eq!(ignored.len(), unaddressed.len(), "{log:#?}");
    // Nothing of the bad lines reached the server.
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.http_method == "POST")
        .count();
    // initialize, initialized, and the valid lists.
    assert_eq!(posts, 2 + answered.len() + unaddressed.len());
    server.stop().await;
}

#[tokio::test]
async fn messages_before_the_first_request_are_dropped_and_the_handshake_follows() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host, log) = start_proxy_with_log(&server.url(), dir.path(), &[]);
    // An answer, an error and a notification, before anything was asked.
    host.tell(json!({ "jsonrpc": "2.0", "id": 99, "result": {} }))
        .await;
    host.tell(json!({ "jsonrpc": "2.0", "id": 98, "error": { "code": -1, "message": "no" } }))
        .await;
    host.tell(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
        .await;
    host.handshake().await;
    let called = host.ask(echo(2, "after the odd start")).await;
    assert_eq!(
        called["result"]["content"][0]["text"],
        "after the odd start"
    );
    assert!(host.finish(proxy).await.success());
    assert_eq!(
        log.all()
            .await
            .iter()
            .filter(|l| l.contains(IGNORED))
            .count(),
        3
    );
    let log = server.requests();
    assert!(!log.iter().any(|r| r.rpc_is_response), "{log:#?}");
    let initialized = log
        .iter()
        .filter(|r| r.rpc_method.as_deref() == Some("notifications/initialized"))
        .count();
    assert_eq!(initialized, 1, "only the one after initialize: {log:#?}");
    server.stop().await;
}

#[tokio::test]
async fn stdin_that_ends_before_any_request_ends_the_proxy() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let alone = [
        json!({ "jsonrpc": "2.0", "id": 99, "result": {} }),
        json!({ "jsonrpc": "2.0", "id": 98, "error": { "code": -1, "message": "no" } }),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    ];
    for message in alone {
        let (proxy, mut host, _log) = start_proxy_with_log(&server.url(), dir.path(), &[]);
        host.tell(message.clone()).await;
        let status = host.finish(proxy).await;
        assert!(status.success(), "after {message}: {status:?}");
        assert!(host.seen.is_empty(), "{:#?}", host.seen);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_request_before_initialize_gets_the_servers_answer_and_the_handshake_still_works() {
    let server = TestServer::builder()
        .protocol_versions(&["2025-06-18"])
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host, _log) = start_proxy_with_log(&server.url(), dir.path(), &[]);
    // The server's own refusal, passed on as it is.
    let early = host.ask(list(0)).await;
    let refusal = early["error"]["message"].as_str().unwrap_or_default();
    assert!(
        !refusal.is_empty() && !refusal.starts_with("mcp-oauth"),
        "{early}"
    );
    host.handshake().await;
    let listed = host.ask(list(2)).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    assert!(host.finish(proxy).await.success());
    server.stop().await;
}

#[tokio::test]
async fn blank_lines_crlf_and_a_last_line_without_a_newline() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host, log) = start_proxy_with_log(&server.url(), dir.path(), &[]);
    host.write(b"\n \t \n\r\n").await;
    host.handshake().await;
    host.write(format!("{}\r\n\r\n", list(2)).as_bytes()).await;
    let listed = host.next().await;
    assert_eq!(listed["id"], 2, "{listed}");
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    // The host quits right after its last line, which has no newline.
    host.write(echo(3, "last words").to_string().as_bytes())
        .await;
    assert!(host.finish(proxy).await.success());
    let last = host.seen.last().unwrap();
    assert_eq!(last["id"], 3, "{last}");
    assert_eq!(last["result"]["content"][0]["text"], "last words");
    assert!(host.seen.iter().all(|m| m.get("error").is_none()));
    assert!(
        log.all().await.iter().all(|l| !l.contains(IGNORED)),
        "blank lines are not worth a word"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_batch_is_refused_as_json_rpc_answers_a_batch() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host, log) = start_proxy_with_log(&server.url(), dir.path(), &[]);
    host.handshake().await;
    let batch = json!([
        list(20),
        { "jsonrpc": "2.0", "method": "notifications/roots/list_changed" },
        echo("21", "batched"),
    ]);
    host.write(format!("{batch}\n").as_bytes()).await;
    // One line: an array with an error for each request in the batch.
    let answers: Value = serde_json::from_str(&host.next_line().await).unwrap();
    let answers = answers.as_array().expect("an array answers a batch");
    assert_eq!(answers.len(), 2, "{answers:#?}");
    for (answer, id) in answers.iter().zip([json!(20), json!("21")]) {
        let message = error_of(answer, &id, -32600);
        assert!(message.contains("batch"), "{message}");
    }
    // A batch with no request in it: nobody to answer.
    host.write(b"[]\n[1, 2]\n").await;
    let listed = host.ask(list(22)).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    assert!(host.finish(proxy).await.success());
    assert_eq!(
        log.all()
            .await
            .iter()
            .filter(|l| l.contains(IGNORED))
            .count(),
        2
    );
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.rpc_method.as_deref() == Some("tools/call")),
        "nothing of the batch reached the server"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_line_over_the_message_cap_is_refused_without_being_held_whole() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host, _log) = start_proxy_with_log(&server.url(), dir.path(), &[]);
    host.handshake().await;
    let before = peak_memory(proxy.id().unwrap());
    // 64 MiB of one request, its id last (as the TypeScript SDK writes it).
    host.write(b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"")
        .await;
    let chunk = vec![b'a'; 1024 * 1024];
    for _ in 0..4 * MESSAGE_CAP / MIB {
        host.write(&chunk).await;
    }
    host.write(b"\"}},\"id\":30}\n").await;
    let refused = host.next().await;
    let message = error_of(&refused, &json!(30), -32600);
    assert!(message.contains("16 MiB"), "{message}");
    let called = host.ask(echo(31, "right after")).await;
    assert_eq!(called["result"]["content"][0]["text"], "right after");
    // What a message within the cap may take, and no more.
    let grown = peak_memory(proxy.id().unwrap()) - before;
    assert!(
        grown < 2 * MESSAGE_CAP,
        "a 64 MiB line took {} MiB more",
        grown / MIB
    );
    assert!(host.finish(proxy).await.success());
    server.stop().await;
}

/// A host that writes far faster than the server answers: the proxy stops
/// reading stdin (the host's writes wait) instead of queueing all of it.
#[tokio::test]
async fn a_flood_of_requests_is_read_at_the_servers_pace() {
    const CALLS: i64 = 2048;
    let server = TestServer::builder()
        .fault(Fault::HoldToolCalls)
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host, log) = start_proxy_with_log(&server.url(), dir.path(), &["-v"]);
    host.handshake().await;
    let before = peak_memory(proxy.id().unwrap());
    // 2048 calls of 32 KiB each: 64 MiB, all held by the server at first.
    let padding = "p".repeat(32 * 1024);
    let mut input = host.take_input();
    let writer = tokio::spawn(async move {
        for id in 0..CALLS {
            let mut call = echo(id + 2, &format!("call {id}"));
            call["params"]["arguments"]["padding"] = json!(padding);
            input
                .write_all(format!("{call}\n").as_bytes())
                .await
                .unwrap();
        }
        input
    });
    server_saw(&server, "tools/call", 1).await;
    // Either the host wrote it all (the proxy took it in) or the proxy says
    // it waits for the server before it reads on.
    wait_until("the host wrote it all, or the proxy paused", || {
        writer.is_finished() || !log.lines_with("reading stdin waits").is_empty()
    })
    .await;
    server.release_tool_calls();
    let mut answered = 0;
    while answered < CALLS {
        let answer = host.next().await;
        if answer.get("id").is_some() && answer.get("method").is_none() {
            assert!(answer["result"].is_object(), "{answer}");
            answered += 1;
        }
    }
    let input = tokio::time::timeout(BOUND, writer)
        .await
        .expect("the host wrote everything once the server answered")
        .unwrap();
    drop(input);
    let grown = peak_memory(proxy.id().unwrap()) - before;
    assert!(
        grown < 2 * MESSAGE_CAP,
        "64 MiB of requests took {} MiB more",
        grown / MIB
    );
    assert!(host.finish(proxy).await.success());
    server.stop().await;
}
