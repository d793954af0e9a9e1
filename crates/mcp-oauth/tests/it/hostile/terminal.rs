//! A server's words in errors: kept as sent in the error's fields, for a
//! program to read, and escaped in its message, for a person to read, so
//! that no escape sequence or bidi override in them acts on a terminal.

use mcp_oauth::{Error, MemoryTokenStorage};
use mcp_oauth_testkit::{AuthFault, AuthServer, TestServer, ToolAnswer};

use super::bounded;
use crate::support::{builder, connect, oauth};

/// What the hostile servers write.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}\u{0}\r!";

/// How a person must see it.
const SHOWN: &str = "\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\u{202e}\\x00\\x0d!";

/// The message of `error`: nothing a terminal acts on, the hostile words
/// escaped.
fn assert_message_escaped(error: &Error) {
    let message = error.to_string();
    assert!(
        !message.chars().any(|ch| ch.is_control()
            || matches!(ch, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
        "{message:?}"
    );
    assert!(message.contains(SHOWN), "{message}");
}

#[tokio::test]
async fn a_hostile_json_rpc_error_is_kept_exact_and_shown_escaped() {
    let server = TestServer::builder()
        .tool(
            "refuse",
            "Refuses",
            ToolAnswer::RpcError(HOSTILE.to_owned()),
        )
        .start()
        .await
        .unwrap();
    let client = bounded(builder(&server).connect()).await.unwrap();
    let error = bounded(client.call_tool("refuse", None)).await.unwrap_err();
    assert!(
        matches!(&error, Error::Server { message, .. } if message == HOSTILE),
        "{error:?}"
    );
    assert_message_escaped(&error);
    client.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_hostile_resource_is_kept_exact_and_shown_escaped() {
    let auth = AuthServer::builder().start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .prm_resource(HOSTILE)
        .start()
        .await
        .unwrap();
    let sign_in = oauth(&server).token_storage(MemoryTokenStorage::new());
    let error = bounded(connect(&server, sign_in)).await.unwrap_err();
    assert!(
        matches!(&error, Error::ResourceMismatch { resource, .. } if resource == HOSTILE),
        "{error:?}"
    );
    assert_message_escaped(&error);
    server.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn a_hostile_registration_refusal_is_shown_escaped() {
    let auth = AuthServer::builder()
        .fault(AuthFault::RegistrationRejectedWith(HOSTILE))
        .start()
        .await
        .unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    let sign_in = oauth(&server).token_storage(MemoryTokenStorage::new());
    let error = bounded(connect(&server, sign_in)).await.unwrap_err();
    assert!(matches!(error, Error::Registration { .. }), "{error:?}");
    assert_message_escaped(&error);
    server.stop().await;
    auth.stop().await;
}
