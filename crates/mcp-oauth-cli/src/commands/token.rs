//! `mcp-oauth token <URL>`: for `curl -H "Authorization: Bearer $(mcp-oauth token URL)"`.
//! It refreshes the cached token when needed but never signs in, so it
//! takes no sign-in options: the stored credentials hold the client.

use clap::Args;
use mcp_oauth::{
    Error, OAuth,
    secrecy::{ExposeSecret, SecretString},
};
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
    let token = access_token(&cached(url, global)?, url, global).await?;
    if global.json {
        return out.json(&json!({
            "server": url,
            "account": global.account,
            "access_token": token.expose_secret(),
        }));
    }
    out.line(token.expose_secret())
}

/// OAuth for `url` with only what the store keeps: the client it
/// registered, the tokens of `--account`.
pub(crate) fn cached(url: &str, global: &GlobalArgs) -> Result<OAuth, Failure> {
    Ok(global.keep_tokens(OAuth::builder(url), url)?.build()?)
}

/// A valid access token of `oauth`, refreshed (under the store's lock) if
/// needed, never signed in for: without one, exit 6 with the hint to log in.
pub(crate) async fn access_token(
    oauth: &OAuth,
    url: &str,
    global: &GlobalArgs,
) -> Result<SecretString, Failure> {
    let token = oauth.token().await.map_err(|error| {
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
    Ok(token)
}
