//! Token answers on the wire: what the token endpoint sends back, read into
//! [`Tokens`] with an absolute expiry.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::{Fetched, OAuthErrorCode};
use crate::{Error, Result, clock, error::one_line, store::Tokens};

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

/// Reads a token answer. An `error` is an error whatever the status (some
/// servers send it with 200); `expires_in` may be a number or a string.
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
            return Err(Error::Protocol {
                url: endpoint.to_string(),
                detail: format!(
                    "the token answer is not valid JSON ({} bytes)",
                    fetched.body.len()
                ),
            });
        }
    };
    let Some(access_token) = raw.access_token.filter(|token| !token.is_empty()) else {
        return Err(Error::Protocol {
            url: endpoint.to_string(),
            detail: "the token answer has no access_token".into(),
        });
    };
    let token_type = raw.token_type.unwrap_or_else(|| "Bearer".to_owned());
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(Error::Protocol {
            url: endpoint.to_string(),
            detail: format!("the token type is {token_type:?}; only Bearer tokens are supported"),
        });
    }
    let refresh_token = raw
        .refresh_token
        .filter(|token| !token.is_empty())
        .map(SecretString::from)
        .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
    let scope = raw.scope.or_else(|| previous.and_then(|p| p.scope.clone()));
    Ok(Tokens::new(
        SecretString::from(access_token),
        refresh_token,
        scope,
        clock::now_ms(),
        seconds(raw.expires_in.as_ref()),
    ))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn fetched(status: u16, body: &str) -> Fetched {
        Fetched {
            status,
            body: bytes::Bytes::from(body.to_owned()),
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
        assert!(matches!(mac, Err(Error::Protocol { .. })));
        let garbage = parse_token_response(&endpoint(), &fetched(200, "{not json"), None);
        assert!(matches!(garbage, Err(Error::Protocol { .. })));
        let server_error = parse_token_response(&endpoint(), &fetched(500, "oops"), None);
        assert!(matches!(
            server_error,
            Err(Error::TokenEndpoint { status: 500, .. })
        ));
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
}
