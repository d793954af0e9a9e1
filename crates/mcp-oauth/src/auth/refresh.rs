//! Tokens between sign-ins: the cached token, refreshed before it expires
//! and after a 401, one refresh at a time in this process and across
//! processes, and what a refused refresh drops.

use secrecy::{ExposeSecret, SecretString};

use super::{
    oauth::{Bound, OAuth, REFRESH_LOCK_WAIT, Session, token_endpoint},
    registration::RegistrationKind,
    token::{Grant, request_tokens},
};
use crate::{Error, Result, secret::now};

impl OAuth {
    /// A valid access token for scripts (`mcp-oauth token`): the cached one,
    /// refreshed when it is about to expire. Runs no interactive flow: when
    /// there is no usable token, the error says to log in.
    pub async fn token(&self) -> Result<SecretString> {
        let server = self.bound()?.server.to_string();
        self.access_token().await?.ok_or(Error::Unauthorized {
            url: server,
            status: 401,
            www_authenticate: None,
        })
    }

    /// The `Authorization` header for the next request: [`Self::access_token`]
    /// as a header, built once per token. While the token is fresh, requests
    /// take the header without waiting on the session.
    pub(crate) async fn access_header(&self) -> Result<Option<http::HeaderValue>> {
        if let Some(header) = self.bound()?.ready_header(now()) {
            return Ok(Some(header));
        }
        match self.access_token().await? {
            Some(token) => super::bearer_header(&token).map(Some),
            None => Ok(None),
        }
    }

