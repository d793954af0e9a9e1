//! The OAuth-protected MCP server: RFC 9728 metadata, challenges and token checks.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::{AuthState, DpopPolicy, TokenCheck};
use crate::dpop::{self, Expected};
use crate::jsonrpc::{Body, Incoming};
use crate::respond;

/// The nonce the MCP server asks for under [`DpopPolicy::WithNonce`].
pub(crate) const RS_DPOP_NONCE: &str = "testkit-rs-nonce";

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
    pub(crate) dpop: DpopPolicy,
    /// A 401 carries no `WWW-Authenticate` header at all.
    pub(crate) no_challenge: bool,
    /// Every DPoP proof `jti` accepted, so that a replay is refused.
    pub(crate) dpop_jtis: Arc<Mutex<HashSet<String>>>,
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
        let mut document = json!({
            "resource": resource,
            "authorization_servers": [self.auth.issuer()],
            "scopes_supported": self.auth.cfg.scopes,
            "bearer_methods_supported": ["header"],
        });
        // RFC 9728 §2: a resource that takes DPoP proofs says so.
        if self.dpop != DpopPolicy::Off {
            document["dpop_signing_alg_values_supported"] = json!(["ES256"]);
        }
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
    pub(crate) fn check(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Option<&Body>,
    ) -> Option<Response> {
        let dpop_on = self.dpop != DpopPolicy::Off;
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| {
                scheme.eq_ignore_ascii_case("bearer")
                    || (dpop_on && scheme.eq_ignore_ascii_case("dpop"))
            })
            .map(|(scheme, token)| (scheme.eq_ignore_ascii_case("dpop"), token.trim()));
        let Some((dpop_scheme, token)) = presented else {
            return Some(self.unauthorized(None));
        };
        if self.refuse_tokens_for_tool_calls && is_tool_call(body) {
            return Some(self.unauthorized(Some("The access token is not accepted here")));
        }
        let scopes = match self.auth.check_access_token(token) {
            TokenCheck::Valid {
                scopes,
                resource,
                jkt,
            } => {
                if let Some(resource) = resource
                    && !self.accepts_audience(&resource)
                {
                    return Some(
                        self.unauthorized(Some("The access token was issued for another resource")),
                    );
                }
                if let Some(refused) =
                    self.check_binding(method, uri, headers, token, jkt, dpop_scheme)
                {
                    return Some(refused);
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

    /// A DPoP-bound token needs the `DPoP` scheme and a valid proof of its
    /// key for this very request (RFC 9449 §7); a bearer token, the
    /// `Bearer` scheme. `None` when the token may be used.
    fn check_binding(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        token: &str,
        jkt: Option<String>,
        dpop_scheme: bool,
    ) -> Option<Response> {
        let Some(jkt) = jkt else {
            return dpop_scheme
                .then(|| self.unauthorized(Some("The access token is not bound to a DPoP key")));
        };
        if !dpop_scheme {
            return Some(self.unauthorized(Some("A DPoP-bound token was sent as a bearer token")));
        }
        let url = format!("{}{}", self.base_url, uri);
        let expected = Expected {
            method: method.as_str(),
            url: &url,
            access_token: Some(token),
        };
        let verified = dpop::proof_header(headers)
            .and_then(|proof| proof.ok_or_else(|| "no DPoP proof".to_owned()))
            .and_then(|proof| dpop::verify(proof, &expected, &self.dpop_jtis));
        let verified = match verified {
            Ok(verified) => verified,
            Err(reason) => return Some(self.dpop_refusal("invalid_dpop_proof", &reason)),
        };
        if verified.jkt != jkt {
            return Some(self.dpop_refusal(
                "invalid_dpop_proof",
                "the proof's key is not the one the token is bound to",
            ));
        }
        if self.dpop == DpopPolicy::WithNonce && verified.nonce.as_deref() != Some(RS_DPOP_NONCE) {
            let mut response = self.dpop_refusal(
                "use_dpop_nonce",
                "Resource server requires nonce in DPoP proof",
            );
            response
                .headers_mut()
                .insert("dpop-nonce", HeaderValue::from_static(RS_DPOP_NONCE));
            return Some(response);
        }
        None
    }

    /// 401 with a `DPoP` challenge carrying `error`.
    fn dpop_refusal(&self, error: &str, description: &str) -> Response {
        let description: String = description.chars().filter(|c| *c != '"').collect();
        let mut challenge =
            format!(r#"DPoP algs="ES256", error="{error}", error_description="{description}""#);
        if let Some(url) = self.announced() {
            challenge.push_str(&format!(r#", resource_metadata="{url}""#));
        }
        let response = respond::text(StatusCode::UNAUTHORIZED, "Unauthorized");
        with_challenge(response, &challenge)
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
        // A DPoP server challenges with `DPoP` only (RFC 9449 §7.1).
        let scheme = if self.dpop == DpopPolicy::Off {
            "Bearer"
        } else {
            params.insert(0, r#"algs="ES256""#.to_owned());
            "DPoP"
        };
        let challenge = if params.is_empty() {
            scheme.to_owned()
        } else {
            format!("{scheme} {}", params.join(", "))
        };
        let response = respond::text(StatusCode::UNAUTHORIZED, "Unauthorized");
        if self.no_challenge {
            return response;
        }
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
