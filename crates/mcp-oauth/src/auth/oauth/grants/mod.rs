//! The ways to tokens, each a function over the [`Flow`](super::flow::Flow)
//! of one attempt (the refresh grant works on the stored credentials
//! instead), and the one token request they all end in.

mod assertion;
mod code;
mod device;
mod machine;
mod refresh;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub(super) use self::machine::SigningKey;
pub use self::{
    assertion::AssertionSource,
    machine::{CrossAppAccess, SigningAlgorithm},
};
pub(super) use self::{
    assertion::jwt_bearer,
    code::{authorization_code, exchange_code},
    device::device,
    machine::machine,
    refresh::{refresh, refresh_dropped_tokens},
};
use super::{
    http::{BasicAuth, OAuthHttp},
    wire::{DEVICE_CODE_GRANT, Fetched, parse_token_response},
};
use crate::{
    OAuthStep, Result,
    store::{Registration, Tokens},
};

/// What is being exchanged for tokens.
enum Grant<'a> {
    AuthorizationCode {
        code: &'a SecretString,
        verifier: &'a SecretString,
        redirect_uri: &'a Url,
    },
    Refresh {
        refresh_token: &'a SecretString,
        scope: Option<&'a str>,
    },
    DeviceCode {
        device_code: &'a SecretString,
    },
}

impl fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AuthorizationCode { .. } => "Grant::AuthorizationCode",
            Self::Refresh { .. } => "Grant::Refresh",
            Self::DeviceCode { .. } => "Grant::DeviceCode",
        })
    }
}

/// Asks the token endpoint for tokens. `previous` supplies what a refresh
/// answer may omit (the refresh token, the scope).
async fn request_tokens(
    http: &OAuthHttp,
    endpoint: &Url,
    client: &Registration,
    grant: &Grant<'_>,
    resource: Option<&str>,
    previous: Option<&Tokens>,
) -> Result<Tokens> {
    let mut form: Vec<(&str, &str)> = Vec::new();
    match grant {
        Grant::AuthorizationCode {
            code,
            verifier,
            redirect_uri,
        } => {
            form.push(("grant_type", "authorization_code"));
            form.push(("code", code.expose_secret()));
            form.push(("code_verifier", verifier.expose_secret()));
            form.push(("redirect_uri", redirect_uri.as_str()));
        }
        Grant::Refresh {
            refresh_token,
            scope,
        } => {
            form.push(("grant_type", "refresh_token"));
            form.push(("refresh_token", refresh_token.expose_secret()));
            if let Some(scope) = scope {
                form.push(("scope", scope));
            }
        }
        Grant::DeviceCode { device_code } => {
            form.push(("grant_type", DEVICE_CODE_GRANT));
            form.push(("device_code", device_code.expose_secret()));
        }
    }
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    let fetched = post_with_client_auth(http, endpoint, client, form, OAuthStep::Token).await?;
    parse_token_response(endpoint, &fetched, previous)
}

/// Adds the client's authentication to a request to the endpoint of `step`
/// and sends it.
async fn post_with_client_auth(
    http: &OAuthHttp,
    endpoint: &Url,
    client: &Registration,
    mut form: Vec<(&str, &str)>,
    step: OAuthStep,
) -> Result<Fetched> {
    let secret = client.client_secret.as_ref();
    let auth = match (client.token_endpoint_auth_method.as_str(), secret) {
        ("client_secret_basic", Some(secret)) => BasicAuth::Credentials {
            client_id: &client.client_id,
            secret,
        },
        ("client_secret_post", Some(secret)) => {
            form.push(("client_id", &client.client_id));
            form.push(("client_secret", secret.expose_secret()));
            BasicAuth::None
        }
        _ => {
            form.push(("client_id", &client.client_id));
            BasicAuth::None
        }
    };
    http.post_form(endpoint, &form, auth, step).await
}
