//! An example web platform on mcp-oauth's [`WebFlow`](mcp_oauth::WebFlow):
//! each signed-in user connects their own MCP servers, and any number of
//! instances share one Redis (tokens, pending sign-ins, the refresh lock).
//!
//! ```text
//! mcp-oauth-web-example --listen 127.0.0.1:8080 --public-url https://agents.example.com \
//!     --store redis://:secret@10.0.0.5:6379/0 --store-key-file store.key
//! ```
//!
//! Routes (see routes.rs): `GET /login?user=NAME` (a demo sign-in),
//! `GET /connect?server=URL`, `GET /oauth/callback`, `GET /tools?server=URL`,
//! `POST /call?server=URL&tool=NAME` with the arguments as a JSON object,
//! and `GET /`.

mod routes;
mod session;
mod store;

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;

/// Whatever stops the example before it serves; printed and exit 1.
type Failure = Box<dyn std::error::Error + Send + Sync>;

/// An example web platform: users connect their own MCP servers.
///
/// Not `Debug`: `--store` may carry the Redis password.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,

    /// The URL browsers reach the platform at (every instance behind it
    /// gives the same): the OAuth callback is <URL>/oauth/callback. https,
    /// or http on a loopback address for tests.
    #[arg(long, value_name = "URL")]
    public_url: String,

    /// Seconds a begun sign-in waits for its callback.
    #[arg(long, value_name = "SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    attempt_lifetime: u64,

    #[command(flatten)]
    store: store::StoreArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    let public_url = args.public_url.trim_end_matches('/');
    let redirect_uri = format!("{public_url}/oauth/callback");
    // WebFlow checks the redirect URI itself (https, or http on loopback).
    let secure = public_url.starts_with("https://");
    let lifetime = Duration::from_secs(args.attempt_lifetime);
    let (web, sessions) = store::open(&args.store, &redirect_uri, lifetime, secure).await?;
    let app = routes::App {
        web,
        sessions: Arc::new(sessions),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    // The line a supervisor (or a test) waits for.
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, routes::router(app))
        .with_graceful_shutdown(stopped())
        .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM from a supervisor: finish the requests under way.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Logs to stderr; `RUST_LOG` chooses (default: warnings, and nothing from
/// rmcp, which reports the expected 401 of a first request as an error).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rmcp=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
