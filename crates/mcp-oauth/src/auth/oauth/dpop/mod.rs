//! DPoP (RFC 9449): tokens bound to a key of the client's, so that a token
//! that leaks is useless without the key. When it is used ([`DpopMode`]),
//! the key ([`DpopKey`], one per server and account, stored with the
//! tokens), and the nonces servers hand out ([`DpopContext`]).

mod binding;
mod key;

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex, PoisonError},
};

use http::HeaderMap;
use url::Url;

pub(crate) use self::key::{DPOP_ALGORITHM, DpopKey};
use super::{discovery::ResourceMetadata, wire::BearerChallenge};
use crate::{Error, Result, store::AuthServerMetadata};

/// The response header that carries a server's DPoP nonce.
pub(crate) const DPOP_NONCE: &str = "dpop-nonce";

/// When tokens are bound to a key with DPoP.
///
/// ```
/// use mcp_oauth::DpopMode;
///
/// assert_eq!("always".parse::<DpopMode>().unwrap(), DpopMode::Always);
/// assert_eq!(DpopMode::default(), DpopMode::Auto);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopMode {
    /// When both sides can: the authorization server offers ES256 proofs
    /// (`dpop_signing_alg_values_supported`) and the MCP server asks for
    /// them (a `DPoP` challenge) or announces them in its protected
    /// resource metadata. A bearer-only server keeps bearer tokens.
    #[default]
    Auto,
    /// Always: a server that answers with a bearer token is an error.
    Always,
    /// Never: bearer tokens only.
    Never,
}

impl FromStr for DpopMode {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => Err(Error::InvalidConfig {
                reason: format!(
                    "unknown DPoP mode {:?}: expected auto, always or never",
                    crate::terminal_safe_line(other)
                ),
            }),
        }
    }
}

impl DpopMode {
    /// Whether a sign-in with this authorization server, for a resource
    /// that challenged with `challenge` and published `resource`, asks for
    /// DPoP-bound tokens. `Always` with a server that offers no ES256 proofs
    /// is an error that says so.
    pub(crate) fn wanted(
        self,
        metadata: &AuthServerMetadata,
        resource: Option<&ResourceMetadata>,
        challenge: Option<&BearerChallenge>,
    ) -> Result<bool> {
        let offered = metadata.dpop_signing_alg_values_supported.as_ref();
        let es256 = offered.is_some_and(|algs| algs.iter().any(|alg| alg == DPOP_ALGORITHM));
        match self {
            Self::Never => Ok(false),
            Self::Always if es256 || offered.is_none() => Ok(true),
            Self::Always => Err(Error::InvalidConfig {
                reason: format!(
                    "DPoP is required, but the authorization server {} offers no {DPOP_ALGORITHM} proofs",
                    crate::terminal_safe_line(&metadata.issuer)
                ),
            }),
            Self::Auto => {
                let asked = challenge.is_some_and(|c| c.dpop)
                    || resource.is_some_and(|prm| {
                        prm.dpop_signing_alg_values_supported.is_some()
                            || prm.dpop_bound_access_tokens_required == Some(true)
                    });
                Ok(es256 && asked)
            }
        }
    }
}

/// One server's DPoP state in this process: the key in use (none while
/// tokens are bearer tokens) and the nonces its authorization server and
/// resource server gave, per origin (RFC 9449 §9: they never share one).
/// Nonces are not stored: a stale one is replaced at the next challenge.
#[derive(Debug, Default)]
pub(crate) struct DpopContext {
    key: Mutex<Option<Arc<DpopKey>>>,
    nonces: Mutex<HashMap<String, String>>,
}

impl DpopContext {
    /// The key proofs are signed with; `None` when tokens are not bound.
    pub(crate) fn key(&self) -> Option<Arc<DpopKey>> {
        self.key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_key(&self, key: Option<Arc<DpopKey>>) {
        *self.key.lock().unwrap_or_else(PoisonError::into_inner) = key;
    }

    /// The nonce last given by `url`'s origin.
    pub(crate) fn nonce_for(&self, url: &Url) -> Option<String> {
        let origin = url.origin().ascii_serialization();
        self.nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&origin)
            .cloned()
    }

