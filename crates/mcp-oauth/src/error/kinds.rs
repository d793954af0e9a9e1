//! The kinds an [`Error`](super::Error) names: why a web callback was
//! refused, and which step of the OAuth flow failed.

use std::fmt;

use super::line;

/// Why a web sign-in's callback was refused ([`Error::CallbackRefused`](super::Error::CallbackRefused)).
///
/// ```
/// use mcp_oauth::CallbackRefusal;
/// assert_eq!(CallbackRefusal::Expired.to_string(), "this sign-in expired; begin it again");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackRefusal {
    /// No sign-in was begun with this `state`.
    UnknownState,
    /// The sign-in was completed already: a callback replayed.
    AlreadyUsed,
    /// The sign-in was begun too long ago.
    Expired,
    /// The sign-in was begun by another session or account; it is kept for
    /// its own.
    OtherSession,
    /// The callback is not a well-formed authorization response.
    Malformed(String),
}

impl fmt::Display for CallbackRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownState => f.write_str("no sign-in was begun with this state"),
            Self::AlreadyUsed => f.write_str("this sign-in was completed already"),
            Self::Expired => f.write_str("this sign-in expired; begin it again"),
            Self::OtherSession => f.write_str("this sign-in was begun by another session"),
            Self::Malformed(reason) => write!(f, "{}", line(reason)),
        }
    }
}

/// A step of the OAuth flow, each with its endpoint at the authorization
/// server: which one failed ([`Error::oauth_step`](super::Error::oauth_step)).
///
/// ```
/// use mcp_oauth::OAuthStep;
/// assert_eq!(OAuthStep::Token.to_string(), "token endpoint");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthStep {
    /// Finding the authorization server and its metadata.
    Discovery,
    /// Registering the client (RFC 7591).
    Registration,
    /// Asking for a device code (RFC 8628).
    DeviceAuthorization,
    /// Asking the token endpoint for tokens, whatever the grant.
    Token,
}

impl fmt::Display for OAuthStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Discovery => "metadata",
            Self::Registration => "registration endpoint",
            Self::DeviceAuthorization => "device authorization endpoint",
            Self::Token => "token endpoint",
        })
    }
}
