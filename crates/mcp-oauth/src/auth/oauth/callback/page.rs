//! The small HTML pages the callback server answers the browser with.
//!
//! Each page is self-contained (inline CSS, no script, no external resource)
//! and every text that did not come from this file is HTML-escaped.

use axum::response::{IntoResponse, Response};
use http::{
    HeaderValue, StatusCode,
    header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY},
};

/// How a page is tinted.
#[derive(Debug, Clone, Copy)]
enum Tone {
    Good,
    Bad,
    Neutral,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Bad => "bad",
            Self::Neutral => "neutral",
        }
    }
}

/// The sign-in worked.
pub(super) fn success() -> Response {
    page(
        StatusCode::OK,
        Tone::Good,
        "Signed in",
        "<p>Signed in. You can close this window and return to the terminal.</p>",
    )
}

/// The authorization server answered the callback with `error=`.
pub(super) fn denied(error: &str, description: Option<&str>) -> Response {
    let mut body = format!(
        "<p>The authorization server refused the sign-in: <code>{}</code></p>",
        escape(error)
    );
    if let Some(description) = description.filter(|text| !text.trim().is_empty()) {
        body.push_str(&format!("<blockquote>{}</blockquote>", escape(description)));
    }
    body.push_str("<p>You can close this window; the terminal says what to do next.</p>");
    page(StatusCode::OK, Tone::Bad, "Sign-in failed", &body)
}

/// A request without the expected `state`: stray, stale or forged.
pub(super) fn stray(reason: &str) -> Response {
    let body = format!(
        "<p>This sign-in link is not the one mcp-oauth is waiting for.</p>\
         <p>If you started a new sign-in, finish it from the newest link.</p>\
         <p class=\"detail\">{}</p>",
        escape(reason)
    );
    page(
        StatusCode::BAD_REQUEST,
        Tone::Bad,
        "Unexpected sign-in link",
        &body,
    )
}

/// Why the wait is already over, for a callback that arrives after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WaitEnded {
    SignedIn,
    Denied,
    TimedOut,
}

/// A valid callback that arrives after the wait has ended.
pub(super) fn already_over(ended: WaitEnded) -> Response {
    let (heading, text) = match ended {
        WaitEnded::SignedIn => (
            "Already signed in",
            "This sign-in is already complete. You can close this window.",
        ),
        WaitEnded::Denied => (
            "Sign-in already ended",
            "This sign-in has already ended. You can close this window.",
        ),
        WaitEnded::TimedOut => (
            "Sign-in expired",
            "mcp-oauth stopped waiting for this sign-in. Start it again from the terminal.",
        ),
    };
    page(
        StatusCode::OK,
        Tone::Neutral,
        heading,
        &format!("<p>{text}</p>"),
    )
}

/// Any path other than the callback's (e.g. `/favicon.ico`).
pub(super) fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        Tone::Neutral,
        "Not found",
        "<p>This address only receives the sign-in callback.</p>",
    )
}

/// Anything but `GET` on the callback path.
pub(super) fn method_not_allowed() -> Response {
    let mut response = page(
        StatusCode::METHOD_NOT_ALLOWED,
        Tone::Neutral,
        "Method not allowed",
        "<p>The sign-in callback is a plain <code>GET</code> request.</p>",
    );
    response
        .headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static("GET"));
    response
}

/// A query longer than any authorization response needs.
pub(super) fn too_long() -> Response {
    page(
        StatusCode::URI_TOO_LONG,
        Tone::Bad,
        "Link too long",
        "<p>This link is too long to be a sign-in callback.</p>",
    )
}

/// Wraps `body` (trusted HTML) in the common frame, with headers that keep the
/// page out of caches, referrers and frames, and forbid any script.
fn page(status: StatusCode, tone: Tone, heading: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{heading} · mcp-oauth</title>\n<style>{STYLE}</style>\n</head>\n\
         <body><main class=\"{class}\"><h1>{heading}</h1>{body}\
         <p class=\"footer\">mcp-oauth</p></main></body>\n</html>\n",
        heading = escape(heading),
        class = tone.class(),
    );
    let headers = [
        (
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (
            http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
                 base-uri 'none'; form-action 'none'",
            ),
        ),
    ];
    (status, headers, html).into_response()
}

const STYLE: &str = "\
:root{color-scheme:light dark}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;background:#f6f8fa;color:#1f2328}\
main{max-width:34rem;margin:1.5rem;padding:1.75rem 2rem;background:#fff;border-radius:12px;\
box-shadow:0 1px 4px rgba(0,0,0,.12);border-top:5px solid #8c959f}\
main.good{border-top-color:#1a7f37}main.bad{border-top-color:#cf222e}\
h1{margin:0 0 .75rem;font-size:1.4rem}p{margin:.6rem 0}\
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}\
blockquote{margin:.75rem 0;padding:.5rem .9rem;border-left:3px solid #d0d7de;overflow-wrap:anywhere}\
.detail,.footer{color:#656d76;font-size:.85rem}.footer{margin-top:1.5rem}\
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}\
main{background:#161b22;box-shadow:none}.detail,.footer{color:#8d96a0}}";

/// Escapes the five characters that matter in HTML text and attributes.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
    }
}
