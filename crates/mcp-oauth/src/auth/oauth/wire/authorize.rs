//! The authorization request: PKCE S256, `state`, the URL, and the checks
//! on what comes back.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use super::endpoint::authorization_endpoint;
use crate::{Error, Result, secret::random_token, store::AuthServerMetadata};

/// A PKCE pair (RFC 7636): the verifier stays here, the challenge travels.
pub(crate) struct Pkce {
    pub(crate) verifier: SecretString,
    pub(crate) challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    pub(crate) fn new() -> Result<Self> {
        let verifier = random_token()?;
        let challenge = s256(verifier.expose_secret());
        Ok(Self {
            verifier,
            challenge,
        })
    }
}

/// BASE64URL(SHA256(verifier)), the S256 challenge.
pub(crate) fn s256(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Everything the authorization URL carries.
#[derive(Debug)]
pub(crate) struct AuthorizationRequest<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) redirect_uri: &'a Url,
    pub(crate) challenge: &'a str,
    pub(crate) state: &'a SecretString,
    /// `None` where the authorization server refuses it.
    pub(crate) resource: Option<&'a str>,
    pub(crate) scope: Option<&'a str>,
}

/// The URL the user opens.
pub(crate) fn authorization_url(
    metadata: &AuthServerMetadata,
    request: &AuthorizationRequest<'_>,
) -> Result<Url> {
    let mut url = authorization_endpoint(metadata)?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", request.client_id)
            .append_pair("redirect_uri", request.redirect_uri.as_str())
            .append_pair("code_challenge", request.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", request.state.expose_secret());
        if let Some(resource) = request.resource {
            query.append_pair("resource", resource);
        }
        if let Some(scope) = request.scope.filter(|scope| !scope.is_empty()) {
            query.append_pair("scope", scope);
            // Refresh tokens often come only with fresh consent (SEP-2207).
            if scope.split(' ').any(|s| s == "offline_access") {
                query.append_pair("prompt", "consent");
            }
        }
    }
    Ok(url)
}

/// RFC 9207: an `iss` in the response must be the issuer; a server that
/// promises `iss` must send it.
pub(crate) fn check_issuer(metadata: &AuthServerMetadata, iss: Option<&str>) -> Result<()> {
    match iss {
        Some(iss) if iss == metadata.issuer => Ok(()),
        Some(iss) => Err(Error::Insecure {
            url: metadata.issuer.clone(),
            reason: format!(
                "the authorization response came from issuer {iss:?}, not {:?} (possible mix-up attack)",
                metadata.issuer
            ),
        }),
        None if metadata.authorization_response_iss_parameter_supported => Err(Error::Insecure {
            url: metadata.issuer.clone(),
            reason: "the authorization response lacks the `iss` parameter the server promised"
                .into(),
        }),
        None => Ok(()),
    }
}

/// Explicit scopes win; else the challenge's; else the resource's; else
/// none. `offline_access` is added only where the server lists it.
pub(crate) fn choose_scope(
    explicit: Option<&str>,
    challenged: Option<&str>,
    resource_scopes: Option<&[String]>,
    metadata: &AuthServerMetadata,
) -> Option<String> {
    let mut scopes: Vec<String> = if let Some(explicit) = explicit.filter(|s| !s.trim().is_empty())
    {
        split(explicit)
    } else if let Some(challenged) = challenged.filter(|s| !s.trim().is_empty()) {
        split(challenged)
    } else if let Some(listed) = resource_scopes.filter(|list| !list.is_empty()) {
        listed.to_vec()
    } else {
        Vec::new()
    };
    if scopes.is_empty() {
        return None;
    }
    if metadata.supports_scope("offline_access") && !scopes.iter().any(|s| s == "offline_access") {
        scopes.push("offline_access".into());
    }
    if !metadata.supports_scope("offline_access") {
        scopes.retain(|s| s != "offline_access" || explicit.is_some());
    }
    Some(scopes.join(" "))
}

/// Step-up: the union of what was granted and what is asked, in order.
pub(crate) fn union_scope(granted: Option<&str>, asked: Option<&str>) -> Option<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in granted.into_iter().chain(asked).flat_map(split) {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

fn split(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(scopes: &[&str], iss: bool) -> AuthServerMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://as.example/tenant",
            "authorization_endpoint": "https://as.example/tenant/authorize?x=1",
            "scopes_supported": scopes,
            "authorization_response_iss_parameter_supported": iss,
        }))
        .unwrap()
    }

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_and_state_are_fresh_and_long() {
        let a = Pkce::new().unwrap();
        let b = Pkce::new().unwrap();
        assert_ne!(a.verifier.expose_secret(), b.verifier.expose_secret());
        assert_eq!(a.verifier.expose_secret().len(), 43);
        assert!(!format!("{a:?}").contains(a.verifier.expose_secret()));
    }

    #[test]
    fn url_carries_every_parameter() {
        let redirect = Url::parse("http://127.0.0.1:5000/callback").unwrap();
        let state = SecretString::from("st".to_owned());
        let url = authorization_url(
            &metadata(&[], false),
            &AuthorizationRequest {
                client_id: "cid",
                redirect_uri: &redirect,
                challenge: "ch",
                state: &state,
                resource: Some("https://mcp.example/mcp"),
                scope: Some("read offline_access"),
            },
        )
        .unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x"), Some("1"), "the endpoint's own query is kept");
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:5000/callback"));
        assert_eq!(get("resource"), Some("https://mcp.example/mcp"));
        assert_eq!(get("prompt"), Some("consent"));
    }

    #[test]
    fn issuer_checks() {
        let plain = metadata(&[], false);
        assert!(check_issuer(&plain, None).is_ok());
        assert!(check_issuer(&plain, Some("https://as.example/tenant")).is_ok());
        assert!(check_issuer(&plain, Some("https://evil.example")).is_err());
        let promised = metadata(&[], true);
        assert!(check_issuer(&promised, None).is_err());
    }

    #[test]
    fn scope_choice_order_and_offline_access() {
        let with_offline = metadata(&["read", "offline_access"], false);
        let without = metadata(&["read"], false);
        let listed = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            choose_scope(Some("x y"), Some("c"), Some(&listed), &without).as_deref(),
            Some("x y")
        );
        assert_eq!(
            choose_scope(None, Some("c"), Some(&listed), &without).as_deref(),
            Some("c")
        );
        assert_eq!(
            choose_scope(None, None, Some(&listed), &without).as_deref(),
            Some("a b")
        );
        assert_eq!(choose_scope(None, None, None, &without), None);
        assert_eq!(
            choose_scope(None, Some("c"), None, &with_offline).as_deref(),
            Some("c offline_access")
        );
        assert_eq!(
            choose_scope(None, Some("c offline_access"), None, &without).as_deref(),
            Some("c")
        );
    }

    #[test]
    fn step_up_is_a_union() {
        assert_eq!(
            union_scope(Some("a b"), Some("b c")).as_deref(),
            Some("a b c")
        );
        assert_eq!(union_scope(None, Some("c")).as_deref(), Some("c"));
        assert_eq!(union_scope(None, None), None);
    }
}
