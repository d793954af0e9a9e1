//! One module per command: its own options, what it does and what it prints.

pub(crate) mod call;
pub(crate) mod completions;
pub(crate) mod demo;
pub(crate) mod doctor;
pub(crate) mod headers;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod man;
pub(crate) mod ping;
pub(crate) mod proxy;
pub(crate) mod servers;
pub(crate) mod skills;
pub(crate) mod status;
pub(crate) mod token;
pub(crate) mod tools;

use crate::{
    cli::{Cli, Command},
    failure::Failure,
    output::Output,
};

/// Runs the command the command line names.
pub(crate) async fn run(cli: &Cli, out: &mut Output) -> Result<(), Failure> {
    let global = &cli.global;
    match &cli.command {
        Command::Ping(args) => ping::run(args, global, out).await,
        Command::Tools(args) => tools::run(args, global, out).await,
        Command::Call(args) => call::run(args, global, out).await,
        Command::Skills(args) => skills::run(args, global, out).await,
        Command::Login(args) => login::run(args, global, out).await,
        Command::Logout(args) => logout::run(args, global, out).await,
        Command::Status => status::run(global, out).await,
        Command::Token(args) => token::run(args, global, out).await,
        Command::Headers(args) => headers::run(args, global, out).await,
        Command::Servers(args) => servers::run(args, &cli.config, global.json, out),
        Command::Proxy(args) => proxy::run(args, global).await,
        Command::Completions(args) => completions::run(args, out),
        Command::Demo(args) => demo::run(args, out).await,
        Command::Doctor(args) => doctor::run(args, global, out).await,
        Command::Man(args) => man::run(args, out),
    }
}