    /// The access token for the next request: from memory or storage, and
    /// refreshed first when it is about to expire. `None` when there is none
    /// (the server's 401 will start the flow). A fresh token's header is
    /// kept ready for the requests that follow.
    pub(crate) async fn access_token(&self) -> Result<Option<SecretString>> {
        let bound = self.bound()?;
        let mut session = self.session().await?;
        let Some(tokens) = session.credentials.as_ref().and_then(|c| c.tokens.as_ref()) else {
            return Ok(None);
        };
        if tokens.is_fresh(now()) {
            let token = tokens.access_token.clone();
            bound.keep_ready_header(&session);
            return Ok(Some(token));
        }
        if tokens.refresh_token.is_none() {
            return Ok(None);
        }
        match self.refresh(&mut session).await {
            Ok(token) => {
                bound.keep_ready_header(&session);
                Ok(Some(token))
            }
            // Dropped tokens: the server's 401 starts a new authorization.
            Err(error) if is_rejected_grant(&error) || self.lost_registration(&session) => {
                tracing::debug!(%error, "sending without a token");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Whether the dynamic registration was just dropped (tokens gone too).
    fn lost_registration(&self, session: &Session) -> bool {
        session
            .credentials
            .as_ref()
            .is_some_and(|c| c.registration.is_none() && c.tokens.is_none())
    }

    /// After a 401/403: `true` when the request should be sent again because
    /// the token changed meanwhile or a refresh succeeded.
    pub(crate) async fn renew_after_rejection(&self, sent: Option<&str>, status: u16) -> bool {
        let Ok(mut session) = self.session().await else {
            return false;
        };
        let current = session.credentials.as_ref().and_then(|c| c.tokens.as_ref());
        let current_token = current.map(|tokens| tokens.access_token.expose_secret().to_owned());
        if current_token.as_deref() != sent && current_token.is_some() {
            return true;
        }
        if status != 401 || current.is_none_or(|tokens| tokens.refresh_token.is_none()) {
            return false;
        }
        match self.refresh(&mut session).await {
            Ok(_) => true,
            Err(error) => {
                tracing::debug!(%error, "refresh after a 401 failed");
                false
            }
        }
    }

    /// Re-reads the stored credentials (another process may have refreshed
    /// or logged in while we waited for the lock) and adopts them; returns
    /// their access token when it is fresh and not the one we had.
    pub(super) async fn adopt_newer_tokens(
        &self,
        bound: &Bound,
        session: &mut Session,
    ) -> Result<Option<SecretString>> {
        let had = session
            .credentials
            .as_ref()
            .and_then(|c| c.tokens.as_ref())
            .map(|tokens| tokens.access_token.expose_secret().to_owned());
        let Some(stored) = bound.storage.load().await? else {
            return Ok(None);
        };
        let newer = stored
            .tokens
            .as_ref()
            .filter(|tokens| {
                tokens.is_fresh(now())
                    && Some(tokens.access_token.expose_secret()) != had.as_deref()
            })
            .map(|tokens| tokens.access_token.clone());
        session.credentials = Some(stored);
        if newer.is_some() {
            tracing::debug!(server = %bound.server, "another process renewed the tokens; using them");
            bound
                .generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(newer)
    }

    /// The refresh grant. `invalid_grant` drops the tokens (a new
    /// authorization follows); other failures keep everything.
    async fn refresh(&self, session: &mut Session) -> Result<SecretString> {
        let bound = self.bound()?;
        // One refresh at a time across processes: a rotated refresh token is
        // spent once. The lock spans only the token request.
        let _lock = bound.storage.lock(REFRESH_LOCK_WAIT).await?;
        if let Some(token) = self.adopt_newer_tokens(bound, session).await? {
            return Ok(token);
        }
        let Some(credentials) = session.credentials.as_mut() else {
            return Err(Error::InvalidConfig {
                reason: "nothing to refresh".into(),
            });
        };
        let (Some(metadata), Some(registration), Some(tokens)) = (
            &credentials.authorization_server,
            &credentials.registration,
            &credentials.tokens,
        ) else {
            return Err(Error::InvalidConfig {
                reason: "incomplete credentials; log in again".into(),
            });
        };
        let Some(refresh_token) = &tokens.refresh_token else {
            return Err(Error::InvalidConfig {
                reason: "no refresh token".into(),
            });
        };
        let token_endpoint = token_endpoint(metadata)?;
        tracing::debug!(server = %bound.server, "refreshing the access token");
        bound.brake_token_request()?;
        let result = request_tokens(
            &bound.http,
            token_endpoint,
            registration,
            &Grant::Refresh {
                refresh_token,
                scope: tokens.scope.as_deref(),
            },
            credentials.resource.as_deref(),
            Some(tokens),
        )
        .await;
        match result {
            Ok(fresh) => {
                let token = fresh.access_token.clone();
                credentials.tokens = Some(fresh);
                credentials.updated_at = now();
                // Saved before use: a rotated refresh token must not be lost.
                bound.storage.save(credentials).await?;
                bound
                    .generation
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(token)
            }
            Err(error) if is_rejected_grant(&error) => {
                tracing::info!(server = %bound.server, "the refresh token was refused; a new sign-in follows");
                credentials.tokens = None;
                bound.storage.save(credentials).await?;
                Err(error)
            }
            // A dynamic registration the server forgot: drop it (and its
            // tokens) so the next authorization registers again. Static
            // credentials are never dropped.
            Err(error)
                if is_rejected_client(&error)
                    && credentials
                        .registration
                        .as_ref()
                        .is_some_and(|r| r.kind == RegistrationKind::Dynamic) =>
            {
                tracing::info!(server = %bound.server, "the authorization server no longer knows this client; registering again");
                credentials.registration = None;
                credentials.tokens = None;
                bound.storage.save(credentials).await?;
                Err(error)
            }
            // 5xx, temporarily_unavailable, network: keep everything.
            Err(error) => Err(error),
        }
    }
}

fn is_rejected_grant(error: &Error) -> bool {
    matches!(error, Error::TokenEndpoint { error, .. } if error == "invalid_grant")
}

fn is_rejected_client(error: &Error) -> bool {
    matches!(error, Error::TokenEndpoint { error, .. }
        if error == "invalid_client" || error == "unauthorized_client")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryTokenStorage, StoredCredentials, TokenStorage, auth::token::Tokens};

    const SERVER: &str = "http://127.0.0.1:9/mcp";

    async fn signed_in(access_token: &str, received_at: u64, expires_at: Option<u64>) -> OAuth {
        let storage = MemoryTokenStorage::new();
        let mut credentials = StoredCredentials::new(SERVER);
        credentials.tokens = Some(Tokens {
            access_token: SecretString::from(access_token.to_owned()),
            token_type: "Bearer".into(),
            refresh_token: None,
            scope: None,
            expires_at,
            received_at,
        });
        storage.save(&credentials).await.unwrap();
        OAuth::builder(SERVER)
            .token_storage(storage)
            .build()
            .unwrap()
    }

    async fn header_text(oauth: &OAuth) -> Option<String> {
        let header = oauth.access_header().await.unwrap()?;
        Some(header.to_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn the_ready_header_goes_with_the_credentials() {
        let oauth = signed_in("first", now(), None).await;
        assert_eq!(header_text(&oauth).await.as_deref(), Some("Bearer first"));
        // Served again without the session: still the same token.
        assert_eq!(header_text(&oauth).await.as_deref(), Some("Bearer first"));
        oauth.logout().await.unwrap();
        assert_eq!(header_text(&oauth).await, None, "no header after logout");
    }

    #[tokio::test]
    async fn a_token_due_for_refresh_is_not_served_ready() {
        // A 30-second token is due for a refresh 3 s (a tenth) before expiry.
        let received = now();
        let oauth = signed_in("short", received, Some(received + 30)).await;
        assert_eq!(header_text(&oauth).await.as_deref(), Some("Bearer short"));
        let bound = oauth.bound().unwrap();
        assert!(bound.ready_header(received + 26).is_some());
        assert!(bound.ready_header(received + 27).is_none());
    }
}
