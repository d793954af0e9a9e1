//! An MCP client that gets authentication right.
//!
//! ```no_run
//! # async fn run() -> mcp_oauth::Result<()> {
//! use mcp_oauth::Client;
//!
//! let client = Client::builder("http://127.0.0.1:8000/mcp").connect().await?;
//! client.ping().await?;
//! let result = client
//!     .call_tool("echo", serde_json::json!({ "text": "hi" }).as_object().cloned())
//!     .await?;
//! println!("{:?}", result.content);
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! # Transports
//!
//! - **Streamable HTTP** (MCP 2025-03-26 and later), JSON or event-stream
//!   answers, with sessions (`Mcp-Session-Id`, renewed when the server
//!   forgets them, deleted on [`Client::close`]) or without.
//! - **Legacy HTTP+SSE** (MCP 2024-11-05). [`TransportMode::Auto`], the
//!   default, tries Streamable HTTP first and falls back to it when the
//!   server answers the first POST with 400, 404 or 405.
//! - **stdio**: a local server as a child process, see [`Client::stdio`].
//!
//! # Protocol revisions
//!
//! The client offers 2026-07-28 first (`server/discover`, no handshake, no
//! session) and falls back to the `initialize` handshake, which negotiates
//! 2025-11-25, 2025-06-18 or 2025-03-26 with older servers. [`Client::ping`]
//! works with each: where a revision has no `ping` request (2026-07-28), it
//! sends an uncached `server/discover` instead.
//!
//! # Credentials
//!
//! Every request takes its `Authorization` header from one place, the
//! [`Auth`] given to the builder. Secrets are kept in [`secrecy`] types and
//! never appear in `Debug` output, errors or logs, and no credential follows
//! a redirect to another origin.
//!
//! # Errors
//!
//! Every failure is an [`Error`] whose variant says what went wrong
//! (unreachable, timeout, not an MCP endpoint, HTTP status, JSON-RPC error
//! from the server, ...) with the URL and the facts needed to act on it.

#![warn(missing_docs)]

mod auth;
mod client;
mod error;
mod secret;
mod server_url;
mod store;
mod transport;

#[cfg(feature = "middleware")]
pub use auth::OAuthMiddleware;
pub use auth::{
    Auth, CrossAppAccess, IntoScopes, OAuth, OAuthBuilder, SigningAlgorithm, UserAgent,
};
pub use client::{Client, ClientBuilder};
pub use error::{Error, Result};
#[cfg(feature = "middleware")]
pub use reqwest_middleware;
pub use rmcp;
pub use secrecy;
pub use server_url::ServerUrl;
pub use store::{FileTokenStorage, MemoryTokenStorage, StoredCredentials, TokenStorage};
pub use transport::{
    AuthorizedHttpClient, ConnectedVia, ElicitationPolicy, ServerDetails, TransportMode,
};
pub use url;

/// The MCP data types (tools, resources, prompts, content), as rmcp defines
/// them.
pub mod model {
    pub use rmcp::model::*;
}
