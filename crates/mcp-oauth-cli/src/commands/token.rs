//! `mcp-oauth token <URL>`: for `curl -H "Authorization: Bearer $(mcp-oauth token URL)"`.
//! It refreshes the cached token when needed but never signs in, so it
//! takes no sign-in options: the stored credentials hold the client.

use clap::Args;
use mcp_oauth::{Error, OAuth, secrecy::ExposeSecret};
use serde_json::json;

use crate::{
    failure::Failure,
    options::{GlobalArgs, UrlArg},
    output::Output,
};

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) server: UrlArg,
}

pub(crate) async fn run(
    args: &TokenArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let url = args.server.url.as_str();
    let mut builder = OAuth::builder(url);
    if let Some(dir) = &global.cache_dir {
        builder = builder.token_storage_cache_dir(dir);
    }
    let token = builder.build()?.token().await.map_err(|error| {
        let unauthorized = matches!(error, Error::Unauthorized { .. });
        let failure = Failure::from(error);
        if unauthorized {
            failure.hint(format!("log in first: mcp-oauth login {url}"))
        } else {
            failure
        }
    })?;
    if global.json {
        return out.json(&json!({ "server": url, "access_token": token.expose_secret() }));
    }
    out.line(token.expose_secret())
}
