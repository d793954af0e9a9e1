//! An MCP client that gets authentication right.
//!
//! Connect, and log in once in the browser: after that, tokens come from
//! disk and are refreshed silently.
//!
//! ```no_run
//! # async fn run() -> mcp_oauth::Result<()> {
//! use mcp_oauth::{Auth, Client};
//!
//! let client = Client::builder("https://example.com/mcp").auth(Auth::oauth()).connect().await?;
//! client.ping().await?;
//! let result = client
//!     .call_tool("echo", serde_json::json!({ "text": "hi" }).as_object().cloned())
//!     .await?;
//! println!("{:?}", result.content);
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! # OAuth
//!
//! [`Auth::oauth()`] is FastMCP's `auth="oauth"`; [`OAuth::builder`] takes
//! its parameters (scopes, client name, cache folder, extra registration
//! metadata, callback port) and more (callback host, static client id and
//! secret, a Client ID Metadata Document URL, the browser-step timeout, the
//! [`UserAgent`]):
//!
//! ```no_run
//! # async fn run() -> mcp_oauth::Result<()> {
//! use mcp_oauth::{Auth, Client, OAuth, UserAgent};
//!
//! let oauth = OAuth::builder("https://example.com/mcp")
//!     .scopes("read write")
//!     .client_name("My agent")
//!     .token_storage_cache_dir("/var/lib/my-agent/tokens")
//!     .additional_client_metadata(serde_json::json!({ "logo_uri": "https://my.agent/logo.png" }))
//!     .callback_port(8765)
//!     .user_agent(UserAgent::PrintUrl)
//!     .build()?;
//! let client = Client::builder("https://example.com/mcp").auth(Auth::from(oauth)).connect().await?;
//! # Ok(()) }
//! ```
//!
//! The flow, step by step: cached tokens for this server are used without a
//! request to the authorization server (and refreshed shortly before they
//! expire); on a 401, discovery reads the protected resource metadata
//! (RFC 9728) and the authorization server metadata (RFC 8414, OpenID
//! Connect) in the specification's order, with the 2025-03-26 fallbacks;
//! the client registers (static credentials, else a Client ID Metadata
//! Document where supported, else dynamic registration as a native public
//! client); a loopback listener waits for the redirect while the browser
//! shows the sign-in; the code is exchanged with PKCE S256 and the
//! `resource` indicator; the tokens are stored, then used. A 403
//! `insufficient_scope` asks for the union of the scopes. Machine clients use
//! [`OAuthBuilder::client_credentials`] (with a secret or a
//! [`private_key_jwt`](OAuthBuilder::private_key_jwt) key),
//! [`OAuthBuilder::cross_app_access`], or workload identity federation
//! ([`OAuthBuilder::jwt_bearer`]: a JWT the platform issued, from an
//! [`AssertionSource`], for a token; no secret, no registration).
//!
//! Real identity providers differ: [`OAuthBuilder::no_resource`] for those
//! that refuse the RFC 8707 `resource` parameter (Microsoft Entra; a
//! refusal is also noticed, retried once without it and remembered),
//! [`OAuthBuilder::callback_path`] for a redirect URI with a fixed path;
//! a cached registration the server forgot is found before the browser
//! opens, and made again. In enterprise networks, requests follow
//! `HTTPS_PROXY` and `NO_PROXY`; [`ClientBuilder::ca_certificates`] and
//! [`OAuthBuilder::ca_certificates`] trust a private CA besides the
//! system's; [`ClientBuilder::header`] adds a header of your own (an API
//! gateway's key) to every MCP request.
//!
//! The same [`OAuth`] serves rmcp users ([`AuthorizedHttpClient`]) and any
//! `reqwest` client ([`OAuthMiddleware`], feature `middleware`, on by
//! default).
//!
//! # A stdio bridge
//!
//! [`Bridge`] connects a host that only starts local servers (one JSON-RPC
//! message per line on stdin and stdout) to a remote server. Its stdin is
//! the host's, so the sign-in must never read it:
//! [`UserAgent::BrowserOnly`] opens a browser or fails at once with
//! [`Error::SignInUnavailable`], and
//! [`Bridge::authorization_hint`] tells the host's user what to do then.
//!
//! # Token storage
//!
//! [`FileTokenStorage`] (the default) keeps one JSON document per server,
//! written atomically, `0600` in a `0700` folder that no other user may
//! write in; `FileTokenStorage::new(url)?.clear().await?` forgets one server
//! and [`FileTokenStorage::clear_all`] all of them. [`MemoryTokenStorage`]
//! keeps nothing on disk; [`TokenStorage`] is yours to implement. Before a
//! token request the save of its answer is prepared
//! ([`TokenStorage::prepare_save`]), so that a store that could not keep the
//! new tokens fails before anything single-use is spent.
//!
//! Credentials are kept per (server, account): `.account("work")` on the
//! builder gives that account its own tokens and its own document
//! ([`FileTokenStorage::for_account`]); without it, the default account's
//! document is the one there has always been.
//!
//! # Web platforms and accounts
//!
//! A platform where many people connect their own MCP servers uses
//! [`WebFlow`]: [`begin`](WebFlow::begin) gives the authorization URL for the
//! platform's https callback and keeps the attempt in a store every
//! instance shares; [`complete`](WebFlow::complete) takes the callback on any
//! instance, refusing another session's attempt, a replay, an expired
//! attempt or a forged `iss`; [`oauth`](WebFlow::oauth) gives the account's
//! tokens for its requests, refreshed once per expiry across instances. The
//! store is a [`CredentialStore`] and a [`PendingStore`]: the Redis store of
//! `mcp-oauth-redis`, or [`MemoryStore`] for one instance. Credentials are
//! kept per (server, account); the default account is the one a person at a
//! terminal has.
//!
//! # Security
//!
//! State is compared in constant time; the RFC 9207 `iss` and the metadata
//! `issuer` are checked; a protected resource that names another resource is
//! refused before any authorization request; an authorization server
//! without PKCE S256 is refused; plain `http` is allowed only on loopback;
//! only `http(s)` URLs are opened, never through a shell. Secrets live in
//! [`secrecy`] types and never appear in `Debug` output, errors or logs;
//! tokens go only to the origin of the server they were issued for, never
//! across a redirect.
//!
//! What servers write reaches people through the library too: in
//! [`Error`] messages, in sign-in notices, in the log. None of it may act on
//! a terminal (retitle it, clear it, hide or reorder text), so all of it
//! goes through one rule, [`terminal_safe`] and [`terminal_safe_line`],
//! which show control characters and bidi overrides as escapes (`\x1b`,
//! `\u{202e}`). A host that prints other server text (tool results, names,
//! `serverInfo`) for a person should use them too:
//!
//! ```
//! let description = "Reads files\u{1b}]0;pwned\u{7}";
//! assert_eq!(mcp_oauth::terminal_safe_line(description), "Reads files\\x1b]0;pwned\\x07");
//! ```
//!
//! # Transports
//!
//! - **Streamable HTTP** (MCP 2025-03-26 and later), JSON or event-stream
//!   answers, with sessions (`Mcp-Session-Id`, renewed when the server
//!   forgets them, deleted on [`Client::close`]) or without.
//! - **Legacy HTTP+SSE** (MCP 2024-11-05). [`TransportMode::Auto`], the
//!   default, tries Streamable HTTP first and falls back to legacy SSE when the
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
//! # Errors
//!
//! Every failure is an [`Error`] whose variant says what went wrong
//! (unreachable, timeout, not an MCP endpoint, HTTP status, JSON-RPC error
//! from the server, OAuth discovery, registration, token endpoint, ...) with
//! the URL and the facts needed to act on it. An authorization server's
//! refusal carries its code as an [`OAuthErrorCode`]
//! ([`Error::oauth_error_code`]), and every failure at an endpoint of the
//! OAuth flow says which step it was ([`Error::oauth_step`], an
//! [`OAuthStep`]); a failure of the network, the file system or a child
//! process keeps it as [`source()`](std::error::Error::source).

