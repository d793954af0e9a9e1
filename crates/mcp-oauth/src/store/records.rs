//! The records the stored document is made of: the tokens, the client
//! registration and the authorization server's metadata, each as it is kept
//! between runs (expiries absolute, secrets in `secrecy` types that only
//! serialization exposes).

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret;

/// Tokens as stored: the expiry is absolute, so it survives a restart.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Tokens {
    #[serde(with = "secret")]
    pub(crate) access_token: SecretString,
    pub(crate) token_type: String,
    #[serde(
        default,
        with = "secret::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) refresh_token: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<String>,
    /// Unix seconds; `None` when the server gave no lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<u64>,
    /// Unix seconds.
    pub(crate) received_at: u64,
    /// The same two moments in milliseconds. Documents written before they
    /// were kept have only the seconds, which then stand in for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) received_at_ms: Option<u64>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Tokens {
    /// Tokens received at `received_ms` (Unix milliseconds) that live
    /// `lifetime` seconds, when the server said.
    pub(crate) fn new(
        access_token: SecretString,
        refresh_token: Option<SecretString>,
        scope: Option<String>,
        received_ms: u64,
        lifetime: Option<u64>,
    ) -> Self {
        let received_at = received_ms / 1000;
        Self {
            access_token,
            token_type: "Bearer".to_owned(),
            refresh_token,
            scope,
            // A hostile lifetime (u64::MAX) must not overflow.
            expires_at: lifetime.map(|seconds| received_at.saturating_add(seconds)),
            received_at,
            expires_at_ms: lifetime
                .map(|seconds| received_ms.saturating_add(seconds.saturating_mul(1000))),
            received_at_ms: Some(received_ms),
        }
    }

    /// Whether the access token is still good, with the refresh margin to
    /// spare, at `now_ms` (Unix milliseconds).
    pub(crate) fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.fresh_until_ms()
    }

    /// The first moment (Unix milliseconds) at which the token is due for a
    /// refresh: its expiry less the refresh margin.
    pub(crate) fn fresh_until_ms(&self) -> u64 {
        let expires = self
            .expires_at_ms
            .or_else(|| self.expires_at.map(|seconds| seconds.saturating_mul(1000)));
        let Some(expires) = expires else {
            return u64::MAX;
        };
        let received = self
            .received_at_ms
            .unwrap_or_else(|| self.received_at.saturating_mul(1000));
        expires.saturating_sub(refresh_margin_ms(expires.saturating_sub(received)))
    }
}

/// 60 s before expiry for long-lived tokens, a tenth of the lifetime for
/// short ones, so a 5-second token is not refreshed on every request.
fn refresh_margin_ms(lifetime_ms: u64) -> u64 {
    (lifetime_ms / 10).min(60_000)
}

/// How the client identity was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RegistrationKind {
    /// Given by the user; never dropped automatically.
    Static,
    /// A Client ID Metadata Document URL used as the client id.
    MetadataDocument,
    /// Obtained by dynamic registration; dropped and renewed when rejected.
    Dynamic,
}

/// The client identity at one authorization server.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Registration {
    pub(crate) client_id: String,
    #[serde(
        default,
        with = "secret::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) client_secret: Option<SecretString>,
    /// 0 or absent: the secret does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_secret_expires_at: Option<u64>,
    pub(crate) token_endpoint_auth_method: String,
    /// The redirect URI registered (dynamic registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) redirect_uri: Option<String>,
    pub(crate) kind: RegistrationKind,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("redirect_uri", &self.redirect_uri)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Registration {
    /// Static credentials; the authentication method follows the secret and
    /// what the server supports (`client_secret_basic` is RFC 8414's default).
    pub(crate) fn fixed(
        client_id: &str,
        client_secret: Option<SecretString>,
        metadata: &AuthServerMetadata,
    ) -> Self {
        let method = match &client_secret {
            None => "none",
            Some(_) => {
                let methods = metadata.token_endpoint_auth_methods_supported.as_deref();
                match methods {
                    Some(list)
                        if !list.iter().any(|m| m == "client_secret_basic")
                            && list.iter().any(|m| m == "client_secret_post") =>
                    {
                        "client_secret_post"
                    }
                    _ => "client_secret_basic",
                }
            }
        };
        Self {
            client_id: client_id.to_owned(),
            client_secret,
            client_secret_expires_at: None,
            token_endpoint_auth_method: method.to_owned(),
            redirect_uri: None,
            kind: RegistrationKind::Static,
        }
    }

    /// A Client ID Metadata Document: the URL is the client id; public client.
    pub(crate) fn metadata_document(url: &str) -> Self {
        Self {
            client_id: url.to_owned(),
            client_secret: None,
            client_secret_expires_at: None,
            token_endpoint_auth_method: "none".to_owned(),
            redirect_uri: None,
            kind: RegistrationKind::MetadataDocument,
        }
    }

    /// A dynamic registration whose secret has expired is useless.
    pub(crate) fn is_expired(&self, now: u64) -> bool {
        matches!(self.client_secret_expires_at, Some(at) if at != 0 && at <= now)
    }

    /// Whether a dynamic registration was made for this redirect URI.
    pub(crate) fn fits_redirect(&self, redirect_uri: &Url) -> bool {
        match (self.kind, &self.redirect_uri) {
            (RegistrationKind::Dynamic, Some(registered)) => registered == redirect_uri.as_str(),
            (RegistrationKind::Dynamic, None) => false,
            _ => true,
        }
    }
}

