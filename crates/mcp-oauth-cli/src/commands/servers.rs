//! `mcp-oauth servers add|list|remove`: servers kept under a name, with the
//! options used with them, so that `mcp-oauth proxy linear` does what
//! `mcp-oauth proxy https://mcp.linear.app/mcp --account work …` does. See
//! the `config` module for the file and how a name is resolved.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use mcp_oauth::ServerUrl;
use serde_json::{Value, json};

use crate::{
    config::{ConfigArgs, Kept, Server, Servers, check_name},
    failure::{Exit, Failure},
    options::{ConnectArgs, CredentialArgs},
    output::{Output, to_stderr},
};

#[derive(Args)]
pub(crate) struct ServersArgs {
    #[command(subcommand)]
    pub(crate) action: ServersAction,
}

#[derive(Subcommand)]
pub(crate) enum ServersAction {
    /// Keep a server's URL, and the options given here, under a name: then
    /// every command takes the name where it takes a URL, the options
    /// applying unless its command line gives others. Secrets (--bearer,
    /// --client-secret, …) are not kept: give them where the server is used.
    Add(Box<AddArgs>),
    /// List the named servers, their URLs and options.
    List,
    /// Forget a named server (its cached credentials stay: `logout` forgets
    /// those).
    Remove(RemoveArgs),
}

/// A server's name and URL, and the options of the commands that reach a
/// server, from the same groups they take them from.
#[derive(Args)]
pub(crate) struct AddArgs {
    /// The name: letters, digits, - and _ (e.g. linear, work-github).
    #[arg(value_name = "NAME")]
    pub(crate) name: String,

    /// The server's MCP endpoint, e.g. https://example.com/mcp
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// Replace the server already kept under this name.
    #[arg(long)]
    pub(crate) replace: bool,

    #[command(flatten)]
    pub(crate) connect: ConnectArgs,

    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,

    /// The options given on this command line, by long name: filled in by
    /// `config::command_line`, which sees what clap matched.
    #[arg(skip)]
    pub(crate) kept: BTreeMap<String, Kept>,
}

#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    /// The server's name.
    #[arg(value_name = "NAME")]
    pub(crate) name: String,
}

pub(crate) fn run(
    args: &ServersArgs,
    config: &ConfigArgs,
    json: bool,
    out: &mut Output,
) -> Result<(), Failure> {
    let mut servers = Servers::load(&config.path()?)?;
    match &args.action {
        ServersAction::Add(add) => run_add(add, &mut servers, json, out),
        ServersAction::List => list(&servers, json, out),
        ServersAction::Remove(remove) => run_remove(remove, &mut servers, json, out),
    }
}

fn run_add(
    add: &AddArgs,
    servers: &mut Servers,
    json: bool,
    out: &mut Output,
) -> Result<(), Failure> {
    check_name(&add.name).map_err(|reason| {
        Failure::usage(reason).hint("e.g. mcp-oauth servers add linear https://mcp.linear.app/mcp")
    })?;
    ServerUrl::parse(&add.url)?;
    if let Some(kept) = servers.servers.get(&add.name)
        && !add.replace
    {
        return Err(Failure::new(
            Exit::BadInput,
            format!("a server is named {} already: {}", add.name, kept.url),
        )
        .hint(format!(
            "add --replace to keep this one instead, or pick another name (mcp-oauth servers \
             remove {} forgets it)",
            add.name
        )));
    }
    let server = Server {
        url: add.url.clone(),
        options: add.kept.clone(),
    };
    let replaced = servers
        .servers
        .insert(add.name.clone(), server.clone())
        .is_some();
    servers.save()?;
    if json {
        return out.json(&describe(&add.name, &server));
    }
    let verb = if replaced { "Replaced" } else { "Kept" };
    let options = command_line(&server.options);
    let with = if options.is_empty() {
        String::new()
    } else {
        format!(" with {options}")
    };
    out.line(&format!(
        "{verb} {}: {}{with}, in {}.",
        add.name,
        server.url,
        servers.path.display()
    ))
}

