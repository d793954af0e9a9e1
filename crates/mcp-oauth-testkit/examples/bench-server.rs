//! The protected server `scripts/bench` times clients against: an
//! authorization server that approves at once (no login page, so a scripted
//! browser that follows redirects completes the sign-in) and an MCP server
//! that accepts only its tokens, both on 127.0.0.1.
//!
//! With `--legacy` the MCP server implements the revisions up to 2025-11-25
//! only (no `server/discover`), as most servers deployed today.
//!
//! Prints `url <MCP URL>` on stdout once both listen, then reads commands on
//! stdin, one a line:
//!
//! - `log`: prints every request received since the previous `log`, one a
//!   line, as `<HTTP method> <path> <JSON-RPC method or -> <status>` (the MCP
//!   server's first, then the authorization server's), then `end`.
//!
//! End of input stops both servers.
//!
//! ```sh
//! cargo run --release -p mcp-oauth-testkit --example bench-server [-- --legacy]
//! ```

use std::time::Duration;

use mcp_oauth_testkit::{AuthServer, LoginMode, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // As `mcp-oauth demo`, but approving at once and with hour-long tokens,
    // so that no warm run meets a refresh.
    let auth = AuthServer::builder()
        .login(LoginMode::AutoApprove)
        .access_token_lifetime(Duration::from_secs(3600))
        .scopes_supported(&["mcp:tools", "offline_access"])
        .start()
        .await?;
    let mut server = TestServer::builder()
        .protected_by(&auth)
        .challenge_scope("mcp:tools");
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--legacy") => {
            server =
                server.protocol_versions(&["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]);
        }
        Some(other) => {
            eprintln!("bench-server: unknown argument {other} (--legacy)");
            std::process::exit(2);
        }
    }
    let server = server.start().await?;

    let mut out = tokio::io::stdout();
    out.write_all(format!("url {}\n", server.url()).as_bytes())
        .await?;
    out.flush().await?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() != "log" {
            continue;
        }
        let mut text = String::new();
        for request in server.requests() {
            let rpc = request.rpc_method.as_deref().unwrap_or("-");
            text.push_str(&format!(
                "{} {} {rpc} {}\n",
                request.http_method, request.path, request.status
            ));
        }
        for request in auth.requests() {
            text.push_str(&format!(
                "{} {} - {}\n",
                request.method, request.path, request.status
            ));
        }
        server.clear_requests();
        auth.clear_requests();
        text.push_str("end\n");
        out.write_all(text.as_bytes()).await?;
        out.flush().await?;
    }
    server.stop().await;
    auth.stop().await;
    Ok(())
}
