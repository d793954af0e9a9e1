//! Streamable HTTP in every server mode and protocol revision.

use mcp_oauth::{ConnectedVia, TransportMode};
use mcp_oauth_testkit::{Fault, ResponseStyle, ServerMode, TestServer};
use serde_json::json;

use crate::support::{args, builder, exercise_tools, rpc_methods, text_of};

const UP_TO_2025_11_25: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

async fn stateful_session(style: ResponseStyle) {
    let server = TestServer::builder()
        .responses(style)
        .protocol_versions(UP_TO_2025_11_25)
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    assert_eq!(client.connected_via(), ConnectedVia::StreamableHttp);
    assert_eq!(client.server().protocol_version, "2025-11-25");
    assert_eq!(client.server().name.as_deref(), Some("mcp-oauth-testkit"));
    client.ping().await.unwrap();
    exercise_tools(&client).await;
    client.close().await;

    let requests = server.requests();
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| r.http_method == "POST")
        .collect();
    // The probe for 2026-07-28 is refused, then the handshake runs.
    assert_eq!(posts[0].rpc_method.as_deref(), Some("server/discover"));
    assert_eq!(posts[1].rpc_method.as_deref(), Some("initialize"));
    let session = posts[2]
        .session_id
        .clone()
        .expect("session id echoed after initialize");
    for post in &posts[2..] {
        assert_eq!(post.session_id.as_ref(), Some(&session), "{post:?}");
        assert_eq!(
            post.protocol_version.as_deref(),
            Some("2025-11-25"),
            "{post:?}"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| r.http_method == "DELETE" && r.session_id.as_ref() == Some(&session)),
        "close deletes the session: {requests:?}"
    );
    assert!(rpc_methods(&requests).contains(&"ping".to_owned()));
    server.stop().await;
}

#[tokio::test]
async fn stateful_session_with_json_answers() {
    stateful_session(ResponseStyle::Json).await;
}

#[tokio::test]
async fn stateful_session_with_event_stream_answers() {
    stateful_session(ResponseStyle::Sse).await;
}

