//! A DPoP key (RFC 9449): a P-256 key pair per server and account, its
//! public JWK and thumbprint, and the proofs it signs.

use std::fmt;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use url::Url;

use crate::{Error, Result, secret::random_token};

/// The one algorithm proofs are signed with: ES256 is what authorization
/// servers list first, and what the conformance suite asks for.
pub(crate) const DPOP_ALGORITHM: &str = "ES256";

/// A P-256 key that proves possession of DPoP-bound tokens.
pub(crate) struct DpopKey {
    pair: EcdsaKeyPair,
    /// The public key as a JWK, in the member order RFC 7638 hashes.
    jwk: serde_json::Value,
    thumbprint: String,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

fn signing_failed() -> Error {
    Error::InvalidConfig {
        reason: "signing a DPoP proof failed".into(),
    }
}

impl DpopKey {
    /// A new random key.
    pub(crate) fn generate() -> Result<Self> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| {
            Error::InvalidConfig {
                reason: "could not make a DPoP key: the system random number generator failed"
                    .into(),
            }
        })?;
        Ok(Self::from_pair(pair))
    }

    /// The key stored with the credentials (PKCS#8, base64url); `None` when
    /// it does not read (the tokens bound to it are then useless).
    pub(crate) fn from_stored(stored: &SecretString) -> Option<Self> {
        let der = URL_SAFE_NO_PAD.decode(stored.expose_secret()).ok()?;
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .ok()
            .map(Self::from_pair)
    }

    /// The key as stored: PKCS#8, base64url.
    pub(crate) fn to_stored(&self) -> Result<SecretString> {
        let document = self.pair.to_pkcs8v1().map_err(|_| Error::InvalidConfig {
            reason: "could not encode the DPoP key".into(),
        })?;
        Ok(SecretString::from(
            URL_SAFE_NO_PAD.encode(document.as_ref()),
        ))
    }

    fn from_pair(pair: EcdsaKeyPair) -> Self {
        // 0x04 ‖ X ‖ Y, each coordinate 32 bytes (RFC 7518 §6.2.1).
        let point = pair.public_key().as_ref();
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..65]),
        );
        // RFC 7638 §3: the required members, in lexical order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let jwk = json!({ "crv": "P-256", "kty": "EC", "x": x, "y": y });
        Self {
            pair,
            jwk,
            thumbprint,
        }
    }

    /// The RFC 7638 thumbprint of the public key: the `jkt` a bound token's
    /// `cnf` names.
    pub(crate) fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A proof for one request (RFC 9449 §4.2): `method` to `url` (its
    /// query and fragment left out), with the server's `nonce` when it gave
    /// one, and `ath` when an access token goes with it. Each proof is
    /// unique (a fresh `jti`), so one is made for every request, retries
    /// included.
    pub(crate) fn proof(
        &self,
        method: &str,
        url: &Url,
        access_token: Option<&SecretString>,
        nonce: Option<&str>,
    ) -> Result<String> {
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut claims = json!({
            "jti": random_token()?.expose_secret(),
            "htm": method.to_ascii_uppercase(),
            "htu": htu.as_str(),
            "iat": crate::clock::now(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(access_token_hash(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let header = json!({ "typ": "dpop+jwt", "alg": DPOP_ALGORITHM, "jwk": self.jwk });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| signing_failed())?;
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// `ath`: base64url(SHA-256(the access token's ASCII)).
pub(crate) fn access_token_hash(token: &SecretString) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.expose_secret().as_bytes()))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    use super::*;

    fn part(text: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_is_signed_by_its_jwk_and_names_the_request() {
        let key = DpopKey::generate().unwrap();
        let url = Url::parse("https://Example.com:443/mcp?session=1#x").unwrap();
        let token = SecretString::from("at-1".to_owned());
        let proof = key.proof("post", &url, Some(&token), Some("n-1")).unwrap();
        let parts: Vec<&str> = proof.split('.').collect();
        let (header, claims) = (part(parts[0]), part(parts[1]));
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert!(header["jwk"].get("d").is_none(), "never the private key");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://example.com/mcp");
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["ath"], access_token_hash(&token));
        // The signature verifies with the public key the header carries.
        let x = URL_SAFE_NO_PAD
            .decode(header["jwk"]["x"].as_str().unwrap())
            .unwrap();
        let y = URL_SAFE_NO_PAD
            .decode(header["jwk"]["y"].as_str().unwrap())
            .unwrap();
        let point = [&[4u8][..], &x, &y].concat();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
        // Every proof is a new one.
        let again = key.proof("POST", &url, Some(&token), Some("n-1")).unwrap();
        assert_ne!(part(again.split('.').nth(1).unwrap())["jti"], claims["jti"]);
    }

    #[test]
    fn the_key_survives_storage_and_keeps_its_thumbprint() {
        let key = DpopKey::generate().unwrap();
        let stored = key.to_stored().unwrap();
        let back = DpopKey::from_stored(&stored).unwrap();
        assert_eq!(back.thumbprint(), key.thumbprint());
        assert_eq!(key.thumbprint().len(), 43);
        assert!(!format!("{key:?}").contains(stored.expose_secret()));
        assert!(DpopKey::from_stored(&SecretString::from("garbage".to_owned())).is_none());
    }

    #[test]
    fn the_thumbprint_follows_rfc_7638() {
        // RFC 7638 hashes exactly the required members in lexical order; a
        // key's thumbprint is recomputed here from its JWK that way.
        let key = DpopKey::generate().unwrap();
        let jwk = &key.jwk;
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        assert_eq!(key.thumbprint(), expected);
    }
}
