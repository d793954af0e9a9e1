//! The config file: `[servers.NAME]` tables, each a `url` and the options
//! kept with it by their long names (`account = "work"`, `no-browser =
//! true`, `header = ["X-Team: a"]`). Read strictly: anything that is not a
//! server, a name, a URL or an option `servers add` takes is an error that
//! names the file and the line. Written whole, atomically (a temporary file
//! beside it, flushed to disk, renamed over it), readable by you only.

use std::{
    collections::BTreeMap,
    fs,
    io::{self, Write},
    ops::Range,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use toml::{Spanned, Value};

use super::{
    check_name,
    command_line::{add_command, option_from_toml},
};
use crate::failure::{Exit, Failure};

/// What a server keeps of one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kept {
    /// A flag that was given: `--no-browser`.
    Flag,
    /// The value of an option that takes one: `--account work`.
    Value(String),
    /// The values of a repeatable option, in order: `--header A --header B`.
    Values(Vec<String>),
}

impl Kept {
    /// As the file writes it.
    fn to_toml(&self) -> Value {
        match self {
            Self::Flag => Value::Boolean(true),
            Self::Value(value) => Value::String(value.clone()),
            Self::Values(values) => {
                Value::Array(values.iter().cloned().map(Value::String).collect())
            }
        }
    }

    /// The arguments that give it again: `--long=VALUE` (so that a value
    /// starting with `-` is never taken for an option).
    pub(crate) fn arguments(&self, long: &str) -> Vec<String> {
        match self {
            Self::Flag => vec![format!("--{long}")],
            Self::Value(value) => vec![format!("--{long}={value}")],
            Self::Values(values) => values
                .iter()
                .map(|value| format!("--{long}={value}"))
                .collect(),
        }
    }
}

/// One named server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    pub(crate) url: String,
    /// By long option name.
    pub(crate) options: BTreeMap<String, Kept>,
}

/// The named servers of one config file.
#[derive(Debug)]
pub(crate) struct Servers {
    pub(crate) path: PathBuf,
    pub(crate) servers: BTreeMap<String, Server>,
}

/// The file as TOML gives it, with where each value stands.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    servers: BTreeMap<String, Spanned<BTreeMap<String, Spanned<Value>>>>,
}

impl Servers {
    /// The servers `path` names; none when there is no such file yet.
    pub(crate) fn load(path: &Path) -> Result<Self, Failure> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(Self {
                    path: path.to_owned(),
                    servers: BTreeMap::new(),
                });
            }
            Err(error) => {
                return Err(Failure::new(
                    Exit::Local,
                    format!("cannot read the config file {}: {error}", path.display()),
                )
                .hint("check that it is a file you may read, or name another with --config"));
            }
        };
        let invalid = |span: Option<Range<usize>>, reason: &str| invalid(path, &text, span, reason);
        let document: Document =
            toml::from_str(&text).map_err(|error| invalid(error.span(), error.message()))?;
        let add = add_command();
        let mut servers = BTreeMap::new();
        for (name, table) in document.servers {
            let span = table.span();
            check_name(&name).map_err(|reason| invalid(Some(span.clone()), &reason))?;
            let mut url = None;
            let mut options = BTreeMap::new();
            for (key, value) in table.into_inner() {
                let value_span = value.span();
                if key == "url" {
                    match value.into_inner() {
                        Value::String(text) if !text.trim().is_empty() => url = Some(text),
                        _ => return Err(invalid(Some(value_span), "url must be the server's URL")),
                    }
                    continue;
                }
                let kept = option_from_toml(&add, &key, value.get_ref())
                    .map_err(|reason| invalid(Some(value_span), &reason))?;
                if let Some(kept) = kept {
                    options.insert(key, kept);
                }
            }
            let url = url.ok_or_else(|| {
                invalid(
                    Some(span),
                    &format!("the server {name} has no url = \"https://…\""),
                )
            })?;
            servers.insert(name, Server { url, options });
        }
        Ok(Self {
            path: path.to_owned(),
            servers,
        })
    }

    /// Writes the servers over the file: all or nothing, 0600 in a folder
    /// made 0700 when it is made here.
    pub(crate) fn save(&self) -> Result<(), Failure> {
        write_atomically(&self.path, self.render().as_bytes()).map_err(|error| {
            Failure::new(
                Exit::Local,
                format!(
                    "cannot write the config file {}: {error}",
                    self.path.display()
                ),
            )
            .hint(
                "check that its folder can be written and the disk has room, or name another \
                 file with --config",
            )
        })
    }

    /// The file's text: a note, then one table per server, `url` first.
    fn render(&self) -> String {
        let mut text = String::from(
            "# Named servers of mcp-oauth: `mcp-oauth servers add|remove` rewrite this file\n\
             # (comments are not kept). Each [servers.NAME] holds the server's url and the\n\
             # options used with it, by their long names (see `mcp-oauth servers add --help`).\n",
        );
        for (name, server) in &self.servers {
            text.push_str(&format!("\n[servers.{name}]\n"));
            text.push_str(&format!("url = {}\n", Value::String(server.url.clone())));
            for (key, kept) in &server.options {
                text.push_str(&format!("{key} = {}\n", kept.to_toml()));
            }
        }
        text
    }
}

