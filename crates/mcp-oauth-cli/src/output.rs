//! stdout, which carries results only; a closed pipe ends output quietly,
//! any other failure to write is a local failure.

use std::io::{self, Write};

use serde_json::Value;

use crate::failure::{Exit, Failure};

#[derive(Debug)]
pub(crate) struct Output {
    stdout: io::Stdout,
    closed: bool,
}

impl Output {
    pub(crate) fn new() -> Self {
        Self {
            stdout: io::stdout(),
            closed: false,
        }
    }

    pub(crate) fn text(&mut self, text: &str) -> Result<(), Failure> {
        self.write(text.as_bytes())
    }

    pub(crate) fn line(&mut self, line: &str) -> Result<(), Failure> {
        self.write(format!("{line}\n").as_bytes())
    }

    pub(crate) fn json(&mut self, value: &Value) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        self.line(&text)
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
