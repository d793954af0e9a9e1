//! The OAuth-protected MCP server: RFC 9728 metadata, challenges and token checks.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::{AuthState, TokenCheck};
use crate::jsonrpc::{Body, Incoming};
use crate::respond;

/// Where the PRM document is served in [`PrmMode::Custom`].
pub(crate) const CUSTOM_PRM_PATH: &str = "/custom/metadata/location.json";
const PRM_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// How the protected server offers its RFC 9728 Protected Resource Metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PrmMode {
    /// At `/.well-known/oauth-protected-resource/mcp` (path inserted), named in
    /// the challenge's `resource_metadata`.
    #[default]
    PathInserted,
    /// Served at the path-inserted location, but the challenge does not name it.
    PathInsertedUnannounced,
    /// At `/.well-known/oauth-protected-resource`, with `resource` = the bare
    /// origin (tokens for the origin are accepted too); named in the challenge.
    Root,
    /// Only at `/custom/metadata/location.json`, named in the challenge.
    Custom,
    /// No metadata at all (the 2025-03-26 style: the MCP server's origin is the AS).
    None,
}

/// The protection of one MCP server.
#[derive(Debug, Clone)]
pub(crate) struct Protection {
    pub(crate) auth: Arc<AuthState>,
    pub(crate) prm: PrmMode,
    pub(crate) prm_resource: Option<String>,
    pub(crate) required: Vec<String>,
    pub(crate) tool_scopes: Vec<(String, Vec<String>)>,
    pub(crate) challenge_scope: Option<String>,
    /// Every token is refused for `tools/call`, even a valid one.
    pub(crate) refuse_tokens_for_tool_calls: bool,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base_url: String,
    /// `/mcp` or `/sse`.
    pub(crate) mcp_path: &'static str,
}

impl Protection {
    fn mcp_url(&self) -> String {
        format!("{}{}", self.base_url, self.mcp_path)
    }

    /// The path the PRM document is served at, if any.
    fn prm_path(&self) -> Option<String> {
        match self.prm {
            PrmMode::PathInserted | PrmMode::PathInsertedUnannounced => {
                Some(format!("{PRM_PREFIX}{}", self.mcp_path))
            }
            PrmMode::Root => Some(PRM_PREFIX.to_owned()),
            PrmMode::Custom => Some(CUSTOM_PRM_PATH.to_owned()),
            PrmMode::None => None,
        }
    }

    /// Whether the MCP server answers this path with PRM (or its 404).
    pub(crate) fn is_prm_path(&self, path: &str) -> bool {
        path.starts_with(PRM_PREFIX) || self.prm_path().is_some_and(|p| p == path)
    }

    /// The `resource_metadata` URL named in challenges.
    fn announced(&self) -> Option<String> {
        match self.prm {
            PrmMode::PathInserted | PrmMode::Root | PrmMode::Custom => self
                .prm_path()
                .map(|path| format!("{}{path}", self.base_url)),
            _ => None,
        }
    }

    /// Answers a request for a PRM path.
    pub(crate) fn serve_prm(&self, method: &Method, path: &str) -> Response {
        if self.prm_path().as_deref() != Some(path) {
            return respond::text(StatusCode::NOT_FOUND, "Not Found");
        }
        if method != Method::GET {
            return respond::method_not_allowed("GET");
        }
        let resource = self.prm_resource.clone().unwrap_or_else(|| match self.prm {
            PrmMode::Root => self.base_url.clone(),
            _ => self.mcp_url(),
        });
        let document = json!({
            "resource": resource,
            "authorization_servers": [self.auth.issuer()],
            "scopes_supported": self.auth.cfg.scopes,
            "bearer_methods_supported": ["header"],
        });
        respond::json(StatusCode::OK, &document)
    }

    /// Tokens for these audiences are accepted.
    fn accepts_audience(&self, resource: &str) -> bool {
        resource == self.mcp_url()
            || (self.prm == PrmMode::Root && resource.trim_end_matches('/') == self.base_url)
    }

    /// The scopes this request needs: the required ones plus a called tool's.
    fn needed_scopes(&self, body: Option<&Body>) -> Vec<String> {
        let mut needed = self.required.clone();
        if let Some(Body::Message(Incoming::Request { method, params, .. })) = body
            && method == "tools/call"
            && let Some(tool) = params
                .as_ref()
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
        {
            let extra = self.tool_scopes.iter().filter(|(name, _)| name == tool);
            for scope in extra.flat_map(|(_, scopes)| scopes) {
                if !needed.contains(scope) {
                    needed.push(scope.clone());
                }
            }
        }
        needed
    }

    /// `None` when the request may proceed; else the 401 or 403 answer.
    pub(crate) fn check(&self, headers: &HeaderMap, body: Option<&Body>) -> Option<Response> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let Some(token) = presented else {
            return Some(self.unauthorized(None));
        };
        if self.refuse_tokens_for_tool_calls && is_tool_call(body) {
            return Some(self.unauthorized(Some("The access token is not accepted here")));
        }
        let scopes = match self.auth.check_access_token(token) {
            TokenCheck::Valid { scopes, resource } => {
                if let Some(resource) = resource
                    && !self.accepts_audience(&resource)
                {
                    return Some(
                        self.unauthorized(Some("The access token was issued for another resource")),
                    );
                }
                scopes
            }
            TokenCheck::Unknown => {
                return Some(self.unauthorized(Some("The access token is unknown")));
            }
            TokenCheck::Expired => {
                return Some(self.unauthorized(Some("The access token expired")));
            }
            TokenCheck::Revoked => {
                return Some(self.unauthorized(Some("The access token was revoked")));
            }
        };
        let needed = self.needed_scopes(body);
        if needed.iter().all(|s| scopes.contains(s)) {
            return None;
        }
        let mut challenge = format!(
            r#"Bearer error="insufficient_scope", scope="{}""#,
            needed.join(" ")
        );
        if let Some(url) = self.announced() {
            challenge.push_str(&format!(r#", resource_metadata="{url}""#));
        }
        let response = respond::text(StatusCode::FORBIDDEN, "Forbidden: insufficient scope");
        Some(with_challenge(response, &challenge))
    }

    /// 401; `error` is the `invalid_token` description when a token was sent.
    fn unauthorized(&self, error: Option<&str>) -> Response {
        let mut params = Vec::new();
        if let Some(url) = self.announced() {
            params.push(format!(r#"resource_metadata="{url}""#));
        }
        if let Some(scope) = &self.challenge_scope {
            params.push(format!(r#"scope="{scope}""#));
        }
        if let Some(description) = error {
            params.push(r#"error="invalid_token""#.to_owned());
            params.push(format!(r#"error_description="{description}""#));
        }
        let challenge = if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        let response = respond::text(StatusCode::UNAUTHORIZED, "Unauthorized");
        with_challenge(response, &challenge)
    }
}

fn is_tool_call(body: Option<&Body>) -> bool {
    matches!(body, Some(Body::Message(Incoming::Request { method, .. })) if method == "tools/call")
}

fn with_challenge(mut response: Response, challenge: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
