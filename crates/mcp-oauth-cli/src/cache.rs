//! The credentials cache from the command line: `status`, `logout`, `token`.

use std::path::PathBuf;

use mcp_oauth::{FileTokenStorage, OAuth, StoredCredentials, secrecy::ExposeSecret};
use serde_json::{Value, json};

use crate::{cli::Options, failure::Failure, login::oauth_for, output::Output};

fn cache_dir(options: &Options) -> Result<PathBuf, Failure> {
    match &options.cache_dir {
        Some(dir) => Ok(dir.clone()),
        None => Ok(FileTokenStorage::default_cache_dir()?),
    }
}

/// `mcp-oauth status`: one line (or JSON object) per cached server.
pub(crate) fn status(options: &Options, out: &mut Output) -> Result<(), Failure> {
    let dir = cache_dir(options)?;
    let entries = FileTokenStorage::list_in(&dir)?;
    if options.json {
        let list: Vec<Value> = entries
            .iter()
            .map(|(path, loaded)| match loaded {
                Ok(stored) => describe_json(stored),
                Err(error) => json!({ "path": path, "error": error.to_string() }),
            })
            .collect();
        return out.json(&Value::Array(list));
    }
    if entries.is_empty() {
        eprintln!("no cached credentials in {}", dir.display());
        return Ok(());
    }
    for (path, loaded) in &entries {
        match loaded {
            Ok(stored) => out.line(&describe(stored))?,
            Err(error) => out.line(&format!("{}: unreadable: {error}", path.display()))?,
        }
    }
    Ok(())
}

fn describe(stored: &StoredCredentials) -> String {
    let expiry = match stored.expires_at() {
        Some(at) if at <= now() => "expired".to_owned(),
        Some(at) => format!("expires in {}", crate::login::describe_seconds(at - now())),
        None => "no expiry".to_owned(),
    };
    format!(
        "{}  issuer {}  client {}  scope \"{}\"  {expiry}  {}",
        stored.server_url(),
        stored.issuer().unwrap_or("-"),
        stored.client_id().unwrap_or("-"),
        stored.scope().unwrap_or(""),
        if stored.can_refresh() {
            "refreshable"
        } else {
            "not refreshable"
        }
    )
}

fn describe_json(stored: &StoredCredentials) -> Value {
    json!({
        "server": stored.server_url(),
        "issuer": stored.issuer(),
        "client_id": stored.client_id(),
        "scope": stored.scope(),
        "expires_at": stored.expires_at(),
        "can_refresh": stored.can_refresh(),
    })
}

/// `mcp-oauth logout <url>` / `--all`.
pub(crate) async fn logout(
    options: &Options,
    url: Option<&str>,
    out: &mut Output,
) -> Result<(), Failure> {
    let dir = cache_dir(options)?;
    match url {
        Some(url) => {
            FileTokenStorage::in_dir(url, &dir)?.clear().await?;
            out.line(&format!("Forgot the credentials of {url}."))
        }
        None => {
            FileTokenStorage::clear_all_in(&dir)?;
            out.line(&format!(
                "Forgot every server's credentials in {}.",
                dir.display()
            ))
        }
    }
}

/// `mcp-oauth token <url>`: for `curl -H "Authorization: Bearer $(mcp-oauth token URL)"`.
pub(crate) async fn token(options: &Options, url: &str, out: &mut Output) -> Result<(), Failure> {
    let oauth: OAuth = oauth_for(options, url)?;
    let token = oauth.token().await.map_err(|error| {
        Failure::from(error).hint(format!("log in first: mcp-oauth login {url}"))
    })?;
    if options.json {
        return out.json(&json!({ "server": url, "access_token": token.expose_secret() }));
    }
    out.line(token.expose_secret())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
