//! How requests are authorized.
//!
//! Every HTTP request any transport sends gets its `Authorization` header from
//! [`Authorizer::header`], and every 401 or 403 answer is handed, with its
//! `WWW-Authenticate` challenge untouched, to [`Authorizer::on_rejection`],
//! which decides whether the request may be retried. That pair is the single
//! place where credentials enter and leave the client.

mod authorize;
mod browser;
mod builder;
mod callback;
mod challenge;
mod device;
mod discovery;
mod fetch;
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing;
mod machine;
#[cfg(feature = "middleware")]
mod middleware;
mod oauth;
mod refresh;
mod registration;
mod token;
mod user_agent;

#[cfg(feature = "middleware")]
pub use self::middleware::OAuthMiddleware;
pub use self::{
    builder::{IntoScopes, OAuthBuilder},
    machine::{CrossAppAccess, SigningAlgorithm},
    oauth::{OAuth, SignIn},
    user_agent::UserAgent,
};

use std::{fmt, str::FromStr, sync::Arc};

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// The credentials a [`Client`](crate::Client) presents to the server.
///
/// ```
/// use mcp_oauth::Auth;
///
/// let none = Auth::None;
/// let bearer = Auth::bearer("my-token");
/// // Debug output never shows the token.
/// assert_eq!(format!("{bearer:?}"), "Auth::Bearer([redacted])");
/// assert_eq!("none".parse::<Auth>().unwrap(), Auth::None);
/// // Like FastMCP's `auth="oauth"`: OAuth with every default.
/// assert_eq!("oauth".parse::<Auth>().unwrap(), Auth::oauth());
/// # let _ = none;
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// Send no credentials.
    #[default]
    None,
    /// Send `Authorization: Bearer <token>` on every request.
    Bearer(SecretString),
    /// OAuth 2.1: log in once in the browser, then cached and refreshed tokens.
    OAuth(OAuth),
}

impl Auth {
    /// A static bearer token, sent on every request.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer(SecretString::from(token.into()))
    }

    /// OAuth with all defaults, for whatever server the client connects to:
    /// FastMCP's `auth="oauth"`. Configure it with [`OAuth::builder`].
    pub fn oauth() -> Self {
        Self::OAuth(OAuth::deferred())
    }

    /// The credentials for `server`: an OAuth helper is bound to it here.
    pub(crate) fn for_server(&self, server: &crate::ServerUrl) -> Result<Self> {
        match self {
            Self::OAuth(oauth) => Ok(Self::OAuth(oauth.for_server(server)?)),
            other => Ok(other.clone()),
        }
    }
}

impl From<OAuth> for Auth {
    fn from(oauth: OAuth) -> Self {
        Self::OAuth(oauth)
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("Auth::None"),
            Self::Bearer(_) => f.write_str("Auth::Bearer([redacted])"),
            Self::OAuth(oauth) => write!(f, "Auth::OAuth({oauth:?})"),
        }
    }
}

/// Compares the kind of credentials only, so that no secret is ever compared
/// in variable time.
impl PartialEq for Auth {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl FromStr for Auth {
    type Err = Error;

    /// Parses `"none"` or `"oauth"`.
    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(Self::None),
            "oauth" => Ok(Self::oauth()),
            other => Err(Error::InvalidConfig {
                reason: format!("unknown auth kind {other:?}: expected \"none\" or \"oauth\""),
            }),
        }
    }
}

/// Whether a `WWW-Authenticate` header asks for more scope (a step-up).
pub(crate) fn asks_for_more_scope(www_authenticate: Option<&str>) -> bool {
    www_authenticate
        .and_then(challenge::BearerChallenge::parse)
        .is_some_and(|challenge| challenge.is_insufficient_scope())
}

/// A 401 or 403 answer, as the server gave it.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) www_authenticate: Option<String>,
}

impl Rejection {
    pub(crate) fn into_error(self) -> Error {
        Error::Unauthorized {
            url: self.url,
            status: self.status,
            www_authenticate: self.www_authenticate,
        }
    }
}

/// What to do after a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterRejection {
    /// New credentials are in place: send the request once more.
    Retry,
    /// Nothing can be done: report the rejection.
    GiveUp,
}

/// The per-connection handle on the credentials, shared by all transports.
#[derive(Debug, Clone)]
pub(crate) struct Authorizer {
    auth: Arc<Auth>,
    /// A static token's header, built once.
    bearer: Option<HeaderValue>,
    /// Whether a rejection may run the whole (interactive) OAuth flow right
    /// here. Our `Client` runs it above the request instead, outside its
    /// timeout; rmcp and middleware users have nothing above.
    interactive: bool,
}

impl Authorizer {
    pub(crate) fn new(auth: Auth) -> Self {
        let bearer = match &auth {
            Auth::Bearer(token) => bearer_header(token).ok(),
            _ => None,
        };
        Self {
            auth: Arc::new(auth),
            bearer,
            interactive: false,
        }
    }

    /// An authorizer that runs the OAuth flow itself when refused.
    pub(crate) fn interactive(auth: Auth) -> Self {
        Self {
            interactive: true,
            ..Self::new(auth)
        }
    }

