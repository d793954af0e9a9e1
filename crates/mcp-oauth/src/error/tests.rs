//! Error messages: one line each, and safe for a terminal whatever the
//! server wrote.

use super::*;

#[test]
fn one_line_squeezes_and_bounds() {
    assert_eq!(one_line("a\n\n  b\tc", 100), "a b c");
    assert_eq!(one_line("abcdef", 3), "abc…");
}

#[test]
fn http_status_shows_body_preview_on_one_line() {
    let error = Error::HttpStatus {
        url: "http://x/mcp".into(),
        status: 500,
        body: "boom\nstack".into(),
    };
    assert_eq!(
        error.to_string(),
        "http://x/mcp answered HTTP 500: boom stack"
    );
}

#[test]
fn timeout_reads_naturally() {
    let error = Error::Timeout {
        url: "http://x".into(),
        after: Duration::from_secs(3),
    };
    assert_eq!(error.to_string(), "http://x did not answer within 3 s");
}

/// What a hostile server puts in every text it controls.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}\u{0}\r!";

/// One error of every variant, each text field hostile.
fn hostile_errors() -> Vec<Error> {
    let text = || HOSTILE.to_owned();
    let cause = || None;
    vec![
        Error::InvalidUrl {
            url: text(),
            reason: text(),
        },
        Error::InvalidConfig { reason: text() },
        Error::Connect {
            url: text(),
            reason: text(),
            source: cause(),
        },
        Error::Timeout {
            url: text(),
            after: Duration::from_secs(1),
        },
        Error::HttpStatus {
            url: text(),
            status: 500,
            body: text(),
        },
        Error::NotMcp {
            url: text(),
            detail: text(),
        },
        Error::Protocol {
            url: text(),
            detail: text(),
        },
        Error::Unauthorized {
            url: text(),
            status: 401,
            www_authenticate: Some(text()),
        },
        Error::Server {
            code: -32602,
            message: text(),
            data: None,
        },
        Error::Spawn {
            command: text(),
            reason: text(),
            source: cause(),
        },
        Error::Closed {
            url: text(),
            detail: text(),
        },
        Error::Discovery {
            url: text(),
            reason: text(),
        },
        Error::ResourceMismatch {
            server: text(),
            resource: text(),
        },
        Error::Insecure {
            url: text(),
            reason: text(),
        },
        Error::Registration {
            url: text(),
            reason: text(),
        },
        Error::AuthorizationDenied {
            error: OAuthErrorCode::from(HOSTILE),
            description: Some(text()),
        },
        Error::TokenEndpoint {
            url: text(),
            status: 400,
            error: OAuthErrorCode::from(HOSTILE),
            description: Some(text()),
        },
        Error::CallbackUnavailable {
            host: text(),
            port: 0,
            reason: text(),
        },
        Error::SignInTimeout {
            after: Duration::from_secs(1),
        },
        Error::SignInUnavailable { reason: text() },
        Error::UserAgent { reason: text() },
        Error::Throttled {
            url: text(),
            reason: text(),
        },
        Error::Storage {
            path: text(),
            reason: text(),
            source: cause(),
        },
        Error::OAuthAnswer {
            step: crate::OAuthStep::Token,
            url: text(),
            detail: text(),
        },
        Error::StoreUnreachable {
            store: text(),
            reason: text(),
            source: cause(),
        },
        Error::StorageConflict {
            store: text(),
            reason: text(),
        },
        Error::RenewalsPaused {
            url: text(),
            status: 401,
            www_authenticate: Some(text()),
            retry_after: Duration::from_secs(60),
        },
        Error::NotConnected {
            server: text(),
            account: Some(text()),
        },
        Error::CallbackRefused {
            reason: CallbackRefusal::Malformed(text()),
        },
    ]
}

/// The variant's name; naming them all here (no `_` arm) makes a new
/// variant fail to compile until it is added, and its example with it.
fn variant(error: &Error) -> &'static str {
    match error {
        Error::InvalidUrl { .. } => "InvalidUrl",
        Error::InvalidConfig { .. } => "InvalidConfig",
        Error::Connect { .. } => "Connect",
        Error::Timeout { .. } => "Timeout",
        Error::HttpStatus { .. } => "HttpStatus",
        Error::NotMcp { .. } => "NotMcp",
        Error::Protocol { .. } => "Protocol",
        Error::Unauthorized { .. } => "Unauthorized",
        Error::Server { .. } => "Server",
        Error::Spawn { .. } => "Spawn",
        Error::Closed { .. } => "Closed",
        Error::Discovery { .. } => "Discovery",
        Error::ResourceMismatch { .. } => "ResourceMismatch",
        Error::Insecure { .. } => "Insecure",
        Error::Registration { .. } => "Registration",
        Error::AuthorizationDenied { .. } => "AuthorizationDenied",
        Error::TokenEndpoint { .. } => "TokenEndpoint",
        Error::CallbackUnavailable { .. } => "CallbackUnavailable",
        Error::SignInTimeout { .. } => "SignInTimeout",
        Error::SignInUnavailable { .. } => "SignInUnavailable",
        Error::UserAgent { .. } => "UserAgent",
        Error::Throttled { .. } => "Throttled",
        Error::OAuthAnswer { .. } => "OAuthAnswer",
        Error::RenewalsPaused { .. } => "RenewalsPaused",
        Error::Storage { .. } => "Storage",
        Error::StoreUnreachable { .. } => "StoreUnreachable",
        Error::StorageConflict { .. } => "StorageConflict",
        Error::NotConnected { .. } => "NotConnected",
        Error::CallbackRefused { .. } => "CallbackRefused",
    }
}

#[test]
fn no_message_lets_a_server_act_on_the_terminal() {
    let errors = hostile_errors();
    let names: std::collections::HashSet<_> = errors.iter().map(variant).collect();
    assert_eq!(names.len(), 29, "one example of every variant");
    for error in &errors {
        let message = error.to_string();
        assert!(
            !message.chars().any(crate::is_terminal_control),
            "{}: {message:?}",
            variant(error)
        );
        if !matches!(error, Error::SignInTimeout { .. }) {
            assert!(
                message.contains("\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\u{202e}\\x00\\x0d!"),
                "{}: {message}",
                variant(error)
            );
        }
    }
}
