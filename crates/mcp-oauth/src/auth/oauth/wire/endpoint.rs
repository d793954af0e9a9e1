//! The endpoints of the authorization server metadata, each read in one
//! place into a checked URL: present, parseable, and https unless on
//! loopback.

use url::Url;

use crate::{Error, Result, net::require_secure, store::AuthServerMetadata};

/// Where the person signs in.
pub(crate) fn authorization_endpoint(metadata: &AuthServerMetadata) -> Result<Url> {
    endpoint(
        metadata,
        metadata.authorization_endpoint.as_deref(),
        "the authorization endpoint",
        "the metadata has no authorization_endpoint",
    )
}

/// Where codes, refresh tokens and assertions are exchanged for tokens.
pub(crate) fn token_endpoint(metadata: &AuthServerMetadata) -> Result<Url> {
    endpoint(
        metadata,
        metadata.token_endpoint.as_deref(),
        "the token endpoint",
        "the authorization server metadata has no token_endpoint",
    )
}

/// Where device codes come from.
pub(crate) fn device_authorization_endpoint(metadata: &AuthServerMetadata) -> Result<Url> {
    endpoint(
        metadata,
        metadata.device_authorization_endpoint.as_deref(),
        "the device authorization endpoint",
        "the authorization server offers no device authorization grant (its metadata has no \
         device_authorization_endpoint); sign in with a browser instead",
    )
}

/// Where clients register dynamically.
pub(crate) fn registration_endpoint(metadata: &AuthServerMetadata) -> Result<Url> {
    endpoint(
        metadata,
        metadata.registration_endpoint.as_deref(),
        "the registration endpoint",
        "the authorization server does not support dynamic client registration; \
         register a client there beforehand and give its client id",
    )
}

fn endpoint(
    metadata: &AuthServerMetadata,
    text: Option<&str>,
    what: &str,
    missing: &str,
) -> Result<Url> {
    let Some(text) = text else {
        return Err(Error::Discovery {
            url: metadata.issuer.clone(),
            reason: missing.to_owned(),
        });
    };
    let url = Url::parse(text).map_err(|error| Error::Discovery {
        url: text.to_owned(),
        reason: format!("{what} is not a URL: {error}"),
    })?;
    require_secure(&url, what)?;
    Ok(url)
}
