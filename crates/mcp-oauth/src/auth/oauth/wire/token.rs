//! Token answers on the wire: what the token endpoint sends back, read into
//! [`Tokens`] with an absolute expiry.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::{Fetched, OAuthErrorCode};
use crate::{Error, OAuthStep, Result, clock, error::one_line, store::Tokens};

/// The `grant_type` of RFC 8628's device access token request.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Deserialize)]
struct RawTokens {
    access_token: Option<String>,
    token_type: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    expires_in: Option<Value>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A number of seconds as servers send it: a JSON number or a string of one.
pub(crate) fn seconds(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Whether `token` may be sent as a bearer token: one or more visible ASCII
/// characters (%x21-7E). An access token goes into an `Authorization`
/// header (and is printed by `mcp-oauth token` for a shell to paste into
/// one): a line break would inject a header of the authorization server's
/// choosing, a NUL or an escape sequence would reach a terminal, a space
/// would split the shell word. RFC 6750's stricter `b64token` would refuse
/// tokens servers really issue (Salesforce's hold `!`), and the characters
/// it leaves out are harmless in a header value and in a quoted shell word.
pub(crate) fn is_bearer_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|byte| byte.is_ascii_graphic())
}

/// Whether `token` may be a refresh token: RFC 6749's `1*VSCHAR`
/// (%x20-7E). A refresh token only ever travels form-encoded in a request
/// body, where any character is safe, so the wider grammar of the RFC is
/// kept; what is outside it (control characters, non-ASCII) is no refresh
/// token, and is not stored to be read back later.
fn is_refresh_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|byte| (0x20..=0x7e).contains(&byte))
}

/// Reads a token answer. An `error` is an error whatever the status (some
/// servers send it with 200); `expires_in` may be a number or a string.
/// Every grant's answer is read here, so that none stores a token it could
/// not send.
pub(crate) fn parse_token_response(
    endpoint: &Url,
    fetched: &Fetched,
    previous: Option<&Tokens>,
) -> Result<Tokens> {
    let raw = serde_json::from_slice::<RawTokens>(&fetched.body);
    // The server's words, shown to the person: one line, bounded.
    let refused = |error: String, description: Option<String>| Error::TokenEndpoint {
        url: endpoint.to_string(),
        status: fetched.status,
        error: OAuthErrorCode::from(one_line(&error, 200)),
        description: description.map(|text| one_line(&text, 1000)),
    };
    // A malformed answer is the token endpoint's failure, not a protocol
    // error of the MCP server.
    let unusable = |detail: &str| Error::OAuthAnswer {
        step: OAuthStep::Token,
        url: endpoint.to_string(),
        detail: detail.to_owned(),
    };
    let raw = match raw {
        Ok(RawTokens {
            error: Some(error),
            error_description,
            ..
        }) => {
            return Err(refused(error, error_description));
        }
        Ok(raw) if fetched.is_success() => raw,
        // A token answer may hold a token even when malformed: its body is
        // never quoted in an error.
        _ if !fetched.is_success() => {
            return Err(refused(format!("HTTP {}", fetched.status), None));
        }
        Ok(_) | Err(_) => {
            return Err(unusable(&format!(
                "not a token answer in JSON ({} bytes)",
                fetched.body.len()
            )));
        }
    };
    let Some(access_token) = raw.access_token.filter(|token| !token.is_empty()) else {
        return Err(unusable("no access_token"));
    };
    let token_type = raw.token_type.unwrap_or_else(|| "Bearer".to_owned());
    // A DPoP-bound token only answers a request that carried a proof
    // (RFC 9449 §5): then the client holds the key it is bound to.
    let bound = fetched.dpop && token_type.eq_ignore_ascii_case("dpop");
    if !token_type.eq_ignore_ascii_case("bearer") && !bound {
        return Err(unusable(&format!(
            "the token type {:?}; only Bearer tokens are supported{}",
            one_line(&token_type, 40),
            if fetched.dpop { " besides DPoP" } else { "" }
        )));
    }
    // Named, never quoted: the token is a secret, and its characters are
    // the trouble.
    if !is_bearer_token(&access_token) {
        return Err(unusable(
            "an access_token with characters a bearer token may not contain",
        ));
    }
    let refresh_token = raw.refresh_token.filter(|token| !token.is_empty());
    if refresh_token
        .as_deref()
        .is_some_and(|token| !is_refresh_token(token))
    {
        return Err(unusable(
            "a refresh_token with characters a refresh token may not contain",
        ));
    }
    let refresh_token = refresh_token
        .map(SecretString::from)
        .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
    let scope = raw.scope.or_else(|| previous.and_then(|p| p.scope.clone()));
    let mut tokens = Tokens::new(
        SecretString::from(access_token),
        refresh_token,
        scope,
        clock::now_ms(),
        seconds(raw.expires_in.as_ref()),
    );
    if bound {
        tokens.token_type = DPOP_TOKEN_TYPE.to_owned();
    }
    Ok(tokens)
}

