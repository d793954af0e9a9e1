//! stdout, which carries results only; a closed pipe ends output quietly.

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

    pub(crate) fn stdout(&mut self) -> &mut io::Stdout {
        &mut self.stdout
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

    fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        match self.stdout.lock().write_all(bytes) {
            Ok(()) => Ok(()),
            // `mcp-oauth tools URL | head -1`: the reader has all it wanted.
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(error) => Err(Failure::new(
                Exit::BadInput,
                format!("cannot write output: {error}"),
            )),
        }
    }
}