fn list(servers: &Servers, json: bool, out: &mut Output) -> Result<(), Failure> {
    if json {
        let list = servers
            .servers
            .iter()
            .map(|(name, server)| describe(name, server))
            .collect();
        return out.json(&Value::Array(list));
    }
    if servers.servers.is_empty() {
        to_stderr(&format!(
            "no named servers in {} (mcp-oauth servers add NAME URL keeps one)",
            servers.path.display()
        ));
        return Ok(());
    }
    let rows: Vec<[String; 3]> = servers
        .servers
        .iter()
        .map(|(name, server)| {
            [
                name.clone(),
                server.url.clone(),
                command_line(&server.options),
            ]
        })
        .collect();
    let width = |column: usize, title: &str| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (name_width, url_width) = (width(0, "NAME"), width(1, "URL"));
    let mut table = format!("{:name_width$}  {:url_width$}  OPTIONS", "NAME", "URL")
        .trim_end()
        .to_owned();
    table.push('\n');
    for [name, url, options] in rows {
        table.push_str(format!("{name:name_width$}  {url:url_width$}  {options}").trim_end());
        table.push('\n');
    }
    out.text(&table)
}

fn run_remove(
    remove: &RemoveArgs,
    servers: &mut Servers,
    json: bool,
    out: &mut Output,
) -> Result<(), Failure> {
    let Some(server) = servers.servers.remove(&remove.name) else {
        return Err(Failure::new(
            Exit::BadInput,
            format!(
                "no server is named {} in {}",
                remove.name,
                servers.path.display()
            ),
        )
        .hint("mcp-oauth servers list shows the names kept"));
    };
    servers.save()?;
    if json {
        return out.json(&json!({ "removed": describe(&remove.name, &server) }));
    }
    out.line(&format!(
        "Removed {} ({}). Its cached credentials stay: mcp-oauth logout {} forgets them.",
        remove.name, server.url, server.url
    ))
}

/// A server as `--json` shows it.
fn describe(name: &str, server: &Server) -> Value {
    let options: serde_json::Map<String, Value> = server
        .options
        .iter()
        .map(|(key, kept)| {
            let value = match kept {
                Kept::Flag => Value::Bool(true),
                Kept::Value(value) => Value::String(value.clone()),
                Kept::Values(values) => json!(values),
            };
            (key.clone(), value)
        })
        .collect();
    json!({ "name": name, "url": server.url, "options": options })
}

/// The options as they would be typed: `--account work --scopes 'a b'`.
fn command_line(options: &BTreeMap<String, Kept>) -> String {
    let mut words = Vec::new();
    for (key, kept) in options {
        match kept {
            Kept::Flag => words.push(format!("--{key}")),
            Kept::Value(value) => words.push(format!("--{key} {}", quoted(value))),
            Kept::Values(values) => {
                words.extend(
                    values
                        .iter()
                        .map(|value| format!("--{key} {}", quoted(value))),
                );
            }
        }
    }
    words.join(" ")
}

/// `value` as a shell word: as it is when plain, else in single quotes.
fn quoted(value: &str) -> String {
    let plain = !value.is_empty()
        && value.chars().all(|ch| {
            ch.is_ascii_alphanumeric()
                || matches!(ch, '-' | '_' | '.' | '/' | ':' | '@' | '+' | ',')
        });
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_typed() {
        let options = BTreeMap::from([
            ("account".to_owned(), Kept::Value("work".into())),
            ("no-browser".to_owned(), Kept::Flag),
            ("scopes".to_owned(), Kept::Value("a b".into())),
            (
                "header".to_owned(),
                Kept::Values(vec!["X-A: 1".into(), "it's".into()]),
            ),
        ]);
        assert_eq!(
            command_line(&options),
            "--account work --header 'X-A: 1' --header 'it'\\''s' --no-browser --scopes 'a b'"
        );
    }
}
