//! `mcp-oauth proxy <URL>`: stdio ↔ remote bridge for hosts that only start
//! local servers. stdin/stdout carry MCP; everything else goes to stderr.

use clap::Args;
use mcp_oauth::{Bridge, Error, UserAgent};

use crate::{
    failure::Failure,
    options::{CredentialArgs, GlobalArgs, TransportArgs, UrlArg},
};

#[derive(Args)]
pub(crate) struct ProxyArgs {
    #[command(flatten)]
    pub(crate) server: UrlArg,

    #[command(flatten)]
    pub(crate) transport: TransportArgs,

    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,

    /// Hide the tools whose names match this glob (`*`, `?`) from the host:
    /// left out of tools/list, a call refused with a JSON-RPC error.
    /// Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub(crate) ignore_tool: Vec<String>,
}

pub(crate) async fn run(args: &ProxyArgs, global: &GlobalArgs) -> Result<(), Failure> {
    let url = args.server.url.as_str();
    if args.credentials.oauth.sign_in.no_browser {
        return Err(Failure::usage(format!(
            "the proxy's stdin carries the host's messages, so it cannot take a pasted \
             address; sign in beforehand with `mcp-oauth login --no-browser {url}{}`",
            global.account_option()
        )));
    }
    // stdin is the host's: the sign-in opens a browser or gives up at once,
    // and never waits for a paste.
    let auth = args
        .credentials
        .auth_with(url, global, Some(UserAgent::BrowserOnly))?;
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    let output = tokio::io::stdout();
    let account = global.account_option();
    let sign_in_here = format!(
        "sign in from a terminal with `mcp-oauth login {url}{account}` (or `mcp-oauth login \
         --device {url}{account}`), then start the server again"
    );
    let mut bridge = Bridge::new(url, auth).transport(args.transport.mode());
    for (name, value) in args.transport.headers()? {
        bridge = bridge.header(&name, &value);
    }
    if let Some(pem) = global.ca_bundle()? {
        bridge = bridge.ca_certificates(pem);
    }
    for glob in &args.ignore_tool {
        bridge = bridge.ignore_tool(glob);
    }
    bridge
        .authorization_hint(sign_in_here.clone())
        .run_until(input, output, terminated())
        .await
        .map_err(|error| match error {
            // Not the CLI's general advice (--no-browser): the proxy takes no paste.
            Error::SignInUnavailable { .. }
            | Error::UserAgent { .. }
            | Error::SignInTimeout { .. } => Failure::from(error).hint(sign_in_here),
            error => args.credentials.oauth.sign_in.failure(error),
        })
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
