//! A hand-written MCP server on loopback for integration tests.
//!
//! It speaks every transport and lifecycle the client must handle and can
//! misbehave on request, independently of any MCP SDK:
//!
//! - [`ServerMode::Stateful`]: Streamable HTTP with `initialize` and
//!   `Mcp-Session-Id` (revisions 2025-03-26 .. 2025-11-25); when 2026-07-28 is
//!   configured it also answers `server/discover` and session-less modern requests.
//! - [`ServerMode::Stateless`]: the 2026-07-28 lifecycle, `server/discover` and
//!   per-request `_meta`, no sessions.
//! - [`ServerMode::LegacySse`]: the 2024-11-05 HTTP+SSE transport.
//!
//! It serves the tools `echo`, `add` and `fail`, the resource `test://hello`
//! and the prompt `greet`, and records every HTTP request ([`RecordedRequest`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mcp_oauth_testkit::{ResponseStyle, TestServer};
//! let server = TestServer::builder().responses(ResponseStyle::Sse).start().await?;
//! let url = server.url(); // http://127.0.0.1:PORT/mcp
//! # let _ = url;
//! server.stop().await;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod config;
mod jsonrpc;
mod legacy_sse;
mod log;
mod methods;
mod respond;
mod server;
mod stdio;
mod streamable;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Fault, ResponseStyle, ServerMode};
pub use log::RecordedRequest;
pub use stdio::serve_stdio;

use config::{ALL_VERSIONS, Config, LEGACY_SSE_VERSIONS};
use server::{Shared, lock};

/// How long [`TestServer::stop`] waits for a graceful shutdown before aborting.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A running server. [`TestServer::stop`] it; dropping it also shuts it down.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    mode: ServerMode,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A builder with the defaults: Stateful, JSON responses, every revision, no faults.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// The MCP endpoint: `http://127.0.0.1:PORT/mcp`, or `/sse` in [`ServerMode::LegacySse`].
    pub fn url(&self) -> String {
        let path = match self.mode {
            ServerMode::LegacySse => "/sse",
            _ => "/mcp",
        };
        format!("{}{path}", self.base_url())
    }

    /// `http://127.0.0.1:PORT`, for building other URLs against the server.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound loopback address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every HTTP request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log.snapshot()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Sessions currently alive (Stateful sessions plus open legacy SSE streams).
    pub fn active_sessions(&self) -> usize {
        lock(&self.shared.sessions).len() + lock(&self.shared.legacy).len()
    }

    /// Shuts down gracefully, ending open streams and stalled requests; aborts
    /// after 2 s. The port is released when this returns.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
        {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Configures and starts a [`TestServer`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TestServerBuilder {
    mode: ServerMode,
    style: ResponseStyle,
    versions: Option<Vec<String>>,
    page_size: Option<usize>,
    faults: Vec<Fault>,
    bearer: Option<String>,
}

impl TestServerBuilder {
    /// Transport and lifecycle; default [`ServerMode::Stateful`].
    pub fn mode(mut self, mode: ServerMode) -> Self {
        self.mode = mode;
        self
    }

    /// Framing of POST responses; default [`ResponseStyle::Json`].
    pub fn responses(mut self, style: ResponseStyle) -> Self {
        self.style = style;
        self
    }

    /// The revisions this server implements. Default: 2024-11-05 through
    /// 2026-07-28 (LegacySse: 2024-11-05 and 2025-03-26).
    pub fn protocol_versions(mut self, versions: &[&str]) -> Self {
        self.versions = Some(versions.iter().map(|v| (*v).to_owned()).collect());
        self
    }

    /// Paginates `tools/list` with `nextCursor`, `n` tools per page (at least 1).
    pub fn tools_page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Injects a fault; may be called several times.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Requires `Authorization: Bearer <token>`; otherwise 401 with
    /// `WWW-Authenticate: Bearer realm="mcp-testkit"` (plus `error="invalid_token"`
    /// when a wrong token was sent).
    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    /// Binds `127.0.0.1:0` and serves in a background task of the current runtime.
    pub async fn start(self) -> std::io::Result<TestServer> {
        let mut versions = self.versions.unwrap_or_else(|| {
            let defaults: &[&str] = match self.mode {
                ServerMode::LegacySse => &LEGACY_SSE_VERSIONS,
                _ => &ALL_VERSIONS,
            };
            defaults.iter().map(|v| (*v).to_owned()).collect()
        });
        versions.sort();
        versions.dedup();
        let cfg = Config {
            mode: self.mode,
            style: self.style,
            versions,
            page_size: self.page_size,
            faults: self.faults,
            bearer: self.bearer,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(cfg, shutdown_rx));
        let router = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&shared));
        let stopped = shared.stopped();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(stopped);
            if let Err(error) = serve.await {
                tracing::warn!(%error, "mcp-oauth-testkit server failed");
            }
        });
        Ok(TestServer {
            addr,
            mode: self.mode,
            shared,
            shutdown,
            task: Some(task),
        })
    }
}
