//! `mcp-oauth status`: one line (or JSON object) per cached server and
//! account, from the cache folder, the keychain or the shared store
//! `--store` names; with `--account`, that account's only.

use mcp_oauth::{FileTokenStorage, StoredCredentials, terminal_safe_line};
use serde_json::{Value, json};

use crate::{
    expiry::expires_in,
    failure::Failure,
    options::GlobalArgs,
    output::{Output, to_stderr},
    store::Store,
};

pub(crate) async fn run(global: &GlobalArgs, out: &mut Output) -> Result<(), Failure> {
    if let Store::Redis(store) = &global.opened {
        return run_shared(store, global, out).await;
    }
    if let Store::Keyring(store) = &global.opened {
        return run_keychain(store, global, out).await;
    }
    let dir = global.cache_dir()?;
    let mut entries = FileTokenStorage::list_in(&dir)?;
    // An unreadable document may be any account's: it is always shown.
    entries.retain(|(_, loaded)| match loaded {
        Ok(stored) => is_shown(global, stored.account()),
        Err(_) => true,
    });
    if global.json {
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
        to_stderr(&format!("no cached credentials in {}", dir.display()));
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

/// What a shared store holds under its prefix: each server's credentials,
/// with the record's generation and the id of the key that sealed it.
async fn run_shared(
    store: &mcp_oauth_redis::RedisStore,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let mut listed = store.list().await?;
    listed.retain(|entry| is_shown(global, entry.account.as_deref()));
    if global.json {
        let list: Vec<Value> = listed
            .iter()
            .map(|entry| {
                let mut value = match &entry.credentials {
                    Ok(stored) => describe_json(stored),
                    Err(error) => json!({
                        "server": entry.server_url,
                        "account": entry.account,
                        "error": error.to_string(),
                    }),
                };
                value["generation"] = entry.generation.into();
                value["key_id"] = entry.key_id.clone().into();
                value
            })
            .collect();
        return out.json(&Value::Array(list));
    }
    if listed.is_empty() {
        to_stderr(&format!("no credentials in {}", store.name()));
        return Ok(());
    }
    for entry in &listed {
        let sealing = match &entry.key_id {
            Some(id) => format!("key {}", terminal_safe_line(id)),
            None => "plaintext".to_owned(),
        };
        match &entry.credentials {
            Ok(stored) => out.line(&format!(
                "{}  generation {}  {sealing}",
                describe(stored),
                entry.generation
            ))?,
            Err(error) => out.line(&format!(
                "{}  account {}: unreadable: {error}",
                terminal_safe_line(&entry.server_url),
                account_name(entry.account.as_deref())
            ))?,
        }
    }
    Ok(())
}

/// What the keychain holds: each server's and account's item.
async fn run_keychain(
    store: &mcp_oauth_keyring::KeyringStore,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let mut listed = store.list().await?;
    listed.retain(|entry| is_shown(global, entry.account.as_deref()));
    if global.json {
        let list: Vec<Value> = listed
            .iter()
            .map(|entry| match &entry.credentials {
                Ok(stored) => describe_json(stored),
                Err(error) => json!({
                    "server": entry.server_url,
                    "account": entry.account,
                    "error": error.to_string(),
                }),
            })
            .collect();
        return out.json(&Value::Array(list));
    }
    if listed.is_empty() {
        to_stderr(&format!("no credentials in the {}", store.name()));
        return Ok(());
    }
    for entry in &listed {
        match &entry.credentials {
            Ok(stored) => out.line(&describe(stored))?,
            Err(error) => out.line(&format!(
                "{}  account {}: unreadable: {error}",
                terminal_safe_line(&entry.server_url),
                account_name(entry.account.as_deref())
            ))?,
        }
    }
    Ok(())
}

/// Whether `account`'s credentials are listed: every account's, unless
/// `--account` names one.
fn is_shown(global: &GlobalArgs, account: Option<&str>) -> bool {
    global
        .account
        .as_deref()
        .is_none_or(|wanted| account == Some(wanted))
}

/// An account as a status line shows it: its name, or `default`.
fn account_name(account: Option<&str>) -> String {
    match account {
        Some(name) => format!("{:?}", terminal_safe_line(name)),
        None => "default".to_owned(),
    }
}

fn describe(stored: &StoredCredentials) -> String {
    let expiry = stored
        .expires_at()
        .map_or_else(|| "no expiry".to_owned(), expires_in);
    // One line per server and account, whatever the authorization server
    // called things.
    format!(
        "{}  account {}  issuer {}  client {}  scope \"{}\"  {expiry}  {}",
        terminal_safe_line(stored.server_url()),
        account_name(stored.account()),
        terminal_safe_line(stored.issuer().unwrap_or("-")),
        terminal_safe_line(stored.client_id().unwrap_or("-")),
        terminal_safe_line(stored.scope().unwrap_or("")),
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
        "account": stored.account(),
        "issuer": stored.issuer(),
        "client_id": stored.client_id(),
        "scope": stored.scope(),
        "expires_at": stored.expires_at(),
        "can_refresh": stored.can_refresh(),
    })
}
