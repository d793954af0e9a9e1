//! The device authorization grant (RFC 8628): the person approves on any
//! device with a browser while this one polls, so nothing here needs a
//! display or a callback port.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{
    discovery::AuthServerMetadata,
    fetch::OAuthHttp,
    oauth::{Bound, OAuth, SignIn, token_endpoint},
    registration::{Registration, RegistrationKind, RegistrationRequest, register},
    token::{Grant, Tokens, post_with_client_auth, request_tokens, seconds},
};
use crate::{Error, Result, StoredCredentials, error::one_line, net::require_secure, secret::now};

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

impl OAuth {
    /// One device sign-in: a client that may use the grant, a code shown to
    /// the person, then polling until they approve.
    pub(super) async fn authorize_device(
        &self,
        bound: &Bound,
        credentials: &mut StoredCredentials,
        metadata: &AuthServerMetadata,
        resource: &str,
        scope: Option<&str>,
    ) -> Result<()> {
        let settings = &self.inner.settings;
        let endpoint = device_endpoint(metadata)?;
        // Checked before a code is shown that could never be redeemed.
        let token_url = token_endpoint(metadata)?;
        let registration = self
            .device_client(bound, credentials, metadata, scope)
            .await?;
        bound.brake_sign_in()?;
        let device = start(&bound.http, &endpoint, &registration, scope, resource).await?;
        (settings.notice)(&device.instructions());
        self.signal(SignIn::Waiting);
        let tokens = poll(
            &bound.http,
            token_url,
            &registration,
            &device,
            resource,
            settings.timeout,
        )
        .await;
        self.signal(SignIn::Done);
        self.store_tokens(bound, credentials, tokens?).await
    }

    /// The client identity for the device grant: static credentials, else a
    /// dynamic registration made for this grant (cached or new).
    async fn device_client(
        &self,
        bound: &Bound,
        credentials: &mut StoredCredentials,
        metadata: &AuthServerMetadata,
        scope: Option<&str>,
    ) -> Result<Registration> {
        let settings = &self.inner.settings;
        if let Some(client_id) = &settings.client_id {
            let registration =
                Registration::fixed(client_id, settings.client_secret.clone(), metadata);
            credentials.registration = Some(registration.clone());
            return Ok(registration);
        }
        if let Some(cached) = credentials.registration.as_ref().filter(|r| {
            // A registration made for the code flow may not be allowed this grant.
            r.kind == RegistrationKind::Dynamic && r.redirect_uri.is_none() && !r.is_expired(now())
        }) {
            return Ok(cached.clone());
        }
        let registration = register(
            &bound.http,
            metadata,
            &RegistrationRequest {
                client_name: &settings.client_name,
                redirect_uri: None,
                scope,
                additional: settings.additional_client_metadata.as_ref(),
            },
        )
        .await?;
        credentials.registration = Some(registration.clone());
        credentials.updated_at = now();
        // Kept even if the person never approves, so the next try reuses it.
        bound.storage.save(credentials).await?;
        Ok(registration)
    }
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

/// Where device codes come from; an error naming the server when it has none.
fn device_endpoint(metadata: &AuthServerMetadata) -> Result<Url> {
    let Some(endpoint) = &metadata.device_authorization_endpoint else {
        return Err(Error::Discovery {
            url: metadata.issuer.clone(),
            reason: "the authorization server offers no device authorization grant (its \
                     metadata has no device_authorization_endpoint); sign in with a browser, \
                     or print the URL with --no-browser and paste the redirect"
                .into(),
        });
    };
    let endpoint = Url::parse(endpoint).map_err(|error| Error::Discovery {
        url: endpoint.clone(),
        reason: format!("the device authorization endpoint is not a URL: {error}"),
    })?;
    require_secure(&endpoint, "the device authorization endpoint")?;
    Ok(endpoint)
}

/// Asks for a device code and a user code.
async fn start(
    http: &OAuthHttp,
    endpoint: &Url,
    registration: &Registration,
    scope: Option<&str>,
    resource: &str,
) -> Result<DeviceAuthorization> {
    let mut form = vec![("resource", resource)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let fetched = post_with_client_auth(http, endpoint, registration, form).await?;
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
        error: one_line(&error, 200),
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
            return Err(Error::Protocol {
                url: endpoint.to_string(),
                detail: format!(
                    "the device authorization answer (HTTP {status}, {} bytes) is not a device code",
                    body.len()
                ),
            });
        }
    };
    let missing = |field: &str| Error::Protocol {
        url: endpoint.to_string(),
        detail: format!("the device authorization answer has no {field}"),
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
pub(crate) async fn poll(
    http: &OAuthHttp,
    token_endpoint: &str,
    registration: &Registration,
    device: &DeviceAuthorization,
    resource: &str,
    timeout: Duration,
) -> Result<Tokens> {
    let started = Instant::now();
    let limit = timeout.min(device.lifetime);
    let mut interval = device.interval;
    loop {
        let wait = Duration::from_secs(interval);
        if started.elapsed() + wait > limit {
            return Err(Error::CallbackTimeout { after: limit });
        }
        tokio::time::sleep(wait).await;
        let answer = request_tokens(
            http,
            token_endpoint,
            registration,
            &Grant::DeviceCode {
                device_code: &device.device_code,
            },
            Some(resource),
            None,
        )
        .await;
        match answer {
            Ok(tokens) => return Ok(tokens),
            Err(Error::TokenEndpoint { error, .. }) if error == "authorization_pending" => {}
            Err(Error::TokenEndpoint { error, .. }) if error == "slow_down" => {
                interval += SLOW_DOWN_STEP;
            }
            Err(Error::TokenEndpoint {
                error, description, ..
            }) if error == "access_denied" || error == "expired_token" => {
                return Err(Error::AuthorizationDenied { error, description });
            }
            Err(other) => return Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(html, Err(Error::Protocol { .. })));
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
}
