//! The HTTP foundation of every request the crate sends, to MCP servers and
//! authorization servers alike: the client itself ([`HttpClient`]: keep-alive,
//! proxies, TLS, redirects), how answers are read (capped bodies, previews),
//! how failures become an [`Error`](crate::Error), and where a server may send
//! the client at all (the address guard).

mod address;
mod body;
mod client;
mod failure;
mod redirect;
mod trust;

pub(crate) use self::{
    address::{check_target, is_loopback, require_secure},
    body::{body_preview, media_type, preview, read_body, size},
    client::{HttpClient, HttpClientBuilder, HttpError, RequestBuilder, Response},
    failure::{root_cause, timed_out},
    redirect::Redirects,
    trust::TrustAnchors,
};

use crate::{Error, Result};

/// Finishes `builder` as every client of the crate is set up, or says why
/// it cannot be (the system's certificates could not be loaded).
pub(crate) fn build_client(builder: HttpClientBuilder) -> Result<HttpClient> {
    builder.build().map_err(|error| Error::InvalidConfig {
        reason: format!("could not set up the HTTP client: {}", root_cause(&error)),
    })
}
