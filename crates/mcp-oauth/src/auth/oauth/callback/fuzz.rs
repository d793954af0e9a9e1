//! The callback server's handling of one request and of one pasted line, for
//! the fuzz targets: only the expected `state` ends the wait, what a page
//! shows is escaped, what reaches the terminal is one bounded line.

use std::sync::{Arc, Mutex};

use axum::{body::to_bytes, extract::State, response::Response};
use futures::executor::block_on;
use http::{Method, StatusCode, Uri};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use super::{
    AuthorizationResponse, CALLBACK_PATH, MAX_QUERY_BYTES, ParsedCallback, Progress, Shared,
    handle, page, parse_query, parse_redirect,
};
use crate::{Error, Result};

/// The state the seeds carry.
const STATE: &str = "s7aTe-0123456789abcdef";

type Outcome = oneshot::Receiver<Result<AuthorizationResponse>>;

fn waiting() -> (Arc<Shared>, Outcome) {
    let (sender, receiver) = oneshot::channel();
    let shared = Arc::new(Shared {
        path: CALLBACK_PATH.to_owned(),
        expected_state: SecretString::from(STATE.to_owned()),
        progress: Mutex::new(Progress::Waiting(sender)),
    });
    (shared, receiver)
}

/// `METHOD TARGET [VERSION]` as in a request line, or a bare target (GET).
pub(crate) fn request(data: &[u8]) {
    let (method, target) = match data.iter().position(|&byte| byte == b' ') {
        Some(space) => {
            let rest = &data[space + 1..];
            let end = rest
                .iter()
                .position(|&byte| byte == b' ')
                .unwrap_or(rest.len());
            (&data[..space], &rest[..end])
        }
        None => (&b"GET"[..], data),
    };
    if let (Ok(method), Ok(uri)) = (Method::from_bytes(method), Uri::try_from(target)) {
        served(&method, &uri);
    }
    if let Ok(line) = std::str::from_utf8(data) {
        pasted(line);
    }
}

fn served(method: &Method, uri: &Uri) {
    let (shared, mut outcome) = waiting();
    let answer = |shared: &Arc<Shared>| {
        render(block_on(handle(
            State(Arc::clone(shared)),
            method.clone(),
            uri.clone(),
        )))
    };
    let first = answer(&shared);

    let query = uri.query().unwrap_or("");
    let parsed =
        (uri.path() == CALLBACK_PATH && method == Method::GET && query.len() <= MAX_QUERY_BYTES)
            .then(|| parse_query(query, &shared.expected_state));
    // The same page as for a harmless text: nothing shown adds markup.
    let expected = match &parsed {
        None if uri.path() != CALLBACK_PATH => page::not_found(),
        None if method != Method::GET => page::method_not_allowed(),
        None => page::too_long(),
        Some(ParsedCallback::Invalid(_)) => page::stray("x"),
        Some(ParsedCallback::Denied { description, .. }) => {
            page::denied("x", description.as_deref().map(harmless))
        }
        Some(ParsedCallback::Code { .. }) => page::success(),
    };
    assert_same_markup(&first, &render(expected));

    let settled = match (&parsed, outcome.try_recv()) {
        (Some(ParsedCallback::Code { code, iss }), Ok(Ok(response))) => {
            assert_eq!(response.code.expose_secret(), code.expose_secret());
            assert_eq!(&response.iss, iss);
            assert!(!code.expose_secret().is_empty());
            true
        }
        (
            Some(ParsedCallback::Denied { error, description }),
            Ok(Err(Error::AuthorizationDenied {
                error: reported,
                description: reported_description,
            })),
        ) => {
            assert_eq!(error, reported.as_str());
            assert_eq!(description, &reported_description);
            assert_one_line(error, 200);
            if let Some(description) = description {
                assert_one_line(description, 1000);
            }
            true
        }
        (Some(ParsedCallback::Code { .. } | ParsedCallback::Denied { .. }), other) => {
            panic!("an answer did not end the wait: {other:?}")
        }
        (_, Ok(other)) => panic!("a request that is no answer ended the wait: {other:?}"),
        (_, Err(_)) => false,
    };
    if settled {
        // Only the expected state, given once, ends the wait.
        let states: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == "state")
            .map(|(_, value)| value.into_owned())
            .collect();
        assert_eq!(states, [STATE], "{uri}");
        // The same link again finds the wait over.
        assert_same_markup(
            &answer(&shared),
            &render(page::already_over(page::WaitEnded::SignedIn)),
        );
    }
}

/// A line pasted on stdin: the same checks as a request.
fn pasted(line: &str) {
    let (shared, mut outcome) = waiting();
    let parsed = parse_redirect(line, &shared.expected_state);
    match &parsed {
        ParsedCallback::Code { code, .. } => assert!(!code.expose_secret().is_empty()),
        ParsedCallback::Denied { error, description } => {
            assert_one_line(error, 200);
            if let Some(description) = description {
                assert_one_line(description, 1000);
            }
        }
        ParsedCallback::Invalid(reason) => assert!(!reason.contains(STATE)),
    }
    shared.accept_pasted(line);
    let ended = outcome.try_recv().is_ok();
    let answers = matches!(
        parsed,
        ParsedCallback::Code { .. } | ParsedCallback::Denied { .. }
    );
    assert_eq!(ended, answers && !line.trim().is_empty(), "{line:?}");
}

fn harmless(text: &str) -> &'static str {
    if text.trim().is_empty() { "" } else { "x" }
}

fn render(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body = block_on(to_bytes(response.into_body(), usize::MAX)).expect("a page in memory");
    (
        status,
        String::from_utf8(body.to_vec()).expect("pages are UTF-8"),
    )
}

fn assert_same_markup(got: &(StatusCode, String), expected: &(StatusCode, String)) {
    assert_eq!(got.0, expected.0);
    for special in ['<', '>', '"', '\''] {
        let count = |page: &str| page.matches(special).count();
        assert_eq!(count(&got.1), count(&expected.1), "{special} in {}", got.1);
    }
}

fn assert_one_line(text: &str, max_chars: usize) {
    assert!(text.chars().count() <= max_chars + 1, "{text:?}");
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() && c != ' '),
        "{text:?}"
    );
    assert_eq!(text, text.trim());
}
