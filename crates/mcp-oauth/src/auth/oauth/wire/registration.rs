//! Dynamic client registration (RFC 7591) on the wire: the document we
//! send, and the answer read into a [`Registration`].

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use super::{Fetched, token::DEVICE_CODE_GRANT};
use crate::{
    Error, Result,
    net::preview,
    secret,
    store::{Registration, RegistrationKind},
};

/// What dynamic registration asks for.
#[derive(Debug)]
pub(crate) struct RegistrationRequest<'a> {
    pub(crate) client_name: &'a str,
    /// `None`: a client that only uses the device grant, so has no redirect URI.
    pub(crate) redirect_uri: Option<&'a Url>,
    pub(crate) scope: Option<&'a str>,
    pub(crate) additional: Option<&'a Map<String, Value>>,
}

/// Reads the answer to a registration request made for `redirect_uri`.
pub(crate) fn read_registration(
    endpoint: &Url,
    fetched: &Fetched,
    redirect_uri: Option<&Url>,
) -> Result<Registration> {
    if !fetched.is_success() {
        #[derive(Deserialize)]
        struct Refusal {
            error: Option<String>,
            error_description: Option<String>,
        }
        let reason = match fetched.json::<Refusal>() {
            Ok(Refusal {
                error: Some(error),
                error_description,
            }) => match error_description {
                Some(description) => format!("{error}: {description}"),
                None => error,
            },
            _ => format!("HTTP {}: {}", fetched.status, preview(&fetched.body)),
        };
        return Err(Error::Registration {
            url: endpoint.to_string(),
            reason,
        });
    }
    #[derive(Deserialize)]
    struct Registered {
        client_id: String,
        #[serde(default, with = "secret::option")]
        client_secret: Option<SecretString>,
        #[serde(default)]
        client_secret_expires_at: Option<u64>,
        #[serde(default)]
        token_endpoint_auth_method: Option<String>,
    }
    let registered = fetched
        .json::<Registered>()
        .map_err(|error| Error::Registration {
            url: endpoint.to_string(),
            // Not quoted: a registration answer may carry a client secret.
            reason: format!("the answer is not a registration ({error})"),
        })?;
    // Honour the method the server assigned; a secret implies a confidential one.
    let method = registered.token_endpoint_auth_method.unwrap_or_else(|| {
        if registered.client_secret.is_some() {
            "client_secret_basic"
        } else {
            "none"
        }
        .to_owned()
    });
    Ok(Registration {
        client_id: registered.client_id,
        client_secret: registered.client_secret,
        client_secret_expires_at: registered.client_secret_expires_at,
        token_endpoint_auth_method: method,
        redirect_uri: redirect_uri.map(Url::to_string),
        kind: RegistrationKind::Dynamic,
    })
}

/// The registration document: ours first, then the user's additions, which
/// may override anything but the redirect URI.
/// `native` for a loopback redirect (an app on the person's machine), `web`
/// for a platform's https callback: the spec asks dynamic registrations
/// for the type that fits the redirect URI.
fn application_type(redirect_uri: &Url) -> &'static str {
    if crate::net::is_loopback(redirect_uri) {
        "native"
    } else {
        "web"
    }
}

pub(crate) fn registration_body(request: &RegistrationRequest<'_>) -> Value {
    let mut body = match request.redirect_uri {
        Some(redirect_uri) => json!({
            "client_name": request.client_name,
            "redirect_uris": [redirect_uri.as_str()],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": application_type(redirect_uri),
        }),
        None => json!({
            "client_name": request.client_name,
            "grant_types": [DEVICE_CODE_GRANT, "refresh_token"],
            "response_types": [],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        }),
    };
    if let (Some(scope), Some(object)) = (request.scope, body.as_object_mut()) {
        object.insert("scope".into(), json!(scope));
    }
    if let (Some(additional), Some(object)) = (request.additional, body.as_object_mut()) {
        for (key, value) in additional {
            if key != "redirect_uris" {
                object.insert(key.clone(), value.clone());
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_as_a_native_public_client_with_exact_redirect() {
        let redirect = Url::parse("http://127.0.0.1:4567/callback").unwrap();
        let extra = json!({ "logo_uri": "https://x/logo.png", "redirect_uris": ["http://evil"] });
        let body = registration_body(&RegistrationRequest {
            client_name: "mcp-oauth",
            redirect_uri: Some(&redirect),
            scope: Some("read write"),
            additional: extra.as_object(),
        });
        assert_eq!(
            body["redirect_uris"],
            json!(["http://127.0.0.1:4567/callback"])
        );
        assert_eq!(body["token_endpoint_auth_method"], "none");
        assert_eq!(body["application_type"], "native");
        assert_eq!(
            body["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(body["scope"], "read write");
        assert_eq!(body["logo_uri"], "https://x/logo.png");
    }

    #[test]
    fn a_platforms_https_callback_registers_a_web_client() {
        let redirect = Url::parse("https://agents.example.com/oauth/callback").unwrap();
        let body = registration_body(&RegistrationRequest {
            client_name: "platform",
            redirect_uri: Some(&redirect),
            scope: None,
            additional: None,
        });
        assert_eq!(body["application_type"], "web");
        assert_eq!(body["redirect_uris"], json!([redirect.as_str()]));
    }
}