    /// Keeps the nonce an answer from `url`'s origin carries, if any (a
    /// server may send a new one with any answer, RFC 9449 §8.2). Returns
    /// it when it differs from the one kept before.
    pub(crate) fn remember_nonce(&self, url: &Url, headers: &HeaderMap) -> Option<String> {
        let nonce = headers.get(DPOP_NONCE)?.to_str().ok()?.trim();
        // RFC 9449 §8.1: NQCHAR, at least one.
        if nonce.is_empty()
            || !nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        {
            return None;
        }
        let origin = url.origin().ascii_serialization();
        let mut nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = nonces.insert(origin, nonce.to_owned());
        (previous.as_deref() != Some(nonce)).then(|| nonce.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(algs: Option<&[&str]>) -> AuthServerMetadata {
        let mut metadata: AuthServerMetadata =
            serde_json::from_value(serde_json::json!({ "issuer": "https://as.example.com" }))
                .unwrap();
        metadata.dpop_signing_alg_values_supported =
            algs.map(|algs| algs.iter().map(|a| (*a).to_owned()).collect());
        metadata
    }

    #[test]
    fn auto_uses_dpop_only_when_both_sides_can() {
        let dpop_challenge = BearerChallenge::parse("DPoP algs=\"ES256\"");
        let bearer_challenge = BearerChallenge::parse("Bearer");
        let es256 = metadata(Some(&["ES256", "RS256"]));
        let auto = DpopMode::Auto;
        assert!(auto.wanted(&es256, None, dpop_challenge.as_ref()).unwrap());
        assert!(
            !auto
                .wanted(&es256, None, bearer_challenge.as_ref())
                .unwrap(),
            "a bearer-only resource"
        );
        assert!(
            !auto
                .wanted(&metadata(None), None, dpop_challenge.as_ref())
                .unwrap(),
            "an AS without DPoP"
        );
        assert!(
            !auto
                .wanted(&metadata(Some(&["PS256"])), None, dpop_challenge.as_ref())
                .unwrap()
        );
        let prm = ResourceMetadata {
            dpop_bound_access_tokens_required: Some(true),
            ..ResourceMetadata::default()
        };
        assert!(
            auto.wanted(&es256, Some(&prm), bearer_challenge.as_ref())
                .unwrap()
        );
        assert!(
            !DpopMode::Never
                .wanted(&es256, Some(&prm), dpop_challenge.as_ref())
                .unwrap()
        );
        assert!(
            DpopMode::Always
                .wanted(&metadata(None), None, None)
                .unwrap()
        );
        let error = DpopMode::Always
            .wanted(&metadata(Some(&["PS256"])), None, None)
            .unwrap_err();
        assert!(error.to_string().contains("ES256"), "{error}");
    }

    #[test]
    fn nonces_are_kept_per_origin_and_only_when_well_formed() {
        let context = DpopContext::default();
        let server = Url::parse("https://mcp.example.com/mcp").unwrap();
        let auth = Url::parse("https://as.example.com/token").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(DPOP_NONCE, "n-1".parse().unwrap());
        assert_eq!(
            context.remember_nonce(&server, &headers).as_deref(),
            Some("n-1")
        );
        assert_eq!(context.remember_nonce(&server, &headers), None, "not new");
        assert_eq!(context.nonce_for(&server).as_deref(), Some("n-1"));
        assert_eq!(context.nonce_for(&auth), None, "another origin");
        headers.insert(DPOP_NONCE, "bad\"nonce".parse().unwrap());
        assert_eq!(context.remember_nonce(&auth, &headers), None);
        assert_eq!(context.nonce_for(&auth), None);
    }
}
