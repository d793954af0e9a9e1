//! The device authorization grant (RFC 8628): the person approves on any
//! device with a browser while this one polls, so nothing here needs a
//! display or a callback port.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{
    super::{
        flow::Flow,
        http::OAuthHttp,
        identity::{self, Purpose},
        wire::device_authorization_endpoint,
    },
    Grant, post_with_client_auth, request_tokens,
};
use crate::{
    Error, OAuthStep, Result, SignIn,
    auth::oauth::wire::{OAuthErrorCode, seconds},
    error::one_line,
    store::{Registration, Tokens},
};

/// The longest user code shown; RFC 8628 codes are about 8 characters.
const MAX_USER_CODE: usize = 64;

/// RFC 8628 §3.5: without an `interval`, poll every 5 seconds.
const DEFAULT_INTERVAL: u64 = 5;
/// A server asking for less is still not polled faster than this.
const MIN_INTERVAL: u64 = 1;
/// RFC 8628 §3.5: each `slow_down` adds 5 seconds.
const SLOW_DOWN_STEP: u64 = 5;

/// What the device authorization endpoint handed out.
pub(crate) struct DeviceAuthorization {
    device_code: SecretString,
    /// The code the person types.
    pub(crate) user_code: String,
    /// Where the person goes.
    pub(crate) verification_uri: String,
    /// The same page with the code filled in, when the server offers it.
    pub(crate) verification_uri_complete: Option<String>,
    lifetime: Duration,
    interval: u64,
}

#[derive(Deserialize)]
struct RawAuthorization {
    device_code: Option<String>,
    user_code: Option<String>,
    // Some servers (Google) still use the draft's name.
    #[serde(alias = "verification_url")]
    verification_uri: Option<String>,
    verification_uri_complete: Option<String>,
    expires_in: Option<serde_json::Value>,
    interval: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
}

/// One device sign-in: a client that may use the grant, a code shown to
/// the person, then polling until they approve.
pub(in super::super) async fn device(flow: &mut Flow<'_>) -> Result<Tokens> {
    let endpoint = device_authorization_endpoint(&flow.metadata)?;
    // Checked before a code is shown that could never be redeemed.
    let token_url = flow.token_endpoint()?;
    let registration = identity::client(flow, Purpose::Device).await?;
    let (settings, binding) = (flow.settings, flow.binding);
    let scope = flow.scope.as_deref();
    binding.brake_sign_in()?;
    let device = start(
        &binding.http,
        &endpoint,
        &registration,
        scope,
        flow.resource_parameter(),
    )
    .await?;
    settings.notify(&device.instructions());
    settings.signal(SignIn::Waiting);
    let tokens = poll(
        &binding.http,
        &token_url,
        &registration,
        &device,
        flow.resource_parameter(),
        settings.timeout,
    )
    .await;
    settings.signal(SignIn::Done);
    tokens
}

impl DeviceAuthorization {
    /// What the person is told to do.
    pub(crate) fn instructions(&self) -> String {
        let mut text = format!(
            "To sign in, open {} and enter the code {}",
            self.verification_uri, self.user_code
        );
        if let Some(complete) = &self.verification_uri_complete {
            text.push_str(&format!(
                "\n(or open {complete}, which has the code filled in)"
            ));
        }
        text
    }
}