#![warn(missing_docs)]

// How the source is laid out, dependencies one way (net <- store <- auth <-
// transport <- client), in the order a request walks through it:
//
// - client.rs: `Client::request` runs the call within its timeout (and
//   `authorized` runs the OAuth flow above it when the rule says so).
// - transport/: rmcp lives here only. streamable.rs (or sse.rs) turns the
//   call into an HTTP exchange through http.rs, `HttpCore::send`:
// - auth/authorizer.rs: `Authorizer::header` gives the request its
//   credentials (auth/oauth/session.rs: the ready header, else the cached
//   token, refreshed by auth/oauth/grants/refresh.rs when due);
// - net/: the exchange itself: net/client/ is the HTTP client (hyper with a
//   connector of ours, for TCP_QUICKACK: net/client/io.rs), then redirects,
//   capped bodies, failures as `Error`.
//
// A 401 or 403 walks on from `HttpCore::send`:
// - auth/authorizer.rs: `Rejection` parses the challenge once
//   (auth/oauth/wire/challenge.rs); `on_rejection` gives the verdict
//   (retry after a refresh, authorize, give up) under the one rule
//   `wants_authorization`, which the client's `authorized` applies too;
// - auth/oauth/mod.rs: `OAuth::authorize` -> auth/oauth/flow.rs: one
//   attempt (locks, discovery.rs, the scope) -> grants/ (code.rs with
//   callback/ and user_agent/, device.rs, machine.rs), each asking
//   identity.rs who the client is and ending in grants/mod.rs's token
//   request (wire/ reads the answers) -> session.rs saves the tokens
//   (store/), then the request is sent again.

mod auth;
mod client;
mod clock;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod net;
mod secret;
mod server_url;
mod store;
mod text;
mod transport;

#[cfg(feature = "middleware")]
pub use auth::OAuthMiddleware;
pub use auth::{
    AssertionSource, Auth, CheckProblem, CheckStatus, CheckStep, Checkup, Connected,
    CrossAppAccess, DpopMode, Finding, IntoScopes, OAuth, OAuthBuilder, OAuthErrorCode, SignIn,
    SigningAlgorithm, UserAgent, WebFlow, WebFlowBuilder,
};
pub use client::{Client, ClientBuilder};
pub use error::{CallbackRefusal, Cause, Error, OAuthStep, Result};
#[cfg(feature = "middleware")]
pub use reqwest_middleware;
pub use rmcp;
pub use secrecy;
pub use server_url::ServerUrl;
pub use store::{
    CredentialStore, FileTokenStorage, LockFile, LockRelease, MAX_ACCOUNT_LEN, MemoryStore,
    MemoryTokenStorage, PendingAttempt, PendingStore, PreparedSave, StorageLock, StoredCredentials,
    Taken, TokenStorage, check_account,
};
pub use text::{is_terminal_control, terminal_safe, terminal_safe_line};
pub use transport::{
    AuthorizedHttpClient, Bridge, ConnectedVia, ElicitationPolicy, LoadedSkill, ServerDetails,
    TransportMode, bridge_stdio, bridge_stdio_until,
};
pub use url;

/// The MCP data types (tools, resources, prompts, content), as rmcp defines
/// them.
pub mod model {
    pub use rmcp::model::*;
}