/// RFC 8414 authorization server metadata, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuthServerMetadata {
    pub(crate) issuer: String,
    #[serde(default)]
    pub(crate) authorization_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) token_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) registration_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) response_types_supported: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) grant_types_supported: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) client_id_metadata_document_supported: bool,
    #[serde(default)]
    pub(crate) authorization_response_iss_parameter_supported: bool,
    /// RFC 9449 §5.1: the proof algorithms the server takes. Read
    /// leniently: a server that gets its type wrong offers none.
    #[serde(
        default,
        deserialize_with = "lenient_strings",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) dpop_signing_alg_values_supported: Option<Vec<String>>,
}

/// A list of strings, or `None` for anything else: for metadata fields
/// added later, which a server getting wrong must not make unreadable.
pub(crate) fn lenient_strings<'de, D>(deserializer: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value.as_array().and_then(|items| {
        items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect()
    }))
}

/// A boolean, or `None` for anything else (see [`lenient_strings`]).
pub(crate) fn lenient_bool<'de, D>(deserializer: D) -> Result<Option<bool>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(serde_json::Value::deserialize(deserializer)?.as_bool())
}

impl AuthServerMetadata {
    /// The 2025-03-26 defaults for a server that publishes no metadata:
    /// `/authorize`, `/token` and `/register` at the server's origin.
    pub(crate) fn legacy_defaults(origin: &Url) -> Self {
        let at = |path: &str| origin.join(path).map(|url| url.to_string()).ok();
        Self {
            issuer: origin.origin().ascii_serialization(),
            authorization_endpoint: at("/authorize"),
            token_endpoint: at("/token"),
            registration_endpoint: at("/register"),
            device_authorization_endpoint: None,
            scopes_supported: None,
            response_types_supported: None,
            grant_types_supported: None,
            code_challenge_methods_supported: None,
            token_endpoint_auth_methods_supported: None,
            client_id_metadata_document_supported: false,
            authorization_response_iss_parameter_supported: false,
            dpop_signing_alg_values_supported: None,
        }
    }

    pub(crate) fn supports_scope(&self, scope: &str) -> bool {
        self.scopes_supported
            .as_ref()
            .is_some_and(|scopes| scopes.iter().any(|s| s == scope))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata(methods: Option<&[&str]>) -> AuthServerMetadata {
        serde_json::from_value(json!({
            "issuer": "https://as.example",
            "token_endpoint_auth_methods_supported": methods,
        }))
        .unwrap()
    }

    #[test]
    fn refresh_margin_scales_with_lifetime() {
        assert_eq!(refresh_margin_ms(3_600_000), 60_000);
        assert_eq!(refresh_margin_ms(5_000), 500);
        assert_eq!(refresh_margin_ms(100_000), 10_000);
        let token = || SecretString::from("a".to_owned());
        let tokens = Tokens::new(token(), None, None, 1_000_000, Some(3600));
        assert!(tokens.is_fresh(1_000_000 + 3_500_000));
        assert!(!tokens.is_fresh(1_000_000 + 3_545_000));
    }

    #[test]
    fn a_short_token_lives_its_lifetime_wherever_the_second_boundary_falls() {
        let token = || SecretString::from("a".to_owned());
        // Received 0.9 s into a second: a 3-second token is good for 2.7 s
        // (less a tenth), not until the next second boundary but two.
        let tokens = Tokens::new(token(), None, None, 10_900, Some(3));
        assert_eq!(
            tokens.expires_at,
            Some(13),
            "seconds, as the schema has them"
        );
        assert!(tokens.is_fresh(13_500));
        assert!(!tokens.is_fresh(13_600));
        // A document with seconds only reads as before.
        let old: Tokens = serde_json::from_value(json!({
            "access_token": "a", "token_type": "Bearer", "expires_at": 4600, "received_at": 1000
        }))
        .unwrap();
        assert!(old.is_fresh(4_539_999));
        assert!(!old.is_fresh(4_540_000));
    }
    #[test]
    fn static_client_method_follows_secret_and_server() {
        let secret = || Some(SecretString::from("s".to_owned()));
        assert_eq!(
            Registration::fixed("id", None, &metadata(None)).token_endpoint_auth_method,
            "none"
        );
        assert_eq!(
            Registration::fixed("id", secret(), &metadata(None)).token_endpoint_auth_method,
            "client_secret_basic"
        );
        assert_eq!(
            Registration::fixed("id", secret(), &metadata(Some(&["client_secret_post"])))
                .token_endpoint_auth_method,
            "client_secret_post"
        );
    }

    #[test]
    fn secret_is_never_in_debug() {
        let registration = Registration::fixed(
            "id",
            Some(SecretString::from("hunter2".to_owned())),
            &metadata(None),
        );
        assert!(!format!("{registration:?}").contains("hunter2"));
    }

    #[test]
    fn expiry_and_redirect_fit() {
        let mut registration = Registration::metadata_document("https://x/client.json");
        assert!(!registration.is_expired(100));
        registration.client_secret_expires_at = Some(50);
        assert!(registration.is_expired(100));
        registration.client_secret_expires_at = Some(0);
        assert!(!registration.is_expired(100));
        registration.kind = RegistrationKind::Dynamic;
        registration.redirect_uri = Some("http://127.0.0.1:1/callback".into());
        assert!(registration.fits_redirect(&Url::parse("http://127.0.0.1:1/callback").unwrap()));
        assert!(!registration.fits_redirect(&Url::parse("http://127.0.0.1:2/callback").unwrap()));
    }
}
