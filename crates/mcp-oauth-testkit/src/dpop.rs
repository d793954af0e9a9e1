//! DPoP proofs (RFC 9449) checked as a strict server checks them: the
//! authorization server's token endpoint and the protected MCP server both
//! use [`verify`], and each keeps the `jti`s it has seen.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::server::lock;

/// How far a proof's `iat` may be from now, in seconds.
const IAT_WINDOW: u64 = 60;

/// What a proof must say to be accepted for one request.
#[derive(Debug)]
pub(crate) struct Expected<'a> {
    pub(crate) method: &'a str,
    /// The request's URL; compared without query and fragment.
    pub(crate) url: &'a str,
    /// The access token sent with it, whose hash `ath` must be.
    pub(crate) access_token: Option<&'a str>,
}

/// A proof that passed.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The RFC 7638 thumbprint of its key.
    pub(crate) jkt: String,
    pub(crate) nonce: Option<String>,
}

/// The one `DPoP` header of a request: `Ok(None)` without one, an error
/// with more than one (RFC 9449 §4.3 step 1).
pub(crate) fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, String> {
    let mut values = headers.get_all("dpop").iter();
    let first = values.next();
    if values.next().is_some() {
        return Err("more than one DPoP header".into());
    }
    first
        .map(|value| {
            value
                .to_str()
                .map_err(|_| "a DPoP header that is not text".to_owned())
        })
        .transpose()
}

/// Checks `proof` against what the request was, and that its `jti` is new
/// in `seen` (which then keeps it).
pub(crate) fn verify(
    proof: &str,
    expected: &Expected<'_>,
    seen: &Mutex<HashSet<String>>,
) -> Result<Verified, String> {
    let parts: Vec<&str> = proof.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("not a compact JWS".into());
    };
    let decode = |part: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| "a part is not base64url".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "a part is not JSON".to_owned())
    };
    let (header_json, claims_json) = (decode(header)?, decode(claims)?);
    if header_json["typ"] != "dpop+jwt" {
        return Err("typ is not dpop+jwt".into());
    }
    if header_json["alg"] != "ES256" {
        return Err("alg is not ES256".into());
    }
    let jwk = &header_json["jwk"];
    if jwk.get("d").is_some() {
        return Err("the jwk holds a private key".into());
    }
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return Err("the jwk is not an EC P-256 key".into());
    }
    let coordinate = |name: &str| -> Result<Vec<u8>, String> {
        jwk[name]
            .as_str()
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .filter(|bytes| bytes.len() == 32)
            .ok_or_else(|| format!("the jwk's {name} is not a 32-byte coordinate"))
    };
    let (x, y) = (coordinate("x")?, coordinate("y")?);
    let point = [&[4u8][..], &x, &y].concat();
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "the signature is not base64url".to_owned())?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| "the signature does not verify".to_owned())?;
    if claims_json["htm"] != expected.method {
        return Err(format!("htm is not {}", expected.method));
    }
    let htu = claims_json["htu"].as_str().ok_or("htu is missing")?;
    if without_query(htu)? != without_query(expected.url)? {
        return Err("htu is not the request's URL".into());
    }
    let iat = claims_json["iat"].as_u64().ok_or("iat is missing")?;
    if iat.abs_diff(now()) > IAT_WINDOW {
        return Err("iat is too far from now".into());
    }
    match (expected.access_token, claims_json["ath"].as_str()) {
        (Some(token), Some(ath)) if ath == URL_SAFE_NO_PAD.encode(Sha256::digest(token)) => {}
        (Some(_), _) => return Err("ath is not the access token's hash".into()),
        (None, Some(_)) => return Err("ath without an access token".into()),
        (None, None) => {}
    }
    let jti = claims_json["jti"]
        .as_str()
        .filter(|jti| !jti.is_empty())
        .ok_or("jti is missing")?;
    if !lock(seen).insert(jti.to_owned()) {
        return Err("the jti was used before (a replayed proof)".into());
    }
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(&x),
        URL_SAFE_NO_PAD.encode(&y)
    );
    Ok(Verified {
        jkt: URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())),
        nonce: claims_json["nonce"].as_str().map(str::to_owned),
    })
}

fn without_query(url: &str) -> Result<String, String> {
    let mut url = Url::parse(url).map_err(|_| "htu is not a URL".to_owned())?;
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.to_string())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
