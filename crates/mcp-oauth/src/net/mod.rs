//! The HTTP foundation of every request the crate sends, to MCP servers and
//! authorization servers alike: how clients are set up (User-Agent,
//! redirects), how answers are read (capped bodies, previews), how failures
//! become an [`Error`](crate::Error), and where a server may send the
//! client at all (the address guard).

mod address;
mod body;
mod failure;
mod redirect;

pub(crate) use self::{
    address::{check_target, is_loopback, require_secure},
    body::{body_preview, media_type, preview, read_body, size},
    failure::{root_cause, timed_out},
    redirect::same_origin_redirects,
};

use crate::{Error, Result};

/// What every request says it is.
const USER_AGENT: &str = concat!("mcp-oauth/", env!("CARGO_PKG_VERSION"));

/// `builder` without any proxy when `direct`: requests to this machine's
/// loopback never go through one, since a proxy elsewhere cannot reach it
/// (it would reach its own). Other requests follow the environment
/// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
pub(crate) fn direct_if(builder: reqwest::ClientBuilder, direct: bool) -> reqwest::ClientBuilder {
    if direct { builder.no_proxy() } else { builder }
}

/// Finishes `builder` as every client of the crate is set up: it names
/// itself, and follows redirects only as `redirects` allows.
pub(crate) fn build_client(
    builder: reqwest::ClientBuilder,
    redirects: reqwest::redirect::Policy,
) -> Result<reqwest::Client> {
    builder
        .user_agent(USER_AGENT)
        .redirect(redirects)
        .build()
        .map_err(|error| Error::InvalidConfig {
            reason: format!("could not set up the HTTP client: {}", root_cause(&error)),
        })
}
