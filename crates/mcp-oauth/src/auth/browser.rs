//! The authorization code flow with PKCE: a browser (or a pasted URL)
//! brings the code back to a loopback callback.

use super::{
    authorize::{AuthorizationRequest, Pkce, authorization_url, check_issuer},
    callback::CallbackServer,
    discovery::{AuthServerMetadata, MetadataSource},
    oauth::{Bound, OAuth, SignIn, token_endpoint},
    registration::{Registration, RegistrationKind, RegistrationRequest, register},
    token::{Grant, request_tokens},
    user_agent::{Presented, present},
};
use crate::{
    Error, Result, StoredCredentials,
    secret::{now, random_token},
};

impl OAuth {
    pub(super) async fn authorize_once(
        &self,
        bound: &Bound,
        credentials: &mut StoredCredentials,
        metadata: &AuthServerMetadata,
        source: MetadataSource,
        resource: &str,
        scope: Option<&str>,
    ) -> Result<()> {
        let settings = &self.inner.settings;
        let (callback, registration) = self
            .prepare_client(bound, credentials, metadata, source, scope)
            .await?;
        let redirect_uri = callback.redirect_uri().clone();
        let pkce = Pkce::new()?;
        let state = random_token()?;
        let url = authorization_url(
            metadata,
            &AuthorizationRequest {
                client_id: &registration.client_id,
                redirect_uri: &redirect_uri,
                challenge: &pkce.challenge,
                state: &state,
                resource,
                scope,
            },
        )?;
        bound.brake_sign_in()?;
        // The listener serves while the browser opens: a browser (or script)
        // may come back before `present` returns.
        let (paste, pasted) = tokio::sync::mpsc::channel(4);
        let presenting = async {
            let waiting = if present(&settings.user_agent, &url, &*settings.notice).await?
                == Presented::Printed
            {
                // Where no browser opened, a pasted redirect URL completes the login too.
                feed_stdin_lines(paste);
                format!(
                    "Waiting for the sign-in to come back to {redirect_uri}. If the browser \
                     is on another machine, paste here the address it ends up on."
                )
            } else {
                format!("Waiting for the browser to come back to {redirect_uri}")
            };
            (settings.notice)(&waiting);
            self.signal(SignIn::Waiting);
            Ok(())
        };
        let waited = tokio::try_join!(
            presenting,
            callback.wait(&state, settings.timeout, Some(pasted))
        );
        self.signal(SignIn::Done);
        let ((), response) = waited?;
        check_issuer(metadata, response.iss.as_deref())?;
        let token_endpoint = token_endpoint(metadata)?;
        bound.brake_token_request()?;
        let tokens = request_tokens(
            &bound.http,
            token_endpoint,
            &registration,
            &Grant::AuthorizationCode {
                code: &response.code,
                verifier: &pkce.verifier,
                redirect_uri: &redirect_uri,
            },
            Some(resource),
            None,
        )
        .await?;
        self.store_tokens(bound, credentials, tokens).await
    }

    /// Picks the client identity (static > metadata document > dynamic) and
    /// binds the callback listener its redirect URI needs.
    async fn prepare_client(
        &self,
        bound: &Bound,
        credentials: &mut StoredCredentials,
        metadata: &AuthServerMetadata,
        source: MetadataSource,
        scope: Option<&str>,
    ) -> Result<(CallbackServer, Registration)> {
        let settings = &self.inner.settings;
        let host = settings.callback_host;
        if let Some(client_id) = &settings.client_id {
            let callback = CallbackServer::bind(host, settings.callback_port.unwrap_or(0)).await?;
            let registration =
                Registration::fixed(client_id, settings.client_secret.clone(), metadata);
            credentials.registration = Some(registration.clone());
            return Ok((callback, registration));
        }
        if let Some(document) = &settings.client_metadata_url
            && metadata.client_id_metadata_document_supported
        {
            let callback = CallbackServer::bind(host, settings.callback_port.unwrap_or(0)).await?;
            let registration = Registration::metadata_document(document);
            credentials.registration = Some(registration.clone());
            return Ok((callback, registration));
        }
        let cached = credentials
            .registration
            .take()
            .filter(|r| r.kind == RegistrationKind::Dynamic && !r.is_expired(now()));
        // Reuse the cached registration's port when it is free: most servers
        // bind a registration to its exact redirect URI.
        let cached_port = cached
            .as_ref()
            .and_then(|r| r.redirect_uri.as_deref())
            .and_then(|uri| url::Url::parse(uri).ok())
            .and_then(|uri| uri.port());
        let callback = match (settings.callback_port, cached_port) {
            (Some(port), _) => CallbackServer::bind(host, port).await?,
            (None, Some(port)) => match CallbackServer::bind(host, port).await {
                Ok(callback) => callback,
                Err(_) => CallbackServer::bind(host, 0).await?,
            },
            (None, None) => CallbackServer::bind(host, 0).await?,
        };
        if let Some(registration) = cached.filter(|r| r.fits_redirect(callback.redirect_uri())) {
            credentials.registration = Some(registration.clone());
            return Ok((callback, registration));
        }
        let registration = register(
            &bound.http,
            metadata,
            &RegistrationRequest {
                client_name: &settings.client_name,
                redirect_uri: Some(callback.redirect_uri()),
                scope,
                additional: settings.additional_client_metadata.as_ref(),
            },
        )
        .await
        .map_err(|error| match (source, error) {
            // Nothing of OAuth answered anywhere: say so rather than "404 at /register".
            (MetadataSource::LegacyDefaults, Error::Registration { url, .. }) => Error::Discovery {
                url,
                reason: "the server asks for authorization but publishes no OAuth metadata and \
                         offers no registration; if it takes a static token, pass it as a bearer token"
                    .into(),
            },
            (_, error) => error,
        })?;
        credentials.registration = Some(registration.clone());
        credentials.updated_at = now();
        // Kept even if the browser step fails, so the next try reuses it.
        bound.storage.save(credentials).await?;
        Ok((callback, registration))
    }
}

/// Lines typed on stdin: a pasted redirect URL completes a printed login.
fn feed_stdin_lines(sender: tokio::sync::mpsc::Sender<String>) {
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if !line.trim().is_empty() && sender.send(line.trim().to_owned()).await.is_err() {
                break;
            }
        }
    });
}
