//! The command line with server names in it: where a command takes a URL
//! and is given a name, the name's URL takes its place and the options the
//! server keeps are added after it, as if typed, except those the command
//! line gives itself or excludes (a kept `--callback-port` gives way to a
//! typed `--device`), and those the command does not take (`token` takes no
//! `--scopes`). A kept option thus overrides an environment variable, and
//! the command line overrides both. clap then parses the whole as usual.

use std::{collections::BTreeMap, ffi::OsString, path::PathBuf};

use clap::{
    Arg, ArgAction, ArgMatches, Command as ClapCommand, CommandFactory, FromArgMatches, ValueHint,
    error::ErrorKind, parser::ValueSource,
};
use toml::Value;

use super::{Kept, Servers, file::Server, is_name, path_or_default};
use crate::{
    cli::{Cli, Command},
    commands::servers::ServersAction,
    failure::{Exit, Failure},
};

/// The options of `servers add` a server never keeps: how this run prints
/// and where the config is are not the server's, nor is `--replace`.
const NOT_KEPT: [&str; 6] = ["json", "verbose", "config", "replace", "help", "version"];

/// The command line this process was started with, parsed, names resolved.
/// A usage error ends the process here with clap's message (exit 2), as
/// `Cli::parse` does; a name that is not kept, or a config file that cannot
/// be read, is a failure to report.
pub(crate) fn command_line() -> Result<Cli, Failure> {
    parse(&std::env::args_os().collect::<Vec<_>>())
}

fn parse(args: &[OsString]) -> Result<Cli, Failure> {
    let matches = Cli::command()
        .try_get_matches_from(args)
        .unwrap_or_else(|error| error.exit());
    let matches = match Named::find(&matches)? {
        Some(named) => named.resolve(args, &matches)?,
        None => matches,
    };
    let mut cli = Cli::from_arg_matches(&matches)
        .unwrap_or_else(|error| error.format(&mut Cli::command()).exit());
    if let Command::Servers(servers) = &mut cli.command
        && let ServersAction::Add(add) = &mut servers.action
        && let Some(("servers", servers)) = matches.subcommand()
        && let Some(("add", given)) = servers.subcommand()
    {
        add.kept = kept_options(given)?;
    }
    Ok(cli)
}

/// `servers add` as clap knows it, global options included.
pub(super) fn add_command() -> ClapCommand {
    let mut command = Cli::command();
    command.build();
    command
        .find_subcommand("servers")
        .and_then(|servers| servers.find_subcommand("add"))
        .cloned()
        .expect("the servers add command")
}

/// An option a server may keep: one `servers add` takes by a long name,
/// that says something about the server (not `--json`), and no secret.
fn keeps(arg: &Arg) -> bool {
    !arg.is_positional()
        && arg.get_long().is_some()
        && !NOT_KEPT.contains(&arg.get_id().as_str())
        && !matches!(arg.get_action(), ArgAction::Count)
}

/// The options whose environment values are hidden carry secrets (a
/// client secret, a bearer token, an ID token); they stay in the
/// environment, never in the file. `--store` is hidden for the password a
/// Redis URL may hold: the URL is kept when it holds none.
fn is_secret(arg: &Arg) -> bool {
    arg.is_hide_env_values_set() && arg.get_id() != "store"
}

/// Whether a store URL holds a password (`redis://:PASSWORD@host`).
fn has_password(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or("").contains('@'))
        .unwrap_or(false)
}

