//! `mcp-oauth proxy <URL>`: stdio ↔ remote bridge for hosts that only start
//! local servers. stdin/stdout carry MCP; everything else goes to stderr.

use clap::Args;

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
}

pub(crate) async fn run(args: &ProxyArgs, global: &GlobalArgs) -> Result<(), Failure> {
    let url = args.server.url.as_str();
    let auth = args.credentials.auth(url, global.cache_dir.as_deref())?;
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    let output = tokio::io::stdout();
    let mode = args.transport.mode();
    mcp_oauth::bridge_stdio_until(url, auth, mode, input, output, terminated())
        .await
        .map_err(|error| args.credentials.oauth.sign_in.failure(error))
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
