//! How requests are authorized: [`Auth`], what a client presents; the
//! [`Authorizer`] through which every request gets its header and every
//! refusal its verdict; and [`OAuth`], the flow behind it.

mod authorizer;
#[cfg(feature = "middleware")]
mod middleware;
pub(crate) mod oauth;

pub(crate) use self::authorizer::{Authorizer, Rejection, token_header, wants_authorization};
#[cfg(feature = "middleware")]
pub use self::middleware::OAuthMiddleware;
pub use self::oauth::{
    AssertionSource, CheckProblem, CheckStatus, CheckStep, Checkup, Connected, CrossAppAccess,
    DpopMode, Finding, IntoScopes, OAuth, OAuthBuilder, SignIn, SigningAlgorithm, UserAgent,
    WebFlow, WebFlowBuilder, wire::OAuthErrorCode,
};

use std::{fmt, str::FromStr};

use secrecy::SecretString;

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
    ///
    /// ```
    /// use mcp_oauth::{Auth, Client};
    /// let builder = Client::builder("https://mcp.example.com/mcp").auth(Auth::bearer("…"));
    /// ```
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer(SecretString::from(token.into()))
    }

    /// OAuth with all defaults, for whatever server the client connects to:
    /// FastMCP's `auth="oauth"`. Configure it with [`OAuth::builder`].
    ///
    /// ```
    /// use mcp_oauth::{Auth, Client};
    /// let builder = Client::builder("https://mcp.example.com/mcp").auth(Auth::oauth());
    /// ```
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