/// The `token_type` of a DPoP-bound token, as it is stored.
pub(crate) const DPOP_TOKEN_TYPE: &str = "DPoP";

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn fetched(status: u16, body: &str) -> Fetched {
        Fetched {
            status,
            body: bytes::Bytes::from(body.to_owned()),
            dpop: false,
            fresh_dpop_nonce: None,
        }
    }

    fn endpoint() -> Url {
        Url::parse("https://as.example/token").unwrap()
    }

    #[test]
    fn a_normal_answer() {
        let tokens = parse_token_response(
            &endpoint(),
            &fetched(200, r#"{"access_token":"at","token_type":"bearer","expires_in":"3600","refresh_token":"rt","scope":"a b"}"#),
            None,
        )
        .unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "at");
        assert_eq!(tokens.expires_at, Some(tokens.received_at + 3600));
        assert_eq!(tokens.scope.as_deref(), Some("a b"));
        assert!(!format!("{tokens:?}").contains("rt"));
    }

    #[test]
    fn an_error_with_status_200_is_an_error() {
        let error = parse_token_response(
            &endpoint(),
            &fetched(
                200,
                r#"{"error":"invalid_grant","error_description":"expired"}"#,
            ),
            None,
        )
        .unwrap_err();
        match error {
            Error::TokenEndpoint {
                error, description, ..
            } => {
                assert_eq!(error, "invalid_grant");
                assert_eq!(description.as_deref(), Some("expired"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refresh_keeps_what_the_answer_omits() {
        let previous = parse_token_response(
            &endpoint(),
            &fetched(
                200,
                r#"{"access_token":"a1","token_type":"Bearer","refresh_token":"r1","scope":"s"}"#,
            ),
            None,
        )
        .unwrap();
        let next = parse_token_response(
            &endpoint(),
            &fetched(200, r#"{"access_token":"a2","token_type":"Bearer"}"#),
            Some(&previous),
        )
        .unwrap();
        assert_eq!(next.refresh_token.unwrap().expose_secret(), "r1");
        assert_eq!(next.scope.as_deref(), Some("s"));
        assert_eq!(next.expires_at, None);
    }

    #[test]
    fn refuses_other_token_types_and_garbage() {
        let mac = parse_token_response(
            &endpoint(),
            &fetched(200, r#"{"access_token":"a","token_type":"mac"}"#),
            None,
        );
        let at_token_endpoint = |result: &Result<Tokens>| {
            matches!(
                result,
                Err(Error::OAuthAnswer {
                    step: OAuthStep::Token,
                    ..
                })
            )
        };
        assert!(at_token_endpoint(&mac));
        let garbage = parse_token_response(&endpoint(), &fetched(200, "{not json"), None);
        assert!(at_token_endpoint(&garbage));
        let empty =
            parse_token_response(&endpoint(), &fetched(200, r#"{"access_token":""}"#), None);
        assert!(at_token_endpoint(&empty));
        let server_error = parse_token_response(&endpoint(), &fetched(500, "oops"), None);
        assert!(matches!(
            server_error,
            Err(Error::TokenEndpoint { status: 500, .. })
        ));
    }

    #[test]
    fn access_tokens_are_visible_ascii_and_refresh_tokens_vschars() {
        for good in [
            "a",
            "00Dx0000000BV7z!AR8AQP0jITN80ESEsj5EbaZTFG0RNBaT1cyWk7T",
            "a=b",
            "a,b",
            "gho_16C7e42F292c6912E7710c838347Ae178B4a",
            "a.b-c~d+e/f_0",
            "YQ==",
            "x=",
        ] {
            assert!(is_bearer_token(good), "{good:?}");
        }
        for bad in [
            "",
            "a\r\nX-Injected: 1",
            "a\nb",
            "nul\0",
            "esc\u{1b}[2J",
            "two words",
            " leading",
            "caf\u{e9}",
            "a\tb",
            "a\u{7f}",
            "a\u{9b}31m",
            "a\u{202e}b",
        ] {
            assert!(!is_bearer_token(bad), "{bad:?}");
        }
        assert!(is_refresh_token(
            "a refresh token ~ with \"punctuation\" and spaces"
        ));
        for bad in [
            "",
            "a\nb",
            "a\rb",
            "nul\0",
            "esc\u{1b}",
            "del\u{7f}",
            "caf\u{e9}",
        ] {
            assert!(!is_refresh_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn tokens_with_characters_they_may_not_hold_are_refused_without_quoting_them() {
        let previous = parse_token_response(
            &endpoint(),
            &fetched(200, r#"{"access_token":"a1","refresh_token":"r1"}"#),
            None,
        )
        .unwrap();
        for (body, named) in [
            (
                r#"{"access_token":"a\r\nX-Injected: 1","token_type":"Bearer"}"#,
                "an access_token with characters a bearer token may not contain",
            ),
            (
                r#"{"access_token":"ok","refresh_token":"r\u001b]0;X-Injected\u0007"}"#,
                "a refresh_token with characters a refresh token may not contain",
            ),
        ] {
            let error = parse_token_response(&endpoint(), &fetched(200, body), Some(&previous))
                .unwrap_err();
            assert!(
                matches!(
                    &error,
                    Error::OAuthAnswer { step: OAuthStep::Token, detail, .. } if detail == named
                ),
                "{error:?}"
            );
            assert!(error.is_authorization_failure());
            assert!(!error.to_string().contains("X-Injected"), "{error}");
        }
    }

    #[test]
    fn a_huge_lifetime_does_not_overflow() {
        for expires_in in ["18446744073709551615", "\"18446744073709551615\""] {
            let body = format!(
                r#"{{"access_token":"a","token_type":"Bearer","expires_in":{expires_in}}}"#
            );
            let tokens = parse_token_response(&endpoint(), &fetched(200, &body), None).unwrap();
            assert_eq!(tokens.expires_at, Some(u64::MAX));
            assert!(tokens.is_fresh(tokens.received_at_ms.unwrap()));
        }
    }

    #[test]
    fn a_dpop_token_is_taken_only_in_answer_to_a_proof() {
        let body = r#"{"access_token":"at","token_type":"DPoP","expires_in":60}"#;
        let unasked = parse_token_response(&endpoint(), &fetched(200, body), None).unwrap_err();
        assert!(unasked.to_string().contains("DPoP"), "{unasked}");
        let mut answer = fetched(200, body);
        answer.dpop = true;
        let tokens = parse_token_response(&endpoint(), &answer, None).unwrap();
        assert_eq!(tokens.token_type, DPOP_TOKEN_TYPE);
        // A proof sent and a bearer token back: a bearer token it is.
        let mut bearer = fetched(200, r#"{"access_token":"at","token_type":"Bearer"}"#);
        bearer.dpop = true;
        let tokens = parse_token_response(&endpoint(), &bearer, None).unwrap();
        assert_eq!(tokens.token_type, "Bearer");
    }
}
