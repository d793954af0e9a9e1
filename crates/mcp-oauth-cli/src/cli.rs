//! The command line, as clap parses it: the commands, each with the option
//! groups it uses (`options`), and the few options every command takes.

use clap::{Parser, Subcommand};

use crate::{
    commands::{
        call::CallArgs, completions::CompletionsArgs, demo::DemoArgs, doctor::DoctorArgs,
        headers::HeadersArgs, login::LoginArgs, logout::LogoutArgs, man::ManArgs, proxy::ProxyArgs,
        servers::ServersArgs, skills::SkillsArgs, token::TokenArgs,
    },
    config::ConfigArgs,
    options::{GlobalArgs, ServerArgs},
};

/// Talk to MCP servers from a terminal, a script or CI.
#[derive(Parser)]
#[command(name = "mcp-oauth", version, about, long_about = None)]
#[command(
    after_help = "Each command takes its own options: see mcp-oauth <COMMAND> --help \
(e.g. --scopes, --client-id, --callback-port, --login-timeout for the commands that sign in). \
--json, -v, --cache-dir, --account, --config and the --store options may also come before the command.

Named servers: every command that takes a URL takes the name of a server kept with \
`mcp-oauth servers add NAME URL [OPTIONS]` instead; the options kept with it apply unless \
the command line gives others.

Accounts: one server may be used under several identities. --account NAME signs in, \
keeps tokens and forgets them for that account only; without it, the default account's \
credentials are used. status lists every account.

Exit codes: 0 ok, 1 the tool reported an error, 2 bad input, \
3 server (or --store) unreachable, 4 not an MCP server or protocol error, 5 timeout, \
6 authorization required, 7 the server refused the request, \
8 a local failure (the credentials cache or the output), 130 interrupted."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    #[command(flatten)]
    pub(crate) global: GlobalArgs,

    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Connect and check that the server answers.
    Ping(ServerArgs),
    /// List the server's tools.
    Tools(ServerArgs),
    /// Call a tool and print its result.
    Call(CallArgs),
    /// List the server's skills, or load one (--load NAME): its SKILL.md,
    /// checked against the listing, is printed.
    Skills(SkillsArgs),
    /// Log in to a server now (OAuth in the browser) and cache the tokens.
    Login(LoginArgs),
    /// Forget the cached credentials of a server (the default account's, or
    /// --account's only), or of all servers and accounts.
    Logout(LogoutArgs),
    /// List the servers and accounts with cached credentials (--account's
    /// only, when given).
    Status,
    /// Print a valid access token for a server (refreshed if needed; never
    /// signs in).
    Token(TokenArgs),
    /// Print the headers to send to a server as a JSON object, e.g.
    /// {"Authorization": "Bearer …"}, for hosts that run a command for them
    /// (Claude Code's headersHelper). Refreshed if needed; never signs in.
    Headers(HeadersArgs),
    /// Keep servers under a name, with their options: `servers add linear
    /// https://mcp.linear.app/mcp --account work`, then `mcp-oauth proxy
    /// linear`.
    Servers(ServersArgs),
    /// Bridge stdio to a remote server, for hosts that only start local
    /// servers: stdin/stdout carry MCP, everything else goes to stderr.
    Proxy(ProxyArgs),
    /// Print a manual page (roff): the tool's, or one command's, e.g.
    /// `mcp-oauth man > mcp-oauth.1 && man ./mcp-oauth.1`.
    Man(ManArgs),
    /// Print shell completions, e.g. `mcp-oauth completions bash > /etc/bash_completion.d/mcp-oauth`.
    Completions(CompletionsArgs),
    /// Start a demo MCP server on loopback and show the client at work on it.
    Demo(DemoArgs),
    /// Try each step of the flow against a server and say which one fails
    /// and what to do: reachability and TLS, the MCP endpoint, its
    /// challenge, the metadata, the callback port, the stored credentials
    /// (and, with --refresh, a live refresh). Never prints a secret.
    Doctor(DoctorArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        // Every name in a requires or conflicts_with exists where it is used.
        Cli::command().debug_assert();
    }
}
