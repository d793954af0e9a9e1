//! `mcp-oauth proxy` over a session's life: a session the server forgets,
//! calls still in flight when the host leaves, a call the host cancels.

use mcp_oauth_testkit::{Fault, ResponseStyle, TestServer};
use serde_json::{Value, json};

use crate::support::{echo, is_answer, server, server_saw, start_proxy};

fn text_of(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a tool result: {answer}"))
}

#[tokio::test]
async fn an_expired_session_is_renewed_without_the_host_noticing() {
    for style in [ResponseStyle::Json, ResponseStyle::Sse] {
        renewed_sessions(style).await;
    }
}

async fn renewed_sessions(style: ResponseStyle) {
    // The server forgets a session after three requests.
    let server = server(style, Fault::ExpireSessionAfter(3)).await;
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
    // One at a time: the call with id 5 finds its session gone.
    for id in 2..=7 {
        let answer = host.ask(echo(id, &format!("call {id}"))).await;
        assert_eq!(text_of(&answer), format!("call {id}"));
    }
    // All at once: every one of them finds it gone.
    for id in 8..=10 {
        host.tell(echo(id, &format!("call {id}"))).await;
    }
    let mut answered = Vec::new();
    for _ in 8..=10 {
        let answer = host.next().await;
        let id = answer["id"].as_i64().unwrap_or_else(|| panic!("{answer}"));
        assert_eq!(text_of(&answer), format!("call {id}"));
        answered.push(id);
    }
    answered.sort_unstable();
    assert_eq!(answered, [8, 9, 10]);
    assert!(host.finish(proxy).await.success());

    // Exactly one answer per request, and one initialize result: the renewals
    // stay between the proxy and the server.
    let mut ids: Vec<_> = host
        .seen
        .iter()
        .filter(|m| is_answer(m))
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    let initialize_results = host
        .seen
        .iter()
        .filter(|m| m["result"]["serverInfo"].is_object())
        .count();
    assert_eq!(initialize_results, 1);
    assert!(host.seen.iter().all(|m| m.get("error").is_none()));
    let log = server.requests();
    let initializes = log
        .iter()
        .filter(|r| r.rpc_method.as_deref() == Some("initialize"))
        .count();
    let expired = log
        .iter()
        .filter(|r| r.http_method == "POST" && r.status == 404)
        .count();
    assert_eq!(
        initializes, 3,
        "{style:?}: the host's own, then one per expiry"
    );
    assert!(expired >= 2, "{style:?}: {log:#?}");
    server.stop().await;
}

#[tokio::test]
async fn calls_in_flight_when_the_host_leaves_are_still_answered() {
    let server = TestServer::builder()
        .fault(Fault::HoldToolCalls)
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
    for id in 2..=4 {
        host.tell(echo(id, &format!("late {id}"))).await;
    }
    host.close_input();
    // Every call reached the server, and stdin is closed: only now may the
    // server answer them.
    server_saw(&server, "tools/call", 3).await;
    server.release_tool_calls();
    assert!(host.finish(proxy).await.success());
    let mut answered: Vec<_> = host
        .seen
        .iter()
        .filter(|m| is_answer(m) && m["id"] != 1)
        .map(|m| (m["id"].as_i64().unwrap(), text_of(m).to_owned()))
        .collect();
    answered.sort();
    let expected: Vec<_> = (2..=4).map(|id| (id, format!("late {id}"))).collect();
    assert_eq!(answered, expected);
    assert!(
        server.requests().iter().any(|r| r.http_method == "DELETE"),
        "the session was deleted on the way out"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_call_the_host_cancelled_does_not_keep_the_proxy_open() {
    // The call is held for good: only the cancellation ends it.
    let server = TestServer::builder()
        .fault(Fault::HoldToolCalls)
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (proxy, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
    host.tell(echo(2, "never mind")).await;
    server_saw(&server, "tools/call", 1).await;
    host.tell(json!({
        "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": { "requestId": 2, "reason": "the user gave up" }
    }))
    .await;
    server_saw(&server, "notifications/cancelled", 1).await;
    let listed = host
        .ask(json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/list" }))
        .await;
    assert!(listed["result"]["tools"].is_array());
    // Closing stdin ends the proxy at once: it awaits no answer to a
    // cancelled call (it would otherwise wait out its 30 s drain, beyond
    // `finish`'s bound).
    assert!(host.finish(proxy).await.success());
    assert!(
        host.seen.iter().all(|m| m["id"] != 2),
        "nothing answers the cancelled call: {:#?}",
        host.seen
    );
    server.stop().await;
}