/// Asks for a device code and a user code.
async fn start(
    http: &OAuthHttp,
    endpoint: &Url,
    registration: &Registration,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<DeviceAuthorization> {
    let mut form: Vec<(&str, &str)> = resource.map(|r| ("resource", r)).into_iter().collect();
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let step = OAuthStep::DeviceAuthorization;
    let fetched = post_with_client_auth(http, endpoint, registration, form, step).await?;
    parse_authorization(endpoint, fetched.status, &fetched.body)
}

/// Reads the device authorization answer; an `error` is an error whatever the status.
pub(crate) fn parse_authorization(
    endpoint: &Url,
    status: u16,
    body: &[u8],
) -> Result<DeviceAuthorization> {
    let raw = serde_json::from_slice::<RawAuthorization>(body);
    // The server's words, shown to the person: one line, bounded.
    let refused = |error: String, description: Option<String>| Error::AuthorizationDenied {
        error: OAuthErrorCode::from(one_line(&error, 200)),
        description: description.map(|text| one_line(&text, 1000)),
    };
    let raw = match raw {
        Ok(RawAuthorization {
            error: Some(error),
            error_description,
            ..
        }) => return Err(refused(error, error_description)),
        Ok(raw) if (200..300).contains(&status) => raw,
        _ => {
            return Err(Error::OAuthAnswer {
                step: OAuthStep::DeviceAuthorization,
                url: endpoint.to_string(),
                detail: format!("not a device code (HTTP {status}, {} bytes)", body.len()),
            });
        }
    };
    let missing = |field: &str| Error::OAuthAnswer {
        step: OAuthStep::DeviceAuthorization,
        url: endpoint.to_string(),
        detail: format!("no {field}"),
    };
    let device_code = raw.device_code.filter(|c| !c.is_empty());
    let device_code = device_code.ok_or_else(|| missing("device_code"))?;
    // Shown on the person's terminal: no control characters, nothing long.
    let user_code = raw.user_code.filter(|code| {
        !code.is_empty()
            && code.chars().count() <= MAX_USER_CODE
            && !code.contains(char::is_control)
    });
    let user_code =
        user_code.ok_or_else(|| missing("user_code of at most 64 printable characters"))?;
    let verification_uri = raw
        .verification_uri
        .and_then(|uri| web_url(&uri))
        .ok_or_else(|| missing("http(s) verification_uri"))?;
    let lifetime = seconds(raw.expires_in.as_ref()).ok_or_else(|| missing("expires_in"))?;
    Ok(DeviceAuthorization {
        device_code: SecretString::from(device_code),
        user_code,
        verification_uri,
        verification_uri_complete: raw.verification_uri_complete.and_then(|uri| web_url(&uri)),
        lifetime: Duration::from_secs(lifetime),
        interval: seconds(raw.interval.as_ref())
            .unwrap_or(DEFAULT_INTERVAL)
            .max(MIN_INTERVAL),
    })
}

/// Only web pages are shown to a person as a place to go, and as the URL
/// parser writes them (escaped), not as the server sent them.
fn web_url(text: &str) -> Option<String> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(String::from)
}

