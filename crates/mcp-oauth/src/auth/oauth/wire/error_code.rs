//! The `error` codes authorization servers answer with (RFC 6749 §4.1.2.1,
//! §5.2; RFC 8628 §3.5; RFC 6750 §3.1), compared as values, not strings.

use std::fmt;

/// An OAuth `error` code, as an authorization server sent it.
///
/// ```
/// use mcp_oauth::OAuthErrorCode;
///
/// let code = OAuthErrorCode::from("invalid_grant");
/// assert_eq!(code, OAuthErrorCode::InvalidGrant);
/// assert_eq!(code.as_str(), "invalid_grant");
/// // Codes no specification names are kept as sent.
/// assert_eq!(OAuthErrorCode::from("tenant_locked").as_str(), "tenant_locked");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`: the server does not know or accept the client.
    InvalidClient,
    /// `invalid_grant`: the code or refresh token is invalid, expired or revoked.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `invalid_scope`
    InvalidScope,
    /// `access_denied`: the person (or a policy) said no.
    AccessDenied,
    /// `unsupported_response_type`
    UnsupportedResponseType,
    /// `server_error`
    ServerError,
    /// `temporarily_unavailable`
    TemporarilyUnavailable,
    /// `authorization_pending` (device grant): not approved yet.
    AuthorizationPending,
    /// `slow_down` (device grant): poll less often.
    SlowDown,
    /// `expired_token` (device grant): the device code expired.
    ExpiredToken,
    /// Any other code, as sent.
    Other(String),
}

impl OAuthErrorCode {
    /// The code as it travels.
    ///
    /// ```
    /// use mcp_oauth::OAuthErrorCode;
    /// assert_eq!(OAuthErrorCode::InvalidGrant.as_str(), "invalid_grant");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::Other(code) => code,
        }
    }
}

impl From<&str> for OAuthErrorCode {
    fn from(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "authorization_pending" => Self::AuthorizationPending,
            "slow_down" => Self::SlowDown,
            "expired_token" => Self::ExpiredToken,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<String> for OAuthErrorCode {
    fn from(code: String) -> Self {
        match Self::from(code.as_str()) {
            Self::Other(_) => Self::Other(code),
            known => known,
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for OAuthErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for OAuthErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_reads_back_as_sent() {
        for code in [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "access_denied",
            "unsupported_response_type",
            "server_error",
            "temporarily_unavailable",
            "authorization_pending",
            "slow_down",
            "expired_token",
        ] {
            let parsed = OAuthErrorCode::from(code);
            assert!(!matches!(parsed, OAuthErrorCode::Other(_)), "{code}");
            assert_eq!(parsed.to_string(), code);
        }
        assert_eq!(
            OAuthErrorCode::from("Invalid_Grant".to_owned()),
            OAuthErrorCode::Other("Invalid_Grant".into()),
            "codes are case-sensitive"
        );
    }
}