/// What `servers add` was given on its command line, to keep: paths made
/// absolute (the server may be used from anywhere), secrets refused.
fn kept_options(given: &ArgMatches) -> Result<BTreeMap<String, Kept>, Failure> {
    let command = add_command();
    let mut kept = BTreeMap::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if !typed(given, id) {
            continue;
        }
        let Some(long) = arg.get_long().filter(|_| keeps(arg)) else {
            continue;
        };
        if is_secret(arg) {
            return Err(secret_refused(long, arg));
        }
        let mut values: Vec<String> = given
            .get_raw(id)
            .map(|raw| {
                raw.map(|value| value.to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if matches!(
            arg.get_value_hint(),
            ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath
        ) {
            for value in &mut values {
                if let Ok(absolute) = std::path::absolute(&*value) {
                    *value = absolute.to_string_lossy().into_owned();
                }
            }
        }
        if long == "store" && values.iter().any(|url| has_password(url)) {
            return Err(Failure::usage(
                "a store URL with a password is not kept in the config file",
            )
            .hint(
                "keep the server without --store and set MCP_OAUTH_STORE where it is used, \
                 or give the store's URL without the password",
            ));
        }
        let value = match arg.get_action() {
            ArgAction::SetTrue => Kept::Flag,
            ArgAction::Append => Kept::Values(values),
            _ => Kept::Value(values.pop().unwrap_or_default()),
        };
        kept.insert(long.to_owned(), value);
    }
    Ok(kept)
}

fn secret_refused(long: &str, arg: &Arg) -> Failure {
    let variable = arg
        .get_env()
        .map(|name| format!(" (or {})", name.to_string_lossy()))
        .unwrap_or_default();
    Failure::usage(format!(
        "--{long} is a secret, and secrets are not kept in the config file"
    ))
    .hint(format!(
        "keep the server without it, and give --{long}{variable} when you use it"
    ))
}

/// One option of a server as the file holds it, checked as `servers add`
/// would check it typed: `None` for a flag set to false.
pub(super) fn option_from_toml(
    add: &ClapCommand,
    key: &str,
    value: &Value,
) -> Result<Option<Kept>, String> {
    let arg = add
        .get_arguments()
        .find(|arg| arg.get_long() == Some(key) && keeps(arg))
        .ok_or_else(|| {
            format!(
                "{key} is not an option a server keeps: a server has a url and the long \
                 names of the options `mcp-oauth servers add --help` lists"
            )
        })?;
    if is_secret(arg) {
        return Err(format!(
            "{key} is a secret, never kept in the config file: give --{key} (or its \
             environment variable) where the server is used"
        ));
    }
    let kept = match (arg.get_action(), value) {
        (ArgAction::SetTrue, Value::Boolean(true)) => Kept::Flag,
        (ArgAction::SetTrue, Value::Boolean(false)) => return Ok(None),
        (ArgAction::SetTrue, _) => return Err(format!("{key} is a flag: true or false")),
        (ArgAction::Append, Value::String(text)) => Kept::Values(vec![text.clone()]),
        (ArgAction::Append, Value::Array(items)) => Kept::Values(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("{key} takes a list of strings"))?,
        ),
        (ArgAction::Append, _) => return Err(format!("{key} takes a string or a list of them")),
        (_, Value::String(text)) => Kept::Value(text.clone()),
        (_, Value::Integer(number)) => Kept::Value(number.to_string()),
        (_, Value::Float(number)) => Kept::Value(number.to_string()),
        _ => return Err(format!("{key} takes one value, a string")),
    };
    check_value(key, &kept)?;
    Ok(Some(kept))
}

/// A kept value as clap checks it on `servers add`: a value it refuses
/// (`timeout = "never"`) is an error of the file's line, not of whatever
/// command later uses the server.
fn check_value(long: &str, kept: &Kept) -> Result<(), String> {
    let mut args = vec![
        "mcp-oauth".to_owned(),
        "servers".into(),
        "add".into(),
        "x".into(),
        "http://127.0.0.1/mcp".into(),
    ];
    args.extend(kept.arguments(long));
    let Err(error) = Cli::command().try_get_matches_from(&args) else {
        return Ok(());
    };
    match error.kind() {
        ErrorKind::InvalidValue
        | ErrorKind::ValueValidation
        | ErrorKind::InvalidUtf8
        | ErrorKind::NoEquals
        | ErrorKind::WrongNumberOfValues
        | ErrorKind::TooManyValues
        | ErrorKind::TooFewValues => Err(first_line(&error)),
        // Another option missing or excluded: a matter of the whole line.
        _ => Ok(()),
    }
}

/// clap's message, without its `error: ` and the usage after it.
fn first_line(error: &clap::Error) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// Whether the command line itself gives `id` (not a default, nor the
/// environment).
fn typed(matches: &ArgMatches, id: &str) -> bool {
    // Asking about an id the matches do not know would panic.
    matches.ids().any(|known| known == id)
        && matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// The command's URL as given on the command line: `url`, or `call`'s first
/// word (unless `--stdio`). A value from the environment is a URL, not a
/// name (`headers` reads Claude Code's `CLAUDE_CODE_MCP_SERVER_URL`).
fn server_argument(matches: &ArgMatches) -> Option<String> {
    let stdio = matches!(matches.try_get_one::<bool>("stdio"), Ok(Some(true)));
    let id = ["url", "positional"]
        .into_iter()
        .find(|id| matches!(matches.try_get_raw(id), Ok(Some(_))))?;
    if (id == "positional" && stdio) || matches.value_source(id) != Some(ValueSource::CommandLine) {
        return None;
    }
    let first = matches.try_get_raw(id).ok()??.next()?;
    first.to_str().map(str::to_owned)
}

/// A server's name where a command takes a URL, and what it names.
struct Named {
    name: String,
    server: Server,
    path: PathBuf,
}

impl Named {
    /// The name the command line gives for a URL, if it gives one; a name
    /// not kept in the config file is an error.
    fn find(matches: &ArgMatches) -> Result<Option<Self>, Failure> {
        let Some((command, given)) = matches.subcommand() else {
            return Ok(None);
        };
        // `servers add NAME URL` takes a URL as a URL.
        if command == "servers" {
            return Ok(None);
        }
        let Some(name) = server_argument(given).filter(|value| is_name(value)) else {
            return Ok(None);
        };
        let path = path_or_default(matches.get_one::<PathBuf>("config").cloned())?;
        let mut servers = Servers::load(&path)?;
        let Some(server) = servers.servers.remove(&name) else {
            let listing = if path.exists() {
                format!("in {}", path.display())
            } else {
                format!("(there is no config file {} yet)", path.display())
            };
            return Err(Failure::new(
                Exit::BadInput,
                format!("no server is named {name} {listing}"),
            )
            .hint(format!(
                "give the server's URL, or name it first: mcp-oauth servers add {name} <URL> \
                 [OPTIONS]; mcp-oauth servers list shows the names kept"
            )));
        };
        Ok(Some(Self { name, server, path }))
    }

    /// `args` with the name replaced by its URL, and the kept options the
    /// command takes and its command line leaves open added, parsed.
    fn resolve(&self, args: &[OsString], matches: &ArgMatches) -> Result<ArgMatches, Failure> {
        let url = &self.server.url;
        // The name may be another word of the line too (`call echo echo`):
        // the one whose replacement makes the URL the command's is the one.
        let replaced = |position: usize| {
            let mut replaced = args.to_vec();
            replaced[position] = url.into();
            replaced
        };
        let position = (1..args.len())
            .filter(|&position| args[position] == *self.name)
            .find(|&position| {
                Cli::command()
                    .try_get_matches_from(replaced(position))
                    .ok()
                    .and_then(|parsed| parsed.subcommand().and_then(|(_, m)| server_argument(m)))
                    .as_ref()
                    == Some(url)
            })
            .ok_or_else(|| {
                Failure::usage(format!(
                    "{} could not be put in place of the name {}",
                    url, self.name
                ))
            })?;
        let mut resolved = replaced(position);
        let (command, given) = matches.subcommand().expect("a command with a URL");
        let mut added = self.added_options(command, given);
        // Before a `--`, after which every word is the server command's.
        let at = resolved[position + 1..]
            .iter()
            .position(|arg| arg == "--")
            .map_or(resolved.len(), |offset| position + 1 + offset);
        let tail = resolved.split_off(at);
        resolved.extend(added.drain(..).map(OsString::from));
        resolved.extend(tail);
        Cli::command()
            .try_get_matches_from(&resolved)
            .map_err(|error| {
                Failure::new(
                    Exit::BadInput,
                    format!(
                        "the options kept for the server {} in {} do not go with this \
                         command line: {}",
                        self.name,
                        self.path.display(),
                        first_line(&error)
                    ),
                )
                .hint(format!(
                    "mcp-oauth servers list shows them; mcp-oauth servers add {} {} --replace \
                     [OPTIONS] keeps others",
                    self.name, url
                ))
            })
    }

    /// The kept options `command` takes, as arguments, less those its
    /// command line gives or excludes.
    fn added_options(&self, command: &str, given: &ArgMatches) -> Vec<String> {
        let mut cli = Cli::command();
        cli.build();
        let Some(target) = cli.find_subcommand(command) else {
            return Vec::new();
        };
        let typed: Vec<&Arg> = target
            .get_arguments()
            .filter(|arg| typed(given, arg.get_id().as_str()))
            .collect();
        let excludes = |a: &Arg, b: &Arg| {
            a.get_id() == b.get_id()
                || target
                    .get_arg_conflicts_with(a)
                    .iter()
                    .any(|c| c.get_id() == b.get_id())
                || target
                    .get_arg_conflicts_with(b)
                    .iter()
                    .any(|c| c.get_id() == a.get_id())
        };
        let mut added = Vec::new();
        for (long, kept) in &self.server.options {
            let Some(arg) = target
                .get_arguments()
                .find(|arg| arg.get_long() == Some(long.as_str()) && keeps(arg))
            else {
                continue;
            };
            if typed.iter().any(|typed| excludes(typed, arg)) {
                continue;
            }
            added.extend(kept.arguments(long));
        }
        added
    }
}
