//! The one place where credentials enter and leave a request: every HTTP
//! request any transport sends gets its `Authorization` header from
//! [`Authorizer::header`], and every 401 or 403 gets its [`Verdict`] from
//! [`Authorizer::on_rejection`], under the one rule of
//! [`wants_authorization`].

use std::{sync::Arc, time::Duration};

use http::{HeaderMap, HeaderValue, header::WWW_AUTHENTICATE};
use secrecy::{ExposeSecret, SecretString};

use super::{Auth, OAuth, oauth::wire::BearerChallenge};
use crate::{Error, Result};

/// At most this many authorizations for one request: one for a 401, and
/// step-ups for 403 `insufficient_scope` up to this bound.
const MAX_AUTHORIZATIONS: usize = 3;

/// A 401 or 403 answer, as the server gave it, its challenge parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    pub(crate) url: String,
    pub(crate) status: u16,
    /// The `WWW-Authenticate` header exactly as sent.
    pub(crate) www_authenticate: Option<String>,
    pub(crate) challenge: Option<BearerChallenge>,
}

impl Rejection {
    pub(crate) fn new(
        url: impl Into<String>,
        status: u16,
        www_authenticate: Option<String>,
    ) -> Self {
        let challenge = www_authenticate.as_deref().and_then(BearerChallenge::parse);
        Self {
            url: url.into(),
            status,
            www_authenticate,
            challenge,
        }
    }

    /// The refusal an answer with `status` and `headers` makes.
    pub(crate) fn from_headers(url: impl Into<String>, status: u16, headers: &HeaderMap) -> Self {
        let www_authenticate = headers
            .get(WWW_AUTHENTICATE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        Self::new(url, status, www_authenticate)
    }

    pub(crate) fn into_error(self) -> Error {
        Error::Unauthorized {
            url: self.url,
            status: self.status,
            www_authenticate: self.www_authenticate,
        }
    }

    /// The error for a refusal of a token just renewed: renewals pause for
    /// `retry_after`.
    pub(crate) fn into_paused(self, retry_after: Duration) -> Error {
        Error::RenewalsPaused {
            url: self.url,
            status: self.status,
            www_authenticate: self.www_authenticate,
            retry_after,
        }
    }
}

/// What a refusal calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// New credentials are in place: send the request once more.
    Retry,
    /// Only a new authorization can help; `seen` is the token generation
    /// the refused request saw (see [`OAuth::authorize`]).
    Authorize { seen: u64 },
    /// Nothing can be done: report the refusal.
    GiveUp,
    /// The server refused the token it was just given: renewals pause for
    /// this long (see [`OAuth::paused`]).
    Paused { retry_after: Duration },
}

/// The rule for every path: a first 401 calls for an authorization, and so
/// does a 403 whose challenge asks for more scope (a step-up), up to
/// [`MAX_AUTHORIZATIONS`] for one request.
pub(crate) fn wants_authorization(
    status: u16,
    challenge: Option<&BearerChallenge>,
    authorizations_so_far: usize,
) -> bool {
    let first_refusal = status == 401 && authorizations_so_far == 0;
    let step_up = status == 403 && challenge.is_some_and(BearerChallenge::is_insufficient_scope);
    (first_refusal || step_up) && authorizations_so_far < MAX_AUTHORIZATIONS
}

/// The per-connection handle on the credentials, shared by all transports.
#[derive(Debug, Clone)]
pub(crate) struct Authorizer {
    auth: Arc<Auth>,
    /// A static token's header, built once.
    bearer: Option<HeaderValue>,
    /// Whether a refusal may run the whole (interactive) OAuth flow right
    /// here. Our `Client` runs it above the request instead, outside its
    /// timeout; rmcp and middleware users have nothing above.
    interactive: bool,
}

impl Authorizer {
    pub(crate) fn new(auth: Auth) -> Self {
        let bearer = match &auth {
            Auth::Bearer(token) => bearer_header(token).ok(),
            _ => None,
        };
        Self {
            auth: Arc::new(auth),
            bearer,
            interactive: false,
        }
    }

    /// An authorizer that runs the OAuth flow itself when refused.
    pub(crate) fn interactive(auth: Auth) -> Self {
        Self {
            interactive: true,
            ..Self::new(auth)
        }
    }

