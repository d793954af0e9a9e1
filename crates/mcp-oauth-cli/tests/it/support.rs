//! Runs the built binary with a bound on every run.

use std::{process::Output, time::Duration};

/// The outcome of one run of the CLI.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    pub(crate) fn exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "expected exit {code}: {self:#?}");
        self
    }
}

pub(crate) async fn mcp_oauth(args: &[&str]) -> Run {
    mcp_oauth_with_env(args, &[]).await
}

pub(crate) async fn mcp_oauth_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    command
        .args(args)
        .env_remove("MCP_OAUTH_BEARER")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output: Output = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("the CLI finished within 30 s")
        .expect("the CLI could be run");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A "browser" that follows the authorization redirect into the callback,
/// as a person who approves at once would.
pub(crate) fn scripted_browser(dir: &std::path::Path) -> String {
    let script = dir.join("browser.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nexec curl -s -L --max-time 10 -o /dev/null \"$1\"\n",
    )
    .unwrap();
    // Run through sh: no exec of a file that was just written (ETXTBSY).
    format!("sh {}", script.display())
}
