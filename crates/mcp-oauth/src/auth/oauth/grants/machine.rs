//! Machine-to-machine grants: `client_credentials` with a secret or a
//! signed JWT (`private_key_jwt`, RFC 7523 §2.2), and enterprise cross-app
//! access (an ID-JAG from the identity provider by RFC 8693 token exchange,
//! then the RFC 7523 `jwt-bearer` grant at the authorization server).

use std::fmt;

use aws_lc_rs::{rand::SystemRandom, rsa, signature};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use super::{
    super::{
        builder::GrantKind,
        flow::Flow,
        http::{BasicAuth, OAuthHttp},
        identity::{self, Purpose},
        wire::{OAuthErrorCode, parse_token_response, token_endpoint},
    },
    post_with_client_auth,
};
use crate::{
    Error, OAuthStep, Result,
    net::require_secure,
    secret,
    store::{AuthServerMetadata, Registration, Tokens},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The signature algorithm of a `private_key_jwt` client assertion.
///
/// ```
/// use mcp_oauth::SigningAlgorithm;
/// let algorithm: SigningAlgorithm = "ES256".parse().unwrap();
/// assert_eq!(algorithm, SigningAlgorithm::Es256);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// ECDSA with P-256 and SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl std::str::FromStr for SigningAlgorithm {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.to_ascii_uppercase().as_str() {
            "ES256" => Ok(Self::Es256),
            "RS256" => Ok(Self::Rs256),
            other => Err(Error::InvalidConfig {
                reason: format!("unsupported signing algorithm {other:?}: use ES256 or RS256"),
            }),
        }
    }
}

/// A private key that signs client assertions.
pub(crate) enum SigningKey {
    Es256(signature::EcdsaKeyPair),
    Rs256(rsa::KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Es256(_) => "SigningKey::Es256([redacted])",
            Self::Rs256(_) => "SigningKey::Rs256([redacted])",
        })
    }
}

impl SigningKey {
    /// Reads a PEM private key (PKCS#8, or SEC1 / PKCS#1).
    pub(crate) fn from_pem(pem: &str, algorithm: SigningAlgorithm) -> Result<Self> {
        let der = pem_to_der(pem)?;
        let rejected = |error: aws_lc_rs::error::KeyRejected| Error::InvalidConfig {
            reason: format!("the private key is not a usable {algorithm:?} key: {error}"),
        };
        Ok(match algorithm {
            SigningAlgorithm::Es256 => Self::Es256(
                signature::EcdsaKeyPair::from_private_key_der(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der,
                )
                .map_err(rejected)?,
            ),
            SigningAlgorithm::Rs256 => Self::Rs256(
                rsa::KeyPair::from_pkcs8(&der)
                    .or_else(|_| rsa::KeyPair::from_der(&der))
                    .map_err(rejected)?,
            ),
        })
    }

    fn algorithm(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Rs256(_) => "RS256",
        }
    }

    /// A compact JWS of `claims`.
    pub(crate) fn sign(&self, claims: &Value) -> Result<String> {
        let header = json!({ "alg": self.algorithm(), "typ": "JWT" });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let failed = || Error::InvalidConfig {
            reason: "signing the client assertion failed".into(),
        };
        let rng = SystemRandom::new();
        let signature = match self {
            Self::Es256(key) => key
                .sign(&rng, input.as_bytes())
                .map_err(|_| failed())?
                .as_ref()
                .to_vec(),
            Self::Rs256(key) => {
                let mut out = vec![0; key.public_modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut out,
                )
                .map_err(|_| failed())?;
                out
            }
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| Error::InvalidConfig {
            reason: "the private key is not PEM (expected -----BEGIN PRIVATE KEY----- and base64)"
                .into(),
        })
}

/// The identity provider side of cross-app access.
///
/// ```
/// use mcp_oauth::{CrossAppAccess, OAuth};
/// let idp = CrossAppAccess::new("https://idp.example/oauth2/token", "…", "my-app-at-idp");
/// let builder = OAuth::builder("https://mcp.example.com/mcp").cross_app_access(idp);
/// ```
#[derive(Clone)]
pub struct CrossAppAccess {
    pub(crate) idp_token_endpoint: String,
    pub(crate) id_token: SecretString,
    pub(crate) idp_client_id: String,
    pub(crate) idp_client_secret: Option<SecretString>,
}

impl CrossAppAccess {
    /// The identity provider's token endpoint, the user's ID token there,
    /// and this application's client id at the identity provider.
    ///
    /// ```
    /// use mcp_oauth::CrossAppAccess;
    /// let idp = CrossAppAccess::new("https://idp.example/oauth2/token", "…", "my-app-at-idp");
    /// ```
    pub fn new(
        idp_token_endpoint: impl Into<String>,
        id_token: impl Into<String>,
        idp_client_id: impl Into<String>,
    ) -> Self {
        Self {
            idp_token_endpoint: idp_token_endpoint.into(),
            id_token: SecretString::from(id_token.into()),
            idp_client_id: idp_client_id.into(),
            idp_client_secret: None,
        }
    }

    /// The client secret at the identity provider, if it requires one.
    ///
    /// ```
    /// use mcp_oauth::CrossAppAccess;
    /// let idp = CrossAppAccess::new("https://idp.example/oauth2/token", "…", "my-app-at-idp")
    ///     .idp_client_secret("…");
    /// ```
    pub fn idp_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.idp_client_secret = Some(SecretString::from(secret.into()));
        self
    }
}

impl fmt::Debug for CrossAppAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrossAppAccess")
            .field("idp_token_endpoint", &self.idp_token_endpoint)
            .field("idp_client_id", &self.idp_client_id)
            .finish_non_exhaustive()
    }
}

