//! The command line, as clap parses it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Talk to MCP servers from a terminal, a script or CI.
#[derive(Debug, Parser)]
#[command(name = "mcp-oauth", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 the tool reported an error, 2 bad input, \
3 server unreachable, 4 not an MCP server or protocol error, 5 timeout, \
6 authorization required, 7 the server refused the request."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,

    #[command(flatten)]
    pub(crate) options: Options,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Connect and check that the server answers.
    Ping(TargetArgs),
    /// List the server's tools.
    Tools(TargetArgs),
    /// Call a tool and print its result.
    Call(CallArgs),
    /// Log in to a server now (OAuth in the browser) and cache the tokens.
    Login(UrlArg),
    /// Forget the cached credentials of a server, or of all servers.
    Logout(LogoutArgs),
    /// List the servers with cached credentials.
    Status,
    /// Print a valid access token for a server (refreshed if needed).
    Token(UrlArg),
    /// Bridge stdio to a remote server, for hosts that only start local
    /// servers: stdin/stdout carry MCP, everything else goes to stderr.
    Proxy(UrlArg),
    /// Print shell completions, e.g. `mcp-oauth completions bash > /etc/bash_completion.d/mcp-oauth`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Start a demo MCP server on loopback and show the client at work on it.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the demo server running afterwards (until Ctrl-C), to try the
    /// other commands on it.
    #[arg(long)]
    pub(crate) serve: bool,
}

/// Options every command takes; they may come before or after it.
#[derive(Debug, Args)]
pub(crate) struct Options {
    /// Transport for http(s) servers: Streamable HTTP, legacy SSE, or
    /// Streamable HTTP falling back to SSE.
    #[arg(long, global = true, value_enum, default_value_t = TransportArg::Auto)]
    pub(crate) transport: TransportArg,

    /// Send `Authorization: Bearer <TOKEN>` with every request instead of OAuth.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_BEARER",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) bearer: Option<String>,

    /// Where credentials are cached [default: ~/.local/share/mcp-oauth].
    #[arg(long, global = true, env = "MCP_OAUTH_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,

    /// OAuth scopes to ask for, space-separated (default: what the server asks).
    #[arg(long, global = true, value_name = "SCOPES", help_heading = "OAuth")]
    pub(crate) scopes: Option<String>,

