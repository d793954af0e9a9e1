//! What a begun web sign-in keeps for its completion, and the hashes that
//! name it (its `state`) and say whose it is (account and session).

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    Error, Result,
    store::{AuthServerMetadata, Registration},
};

/// One begun sign-in: everything its completion needs, on any instance.
/// The spec asks that the issuer be kept in the same record as the PKCE
/// verifier and the state (RFC 9207 mix-up defence), and the token request
/// must carry the same `redirect_uri` and `resource` as the authorization
/// request.
#[derive(Serialize, Deserialize)]
pub(super) struct Attempt {
    pub(super) server_url: String,
    pub(super) account: String,
    pub(super) metadata: AuthServerMetadata,
    pub(super) resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) scope: Option<String>,
    pub(super) redirect_uri: String,
    pub(super) registration: Registration,
    #[serde(with = "crate::secret")]
    pub(super) verifier: SecretString,
    pub(super) begun_at_ms: u64,
    /// Whether the tokens are to be bound to a DPoP key.
    #[serde(default)]
    pub(super) dpop: bool,
}

impl Attempt {
    pub(super) fn to_document(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|error| Error::InvalidConfig {
            reason: format!("could not encode a pending sign-in: {error}"),
        })
    }

    pub(super) fn from_document(document: &[u8]) -> Result<Self> {
        serde_json::from_slice(document).map_err(|error| Error::Storage {
            path: "pending sign-in".into(),
            reason: format!("the store returned a pending sign-in that does not read ({error})"),
            source: None,
        })
    }
}

/// The key of the attempt begun with `state`: the store never sees the
/// state itself, so reading the store does not let anyone forge a callback.
pub(super) fn attempt_id(state: &SecretString) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(state.expose_secret().as_bytes()))
}

/// Whose the attempt is: the account and the caller's session, hashed
/// together (each length-prefixed, so no two pairs hash alike).
pub(super) fn binding_of(account: &str, session: &SecretString) -> String {
    let mut hash = Sha256::new();
    hash.update(b"mcp-oauth web sign-in binding v1");
    for part in [account.as_bytes(), session.expose_secret().as_bytes()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_separates_accounts_and_sessions() {
        let session = |s: &str| SecretString::from(s.to_owned());
        let alice = binding_of("alice", &session("s1"));
        assert_eq!(alice, binding_of("alice", &session("s1")));
        assert_ne!(alice, binding_of("bob", &session("s1")));
        assert_ne!(alice, binding_of("alice", &session("s2")));
        // Moving a byte from one part to the other changes the hash.
        assert_ne!(
            binding_of("ab", &session("c")),
            binding_of("a", &session("bc"))
        );
        assert_eq!(alice.len(), 64);
    }

    #[test]
    fn the_id_is_a_hash_of_the_state_not_the_state() {
        let state = SecretString::from("a-state".to_owned());
        let id = attempt_id(&state);
        assert_eq!(id.len(), 43);
        assert!(!id.contains("a-state"));
    }
}