/// Polls the token endpoint until the person approves, denies, or time runs
/// out: the device code's lifetime or `timeout`, whichever is shorter.
async fn poll(
    http: &OAuthHttp,
    token_endpoint: &Url,
    registration: &Registration,
    device: &DeviceAuthorization,
    resource: Option<&str>,
    timeout: Duration,
) -> Result<Tokens> {
    let started = Instant::now();
    let limit = timeout.min(device.lifetime);
    let mut interval = device.interval;
    loop {
        let wait = Duration::from_secs(interval);
        if started.elapsed() + wait > limit {
            return Err(Error::SignInTimeout { after: limit });
        }
        tokio::time::sleep(wait).await;
        let answer = request_tokens(
            http,
            token_endpoint,
            registration,
            &Grant::DeviceCode {
                device_code: &device.device_code,
            },
            resource,
            None,
        )
        .await;
        match answer {
            Ok(tokens) => return Ok(tokens),
            Err(Error::TokenEndpoint {
                error: OAuthErrorCode::AuthorizationPending,
                ..
            }) => {}
            Err(Error::TokenEndpoint {
                error: OAuthErrorCode::SlowDown,
                ..
            }) => {
                interval += SLOW_DOWN_STEP;
            }
            Err(Error::TokenEndpoint {
                error: error @ (OAuthErrorCode::AccessDenied | OAuthErrorCode::ExpiredToken),
                description,
                ..
            }) => {
                return Err(Error::AuthorizationDenied { error, description });
            }
            Err(other) => return Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::auth::oauth::Settings;

    fn endpoint() -> Url {
        Url::parse("https://as.example/device").unwrap()
    }

    #[test]
    fn reads_a_full_answer_and_keeps_the_device_code_secret() {
        let body = br#"{"device_code":"dc-secret","user_code":"ABCD-EFGH",
            "verification_uri":"https://as.example/device",
            "verification_uri_complete":"https://as.example/device?user_code=ABCD-EFGH",
            "expires_in":"600","interval":2}"#;
        let device = parse_authorization(&endpoint(), 200, body).unwrap();
        assert_eq!(device.user_code, "ABCD-EFGH");
        assert_eq!(device.lifetime, Duration::from_secs(600));
        assert_eq!(device.interval, 2);
        assert!(device.verification_uri_complete.is_some());
        use secrecy::ExposeSecret;
        assert_eq!(device.device_code.expose_secret(), "dc-secret");
    }

    #[test]
    fn defaults_and_floors_the_interval() {
        let body = br#"{"device_code":"d","user_code":"u","verification_url":"https://x/d","expires_in":60}"#;
        assert_eq!(
            parse_authorization(&endpoint(), 200, body)
                .unwrap()
                .interval,
            DEFAULT_INTERVAL
        );
        let body = br#"{"device_code":"d","user_code":"u","verification_uri":"https://x/d","expires_in":60,"interval":0}"#;
        assert_eq!(
            parse_authorization(&endpoint(), 200, body)
                .unwrap()
                .interval,
            MIN_INTERVAL
        );
    }

    #[test]
    fn refusals_and_garbage_are_clear_errors() {
        let denied = parse_authorization(
            &endpoint(),
            400,
            br#"{"error":"invalid_client","error_description":"unknown"}"#,
        );
        assert!(
            matches!(denied, Err(Error::AuthorizationDenied { ref error, .. }) if error == "invalid_client")
        );
        let html = parse_authorization(&endpoint(), 200, b"<html>");
        assert!(matches!(
            html,
            Err(Error::OAuthAnswer {
                step: OAuthStep::DeviceAuthorization,
                ..
            })
        ));
        let no_uri = parse_authorization(
            &endpoint(),
            200,
            br#"{"device_code":"d","user_code":"u","verification_uri":"javascript:alert(1)","expires_in":60}"#,
        );
        let message = no_uri.err().unwrap().to_string();
        assert!(message.contains("verification_uri"), "{message}");
    }

    #[test]
    fn nothing_reaches_the_terminal_unescaped() {
        let escape = br#"{"device_code":"d","user_code":"\u001b[2J","verification_uri":"https://x/d","expires_in":60}"#;
        let message = parse_authorization(&endpoint(), 200, escape)
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("user_code"), "{message}");
        assert!(!message.contains('\u{1b}'), "{message}");
        let long = format!(
            r#"{{"device_code":"d","user_code":"{}","verification_uri":"https://x/d","expires_in":60}}"#,
            "A".repeat(65)
        );
        assert!(parse_authorization(&endpoint(), 200, long.as_bytes()).is_err());
        let odd_uri = br#"{"device_code":"d","user_code":"u","verification_uri":"https://x/d\u001b[2J","expires_in":60}"#;
        let device = parse_authorization(&endpoint(), 200, odd_uri).unwrap();
        assert!(
            !device.instructions().contains('\u{1b}'),
            "escaped as a URL"
        );
        let denied = parse_authorization(
            &endpoint(),
            400,
            br#"{"error":"access_denied","error_description":"no\n\u001b[2Jway"}"#,
        );
        let message = denied.err().unwrap().to_string();
        assert!(
            !message.contains('\n') && !message.contains('\u{1b}'),
            "{message}"
        );
    }

    /// A user code is printable by the rules above, yet may hold a bidi
    /// override that makes the code read backwards: the notice that shows
    /// it escapes it, whichever hook prints it.
    #[test]
    fn the_code_reaches_the_person_escaped() {
        let reversed = br#"{"device_code":"d","user_code":"AB\u202eCD","verification_uri":"https://x/d","expires_in":60}"#;
        let device = parse_authorization(&endpoint(), 200, reversed).unwrap();
        let shown = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&shown);
        let settings = Settings {
            notice: Arc::new(move |text| seen.lock().unwrap().push(text.to_owned())),
            ..Settings::default()
        };
        settings.notify(&device.instructions());
        let shown = shown.lock().unwrap();
        assert!(shown[0].contains("the code AB\\u{202e}CD"), "{shown:?}");
        assert!(!shown[0].contains('\u{202e}'), "{shown:?}");
    }
}
