//! The HTTP client of the OAuth steps: bounded bodies and times, no
//! redirect to another origin, codes and secrets only where they belong.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{
    dpop::{DpopContext, DpopKey},
    wire::Fetched,
};
use crate::{
    Error, OAuthStep, Result,
    net::{self, HttpClient, HttpError, Redirects, RequestBuilder, Response, timed_out},
};

/// Metadata and token answers are small; anything larger is hostile.
const MAX_BODY: usize = 1024 * 1024;
/// How long one request may take, answer included, by default.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the OAuth requests are made.
#[derive(Debug, Clone)]
pub(crate) struct HttpOptions {
    /// How long one request may take, answer included.
    pub(crate) timeout: Duration,
    /// Host names reached at a fixed address instead of through DNS.
    pub(crate) resolve: Vec<(String, SocketAddr)>,
    /// Certificate authorities trusted besides the system's.
    pub(crate) roots: net::TrustAnchors,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            resolve: Vec::new(),
            roots: net::TrustAnchors::default(),
        }
    }
}

/// How a POST proves who the client is.
#[derive(Debug)]
pub(crate) enum BasicAuth<'a> {
    None,
    /// `client_secret_basic`: both parts form-urlencoded before base64 (RFC 6749 §2.3.1).
    Credentials {
        client_id: &'a str,
        secret: &'a SecretString,
    },
}

/// The clients are built on first use: a run that finds its token cached
/// makes no OAuth request and should not pay for setting up TLS clients.
#[derive(Debug, Clone, Default)]
pub(crate) struct OAuthHttp {
    options: HttpOptions,
    /// One client per [`Purpose`] and per route (through the environment's
    /// proxy, or direct to loopback).
    clients: Arc<[OnceLock<Result<HttpClient>>; 4]>,
    /// The DPoP state of the server these requests are for: while it holds
    /// a key, every token request carries a proof.
    dpop: Option<Arc<DpopContext>>,
}

/// What a request is for, which decides the redirects it may follow.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    /// Metadata and registration: redirects within one origin are followed.
    Documents = 0,
    /// Token requests: no redirect is ever followed.
    Tokens = 1,
}

const PROTOCOL_VERSION: &str = "2025-11-25";

impl OAuthHttp {
    pub(crate) fn new(options: HttpOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// The same clients, for a server whose DPoP state is `dpop`.
    pub(crate) fn with_dpop(&self, dpop: Arc<DpopContext>) -> Self {
        Self {
            dpop: Some(dpop),
            ..self.clone()
        }
    }

    /// The same clients, making no proof: for a server that is not the
    /// authorization server the key is for (an identity provider).
    pub(crate) fn without_dpop(&self) -> Self {
        Self {
            dpop: None,
            ..self.clone()
        }
    }

    /// The client for requests to `url` made for `purpose`: direct for a
    /// loopback host, or a name given a loopback address with
    /// [`resolve`](HttpOptions::resolve) (a proxy would ask DNS instead).
    fn client(&self, url: &Url, purpose: Purpose) -> Result<&HttpClient> {
        let resolved_to_loopback = self.options.resolve.iter().any(|(domain, address)| {
            url.host_str()
                .is_some_and(|host| host.eq_ignore_ascii_case(domain))
                && address.ip().is_loopback()
        });
        let direct = net::is_loopback(url) || resolved_to_loopback;
        let built = self.clients[purpose as usize * 2 + usize::from(direct)].get_or_init(|| {
            // Metadata may move within its origin; a redirect elsewhere, in
            // a circle or without end is refused with an error saying so.
            let redirects = match purpose {
                Purpose::Documents => Redirects::SameOrigin,
                Purpose::Tokens => Redirects::None,
            };
            build_client(&self.options, redirects, direct)
        });
        built.as_ref().map_err(Error::clone)
    }

    /// A failed exchange as an [`Error`]: running out of time is an
    /// [`Error::Timeout`].
    fn failed(&self, url: &Url, error: HttpError) -> Error {
        timed_out(url.as_str(), error, self.options.timeout)
    }

    /// GET a metadata document.
    pub(crate) async fn get_json(&self, url: &Url) -> Result<Fetched> {
        let request = self
            .client(url, Purpose::Documents)?
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .header("mcp-protocol-version", PROTOCOL_VERSION);
        self.read(url, request).await
    }

    /// GET `url` (an authorization URL) without following a redirect, and
    /// without reading the page: its status and `Location`.
    pub(crate) async fn probe(&self, url: &Url) -> Result<(u16, Option<String>)> {
        let response = self
            .client(url, Purpose::Tokens)?
            .get(url.clone())
            .header(ACCEPT, "text/html,application/json")
            // What browsers say of a page fetched before it is shown.
            .header("sec-purpose", "prefetch")
            .send()
            .await
            .map_err(|error| self.failed(url, error))?;
        let location = response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok((response.status().as_u16(), location))
    }

    /// POST a JSON document (dynamic registration).
    pub(crate) async fn post_json(&self, url: &Url, body: &serde_json::Value) -> Result<Fetched> {
        let request = self
            .client(url, Purpose::Documents)?
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .json(body);
        self.read(url, request).await
    }

    /// POST a form to the endpoint of `step` (the token or the device
    /// authorization endpoint). Never follows a redirect: a code or secret
    /// must reach this exact endpoint or nothing. An answer that cannot be
    /// read (over the size limit, cut short) is that step's failure.
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        auth: BasicAuth<'_>,
        step: OAuthStep,
    ) -> Result<Fetched> {
        let key = match (step, &self.dpop) {
            (OAuthStep::Token, Some(dpop)) => dpop.key(),
            _ => None,
        };
        let Some(key) = key else {
            return self
                .send_form(url, form, &auth, None)
                .await
                .map_err(|error| unusable_answer(error, step));
        };
        // RFC 9449 §8: a server that wants a nonce says so with a 400
        // `use_dpop_nonce` and the nonce; the request is made once more
        // with it (a new proof: a proof is never sent twice).
        let mut retried = false;
        loop {
            let fetched = self
                .send_form(url, form, &auth, Some(&key))
                .await
                .map_err(|error| unusable_answer(error, step))?;
            let fresh_nonce = fetched.fresh_dpop_nonce.is_some();
            if !retried && fresh_nonce && fetched.status == 400 && asks_for_nonce(&fetched) {
                retried = true;
                tracing::debug!(url = %url, "the authorization server asked for a DPoP nonce");
                continue;
            }
            return Ok(fetched);
        }
    }

