//! Named servers: a server's URL and the options used with it, kept under a
//! short name in a TOML file, so that `mcp-oauth proxy linear` means
//! `mcp-oauth proxy https://mcp.linear.app/mcp --account work …`.
//!
//! The options are the command line's own: a server keeps what `servers
//! add` was given, by the long names of the same clap arguments every
//! command takes, and a command that uses the name gets them back as if
//! typed after it, unless its own command line gives them (or an option
//! they exclude). So a new option is kept and applied without a line here.
//!
//! `file` reads and writes the file; `command_line` parses the command line
//! with the names in it resolved.

mod command_line;
mod file;

use std::path::PathBuf;

use clap::Args;

pub(crate) use command_line::command_line;
pub(crate) use file::{Kept, Server, Servers};

use crate::failure::{Exit, Failure};

/// Where the named servers are kept.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// The file that keeps named servers [default:
    /// ~/.config/mcp-oauth/config.toml].
    #[arg(long, global = true, env = "MCP_OAUTH_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

impl ConfigArgs {
    /// `--config`, else `MCP_OAUTH_CONFIG`, else `config.toml` in the
    /// user's config folder.
    pub(crate) fn path(&self) -> Result<PathBuf, Failure> {
        path_or_default(self.config.clone())
    }
}

fn path_or_default(given: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(path) = given {
        return Ok(path);
    }
    directories::ProjectDirs::from("", "", "mcp-oauth")
        .map(|dirs| dirs.config_dir().join("config.toml"))
        .ok_or_else(|| {
            Failure::new(
                Exit::Local,
                "no home folder was found for the config file of named servers",
            )
            .hint("name the file with --config FILE (or MCP_OAUTH_CONFIG)")
        })
}

/// The longest name a server may have.
const NAME_MAX: usize = 64;

/// A server's name: 1 to 64 letters, digits, `-` and `_`, starting with a
/// letter or digit. So a name is never a URL (it has no `:`), nor an
/// option, and stays one word in a shell and a TOML key.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.contains("://") {
        return Err(format!(
            "{name} is a URL, not a name: a server's name is a word of letters, digits, - \
             and _, e.g. `mcp-oauth servers add linear {name}`"
        ));
    }
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric());
    let plain = name
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_'));
    if !(starts_well && plain && name.len() <= NAME_MAX) {
        return Err(format!(
            "{name:?} cannot be a server's name: use 1 to {NAME_MAX} letters, digits, - and _, \
             starting with a letter or digit (e.g. linear, work-github)"
        ));
    }
    Ok(())
}

/// Whether a command's `URL` is a server's name rather than a URL.
pub(crate) fn is_name(text: &str) -> bool {
    check_name(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_words() {
        for good in ["linear", "work-github", "a", "A_1", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            "_x",
            "my server",
            "a.b",
            "a/b",
            "é",
            "x:1",
            &"x".repeat(65),
        ] {
            let reason = check_name(bad).unwrap_err();
            assert!(reason.contains("letters, digits"), "{bad}: {reason}");
        }
        let url = check_name("https://example.com/mcp").unwrap_err();
        assert!(url.contains("is a URL, not a name"), "{url}");
    }
}
