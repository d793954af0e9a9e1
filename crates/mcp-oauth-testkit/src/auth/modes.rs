//! How an authorization server is configured to behave: where its metadata
//! lives, its faults, its `iss`, login and refresh modes, and the clients
//! registered out of band.

use std::time::Duration;

/// Where the authorization server metadata is served (for an issuer path `{path}`,
/// e.g. `/tenant1`, or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetadataLocation {
    /// RFC 8414: `/.well-known/oauth-authorization-server{path}`.
    OAuthInsert,
    /// OpenID Connect with path insertion: `/.well-known/openid-configuration{path}`.
    OidcInsert,
    /// OpenID Connect Discovery 1.0: `{path}/.well-known/openid-configuration`.
    OidcAppend,
    /// `/.well-known/oauth-authorization-server` at the origin, whatever the path.
    OAuthRoot,
    /// The common mistake `{path}/.well-known/oauth-authorization-server`.
    OAuthAppend,
}

impl MetadataLocation {
    pub(crate) fn path(self, issuer_path: &str) -> String {
        match self {
            Self::OAuthInsert => format!("/.well-known/oauth-authorization-server{issuer_path}"),
            Self::OidcInsert => format!("/.well-known/openid-configuration{issuer_path}"),
            Self::OidcAppend => format!("{issuer_path}/.well-known/openid-configuration"),
            Self::OAuthRoot => "/.well-known/oauth-authorization-server".to_owned(),
            Self::OAuthAppend => format!("{issuer_path}/.well-known/oauth-authorization-server"),
        }
    }
}

/// A misbehaviour of the authorization server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFault {
    /// The token endpoint answers 500 with a plain-text body.
    TokenServerError,
    /// The token endpoint answers 503 `{"error":"temporarily_unavailable"}`.
    TokenTemporarilyUnavailable,
    /// The token endpoint answers HTTP 200 with `{"error":"invalid_grant",..}` (as GitHub does).
    TokenErrorWith200,
    /// Successful token responses carry `"token_type": "mac"`.
    TokenTypeNotBearer,
    /// Successful token responses carry this `token_type`, e.g. `"DPoP"`.
    TokenType(&'static str),
    /// Successful token responses carry `"expires_in": "3600"` (a string).
    ExpiresInAsString,
    /// Successful token responses have no `expires_in`.
    NoExpiresIn,
    /// Successful token responses carry `"token_type": "bearer"` (legal: case-insensitive).
    LowercaseBearer,
    /// The token endpoint answers 200 `application/json` with `{not json`.
    MalformedTokenBody,
    /// Successful token responses have no `access_token`.
    NoAccessToken,
    /// Successful token responses carry this `access_token` instead of the
    /// one issued, e.g. one with a line break, as a header injection would.
    AccessToken(&'static str),
    /// Successful token responses carry this `refresh_token` instead of the
    /// one issued (or none).
    RefreshToken(&'static str),
    /// Successful token responses are 2 MiB of JSON: an `access_token`
    /// padded past any sane size.
    HugeTokenBody,
    /// The token endpoint waits this long before answering (cut short when the server stops).
    SlowToken(Duration),
    /// Registration answers 400 `{"error":"invalid_client_metadata"}`.
    RegistrationRejected,
    /// Registration answers 400 `invalid_client_metadata` with this
    /// `error_description`.
    RegistrationRejectedWith(&'static str),
    /// Dynamic registration issues this `client_id`, to every client.
    RegisteredClientId(&'static str),
    /// Successful token responses carry this `scope`, whatever was granted.
    TokenScope(&'static str),
    /// Registration answers 400 `invalid_client_metadata` when `client_name` is missing.
    RegistrationRequiresClientName,
    /// Every metadata request (`/.well-known/...`) answers 500.
    MetadataServerError,
    /// The first poll of each device code answers `slow_down`.
    DeviceSlowDown,
    /// Every `jwt-bearer` assertion is refused with `invalid_grant`.
    AssertionRefused,
}

/// Whether and how the authorization response carries RFC 9207 `iss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IssMode {
    /// No `iss` parameter, not advertised.
    #[default]
    Off,
    /// `iss=<issuer>` on every authorization response, and metadata advertises
    /// `authorization_response_iss_parameter_supported`.
    On,
    /// Advertised, but `iss` carries another issuer (`https://wrong-issuer.example.com`).
    Wrong,
    /// `iss=<issuer>` is sent but not advertised in the metadata.
    Unadvertised,
}

/// How `GET /authorize` obtains the user's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoginMode {
    /// Redirects back with a code at once.
    #[default]
    AutoApprove,
    /// An HTML login form (username `demo`, password `demo`; POST `{issuer path}/login`),
    /// then a consent page with Approve/Deny buttons (POST `{issuer path}/consent`,
    /// field `decision` = `approve` | `deny`). A successful login sets a session
    /// cookie; a later `/authorize` carrying it goes straight to consent.
    Interactive,
}

/// Whether refresh tokens are issued and how they behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RefreshMode {
    /// No refresh tokens.
    Off,
    /// Each refresh returns a new refresh token and revokes the old one;
    /// presenting a revoked one revokes the whole family (its refresh and access tokens).
    #[default]
    Rotating,
    /// The same refresh token is returned and stays valid.
    Stable,
}

/// A client registered out of band.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct PreRegistered {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) auth_method: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) name: Option<String>,
}

impl PreRegistered {
    /// A public client (`token_endpoint_auth_method` `none`), any loopback redirect URI.
    pub fn public(client_id: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            secret: None,
            auth_method: "none".to_owned(),
            redirect_uris: Vec::new(),
            name: None,
        }
    }

    /// A confidential client authenticating with `client_secret_basic`.
    pub fn confidential(client_id: &str, secret: &str) -> Self {
        Self {
            secret: Some(secret.to_owned()),
            auth_method: "client_secret_basic".to_owned(),
            ..Self::public(client_id)
        }
    }

    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub fn auth_method(mut self, method: &str) -> Self {
        self.auth_method = method.to_owned();
        self
    }

    /// The allowed redirect URIs, matched exactly; empty (the default) allows
    /// any `http` loopback URI on any port.
    pub fn redirect_uris(mut self, uris: &[&str]) -> Self {
        self.redirect_uris = uris.iter().map(|u| (*u).to_owned()).collect();
        self
    }

    /// The name shown on the consent page.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// How a server treats DPoP (RFC 9449): the authorization server binds
/// tokens to the key of a request's proof; the MCP server demands the
/// proof that goes with a bound token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopPolicy {
    /// No DPoP: proofs are ignored, tokens are bearer tokens.
    #[default]
    Off,
    /// Authorization server: advertises ES256 and binds the tokens of a
    /// request with a valid proof (`token_type: DPoP`); a request without
    /// one gets bearer tokens. MCP server: challenges with `DPoP` (and no
    /// `Bearer`), and checks every proof of a bound token strictly
    /// (`htm`, `htu`, `iat`, `ath`, the key, a `jti` never seen before).
    On,
    /// As [`DpopPolicy::On`], and every proof must carry the server's nonce:
    /// without it, the answer is `use_dpop_nonce` with the nonce.
    WithNonce,
}