    async fn send_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        auth: &BasicAuth<'_>,
        key: Option<&DpopKey>,
    ) -> Result<Fetched> {
        let body = serde_urlencoded(form);
        let mut request = self
            .client(url, Purpose::Tokens)?
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let BasicAuth::Credentials { client_id, secret } = auth {
            let pair = format!(
                "{}:{}",
                form_encode(client_id),
                form_encode(secret.expose_secret())
            );
            let mut value =
                http::HeaderValue::try_from(format!("Basic {}", base64_standard(&pair))).map_err(
                    |_| Error::InvalidConfig {
                        reason: "the client secret cannot be sent in an HTTP header".into(),
                    },
                )?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let dpop = self.dpop.as_deref().filter(|_| key.is_some());
        if let (Some(key), Some(dpop)) = (key, dpop) {
            let nonce = dpop.nonce_for(url);
            let proof = key.proof("POST", url, None, nonce.as_deref())?;
            request = request.header("dpop", proof);
        }
        let response = request
            .send()
            .await
            .map_err(|error| self.failed(url, error))?;
        if response.status().is_redirection() {
            return Err(Error::Insecure {
                url: url.to_string(),
                reason: "the token endpoint answered with a redirect; credentials are not sent elsewhere"
                    .into(),
            });
        }
        let fresh_dpop_nonce = dpop.and_then(|dpop| dpop.remember_nonce(url, response.headers()));
        let mut fetched = self.read_response(url, response).await?;
        fetched.dpop = dpop.is_some();
        fetched.fresh_dpop_nonce = fresh_dpop_nonce;
        Ok(fetched)
    }

    async fn read(&self, url: &Url, request: RequestBuilder) -> Result<Fetched> {
        let response = request
            .send()
            .await
            .map_err(|error| self.failed(url, error))?;
        self.read_response(url, response).await
    }

    /// Reads a whole answer, refusing more than [`MAX_BODY`] bytes.
    async fn read_response(&self, url: &Url, response: Response) -> Result<Fetched> {
        let status = response.status().as_u16();
        let body = net::read_body(url.as_str(), response, MAX_BODY, self.options.timeout).await?;
        Ok(Fetched {
            status,
            body,
            dpop: false,
            fresh_dpop_nonce: None,
        })
    }
}

/// Whether a token endpoint's error answer is RFC 9449's `use_dpop_nonce`.
fn asks_for_nonce(fetched: &Fetched) -> bool {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: Option<String>,
    }
    fetched
        .json::<Refusal>()
        .is_ok_and(|refusal| refusal.error.as_deref() == Some("use_dpop_nonce"))
}

/// A failure to read an OAuth endpoint's answer as the failure of `step`:
/// the generic reader reports it as a protocol error, which would blame the
/// MCP server. Failing to connect or to get an answer in time keeps its kind.
fn unusable_answer(error: Error, step: OAuthStep) -> Error {
    match error {
        Error::Protocol { url, detail } => Error::OAuthAnswer { step, url, detail },
        other => other,
    }
}

fn build_client(options: &HttpOptions, redirects: Redirects, direct: bool) -> Result<HttpClient> {
    let mut builder = HttpClient::builder()
        .timeout(options.timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(options.timeout))
        .direct(direct)
        .redirects(redirects)
        .roots(options.roots.clone());
    for (domain, address) in &options.resolve {
        builder = builder.resolve(domain, *address);
    }
    net::build_client(builder)
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn serde_urlencoded(form: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in form {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

fn base64_standard(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        // RFC 6749 §2.3.1: "a:b" would be ambiguous; ':' is encoded as %3A.
        let pair = format!("{}:{}", form_encode("client id"), form_encode("s3:cr+t/é"));
        assert_eq!(pair, "client+id:s3%3Acr%2Bt%2F%C3%A9");
    }
}
