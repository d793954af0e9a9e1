//! [`OAuthMiddleware`]: the same OAuth for any `reqwest-middleware` client.

use http::{Extensions, StatusCode, header::AUTHORIZATION};
use reqwest_middleware::{Middleware, Next, Result as MiddlewareResult};

use super::{Authorizer, OAuth, Rejection};
use crate::{Auth, Error};

/// Middleware for [`reqwest_middleware`] clients: requests to the OAuth
/// helper's server get its `Authorization` header (and no other origin ever
/// does); a 401, or a 403 asking for more scope, runs the flow and sends the
/// request once more.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::{OAuth, OAuthMiddleware};
///
/// let oauth = OAuth::builder("https://example.com/mcp").build()?;
/// let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(OAuthMiddleware::new(oauth)?)
///     .build();
/// let answer = http.get("https://example.com/mcp/whoami").send().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OAuthMiddleware {
    authorizer: Authorizer,
}

impl OAuthMiddleware {
    /// Middleware for the server `oauth` was built for.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::{OAuth, OAuthMiddleware};
    /// let middleware = OAuthMiddleware::new(OAuth::builder("https://mcp.example.com/mcp").build()?)?;
    /// # Ok(()) }
    /// ```
    pub fn new(oauth: OAuth) -> crate::Result<Self> {
        if oauth.server().is_none() {
            return Err(Error::InvalidConfig {
                reason: "give the OAuth helper its server URL: OAuth::builder(url)".into(),
            });
        }
        Ok(Self {
            authorizer: Authorizer::interactive(Auth::OAuth(oauth)),
        })
    }
}

#[async_trait::async_trait]
impl Middleware for OAuthMiddleware {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> MiddlewareResult<reqwest::Response> {
        if !self.authorizer.may_send_to(request.url().as_str()) {
            return next.run(request, extensions).await;
        }
        // A streamed body cannot be sent twice; such a request is not retried.
        let mut spare = request.try_clone();
        let url = request.url().to_string();
        let (response, sent) = self.send(request, extensions, next.clone()).await?;
        let status = response.status();
        if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
            self.authorizer.accepted(sent.as_ref());
            return Ok(response);
        }
        let rejection = Rejection::from_headers(url.clone(), status.as_u16(), response.headers());
        // A DPoP nonce the server asks for: once more with it (RFC 9449 §9).
        let (response, sent, rejection) = match (&rejection.challenge, spare.take()) {
            (Some(challenge), Some(retry)) if challenge.wants_dpop_nonce() && sent.is_some() => {
                spare = retry.try_clone();
                let (response, sent) = self.send(retry, extensions, next.clone()).await?;
                let status = response.status();
                if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                    self.authorizer.accepted(sent.as_ref());
                    return Ok(response);
                }
                let rejection =
                    Rejection::from_headers(url.clone(), status.as_u16(), response.headers());
                (response, sent, rejection)
            }
            (_, retry) => {
                spare = retry;
                (response, sent, rejection)
            }
        };
        let Some(retry) = spare else {
            return Ok(response);
        };
        if !self
            .authorizer
            .settle(&rejection, sent.as_ref())
            .await
            .map_err(wrap)?
        {
            return Ok(response);
        }
        let (response, resent) = self.send(retry, extensions, next).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            // The renewed token refused too: renewals may pause, and the
            // caller sees the refusal as it is.
            let rejection = Rejection::from_headers(url, status.as_u16(), response.headers());
            let _ = self
                .authorizer
                .refused_again(rejection, resent.as_ref())
                .await;
        } else {
            self.authorizer.accepted(resent.as_ref());
        }
        Ok(response)
    }
}

impl OAuthMiddleware {
    /// Sends `request` with the current credentials (and a fresh DPoP proof
    /// when the token is bound), keeping any nonce the answer brings.
    async fn send(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> MiddlewareResult<(reqwest::Response, Option<http::HeaderValue>)> {
        let sent = self.authorizer.header().await.map_err(wrap)?;
        let target = request.url().clone();
        if let Some(header) = &sent {
            let method = request.method().as_str().to_owned();
            if let Some(proof) = self
                .authorizer
                .dpop_proof(&method, &target, header)
                .map_err(wrap)?
            {
                request.headers_mut().insert("dpop", proof);
            }
            request.headers_mut().insert(AUTHORIZATION, header.clone());
        }
        let response = next.run(request, extensions).await?;
        self.authorizer
            .remember_dpop_nonce(&target, response.headers());
        Ok((response, sent))
    }
}

fn wrap(error: Error) -> reqwest_middleware::Error {
    reqwest_middleware::Error::Middleware(error.into())
}