/// Tokens without a person: `client_credentials` (with the client's secret
/// or a signed assertion) or cross-app access.
pub(in super::super) async fn machine(flow: &mut Flow<'_>) -> Result<Tokens> {
    let registration = identity::client(flow, Purpose::Machine).await?;
    let settings = flow.settings;
    let key = match &settings.private_key {
        Some((pem, algorithm)) => Some(SigningKey::from_pem(pem.expose_secret(), *algorithm)?),
        None => None,
    };
    flow.binding.brake_token_request()?;
    let (http, metadata) = (&flow.binding.http, &flow.metadata);
    let (scope, resource) = (flow.scope.as_deref(), flow.resource_parameter());
    match &settings.grant {
        GrantKind::CrossAppAccess(idp) => {
            cross_app_access(http, metadata, &registration, idp, scope, resource).await
        }
        _ => client_credentials(http, metadata, &registration, key.as_ref(), scope, resource).await,
    }
}

/// `client_credentials`: with the client's secret, or with a signed assertion.
async fn client_credentials(
    http: &OAuthHttp,
    metadata: &AuthServerMetadata,
    client: &Registration,
    key: Option<&SigningKey>,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<Tokens> {
    let endpoint = token_endpoint(metadata)?;
    let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let fetched = match key {
        Some(key) => {
            let assertion = client_assertion(key, &client.client_id, &metadata.issuer)?;
            form.push(("client_id", &client.client_id));
            form.push(("client_assertion_type", ASSERTION_TYPE));
            form.push(("client_assertion", &assertion));
            let step = OAuthStep::Token;
            http.post_form(&endpoint, &form, BasicAuth::None, step)
                .await?
        }
        None => post_with_client_auth(http, &endpoint, client, form, OAuthStep::Token).await?,
    };
    parse_token_response(&endpoint, &fetched, None)
}

/// The RFC 7523 §3 assertion: issued by and about the client, for the
/// authorization server, short-lived and unique.
fn client_assertion(key: &SigningKey, client_id: &str, audience: &str) -> Result<String> {
    let now = crate::clock::now();
    let jti = secret::random_token()?;
    key.sign(&json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": jti.expose_secret(),
    }))
}

/// Cross-app access: the ID-JAG from the identity provider, then the
/// `jwt-bearer` grant at the authorization server.
async fn cross_app_access(
    http: &OAuthHttp,
    metadata: &AuthServerMetadata,
    client: &Registration,
    idp: &CrossAppAccess,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<Tokens> {
    let idp_endpoint =
        Url::parse(&idp.idp_token_endpoint).map_err(|error| Error::InvalidConfig {
            reason: format!("the identity provider's token endpoint is not a URL: {error}"),
        })?;
    require_secure(&idp_endpoint, "the identity provider's token endpoint")?;
    let mut exchange: Vec<(&str, &str)> = vec![
        ("grant_type", TOKEN_EXCHANGE),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:id-jag",
        ),
        ("subject_token", idp.id_token.expose_secret()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        ("audience", &metadata.issuer),
    ];
    if let Some(resource) = resource {
        exchange.push(("resource", resource));
    }
    if let Some(scope) = scope {
        exchange.push(("scope", scope));
    }
    let idp_client =
        Registration::fixed(&idp.idp_client_id, idp.idp_client_secret.clone(), metadata);
    let fetched =
        // The identity provider is not the server the DPoP key is for.
        post_with_client_auth(
            &http.without_dpop(),
            &idp_endpoint,
            &idp_client,
            exchange,
            OAuthStep::Token,
        )
        .await?;
    // The ID-JAG comes back in `access_token` with `token_type: N_A`.
    let raw: Value = serde_json::from_slice(&fetched.body).unwrap_or(Value::Null);
    let Some(id_jag) = raw
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|_| fetched.is_success())
    else {
        let error = raw
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no ID-JAG in the answer");
        return Err(Error::TokenEndpoint {
            url: idp_endpoint.to_string(),
            status: fetched.status,
            error: OAuthErrorCode::from(error),
            description: raw
                .get("error_description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    };
    let endpoint = token_endpoint(metadata)?;
    let mut form: Vec<(&str, &str)> = vec![("grant_type", JWT_BEARER), ("assertion", id_jag)];
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let fetched = post_with_client_auth(http, &endpoint, client, form, OAuthStep::Token).await?;
    parse_token_response(&endpoint, &fetched, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway P-256 key made for this test (openssl genpkey -algorithm EC).
    const EC_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3sl6wT3GtG3L6xDE
4BoWJ9kKbn2v2fzr8u7MXJ9p/v2hRANCAAR8lINfSndUJ1E3QMvw1vnARMCes4GI
GZNoeWmCpwiynnsum8MQM4Q/zSo7FMks3dHy6+dEtNrG1iZ5i9WCL+bn
-----END PRIVATE KEY-----";

    #[test]
    fn es256_assertion_has_the_claims_and_a_64_byte_signature() {
        let key = SigningKey::from_pem(EC_KEY, SigningAlgorithm::Es256).unwrap();
        let jwt = client_assertion(&key, "client-1", "https://as.example").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], "https://as.example");
        assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 64);
        assert!(!format!("{key:?}").contains("MIG"));
    }

    #[test]
    fn bad_keys_are_refused_clearly() {
        assert!(SigningKey::from_pem("not a key", SigningAlgorithm::Es256).is_err());
        let error = SigningKey::from_pem(EC_KEY, SigningAlgorithm::Rs256).unwrap_err();
        assert!(error.to_string().contains("Rs256"), "{error}");
        assert!("es256".parse::<SigningAlgorithm>().is_ok());
        assert!("HS256".parse::<SigningAlgorithm>().is_err());
    }
}
