//! What travels between the client and the authorization server, read and
//! written without any I/O: the `WWW-Authenticate` challenge, endpoints,
//! error codes, the authorization request, token and registration answers.

mod authorize;
mod challenge;
mod endpoint;
mod error_code;
mod registration;
mod token;

use bytes::Bytes;

pub use self::error_code::OAuthErrorCode;
pub(crate) use self::{
    authorize::{
        AuthorizationRequest, Pkce, authorization_url, check_issuer, choose_scope, union_scope,
    },
    challenge::BearerChallenge,
    endpoint::{
        authorization_endpoint, device_authorization_endpoint, registration_endpoint,
        token_endpoint,
    },
    registration::{RegistrationRequest, read_registration, registration_body},
    token::{DEVICE_CODE_GRANT, DPOP_TOKEN_TYPE, is_bearer_token, parse_token_response, seconds},
};

/// An answer of the authorization server, read whole.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
    /// The request carried a DPoP proof: a `DPoP` token type may answer it.
    pub(crate) dpop: bool,
    /// A DPoP nonce the answer brought that differs from the one sent.
    pub(crate) fresh_dpop_nonce: Option<String>,
}

impl Fetched {
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> std::result::Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|error| error.to_string())
    }
}
