//! stdout, which carries results only; a closed pipe ends output quietly,
//! any other failure to write is a local failure. And stderr, for what a
//! person is told besides.
//!
//! The one rule for what a person reads lives here: servers write tool
//! names and results, `serverInfo`, error messages, scopes, client ids, and
//! any of it may hold characters a terminal obeys (an escape sequence that
//! retitles or clears it, a carriage return, a bidi override). So every
//! text printed for a person, on stdout ([`Output::line`], [`Output::text`])
//! or stderr ([`to_stderr`]), goes through [`mcp_oauth::terminal_safe`],
//! which shows those characters as escapes (`\x1b`, `\u{202e}`), whoever
//! wrote the text. Nothing else in this crate writes to stdout or stderr:
//! `clippy.toml` forbids the print macros and `std::io::stdout`/`stderr`
//! outside this file. `--json` output ([`Output::json`]) is exact JSON
//! instead, with those characters written as `\uXXXX` escapes.

use std::io::{self, Write};

use mcp_oauth::is_terminal_control;
use serde_json::Value;

use crate::failure::{Exit, Failure};

/// Tells the person something on stderr (a failure, a notice), made safe
/// for a terminal like everything printed.
#[allow(clippy::disallowed_macros, reason = "the one way to stderr")]
pub(crate) fn to_stderr(text: &str) {
    eprintln!("{}", mcp_oauth::terminal_safe(text));
}

#[derive(Debug)]
pub(crate) struct Output {
    stdout: io::Stdout,
    closed: bool,
}

impl Output {
    #[allow(clippy::disallowed_methods, reason = "the one way to stdout")]
    pub(crate) fn new() -> Self {
        Self {
            stdout: io::stdout(),
            closed: false,
        }
    }

    /// Text for a person, lines kept, safe for a terminal.
    pub(crate) fn text(&mut self, text: &str) -> Result<(), Failure> {
        self.write(mcp_oauth::terminal_safe(text).as_bytes())
    }

    /// [`text`](Self::text), and a line end.
    pub(crate) fn line(&mut self, line: &str) -> Result<(), Failure> {
        self.text(&format!("{line}\n"))
    }

    pub(crate) fn json(&mut self, value: &Value) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        self.write(format!("{}\n", json_for_terminal(&text)).as_bytes())
    }

    /// Sends on what is still buffered: before a long wait, and at the end,
    /// where a failure (a full disk) must not pass for success.
    pub(crate) fn flush(&mut self) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.stdout.flush();
        self.outcome(flushed)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let written = self.stdout.lock().write_all(bytes);
        self.outcome(written)
    }

    fn outcome(&mut self, result: io::Result<()>) -> Result<(), Failure> {
        match result {
            Ok(()) => Ok(()),
            // `mcp-oauth tools URL | head -1`: the reader has all it wanted.
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(error) => {
                // Nothing more will get through: say so once, on stderr.
                self.closed = true;
                Err(
                    Failure::new(Exit::Local, format!("cannot write the output: {error}"))
                        .hint("check where stdout goes (a full disk, a closed file)"),
                )
            }
        }
    }
}

/// JSON text whose strings hold no character a terminal acts on: serde_json
/// escapes the C0 controls already, this the rest (DEL, C1, bidi controls)
/// as `\uXXXX`, which any JSON reader turns back into the same character.
/// They can only stand inside strings (raw line ends are the layout's), so
/// the JSON means exactly what it meant.
fn json_for_terminal(json: &str) -> String {
    use std::fmt::Write as _;
    let mut escaped = String::with_capacity(json.len());
    for ch in json.chars() {
        if ch != '\n' && is_terminal_control(ch) {
            let _ = write!(escaped, "\\u{:04x}", u32::from(ch));
        } else {
            escaped.push(ch);
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_what_a_terminal_acts_on_and_means_the_same() {
        let original = "a\u{1b}]0;x\u{7}\u{7f}\u{9b}31m\u{202e}\u{0}\r\n\té日本";
        let value = serde_json::json!({ "text": original });
        let json = json_for_terminal(&serde_json::to_string_pretty(&value).unwrap());
        assert!(
            !json.chars().any(|ch| ch != '\n' && is_terminal_control(ch)),
            "{json}"
        );
        assert!(json.contains("\\u009b31m\\u202e"), "{json}");
        let parsed: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["text"], original);
    }
}
