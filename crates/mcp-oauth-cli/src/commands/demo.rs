//! `mcp-oauth demo`: an authorization server and a protected MCP server on
//! loopback, and the whole OAuth flow against them, explained.

use std::time::{Duration, Instant};

use clap::Args;
use mcp_oauth::{Auth, Client, MemoryTokenStorage, model::CallToolResult};
use mcp_oauth_testkit::{AuthRequestKind, AuthServer, LoginMode, TestServer};
use serde_json::json;

use crate::{
    failure::{Exit, Failure},
    options::SignInArgs,
    output::{Output, to_stderr},
};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the demo servers running afterwards (until Ctrl-C), to try the
    /// other commands on them.
    #[arg(long)]
    pub(crate) serve: bool,

    /// How you sign in to the demo: its tokens stay in memory, so it takes
    /// no cache or client options.
    #[command(flatten)]
    pub(crate) sign_in: SignInArgs,
}

pub(crate) async fn run(args: &DemoArgs, out: &mut Output) -> Result<(), Failure> {
    let start_failed = |error: std::io::Error| {
        Failure::new(
            Exit::Unreachable,
            format!("could not start the demo servers: {error}"),
        )
        .hint("is the loopback interface up?")
    };
    // Short-lived tokens, so that `demo --serve` shows refresh at work.
    let auth = AuthServer::builder()
        .login(LoginMode::Interactive)
        .access_token_lifetime(Duration::from_secs(30))
        .scopes_supported(&["mcp:tools", "offline_access"])
        .device_authorization(Duration::from_secs(5))
        .start()
        .await
        .map_err(start_failed)?;
    let server = TestServer::builder()
        .protected_by(&auth)
        .challenge_scope("mcp:tools")
        .start()
        .await
        .map_err(start_failed)?;
    // `main` leaves Ctrl-C to the demo, which stops its servers on it once
    // they are left running; until then it interrupts, as anywhere else.
    let result = tokio::select! {
        result = walk_through(&args.sign_in, out, &auth, &server) => result,
        _ = tokio::signal::ctrl_c() => Err(Failure::new(Exit::Interrupted, "interrupted")),
    };
    if result.is_ok() && args.serve {
        let url = server.url();
        out.line(&format!(
            "\nThe demo servers keep running. In another terminal try:\n  \
             mcp-oauth login {url}\n  \
             mcp-oauth call {url} echo --args '{{\"text\":\"hi\"}}'\n\
             (sign in as demo / demo), or sign in from any device with\n  \
             mcp-oauth login --device {url}\n\
             Access tokens live 30 s here: a call after that\n\
             refreshes silently, with no browser. Press Ctrl-C to stop them."
        ))?;
        out.flush()?;
        let _ = tokio::signal::ctrl_c().await;
    }
    server.stop().await;
    auth.stop().await;
    result
}

async fn walk_through(
    sign_in: &SignInArgs,
    out: &mut Output,
    auth: &AuthServer,
    server: &TestServer,
) -> Result<(), Failure> {
    let url = server.url();
    out.line(&format!(
        "Started a demo authorization server at {} and a protected MCP server at {url}.",
        auth.issuer()
    ))?;
    // The demo's tokens stay in memory: nothing is written to your cache.
    let oauth = sign_in
        .builder(&url)
        .token_storage(MemoryTokenStorage::new())
        .build()?;
    to_stderr("Sign in as demo / demo, then approve.");

    let started = Instant::now();
    let client = Client::builder(&url)
        .auth(Auth::from(oauth.clone()))
        .connect()
        .await
        .map_err(|error| sign_in.failure(error))?;
    let requests = auth.requests();
    let count = |kind: AuthRequestKind| requests.iter().filter(|r| r.kind == kind).count();
    let stored = oauth.stored().await?;
    let client_id = stored
        .as_ref()
        .and_then(|s| s.client_id())
        .unwrap_or("?")
        .to_owned();
    let scope = stored
        .as_ref()
        .and_then(|s| s.scope())
        .unwrap_or("")
        .to_owned();
    let steps = if sign_in.device {
        format!(
            "3. You approved the code on the verification page; polling the token endpoint then\n   \
                got a token with scope \"{scope}\".\n   \
                ({} device authorization request, {} token requests, {} ms in all.)",
            count(AuthRequestKind::DeviceAuthorization),
            count(AuthRequestKind::Token),
            started.elapsed().as_millis(),
        )
    } else {
        format!(
            "3. You signed in and approved in the browser; the code came back to a loopback listener\n   \
                and was exchanged, with its PKCE verifier, for a token with scope \"{scope}\".\n   \
                ({} authorization request, {} token request, {} ms in all.)",
            count(AuthRequestKind::Authorize),
            count(AuthRequestKind::Token),
            started.elapsed().as_millis(),
        )
    };
    out.line(&format!(
        "1. The server answered the first request with 401 and named its authorization server.\n\
         2. Discovery read {} metadata document(s); dynamic registration made the client {client_id}.\n\
         {steps}",
        count(AuthRequestKind::Metadata),
    ))?;

    let arguments = json!({ "text": "Hello from mcp-oauth" });
    let echoed = client
        .call_tool("echo", arguments.as_object().cloned())
        .await?;
    out.line(&format!(
        "4. With the token, call echo {arguments} -> {}",
        first_text(&echoed)
    ))?;
    client.close().await;

    auth.clear_requests();
    let again = Client::builder(&url)
        .auth(Auth::from(oauth))
        .connect()
        .await?;
    let sum = again
        .call_tool("add", json!({ "a": 2, "b": 3 }).as_object().cloned())
        .await?;
    again.close().await;
    out.line(&format!(
        "5. A second connection used the cached token ({} requests to the authorization server): add 2 3 -> {}",
        auth.requests().len(),
        first_text(&sum)
    ))?;
    Ok(())
}

fn first_text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|block| block.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}