    /// Whether the request to `url` may carry the credentials: OAuth tokens
    /// go only to the origin of the server they were issued for. Most
    /// requests go to the server's own URL, whose origin is known, so the
    /// text is parsed only when it does not plainly start with that origin.
    pub(crate) fn allows_str(&self, url: &str) -> bool {
        match self.auth.as_ref() {
            Auth::OAuth(oauth) => oauth.server().is_some_and(|server| {
                server.is_same_origin_prefix(url)
                    || url::Url::parse(url).is_ok_and(|url| server.url().origin() == url.origin())
            }),
            _ => true,
        }
    }

    /// The `Authorization` header for the next request, marked sensitive so
    /// that no HTTP-level logging prints it.
    pub(crate) async fn header(&self) -> Result<Option<HeaderValue>> {
        match self.auth.as_ref() {
            Auth::None => Ok(None),
            Auth::Bearer(token) => match &self.bearer {
                Some(header) => Ok(Some(header.clone())),
                None => bearer_header(token).map(Some),
            },
            Auth::OAuth(oauth) => oauth.access_header().await,
        }
    }

    /// The OAuth helper behind these credentials, if any.
    pub(crate) fn oauth(&self) -> Option<&OAuth> {
        match self.auth.as_ref() {
            Auth::OAuth(oauth) => Some(oauth),
            _ => None,
        }
    }

    /// Called with every 401/403 and the header that was sent; returns
    /// whether the request may be retried: after a refresh, or when the token
    /// changed meanwhile, or (interactive only) after the whole flow.
    pub(crate) async fn on_rejection(
        &self,
        rejection: &Rejection,
        sent: Option<&HeaderValue>,
    ) -> Result<AfterRejection> {
        tracing::debug!(
            url = %rejection.url,
            status = rejection.status,
            challenge = rejection.www_authenticate.as_deref().unwrap_or(""),
            "server rejected the credentials"
        );
        match self.auth.as_ref() {
            // A static token cannot be renewed here: the caller must fix it.
            Auth::None | Auth::Bearer(_) => Ok(AfterRejection::GiveUp),
            Auth::OAuth(oauth) => {
                let sent_token = sent
                    .and_then(|header| header.to_str().ok())
                    .and_then(|header| header.strip_prefix("Bearer "));
                let seen = oauth.generation();
                if oauth
                    .renew_after_rejection(sent_token, rejection.status)
                    .await
                {
                    return Ok(AfterRejection::Retry);
                }
                let step_up = rejection.status == 403
                    && asks_for_more_scope(rejection.www_authenticate.as_deref());
                if self.interactive && (rejection.status == 401 || step_up) {
                    oauth
                        .authorize(rejection.www_authenticate.as_deref(), Some(seen))
                        .await?;
                    return Ok(AfterRejection::Retry);
                }
                Ok(AfterRejection::GiveUp)
            }
        }
    }
}

pub(crate) fn bearer_header(token: &SecretString) -> Result<HeaderValue> {
    let mut value =
        HeaderValue::try_from(format!("Bearer {}", token.expose_secret())).map_err(|_| {
            Error::InvalidConfig {
                reason: "the bearer token contains characters not allowed in an HTTP header".into(),
            }
        })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_only_to_their_servers_origin_whatever_the_spelling() {
        let oauth = OAuth::builder("http://127.0.0.1:1234/mcp")
            .token_storage(crate::MemoryTokenStorage::new())
            .build()
            .unwrap();
        let authorizer = Authorizer::new(Auth::from(oauth));
        assert!(authorizer.allows_str("http://127.0.0.1:1234/mcp"));
        assert!(authorizer.allows_str("http://127.0.0.1:1234/messages?session=1"));
        assert!(
            authorizer.allows_str("HTTP://127.0.0.1:1234/other"),
            "parsed when not plain"
        );
        assert!(!authorizer.allows_str("http://127.0.0.1:1234.evil.example/mcp"));
        assert!(!authorizer.allows_str("http://127.0.0.1:12345/mcp"));
        assert!(!authorizer.allows_str("https://127.0.0.1:1234/mcp"));
        assert!(!authorizer.allows_str("not a url"));
    }

    #[tokio::test]
    async fn bearer_header_is_sensitive_and_complete() {
        let authorizer = Authorizer::new(Auth::bearer("t0ken"));
        let header = authorizer.header().await.unwrap().unwrap();
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().unwrap(), "Bearer t0ken");
        assert!(!format!("{header:?}").contains("t0ken"));
    }

    #[tokio::test]
    async fn no_auth_sends_no_header_and_never_retries() {
        let authorizer = Authorizer::new(Auth::None);
        assert!(authorizer.header().await.unwrap().is_none());
        let rejection = Rejection {
            url: "u".into(),
            status: 401,
            www_authenticate: None,
        };
        assert_eq!(
            authorizer.on_rejection(&rejection, None).await.unwrap(),
            AfterRejection::GiveUp
        );
    }

    #[test]
    fn token_with_newline_is_refused_without_echoing_it() {
        let error = bearer_header(&SecretString::from("bad\ntoken".to_owned())).unwrap_err();
        assert!(!error.to_string().contains("token\n"));
        assert!(!error.to_string().contains("bad"));
    }
}