    /// Whether the request to `url` may carry the credentials: OAuth tokens
    /// go only to the origin of the server they were issued for. Most
    /// requests go to the server's own URL, whose origin is known, so the
    /// text is parsed only when it does not plainly start with that origin.
    pub(crate) fn may_send_to(&self, url: &str) -> bool {
        match self.auth.as_ref() {
            Auth::OAuth(oauth) => oauth.server().is_some_and(|server| {
                server.is_same_origin_prefix(url)
                    || url::Url::parse(url).is_ok_and(|url| server.url().origin() == url.origin())
            }),
            _ => true,
        }
    }

    /// The `Authorization` header for the next request, marked sensitive so
    /// that no HTTP-level logging prints it.
    pub(crate) async fn header(&self) -> Result<Option<HeaderValue>> {
        match self.auth.as_ref() {
            Auth::None => Ok(None),
            Auth::Bearer(token) => match &self.bearer {
                Some(header) => Ok(Some(header.clone())),
                None => bearer_header(token).map(Some),
            },
            Auth::OAuth(oauth) => oauth.access_header().await,
        }
    }

    /// The DPoP proof a request with `method` to `url` carrying `sent`
    /// needs, if any (see [`OAuth::dpop_proof`]).
    pub(crate) fn dpop_proof(
        &self,
        method: &str,
        url: &url::Url,
        sent: &HeaderValue,
    ) -> Result<Option<HeaderValue>> {
        match self.oauth() {
            Some(oauth) => oauth.dpop_proof(method, url, sent),
            None => Ok(None),
        }
    }

    /// After an answer to a request sent with a DPoP proof: keeps the
    /// nonce it carries; `true` when it is new (RFC 9449 §8.2, §9).
    pub(crate) fn remember_dpop_nonce(&self, url: &url::Url, headers: &HeaderMap) -> bool {
        self.oauth()
            .is_some_and(|oauth| oauth.remember_dpop_nonce(url, headers))
    }

    /// The OAuth helper behind these credentials, if any.
    pub(crate) fn oauth(&self) -> Option<&OAuth> {
        match self.auth.as_ref() {
            Auth::OAuth(oauth) => Some(oauth),
            _ => None,
        }
    }

    /// The verdict on a 401/403, given the header that was sent: retry when
    /// the token changed meanwhile or a refresh succeeded; authorize when
    /// [`wants_authorization`] says so; else give up. A static token cannot
    /// be renewed here: the caller must fix it.
    pub(crate) async fn on_rejection(
        &self,
        rejection: &Rejection,
        sent: Option<&HeaderValue>,
    ) -> Verdict {
        tracing::debug!(
            url = %rejection.url,
            status = rejection.status,
            challenge = %crate::terminal_safe_line(rejection.www_authenticate.as_deref().unwrap_or("")),
            "server rejected the credentials"
        );
        let Auth::OAuth(oauth) = self.auth.as_ref() else {
            return Verdict::GiveUp;
        };
        if let Some(retry_after) = oauth.paused(rejection, sent).await {
            return Verdict::Paused { retry_after };
        }
        let seen = oauth.generation();
        if oauth.renew_after_rejection(sent, rejection).await {
            return Verdict::Retry;
        }
        if wants_authorization(rejection.status, rejection.challenge.as_ref(), 0) {
            return Verdict::Authorize { seen };
        }
        Verdict::GiveUp
    }

    /// Settles a refusal for callers with nothing above them: an
    /// authorization the verdict calls for runs right here when this
    /// authorizer is interactive. Returns whether to send the request again.
    pub(crate) async fn settle(
        &self,
        rejection: &Rejection,
        sent: Option<&HeaderValue>,
    ) -> Result<bool> {
        match self.on_rejection(rejection, sent).await {
            Verdict::Retry => Ok(true),
            Verdict::Authorize { seen } => match self.oauth() {
                Some(oauth) if self.interactive => {
                    oauth.authorize(rejection, seen).await?;
                    Ok(true)
                }
                _ => Ok(false),
            },
            Verdict::GiveUp => Ok(false),
            Verdict::Paused { retry_after } => Err(rejection.clone().into_paused(retry_after)),
        }
    }