    /// The client name shown on the consent page (dynamic registration).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "mcp-oauth",
        help_heading = "OAuth"
    )]
    pub(crate) client_name: String,

    /// A client id registered beforehand at the authorization server.
    #[arg(long, global = true, value_name = "ID", help_heading = "OAuth")]
    pub(crate) client_id: Option<String>,

    /// The secret of that client.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        help_heading = "OAuth"
    )]
    pub(crate) client_secret: Option<String>,

    /// A Client ID Metadata Document URL, used as client id where supported.
    #[arg(long, global = true, value_name = "URL", help_heading = "OAuth")]
    pub(crate) client_metadata_url: Option<String>,

    /// Extra dynamic-registration metadata, a JSON object.
    #[arg(long, global = true, value_name = "JSON", help_heading = "OAuth")]
    pub(crate) client_metadata: Option<String>,

    /// A fixed port for the loopback callback (default: any free port).
    #[arg(long, global = true, value_name = "PORT", help_heading = "OAuth")]
    pub(crate) callback_port: Option<u16>,

    /// The host in the redirect URI.
    #[arg(long, global = true, value_enum, default_value_t = CallbackHostArg::Loopback, help_heading = "OAuth")]
    pub(crate) callback_host: CallbackHostArg,

    /// Don't open a browser: print the URL, then wait for the callback or
    /// for the redirected URL pasted on stdin.
    #[arg(long, global = true, help_heading = "OAuth")]
    pub(crate) no_browser: bool,

    /// Sign in with the device authorization grant (RFC 8628): a code and a
    /// URL are shown to open on any device, and this one waits for approval.
    /// No browser or callback port is needed here. The authorization server
    /// must offer it.
    #[arg(long, global = true, help_heading = "OAuth")]
    pub(crate) device: bool,

    /// How tokens are obtained: a person signs in (authorization-code), or a
    /// machine does (client-credentials, cross-app-access).
    #[arg(long, global = true, value_enum, default_value_t = GrantArg::AuthorizationCode, help_heading = "OAuth")]
    pub(crate) grant: GrantArg,

    /// A PEM private key: authenticate with a signed JWT (private_key_jwt).
    #[arg(long, global = true, value_name = "FILE", help_heading = "OAuth")]
    pub(crate) private_key: Option<PathBuf>,

    /// The algorithm of --private-key: ES256 or RS256.
    #[arg(
        long,
        global = true,
        value_name = "ALG",
        default_value = "ES256",
        help_heading = "OAuth"
    )]
    pub(crate) signing_alg: String,

    /// Cross-app access: the identity provider's token endpoint.
    #[arg(long, global = true, value_name = "URL", help_heading = "OAuth")]
    pub(crate) idp_token_endpoint: Option<String>,

    /// Cross-app access: the user's ID token from the identity provider.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_IDP_ID_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = "OAuth"
    )]
    pub(crate) idp_id_token: Option<String>,

    /// Cross-app access: this application's client id at the identity provider.
    #[arg(long, global = true, value_name = "ID", help_heading = "OAuth")]
    pub(crate) idp_client_id: Option<String>,

    /// Cross-app access: its secret there, if one is needed.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_IDP_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        help_heading = "OAuth"
    )]
    pub(crate) idp_client_secret: Option<String>,

    /// How to answer a server's requests for input: decline them, or accept
    /// with the defaults of their form.
    #[arg(long, global = true, value_enum, default_value_t = ElicitationArg::Decline)]
    pub(crate) elicitation: ElicitationArg,

    /// Seconds to wait for the sign-in in the browser.
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        default_value_t = 300.0,
        help_heading = "OAuth"
    )]
    pub(crate) login_timeout: f64,

    /// Print results as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Log to stderr: -v for this tool's steps, -vv for every detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    /// Seconds to wait for the connection and for each request.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30.0)]
    pub(crate) timeout: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GrantArg {
    AuthorizationCode,
    ClientCredentials,
    CrossAppAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ElicitationArg {
    Decline,
    AcceptDefaults,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CallbackHostArg {
    #[value(name = "127.0.0.1")]
    Loopback,
    #[value(name = "localhost")]
    Localhost,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The server to forget.
    #[arg(
        value_name = "URL",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub(crate) url: Option<String>,

    /// Forget every server.
    #[arg(long)]
    pub(crate) all: bool,
}

/// Just the server URL.
#[derive(Debug, Args)]
pub(crate) struct UrlArg {
    /// The server's MCP endpoint, e.g. https://example.com/mcp
    #[arg(value_name = "URL")]
    pub(crate) url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportArg {
    Auto,
    Http,
    Sse,
}

/// Where the server is: a URL, or a command after `--stdio --`.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The server's MCP endpoint, e.g. https://example.com/mcp
    #[arg(required_unless_present = "stdio", value_name = "URL")]
    pub(crate) url: Option<String>,

    #[command(flatten)]
    pub(crate) stdio: StdioArgs,
}

/// `call` takes the URL (unless `--stdio`) and then the tool name.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The server URL and the tool: `<URL> <TOOL>`, or just `<TOOL>` with --stdio.
    #[arg(required = true, num_args = 1..=2, value_names = ["URL", "TOOL"])]
    pub(crate) positional: Vec<String>,

    /// The tool's arguments, a JSON object.
    #[arg(long, value_name = "JSON")]
    pub(crate) args: Option<String>,

    #[command(flatten)]
    pub(crate) stdio: StdioArgs,
}

#[derive(Debug, Args)]
pub(crate) struct StdioArgs {
    /// Start a local server and talk to it over stdin/stdout; the command
    /// and its arguments follow `--`.
    #[arg(long, requires = "command")]
    pub(crate) stdio: bool,

    /// The server command, after `--` (with --stdio).
    #[arg(last = true, value_name = "COMMAND", requires = "stdio")]
    pub(crate) command: Vec<String>,
}
