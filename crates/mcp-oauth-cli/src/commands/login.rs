//! `mcp-oauth login`: authorize now and show what was granted.

use clap::Args;
use mcp_oauth::{Client, Error, terminal_safe_line};
use serde_json::json;

use crate::{
    expiry::expires_in,
    failure::Failure,
    options::{ConnectArgs, GlobalArgs, OAuthArgs, UrlArg},
    output::Output,
};

#[derive(Args)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    pub(crate) server: UrlArg,

    /// For the check, when no OAuth is found, that the server needs none.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,

    #[command(flatten)]
    pub(crate) oauth: OAuthArgs,
}

pub(crate) async fn run(
    args: &LoginArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let url = args.server.url.as_str();
    let oauth = args.oauth.oauth(url, global)?;
    if let Err(error) = oauth.login().await {
        // "No OAuth here" may just mean the server wants none: say that instead.
        if matches!(error, Error::Discovery { .. } | Error::Registration { .. })
            && answers_without_credentials(&args.connect, url).await
        {
            return if global.json {
                out.json(&json!({ "server": url, "authorization_required": false }))
            } else {
                out.line(&format!(
                    "{url} answers without authorization: there is nothing to log in to."
                ))
            };
        }
        return Err(args.oauth.sign_in.failure(error));
    }
    let stored = oauth.stored().await?;
    let issuer = stored.as_ref().and_then(|s| s.issuer()).unwrap_or("?");
    let scope = stored.as_ref().and_then(|s| s.scope()).unwrap_or("");
    let expires_at = stored.as_ref().and_then(|s| s.expires_at());
    let can_refresh = stored.as_ref().is_some_and(|s| s.can_refresh());
    if global.json {
        return out.json(&json!({
            "server": url,
            "account": oauth.account(),
            "issuer": issuer,
            "client_id": stored.as_ref().and_then(|s| s.client_id()),
            "scope": scope,
            "expires_at": expires_at,
            "can_refresh": can_refresh,
        }));
    }
    let expiry = expires_at.map_or_else(|| "no expiry given".to_owned(), expires_in);
    // On the one line, whatever the authorization server wrote.
    let issuer = terminal_safe_line(issuer);
    let scope = if scope.is_empty() {
        "no particular scope".to_owned()
    } else {
        format!("scope {}", terminal_safe_line(scope))
    };
    let refresh = if can_refresh {
        "refreshes automatically"
    } else {
        "no refresh token"
    };
    let account = match oauth.account() {
        Some(account) => format!(" as account {:?}", terminal_safe_line(account)),
        None => String::new(),
    };
    out.line(&format!(
        "Logged in to {url}{account} via {issuer}: {scope}, {expiry}, {refresh}."
    ))
}

async fn answers_without_credentials(connect: &ConnectArgs, url: &str) -> bool {
    let builder = connect.apply(Client::builder(url));
    match builder.listen_for_server_messages(false).connect().await {
        Ok(client) => {
            let answered = client.ping().await.is_ok();
            client.close().await;
            answered
        }
        Err(_) => false,
    }
}
