//! A local MCP server as a child process, spoken to over stdin/stdout. Its
//! stderr stays ours, so its logs reach the user.

use std::process::Stdio;

use rmcp::transport::TokioChildProcess;

use crate::{Cause, Error, Result};

pub(super) fn spawn(command: tokio::process::Command) -> Result<TokioChildProcess> {
    let program = describe(&command);
    let (process, _stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| Error::Spawn {
            command: program,
            reason: match error.kind() {
                std::io::ErrorKind::NotFound => "no such program (is it on PATH?)".to_owned(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                _ => error.to_string(),
            },
            source: Some(Cause::new(error)),
        })?;
    Ok(process)
}

/// The program's name, for messages (its arguments may hold secrets).
pub(super) fn describe(command: &tokio::process::Command) -> String {
    command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned()
}