#[tokio::test]
async fn each_initialize_revision_is_negotiated_and_pinged() {
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let server = TestServer::builder()
            .protocol_versions(&[version])
            .start()
            .await
            .unwrap();
        let client = builder(&server).connect().await.unwrap();
        assert_eq!(client.server().protocol_version, version);
        client.ping().await.unwrap();
        client.close().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn stateless_2026_07_28_uses_discover_and_no_session() {
    for style in [ResponseStyle::Json, ResponseStyle::Sse] {
        let server = TestServer::builder()
            .mode(ServerMode::Stateless)
            .responses(style)
            .start()
            .await
            .unwrap();
        let client = builder(&server).connect().await.unwrap();
        assert_eq!(client.server().protocol_version, "2026-07-28");
        server.clear_requests();
        // 2026-07-28 has no ping: the client proves liveness with server/discover.
        client.ping().await.unwrap();
        client.ping().await.unwrap();
        let pings = server.requests();
        assert_eq!(
            rpc_methods(&pings),
            ["server/discover", "server/discover"],
            "never cached"
        );
        exercise_tools(&client).await;
        client.close().await;

        let requests = server.requests();
        assert!(
            !requests.is_empty() && requests.iter().all(|r| r.session_id.is_none()),
            "{requests:?}"
        );
        assert!(!rpc_methods(&requests).contains(&"initialize".to_owned()));
        for request in requests.iter().filter(|r| r.rpc_method.is_some()) {
            assert_eq!(
                request.protocol_version.as_deref(),
                Some("2026-07-28"),
                "{request:?}"
            );
            assert_eq!(
                request.meta_protocol_version.as_deref(),
                Some("2026-07-28"),
                "{request:?}"
            );
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn stateless_server_of_an_older_revision_works_without_session() {
    let server = TestServer::builder()
        .mode(ServerMode::Stateless)
        .protocol_versions(&["2025-06-18"])
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    assert_eq!(client.server().protocol_version, "2025-06-18");
    client.ping().await.unwrap();
    exercise_tools(&client).await;
    client.close().await;
    let requests = server.requests();
    assert!(!requests.is_empty() && requests.iter().all(|r| r.session_id.is_none()));
    server.stop().await;
}

#[tokio::test]
async fn tools_are_listed_across_every_page() {
    let server = TestServer::builder()
        .tools_page_size(1)
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    let tools = client.list_tools().await.unwrap();
    let names: Vec<_> = tools.iter().map(|tool| tool.name.to_string()).collect();
    assert_eq!(names, ["echo", "add", "fail"]);
    let pages = rpc_methods(&server.requests())
        .iter()
        .filter(|m| *m == "tools/list")
        .count();
    assert_eq!(pages, 3);
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn resources_and_prompts() {
    let server = TestServer::builder().start().await.unwrap();
    let client = builder(&server).connect().await.unwrap();
    let resources = client.list_resources().await.unwrap();
    assert_eq!(resources[0].uri, "test://hello");
    let read = client.read_resource("test://hello").await.unwrap();
    let text = serde_json::to_value(&read.contents[0]).unwrap();
    assert_eq!(text["text"], "Hello from the testkit");
    let prompts = client.list_prompts().await.unwrap();
    assert_eq!(prompts[0].name, "greet");
    let prompt = client
        .get_prompt("greet", args(json!({ "name": "Ada" })))
        .await
        .unwrap();
    let message = serde_json::to_value(&prompt.messages[0]).unwrap();
    assert!(message.to_string().contains("Hello, Ada!"), "{message}");
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_failing_tool_is_a_result_not_an_error() {
    let server = TestServer::builder().start().await.unwrap();
    let client = builder(&server).connect().await.unwrap();
    let result = client.call_tool("fail", None).await.unwrap();
    assert_eq!(result.is_error, Some(true));
    assert_eq!(text_of(&result), "this tool always fails");
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_expired_session_is_renewed_transparently() {
    let server = TestServer::builder()
        .protocol_versions(UP_TO_2025_11_25)
        .fault(Fault::ExpireSessionAfter(2))
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    for round in 0..4 {
        let echoed = client
            .call_tool("echo", args(json!({ "text": round.to_string() })))
            .await;
        assert_eq!(text_of(&echoed.unwrap()), round.to_string());
    }
    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r.status == 404),
        "the server did expire a session"
    );
    let initializations = rpc_methods(&requests)
        .iter()
        .filter(|m| *m == "initialize")
        .count();
    assert!(
        initializations >= 2,
        "a new session was started: {initializations}"
    );
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn server_to_client_ping_is_answered() {
    let server = TestServer::builder()
        .responses(ResponseStyle::Sse)
        .protocol_versions(UP_TO_2025_11_25)
        .fault(Fault::ServerPing)
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    let echoed = client
        .call_tool("echo", args(json!({ "text": "after ping" })))
        .await
        .unwrap();
    assert_eq!(text_of(&echoed), "after ping");
    assert!(
        server.requests().iter().any(|r| r.rpc_is_response),
        "the client answered the ping"
    );
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn auto_mode_stays_on_streamable_http_when_it_works() {
    let server = TestServer::builder().start().await.unwrap();
    let client = builder(&server)
        .transport(TransportMode::Auto)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.connected_via(), ConnectedVia::StreamableHttp);
    let requests = server.requests();
    assert!(
        !requests.is_empty() && requests.iter().all(|r| r.path == "/mcp"),
        "no SSE attempt"
    );
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_listen_opens_no_get_stream() {
    let server = TestServer::builder()
        .protocol_versions(UP_TO_2025_11_25)
        .start()
        .await
        .unwrap();
    let gets = |server: &TestServer| {
        server
            .requests()
            .iter()
            .filter(|r| r.http_method == "GET")
            .count()
    };

    // By default the stream for the server's own messages is opened.
    let listening = builder(&server).connect().await.unwrap();
    let opened = async {
        while gets(&server) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), opened)
        .await
        .expect("a listening client opens the GET stream");
    listening.close().await;

    server.clear_requests();
    let asking = builder(&server)
        .listen_for_server_messages(false)
        .connect()
        .await
        .unwrap();
    asking.ping().await.unwrap();
    exercise_tools(&asking).await;
    asking.close().await;
    let requests = server.requests();
    assert_eq!(gets(&server), 0, "{requests:?}");
    assert!(rpc_methods(&requests).contains(&"ping".to_owned()));
    server.stop().await;
}
