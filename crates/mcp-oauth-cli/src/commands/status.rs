//! `mcp-oauth status`: one line (or JSON object) per cached server.

use mcp_oauth::{FileTokenStorage, StoredCredentials, terminal_safe_line};
use serde_json::{Value, json};

use crate::{
    expiry::expires_in,
    failure::Failure,
    options::GlobalArgs,
    output::{Output, to_stderr},
};

pub(crate) fn run(global: &GlobalArgs, out: &mut Output) -> Result<(), Failure> {
    let dir = global.cache_dir()?;
    let entries = FileTokenStorage::list_in(&dir)?;
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

fn describe(stored: &StoredCredentials) -> String {
    let expiry = stored
        .expires_at()
        .map_or_else(|| "no expiry".to_owned(), expires_in);
    // One line per server, whatever the authorization server called things.
    format!(
        "{}  issuer {}  client {}  scope \"{}\"  {expiry}  {}",
        terminal_safe_line(stored.server_url()),
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
        "issuer": stored.issuer(),
        "client_id": stored.client_id(),
        "scope": stored.scope(),
        "expires_at": stored.expires_at(),
        "can_refresh": stored.can_refresh(),
    })
}
