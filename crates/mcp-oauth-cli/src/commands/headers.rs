//! `mcp-oauth headers <URL>`: the headers a host should send to the server,
//! as one JSON object of strings on stdout (`{"Authorization": "Bearer …"}`),
//! the shape Claude Code's `headersHelper` reads. Like `token`, it
//! refreshes the cached token when needed, under the store's lock, and
//! never signs in: a helper runs without a terminal, within a host's time
//! limit. Without a URL it takes `CLAUDE_CODE_MCP_SERVER_URL`, which Claude
//! Code sets for its helper, so one helper line serves every server.
//!
//! A DPoP-bound token is refused: every request with it needs a new proof,
//! signed for that request's method and URL, and a header printed once
//! cannot be one. The host starts `mcp-oauth proxy` instead, which signs a
//! proof for every request.

use clap::Args;
use mcp_oauth::secrecy::ExposeSecret;
use serde_json::{Map, Value};

use crate::{
    commands::token::{access_token, cached},
    failure::{Exit, Failure},
    options::GlobalArgs,
    output::Output,
};

#[derive(Debug, Args)]
pub(crate) struct HeadersArgs {
    /// The server's MCP endpoint (e.g. https://example.com/mcp), or the
    /// name of a server kept with `mcp-oauth servers add`.
    #[arg(value_name = "URL", env = "CLAUDE_CODE_MCP_SERVER_URL")]
    pub(crate) url: String,
    // The user's own headers (`--header "NAME: VALUE"`) belong here too once
    // that option exists: flatten its group above, and put its headers in
    // the object in `run` before `Authorization`, which they do not replace.
}

pub(crate) async fn run(
    args: &HeadersArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let url = args.url.as_str();
    let oauth = cached(url, global)?;
    if oauth
        .stored()
        .await?
        .is_some_and(|stored| stored.is_dpop_bound())
    {
        return Err(Failure::new(
            Exit::BadInput,
            format!(
                "the token for {url} is bound to a DPoP key: each request needs a new proof \
                 signed with it, which a header printed once cannot carry"
            ),
        )
        .hint(format!(
            "have the host start `mcp-oauth proxy {url}{}` instead, which signs a proof for \
             every request",
            global.account_option()
        )));
    }
    let token = access_token(&oauth, url, global).await?;
    let mut headers = Map::new();
    headers.insert(
        "Authorization".to_owned(),
        Value::String(format!("Bearer {}", token.expose_secret())),
    );
    out.json(&Value::Object(headers))
}
