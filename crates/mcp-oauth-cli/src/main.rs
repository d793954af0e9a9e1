//! The `mcp-oauth` command.

mod cache;
mod cli;
mod commands;
mod demo;
mod failure;
mod login;
mod output;
mod spinner;

use std::{io::IsTerminal, process::ExitCode, time::Duration};

use clap::Parser;
use mcp_oauth::{Client, ClientBuilder, ElicitationPolicy, TransportMode};

use crate::{
    cli::{Cli, Command, ElicitationArg, Options, ShellArg, StdioArgs, TransportArg},
    failure::{Exit, Failure},
    output::Output,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.options.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return Failure::new(Exit::BadInput, format!("cannot start the runtime: {error}"))
                .report();
        }
    };
    let mut out = Output::new();
    // `demo --serve` runs until Ctrl-C by design; everything else is cut short.
    let stops_on_ctrl_c = matches!(cli.command, Command::Demo(_));
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = run(cli, &mut out) => outcome,
            _ = tokio::signal::ctrl_c(), if !stops_on_ctrl_c => {
                Err(Failure::new(Exit::Interrupted, "interrupted"))
            }
        }
    });
    commands::finish(&mut out);
    // Background tasks (an SSE reader, a child process) must not delay exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn run(cli: Cli, out: &mut Output) -> Result<(), Failure> {
    let options = &cli.options;
    match &cli.command {
        Command::Ping(target) => {
            let client = connect(options, target.url.as_deref(), &target.stdio).await?;
            let result = commands::ping(&client, out, options.json).await;
            client.close().await;
            result
        }
        Command::Tools(target) => {
            let client = connect(options, target.url.as_deref(), &target.stdio).await?;
            let result = commands::tools(&client, out, options.json).await;
            client.close().await;
            result
        }
        Command::Demo(demo) => demo::run(options, out, demo.serve).await,
        Command::Login(target) => login::login(options, &target.url, out).await,
        Command::Logout(logout) => cache::logout(options, logout.url.as_deref(), out).await,
        Command::Status => cache::status(options, out),
        Command::Token(target) => cache::token(options, &target.url, out).await,
        Command::Completions { shell } => {
            let shell = match shell {
                ShellArg::Bash => clap_complete::Shell::Bash,
                ShellArg::Zsh => clap_complete::Shell::Zsh,
                ShellArg::Fish => clap_complete::Shell::Fish,
            };
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "mcp-oauth",
                &mut script,
            );
            out.text(&String::from_utf8_lossy(&script))
        }
        Command::Proxy(target) => {
            let auth = login::auth_for(options, &target.url)?;
            let input = tokio::io::BufReader::new(tokio::io::stdin());
            let (mode, output) = (transport_mode(options), tokio::io::stdout());
            mcp_oauth::bridge_stdio_until(&target.url, auth, mode, input, output, terminated())
                .await?;
            Ok(())
        }
        Command::Call(call) => {
            let (url, tool) = match (call.stdio.stdio, call.positional.as_slice()) {
                (true, [tool]) => (None, tool),
                (false, [url, tool]) => (Some(url.as_str()), tool),
                (true, _) => {
                    return Err(usage(
                        "with --stdio, give only the tool name: call --stdio <TOOL> -- <COMMAND>",
                    ));
                }
                (false, _) => {
                    return Err(usage(
                        "give the server URL and the tool name: call <URL> <TOOL>",
                    ));
                }
            };
            // Bad arguments are reported before any connection is made.
            let arguments = commands::parse_arguments(call.args.as_deref())?;
            let client = connect(options, url, &call.stdio).await?;
            let result = commands::call(&client, out, options.json, tool, arguments).await;
            client.close().await;
            result
        }
    }
}

fn usage(message: &str) -> Failure {
    Failure::new(Exit::BadInput, message).hint("see mcp-oauth --help")
}

async fn connect(
    options: &Options,
    url: Option<&str>,
    stdio: &StdioArgs,
) -> Result<Client, Failure> {
    let builder = match (url, stdio.stdio) {
        (Some(_), true) => {
            return Err(usage("give either a URL or --stdio -- <COMMAND>, not both"));
        }
        (Some(url), false) => Client::builder(url).auth(login::auth_for(options, url)?),
        (None, true) => {
            let (program, args) = stdio
                .command
                .split_first()
                .ok_or_else(|| usage("--stdio needs the server command after --"))?;
            let mut command = tokio::process::Command::new(program);
            command.args(args);
            Client::stdio(command)
        }
        (None, false) => return Err(usage("give the server URL")),
    };
    Ok(configure(builder, options)?.connect().await?)
}

pub(crate) fn configure(
    builder: ClientBuilder,
    options: &Options,
) -> Result<ClientBuilder, Failure> {
    if !(options.timeout.is_finite() && options.timeout > 0.0 && options.timeout <= 86_400.0) {
        return Err(usage(
            "--timeout must be a number of seconds between 0 and 86400",
        ));
    }
    let transport = transport_mode(options);
    let elicitation = match options.elicitation {
        ElicitationArg::Decline => ElicitationPolicy::Decline,
        ElicitationArg::AcceptDefaults => ElicitationPolicy::AcceptDefaults,
    };
    Ok(builder
        .elicitation(elicitation)
        .transport(transport)
        .timeout(Duration::from_secs_f64(options.timeout)))
}

/// Completes on SIGTERM (never elsewhere), so the proxy can end cleanly.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut signal) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        signal.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}

fn transport_mode(options: &Options) -> TransportMode {
    match options.transport {
        TransportArg::Auto => TransportMode::Auto,
        TransportArg::Http => TransportMode::StreamableHttp,
        TransportArg::Sse => TransportMode::Sse,
    }
}

/// Logs go to stderr; stdout is for results. `RUST_LOG` overrides `-v`.
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
