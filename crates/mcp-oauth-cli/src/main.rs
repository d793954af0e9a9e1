//! The `mcp-oauth` command.

mod cli;
mod commands;
mod config;
mod connect;
mod expiry;
mod failure;
mod options;
mod output;
mod spinner;
mod store;

use std::{io::IsTerminal, process::ExitCode, time::Duration};

use crate::{
    cli::{Cli, Command},
    failure::{Exit, Failure},
    output::Output,
};

fn main() -> ExitCode {
    // A usage error ends here, with clap's message and exit code 2; so does
    // a server's name that is not kept.
    let mut cli = match config::command_line() {
        Ok(cli) => cli,
        Err(failure) => return failure.report(),
    };
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return Failure::new(Exit::Local, format!("cannot start the runtime: {error}"))
                .report();
        }
    };
    let mut out = Output::new();
    // `demo --serve` runs until Ctrl-C by design; everything else is cut short.
    let stops_on_ctrl_c = matches!(cli.command, Command::Demo(_));
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = open_store_and_run(&mut cli, &mut out) => outcome,
            _ = tokio::signal::ctrl_c(), if !stops_on_ctrl_c => {
                Err(Failure::new(Exit::Interrupted, "interrupted"))
            }
        }
    });
    // Output that could not be written is a failure too, unless the command
    // failed first.
    let outcome = outcome.and(out.flush());
    // Background tasks (an SSE reader, a child process) must not delay exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// Opens the store (a shared one is connected now, so that one that is
/// unreachable fails first), then runs the command.
async fn open_store_and_run(cli: &mut Cli, out: &mut Output) -> Result<(), Failure> {
    if !matches!(
        cli.command,
        Command::Demo(_) | Command::Completions(_) | Command::Servers(_)
    ) {
        cli.global.opened = store::Store::open(&cli.global).await?;
    }
    commands::run(cli, out).await
}

/// Logs go to stderr; stdout is for results. `RUST_LOG` overrides `-v`.
/// The one writer outside output.rs: what the library logs of a server's
/// words is made terminal-safe where it is logged, and tracing escapes the
/// escape character itself in whatever it writes.
#[allow(clippy::disallowed_methods, reason = "the log's own writer")]
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,rmcp=off",
        // rmcp reports an expected 401 as an error; -vv shows it.
        1 => "mcp_oauth=debug,mcp_oauth_cli=debug,warn,rmcp=off",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal, and never against NO_COLOR.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}