/// The error for what `span` of the config file holds: the file, the line
/// and why; exit 2.
fn invalid(path: &Path, text: &str, span: Option<Range<usize>>, reason: &str) -> Failure {
    let place = match span {
        Some(span) => {
            let start = span.start.min(text.len());
            let line = text.as_bytes()[..start]
                .iter()
                .filter(|&&byte| byte == b'\n')
                .count()
                + 1;
            format!("{}:{line}", path.display())
        }
        None => path.display().to_string(),
    };
    let reason = reason.trim().trim_end_matches('.');
    Failure::new(
        Exit::BadInput,
        format!("invalid config file {place}: {reason}"),
    )
    .hint(
        "fix or remove that line; `mcp-oauth servers add NAME URL --replace [OPTIONS]` writes a \
         server's table anew",
    )
}

/// `bytes` at `path`, or the file as it was: a temporary file beside it,
/// 0600, flushed to disk, then renamed over it, and the folder flushed.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut folder = fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(&dir)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    // The rename itself survives a crash once the folder is on disk too.
    #[cfg(unix)]
    if let Ok(folder) = fs::File::open(&dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Servers, Failure> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, text).unwrap();
        Servers::load(&path)
    }

    #[test]
    fn a_missing_file_holds_no_servers() {
        let dir = tempfile::tempdir().unwrap();
        let servers = Servers::load(&dir.path().join("none.toml")).unwrap();
        assert!(servers.servers.is_empty());
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.toml");
        let mut servers = Servers::load(&path).unwrap();
        let options = BTreeMap::from([
            ("account".to_owned(), Kept::Value("work \"x\"".into())),
            ("no-browser".to_owned(), Kept::Flag),
            ("scopes".to_owned(), Kept::Value("a b".into())),
        ]);
        servers.servers.insert(
            "linear".into(),
            Server {
                url: "https://example.com/mcp".into(),
                options,
            },
        );
        servers.save().unwrap();
        let again = Servers::load(&path).unwrap();
        assert_eq!(again.servers, servers.servers);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        for (text, line, says) in [
            (
                "[servers.a]\nurl = \"http://x\"\nscope = \"r\"\n",
                3,
                "scope",
            ),
            (
                "[servers.a]\nurl = \"http://x\"\n\nno-browser = \"yes\"\n",
                4,
                "true or false",
            ),
            (
                "[servers.a]\nurl = \"http://x\"\ntimeout = \"never\"\n",
                3,
                "timeout",
            ),
            (
                "[servers.a]\nurl = \"http://x\"\nclient-secret = \"s\"\n",
                3,
                "secret",
            ),
            (
                "[servers.a]\nurl = \"http://x\"\nurl = \"http://y\"\n",
                3,
                "duplicate",
            ),
            ("[servers.a]\nurl = 3\n", 2, "url"),
            ("\n[servers.a]\naccount = \"w\"\n", 2, "no url"),
            (
                "\n\n[servers.\"a b\"]\nurl = \"http://x\"\n",
                3,
                "cannot be a server's name",
            ),
            ("[server.a]\nurl = \"http://x\"\n", 1, "unknown field"),
            ("[servers.a]\nurl = \"http://x\n", 2, ""),
        ] {
            let failure = load_text(text).unwrap_err();
            assert_eq!(failure.exit, Exit::BadInput, "{text}");
            assert!(
                failure.message.contains(&format!("config.toml:{line}:")),
                "{text}: {}",
                failure.message
            );
            assert!(
                failure.message.contains(says),
                "{text}: {}",
                failure.message
            );
        }
    }

    #[test]
    fn numbers_and_lists_are_taken_where_the_option_takes_them() {
        let servers = load_text(
            "[servers.a]\nurl = \"http://x\"\ntimeout = 30\nlogin-timeout = 2.5\n\
             no-browser = false\n",
        )
        .unwrap();
        let options = &servers.servers["a"].options;
        assert_eq!(options["timeout"], Kept::Value("30".into()));
        assert_eq!(options["login-timeout"], Kept::Value("2.5".into()));
        assert!(!options.contains_key("no-browser"), "false is no flag");
        let failure = load_text("[servers.a]\nurl = \"http://x\"\nscopes = [\"a\"]\n").unwrap_err();
        assert!(failure.message.contains(":3:"), "{}", failure.message);
    }
}