    /// The error for a request refused again after its credentials were
    /// renewed: when the server refused the token it was just given,
    /// renewals pause and the error says so.
    pub(crate) async fn refused_again(
        &self,
        rejection: Rejection,
        sent: Option<&HeaderValue>,
    ) -> Error {
        match self.oauth() {
            Some(oauth) => match oauth.paused(&rejection, sent).await {
                Some(retry_after) => rejection.into_paused(retry_after),
                None => rejection.into_error(),
            },
            None => rejection.into_error(),
        }
    }

    /// The server answered a request sent with `sent` without refusing it:
    /// a renewed token is proven good.
    pub(crate) fn accepted(&self, sent: Option<&HeaderValue>) {
        if let (Some(oauth), Some(sent)) = (self.oauth(), sent) {
            oauth.accepted(sent);
        }
    }
}

/// `Authorization: Bearer <token>`, marked sensitive.
pub(crate) fn bearer_header(token: &SecretString) -> Result<HeaderValue> {
    token_header(token, false)
}

/// `Authorization: Bearer <token>`, or `DPoP <token>` for a DPoP-bound
/// token (RFC 9449 §7.1), marked sensitive.
pub(crate) fn token_header(token: &SecretString, dpop: bool) -> Result<HeaderValue> {
    let scheme = if dpop { "DPoP" } else { "Bearer" };
    let mut value =
        HeaderValue::try_from(format!("{scheme} {}", token.expose_secret())).map_err(|_| {
            Error::InvalidConfig {
                reason: "the bearer token contains characters not allowed in an HTTP header".into(),
            }
        })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_only_to_their_servers_origin_whatever_the_spelling() {
        let oauth = OAuth::builder("http://127.0.0.1:1234/mcp")
            .token_storage(crate::MemoryTokenStorage::new())
            .build()
            .unwrap();
        let authorizer = Authorizer::new(Auth::from(oauth));
        assert!(authorizer.may_send_to("http://127.0.0.1:1234/mcp"));
        assert!(authorizer.may_send_to("http://127.0.0.1:1234/messages?session=1"));
        assert!(
            authorizer.may_send_to("HTTP://127.0.0.1:1234/other"),
            "parsed when not plain"
        );
        assert!(!authorizer.may_send_to("http://127.0.0.1:1234.evil.example/mcp"));
        assert!(!authorizer.may_send_to("http://127.0.0.1:12345/mcp"));
        assert!(!authorizer.may_send_to("https://127.0.0.1:1234/mcp"));
        assert!(!authorizer.may_send_to("not a url"));
    }

    #[tokio::test]
    async fn bearer_header_is_sensitive_and_complete() {
        let authorizer = Authorizer::new(Auth::bearer("t0ken"));
        let header = authorizer.header().await.unwrap().unwrap();
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().unwrap(), "Bearer t0ken");
        assert!(!format!("{header:?}").contains("t0ken"));
    }

    #[tokio::test]
    async fn no_auth_sends_no_header_and_never_retries() {
        let authorizer = Authorizer::new(Auth::None);
        assert!(authorizer.header().await.unwrap().is_none());
        let rejection = Rejection::new("u", 401, None);
        assert_eq!(
            authorizer.on_rejection(&rejection, None).await,
            Verdict::GiveUp
        );
    }

    #[test]
    fn token_with_newline_is_refused_without_echoing_it() {
        let error = bearer_header(&SecretString::from("bad\ntoken".to_owned())).unwrap_err();
        assert!(!error.to_string().contains("token\n"));
        assert!(!error.to_string().contains("bad"));
    }

    #[test]
    fn authorization_follows_one_rule_for_every_path() {
        let more_scope =
            BearerChallenge::parse(r#"Bearer error="insufficient_scope", scope="a b""#);
        let plain = BearerChallenge::parse("Bearer");
        assert!(wants_authorization(401, None, 0), "a first 401");
        assert!(!wants_authorization(401, None, 1), "not a second 401");
        assert!(
            wants_authorization(403, more_scope.as_ref(), 1),
            "a step-up"
        );
        assert!(!wants_authorization(
            403,
            more_scope.as_ref(),
            MAX_AUTHORIZATIONS
        ));
        assert!(!wants_authorization(403, plain.as_ref(), 0), "a plain 403");
        assert!(!wants_authorization(403, None, 0));
    }
}
