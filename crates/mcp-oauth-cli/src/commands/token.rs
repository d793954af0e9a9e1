//! `mcp-oauth token <URL>`: for `curl -H "Authorization: Bearer $(mcp-oauth token URL)"`.
//! It refreshes the cached token when needed but never signs in, so it
//! takes no sign-in options: the stored credentials hold the client.

use clap::Args;
use mcp_oauth::{Error, OAuth, secrecy::ExposeSecret};
use serde_json::json;

use crate::{
    failure::{Exit, Failure},
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
    builder = global.keep_tokens(builder, url)?;
    let token = builder.build()?.token().await.map_err(|error| {
        let unauthorized = matches!(error, Error::Unauthorized { .. });
        let failure = Failure::from(error);
        if unauthorized {
            failure.hint(format!(
                "log in first: mcp-oauth login {url}{}",
                global.account_option()
            ))
        } else {
            failure
        }
    })?;
    // What is printed here goes into a header by way of a shell. The
    // library hands out no token a header cannot carry, whatever the
    // stored document holds; checked again at the last place before a
    // terminal or a script, and never printed when it fails.
    if !token
        .expose_secret()
        .bytes()
        .all(|byte| byte.is_ascii_graphic())
    {
        return Err(Failure::new(
            Exit::Unauthorized,
            format!("the access token for {url} has characters a bearer token may not contain"),
        )
        .hint(format!(
            "log in again: mcp-oauth login {url}{}",
            global.account_option()
        )));
    }
    if global.json {
        return out.json(&json!({
            "server": url,
            "account": global.account,
            "access_token": token.expose_secret(),
        }));
    }
    out.line(token.expose_secret())
}
