//! Servers that send one byte a second: the client's timeouts end the
//! wait with a clear `Timeout` error (the MCP client's timeout for MCP
//! requests, the OAuth request timeout for OAuth documents).

use std::time::Duration;

use mcp_oauth::{Auth, Client, Error, TransportMode};

use super::{
    SeededStore, bounded, mini_as, oauth,
    server::{Hostile, Reply},
};

#[tokio::test]
async fn an_mcp_server_sending_a_byte_a_second_times_out() {
    for (path, mode, reply) in [
        ("/mcp", TransportMode::StreamableHttp, Reply::TrickleHead),
        (
            "/mcp",
            TransportMode::StreamableHttp,
            Reply::TrickleBody {
                content_type: "application/json",
            },
        ),
        (
            "/mcp",
            TransportMode::StreamableHttp,
            Reply::TrickleBody {
                content_type: "text/event-stream",
            },
        ),
        ("/sse", TransportMode::Sse, Reply::TrickleHead),
        (
            "/sse",
            TransportMode::Sse,
            Reply::TrickleBody {
                content_type: "text/event-stream",
            },
        ),
    ] {
        let shown = format!("{path} {reply:?}");
        let hostile = Hostile::start(move |request, _| {
            if request.path() == path {
                reply.clone()
            } else {
                Reply::not_found()
            }
        })
        .await;
        let url = format!("{}{path}", hostile.base());
        let store = SeededStore::new(&url).await;
        let oauth = oauth(&url, store.dir()).build().unwrap();
        let connecting = Client::builder(&url)
            .auth(Auth::from(oauth))
            .transport(mode)
            .timeout(Duration::from_secs(2))
            .connect();
        let error = bounded(connecting).await.unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }), "{shown}: {error:?}");
        assert!(
            error.to_string().contains("did not answer within 2 s"),
            "{error}"
        );
        store.assert_intact().await;
    }
}

#[tokio::test]
async fn oauth_documents_sent_a_byte_a_second_time_out() {
    for (slow_path, reply) in [
        (
            "/.well-known/oauth-protected-resource/mcp",
            Reply::TrickleHead,
        ),
        (
            "/.well-known/oauth-authorization-server",
            Reply::TrickleBody {
                content_type: "application/json",
            },
        ),
        ("/register", Reply::TrickleHead),
        (
            "/token",
            Reply::TrickleBody {
                content_type: "application/json",
            },
        ),
    ] {
        let hostile = Hostile::start(move |request, base| {
            if request.path() == slow_path {
                reply.clone()
            } else {
                mini_as(request, base)
            }
        })
        .await;
        let url = format!("{}/mcp", hostile.base());
        let store = SeededStore::new(&url).await;
        // The request timeout is 3 s (see `oauth`).
        let login = oauth(&url, store.dir()).build().unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        match &error {
            Error::Timeout { url, after } => {
                assert!(url.ends_with(slow_path), "{slow_path}: {url}");
                assert_eq!(*after, Duration::from_secs(3));
            }
            other => panic!("{slow_path}: {other:?}"),
        }
        assert!(error.to_string().contains("did not answer within 3 s"));
        store.assert_intact().await;
    }
}
