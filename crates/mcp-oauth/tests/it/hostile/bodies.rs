//! Bodies of 100 MiB: every read is capped (16 MiB for MCP messages, 1 MiB
//! for OAuth documents), the error says the body was too large, and the
//! server never gets to send more than the cap plus what sockets buffer.

use std::time::Duration;

use mcp_oauth::{Auth, Client, Error, OAuthStep, TransportMode};

use super::{
    SeededStore, bounded, mini_as, oauth,
    server::{HUGE, Hostile, Reply},
};

const MIB: u64 = 1024 * 1024;

/// Whether an error is of the expected kind.
type IsKind = fn(&Error) -> bool;

/// What a client reading at most 16 MiB can have let through: the cap,
/// plus kernel socket buffers on both sides.
const MCP_CEILING: u64 = 48 * MIB;
/// The same for 1 MiB documents.
const OAUTH_CEILING: u64 = 24 * MIB;

async fn connect(url: &str, store: &SeededStore, mode: TransportMode) -> mcp_oauth::Result<Client> {
    let oauth = oauth(url, store.dir()).build()?;
    Client::builder(url)
        .auth(Auth::from(oauth))
        .transport(mode)
        .timeout(Duration::from_secs(30))
        .connect()
        .await
}

fn assert_too_large(error: &Error, limit: &str) {
    let text = error.to_string();
    assert!(
        text.contains(&format!("larger than the {limit} limit")),
        "{text}"
    );
}

#[tokio::test]
async fn a_100_mib_mcp_answer_is_refused_at_16_mib() {
    for (content_type, prefix, declared) in [
        (
            "application/json",
            r#"{"jsonrpc":"2.0","id":0,"result":{"pad":""#,
            true,
        ),
        (
            "application/json",
            r#"{"jsonrpc":"2.0","id":0,"result":{"pad":""#,
            false,
        ),
        ("text/event-stream", "event: message\ndata: ", false),
    ] {
        let hostile = Hostile::start(move |request, _| match request.path() {
            "/mcp" if request.method == "POST" => Reply::Huge {
                content_type,
                prefix: prefix.to_owned(),
                declared,
            },
            _ => Reply::not_found(),
        })
        .await;
        let url = format!("{}/mcp", hostile.base());
        let store = SeededStore::new(&url).await;
        let error = bounded(connect(&url, &store, TransportMode::StreamableHttp))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Protocol { .. }),
            "{content_type} declared={declared}: {error:?}"
        );
        assert_too_large(&error, "16 MiB");
        let written = hostile.written_for("/mcp").await;
        assert!(
            written < MCP_CEILING,
            "{content_type}: {written} bytes sent"
        );
        assert!(written < HUGE);
        store.assert_intact().await;
    }
}

#[tokio::test]
async fn a_100_mib_legacy_sse_event_is_refused_at_16_mib() {
    let hostile = Hostile::start(|request, _| match request.path() {
        "/sse" => Reply::Huge {
            content_type: "text/event-stream",
            prefix: "event: endpoint\ndata: /messages?session=".into(),
            declared: false,
        },
        _ => Reply::not_found(),
    })
    .await;
    let url = format!("{}/sse", hostile.base());
    let store = SeededStore::new(&url).await;
    let error = bounded(connect(&url, &store, TransportMode::Sse))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Protocol { .. }), "{error:?}");
    assert_too_large(&error, "16 MiB");
    let written = hostile.written_for("/sse").await;
    assert!(written < MCP_CEILING, "{written} bytes sent");
    store.assert_intact().await;
}

#[tokio::test]
async fn oauth_documents_of_100_mib_are_refused_at_1_mib() {
    // (the path that answers 100 MiB, declared or not, the error kind)
    let cases: [(&str, bool, IsKind); 6] = [
        ("/.well-known/oauth-protected-resource/mcp", false, |e| {
            matches!(e, Error::Discovery { .. })
        }),
        ("/.well-known/oauth-protected-resource/mcp", true, |e| {
            matches!(e, Error::Discovery { .. })
        }),
        ("/.well-known/oauth-authorization-server", false, |e| {
            matches!(e, Error::Discovery { .. })
        }),
        ("/token", false, |e| {
            e.oauth_step() == Some(OAuthStep::Token)
        }),
        ("/token", true, |e| e.oauth_step() == Some(OAuthStep::Token)),
        ("/register", false, |e| {
            matches!(e, Error::Registration { .. })
        }),
    ];
    for (huge_path, declared, kind) in cases {
        let hostile = Hostile::start(move |request, base| {
            if request.path() == huge_path {
                Reply::Huge {
                    content_type: "application/json",
                    prefix: r#"{"issuer":"x","pad":""#.into(),
                    declared,
                }
            } else {
                mini_as(request, base)
            }
        })
        .await;
        let url = format!("{}/mcp", hostile.base());
        let store = SeededStore::new(&url).await;
        let login = oauth(&url, store.dir()).build().unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        assert!(kind(&error), "{huge_path} declared={declared}: {error:?}");
        assert_too_large(&error, "1 MiB");
        assert!(error.to_string().contains(huge_path), "{error}");
        let written = hostile.written_for(huge_path).await;
        assert!(written < OAUTH_CEILING, "{huge_path}: {written} bytes sent");
        store.assert_intact().await;
    }
}
