//! Who the client is to the authorization server, decided in one place for
//! every grant: static credentials, else a Client ID Metadata Document
//! where the server supports one (sign-ins with a redirect only), else a
//! dynamic registration (RFC 7591), reused while it fits and made anew when
//! it does not.

use url::Url;

use super::{
    discovery::MetadataSource,
    flow::Flow,
    http::OAuthHttp,
    wire::{RegistrationRequest, read_registration, registration_body, registration_endpoint},
};
use crate::{
    Error, Result,
    clock::now,
    store::{AuthServerMetadata, Registration, RegistrationKind},
};

/// What the client identity is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose<'a> {
    /// A sign-in that comes back to this loopback redirect URI.
    Redirect(&'a Url),
    /// The device grant: no redirect URI at all.
    Device,
    /// A machine grant: only a client registered beforehand will do.
    Machine,
}

/// The client identity for `purpose`, recorded in the flow's credentials. A
/// new dynamic registration is saved at once, so that the next attempt
/// reuses it even if this one is never finished.
pub(super) async fn client(flow: &mut Flow<'_>, purpose: Purpose<'_>) -> Result<Registration> {
    let settings = flow.settings;
    if let Some(client_id) = &settings.client_id {
        let mut registration =
            Registration::fixed(client_id, settings.client_secret.clone(), &flow.metadata);
        if matches!(purpose, Purpose::Machine) && settings.private_key.is_some() {
            registration.token_endpoint_auth_method = "private_key_jwt".into();
        }
        flow.credentials.registration = Some(registration.clone());
        return Ok(registration);
    }
    if matches!(purpose, Purpose::Machine) {
        return Err(Error::InvalidConfig {
            reason: "machine-to-machine grants need the client id of a client registered \
                     beforehand"
                .into(),
        });
    }
    if let Some(document) = metadata_document(flow, purpose) {
        let registration = Registration::metadata_document(document);
        flow.credentials.registration = Some(registration.clone());
        return Ok(registration);
    }
    if let Some(cached) = flow
        .credentials
        .registration
        .as_ref()
        .filter(|registration| reusable(registration, purpose))
    {
        return Ok(cached.clone());
    }
    let redirect_uri = match purpose {
        Purpose::Redirect(uri) => Some(uri),
        _ => None,
    };
    let request = RegistrationRequest {
        client_name: &settings.client_name,
        redirect_uri,
        scope: flow.scope.as_deref(),
        additional: settings.additional_client_metadata.as_ref(),
    };
    let registration = register(&flow.binding.http, &flow.metadata, &request)
        .await
        .map_err(|error| match (flow.source, error) {
            // Nothing of OAuth answered anywhere: say so rather than "404 at /register".
            (MetadataSource::LegacyDefaults, Error::Registration { url, .. }) => Error::Discovery {
                url,
                reason: "the server asks for authorization but publishes no OAuth metadata and \
                         offers no registration; if it takes a static token, use it as a bearer \
                         token"
                    .into(),
            },
            (_, error) => error,
        })?;
    flow.credentials.registration = Some(registration.clone());
    flow.client_checked = true;
    flow.binding.save(&mut flow.credentials).await?;
    Ok(registration)
}

/// The redirect URI of the cached dynamic registration that [`client`]
/// would reuse for a loopback sign-in, so that the listener can take its
/// port: `None` when static credentials or a metadata document decide.
pub(super) fn reusable_redirect(flow: &Flow<'_>) -> Option<Url> {
    let document = flow.settings.client_metadata_url.is_some()
        && flow.metadata.client_id_metadata_document_supported;
    if flow.settings.client_id.is_some() || document {
        return None;
    }
    let registration = flow.credentials.registration.as_ref()?;
    if registration.kind != RegistrationKind::Dynamic || registration.is_expired(now()) {
        return None;
    }
    Url::parse(registration.redirect_uri.as_deref()?).ok()
}

/// The Client ID Metadata Document to use as the client id, when one is
/// configured, the server supports it, and the sign-in has a redirect.
fn metadata_document<'a>(flow: &Flow<'a>, purpose: Purpose<'_>) -> Option<&'a str> {
    let document = flow.settings.client_metadata_url.as_deref()?;
    let supported = flow.metadata.client_id_metadata_document_supported;
    (supported && matches!(purpose, Purpose::Redirect(_))).then_some(document)
}

/// Whether a cached registration serves `purpose`: a dynamic one, not
/// expired, made for this very redirect URI (or, for the device grant, for
/// none: a registration made for the code flow may not be allowed it).
fn reusable(registration: &Registration, purpose: Purpose<'_>) -> bool {
    let fits = match purpose {
        Purpose::Redirect(uri) => registration.fits_redirect(uri),
        Purpose::Device => registration.redirect_uri.is_none(),
        Purpose::Machine => false,
    };
    registration.kind == RegistrationKind::Dynamic && !registration.is_expired(now()) && fits
}

/// RFC 7591 registration as a native public client.
async fn register(
    http: &OAuthHttp,
    metadata: &AuthServerMetadata,
    request: &RegistrationRequest<'_>,
) -> Result<Registration> {
    if metadata.registration_endpoint.is_none() {
        return Err(Error::Registration {
            url: metadata.issuer.clone(),
            reason: "the authorization server offers no dynamic registration; register a \
                     client there beforehand and give its client id"
                .into(),
        });
    }
    let endpoint = registration_endpoint(metadata)?;
    let body = registration_body(request);
    // An answer that cannot be read (over the size limit, a redirect in a
    // circle) is the registration's failure, not the MCP server's protocol
    // error; not reaching the endpoint, or not in time, keeps its kind.
    let fetched = http
        .post_json(&endpoint, &body)
        .await
        .map_err(|error| match error {
            Error::Protocol { url, detail } => Error::Registration {
                url,
                reason: detail,
            },
            other => other,
        })?;
    read_registration(&endpoint, &fetched, request.redirect_uri)
}
