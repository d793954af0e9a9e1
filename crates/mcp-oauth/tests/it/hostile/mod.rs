//! Hostile servers: every case ends in a clear error or a correct result,
//! in bounded time, with the credentials on disk intact.

mod bodies;
mod callback;
mod redirects;
mod scopes;
mod server;
mod slow;
mod ssrf;
mod terminal;
mod token_syntax;
mod tokens;

use std::{future::Future, path::PathBuf, time::Duration};

use mcp_oauth::{
    FileTokenStorage, OAuth, OAuthBuilder, ServerUrl, StoredCredentials, TokenStorage,
};
use serde_json::{Value, json};

use self::server::{Reply, Request};
use crate::support::scripted_browser;

/// The generous bound on every case: a hang fails the test instead of
/// stalling the run.
pub(crate) const BOUND: Duration = Duration::from_secs(90);

/// Awaits `work`, failing the test when it takes longer than [`BOUND`].
pub(crate) async fn bounded<T>(work: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, work)
        .await
        .expect("the case did not end within its bound")
}

/// A credentials folder holding valid tokens for one server, checked
/// after the case.
pub(crate) struct SeededStore {
    dir: tempfile::TempDir,
    server: String,
    tokens: Value,
}

impl SeededStore {
    pub(crate) async fn new(server_url: &str) -> Self {
        let dir = crate::support::tempdir().unwrap();
        let server = ServerUrl::parse(server_url).unwrap().to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let tokens = json!({
            "access_token": "seeded-access-token",
            "token_type": "Bearer",
            "refresh_token": "seeded-refresh-token",
            "scope": "mcp:read",
            "expires_at": now + 3600,
            "received_at": now,
        });
        let document = json!({
            "version": 1,
            "server_url": server,
            "tokens": tokens,
            "updated_at": now,
        });
        let credentials: StoredCredentials = serde_json::from_value(document).unwrap();
        let storage = FileTokenStorage::in_dir(&server, dir.path()).unwrap();
        storage.save(&credentials).await.unwrap();
        Self {
            dir,
            server,
            tokens,
        }
    }

    pub(crate) fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// The document still parses and still holds the seeded tokens.
    pub(crate) async fn assert_intact(&self) {
        let storage = FileTokenStorage::in_dir(&self.server, self.dir.path()).unwrap();
        let loaded = storage
            .load()
            .await
            .unwrap()
            .expect("the credentials are gone");
        assert_eq!(loaded.server_url(), self.server);
        assert!(loaded.can_refresh());
        let text = std::fs::read_to_string(storage.path()).unwrap();
        let document: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(document["tokens"], self.tokens, "the stored tokens changed");
    }
}

/// OAuth for `url` with credentials in `dir`, a browser that follows the
/// authorization redirect at once, short waits, no notices.
pub(crate) fn oauth(url: &str, dir: PathBuf) -> OAuthBuilder {
    OAuth::builder(url)
        .token_storage_cache_dir(dir)
        .user_agent(scripted_browser())
        .timeout(Duration::from_secs(20))
        .http_timeout(Duration::from_secs(3))
        .on_notice(|_| {})
}

/// Protected resource metadata for `resource`, naming `issuer`.
pub(crate) fn prm(resource: &str, issuer: &str) -> Value {
    json!({ "resource": resource, "authorization_servers": [issuer] })
}

/// Authorization server metadata with every endpoint under `issuer`.
pub(crate) fn as_metadata(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    })
}

/// A minimal authorization server on the MCP server's own origin (PRM at
/// the path-inserted location for `/mcp`): what a hostile script falls back
/// to for every path it does not misbehave on. The token endpoint answers
/// with a bearer token.
pub(crate) fn mini_as(request: &Request, base: &str) -> Reply {
    match request.path() {
        "/.well-known/oauth-protected-resource/mcp" => {
            Reply::Json(200, prm(&format!("{base}/mcp"), base))
        }
        "/.well-known/oauth-authorization-server" => Reply::Json(200, as_metadata(base)),
        "/register" => Reply::Json(
            201,
            json!({ "client_id": "hostile-client", "token_endpoint_auth_method": "none" }),
        ),
        "/authorize" => {
            let redirect = request.query("redirect_uri").unwrap_or_default();
            let state = request.query("state").unwrap_or_default();
            let mut location = mcp_oauth::url::Url::parse(&redirect).unwrap();
            location
                .query_pairs_mut()
                .append_pair("code", "hostile-code")
                .append_pair("state", &state);
            Reply::redirect(location.as_str())
        }
        "/token" => Reply::Json(
            200,
            json!({ "access_token": "fresh-access-token", "token_type": "Bearer", "expires_in": 3600 }),
        ),
        _ => Reply::not_found(),
    }
}

/// The `mcp_oauth::Error` inside a middleware error.
pub(crate) fn middleware_error(error: &reqwest_middleware::Error) -> &mcp_oauth::Error {
    match error {
        reqwest_middleware::Error::Middleware(inner) => inner
            .downcast_ref::<mcp_oauth::Error>()
            .unwrap_or_else(|| panic!("not an mcp_oauth error: {inner:?}")),
        other => panic!("not a middleware error: {other:?}"),
    }
}
