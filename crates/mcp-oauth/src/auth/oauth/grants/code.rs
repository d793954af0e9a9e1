//! The authorization code grant with PKCE: a browser (or a pasted URL)
//! brings the code back to a loopback callback.

use url::Url;

use super::{
    super::{
        callback::{CALLBACK_PATH, CallbackServer},
        flow::{Flow, refuses_resource},
        identity::{self, Purpose},
        user_agent::{Presented, present},
        wire::{AuthorizationRequest, Pkce, authorization_url, check_issuer},
    },
    Grant, request_tokens,
};
use crate::{Result, SignIn, secret::random_token, store::Tokens};

/// One sign-in in the browser: a client identity for a loopback redirect,
/// the authorization URL shown, the callback awaited, the code exchanged.
pub(in super::super) async fn authorization_code(flow: &mut Flow<'_>) -> Result<Tokens> {
    let callback = bind_callback(flow).await?;
    let redirect_uri = callback.redirect_uri().clone();
    let cached = !flow.client_checked
        && identity::reusable_redirect(flow).is_some_and(|uri| uri == redirect_uri);
    let mut registration = identity::client(flow, Purpose::Redirect(&redirect_uri)).await?;
    let (settings, binding) = (flow.settings, flow.binding);
    let pkce = Pkce::new()?;
    let state = random_token()?;
    let request = |flow: &Flow<'_>, client_id: &str| {
        let request = AuthorizationRequest {
            client_id,
            redirect_uri: &redirect_uri,
            challenge: &pkce.challenge,
            state: &state,
            resource: flow.resource_parameter(),
            scope: flow.scope.as_deref(),
        };
        authorization_url(&flow.metadata, &request)
    };
    let mut url = request(flow, &registration.client_id)?;
    // A cached registration the server forgot (a restart, an expiry) would
    // leave the person on an error page until the wait ends: asked first,
    // the server says so, and the client registers again, once.
    if cached {
        flow.client_checked = true;
    }
    if cached && forgot_client(&binding.http, &url, &redirect_uri).await {
        tracing::info!(
            "the authorization server no longer knows the cached client; registering again"
        );
        flow.credentials.registration = None;
        registration = identity::client(flow, Purpose::Redirect(&redirect_uri)).await?;
        url = request(flow, &registration.client_id)?;
    }
    binding.brake_sign_in()?;
    // The listener serves while the browser opens: a browser (or script)
    // may come back before `present` returns.
    let (paste, pasted) = tokio::sync::mpsc::channel(4);
    let presenting = async {
        let shown = present(&settings.user_agent, &url, &|text| settings.notify(text)).await?;
        let waiting = if shown == Presented::Printed {
            // Where no browser opened, a pasted redirect URL completes the login too.
            feed_stdin_lines(paste);
            format!(
                "Waiting for the sign-in to come back to {redirect_uri}. If the browser \
                 is on another machine, paste here the address it ends up on."
            )
        } else {
            format!("Waiting for the browser to come back to {redirect_uri}")
        };
        settings.notify(&waiting);
        settings.signal(SignIn::Waiting);
        Ok(())
    };
    let waited = tokio::try_join!(
        presenting,
        callback.wait(&state, settings.timeout, Some(pasted))
    );
    settings.signal(SignIn::Done);
    let ((), response) = waited?;
    check_issuer(&flow.metadata, response.iss.as_deref())?;
    let token_endpoint = flow.token_endpoint()?;
    let grant = Grant::AuthorizationCode {
        code: &response.code,
        verifier: &pkce.verifier,
        redirect_uri: &redirect_uri,
    };
    let resource = flow.resource_parameter().map(str::to_owned);
    binding.brake_token_request()?;
    let http = &binding.http;
    let exchanged = request_tokens(
        http,
        &token_endpoint,
        &registration,
        &grant,
        resource.as_deref(),
        None,
    )
    .await;
    match exchanged {
        // Refused before the code was looked at (Entra's AADSTS9010010):
        // the same code again, without the parameter.
        Err(error) if resource.is_some() && refuses_resource(&error) => {
            flow.omit_resource_from_now_on();
            binding.brake_token_request()?;
            request_tokens(http, &token_endpoint, &registration, &grant, None, None).await
        }
        other => other,
    }
}

/// Exchanges the code of a sign-in that came back through a web platform's
/// callback (the two-phase flow): the same request as a loopback sign-in's.
pub(in super::super) async fn exchange_code(
    http: &crate::auth::oauth::http::OAuthHttp,
    token_endpoint: &Url,
    registration: &crate::store::Registration,
    code: &secrecy::SecretString,
    verifier: &secrecy::SecretString,
    redirect_uri: &Url,
    resource: &str,
) -> Result<Tokens> {
    request_tokens(
        http,
        token_endpoint,
        registration,
        &Grant::AuthorizationCode {
            code,
            verifier,
            redirect_uri,
        },
        Some(resource),
        None,
    )
    .await
}

/// Whether the authorization endpoint refuses `url` for its client: asked
/// (as a prefetch, `Sec-Purpose: prefetch`) without following any
/// redirect, it answers 400 or 401 (an error page,
/// `invalid_client`), or sends the browser back to `redirect_uri` with
/// `error=invalid_client` or `unauthorized_client`. A probe that fails says
/// nothing: the sign-in goes on as it would have.
async fn forgot_client(
    http: &crate::auth::oauth::http::OAuthHttp,
    url: &Url,
    redirect_uri: &Url,
) -> bool {
    let (status, location) = match http.probe(url).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::debug!(%error, "the authorization endpoint could not be asked first");
            return false;
        }
    };
    match status {
        400 | 401 => true,
        300..=399 => location
            .and_then(|location| url.join(&location).ok())
            .filter(|target| {
                target.origin() == redirect_uri.origin() && target.path() == redirect_uri.path()
            })
            .is_some_and(|target| {
                target.query_pairs().any(|(name, value)| {
                    name == "error" && matches!(&*value, "invalid_client" | "unauthorized_client")
                })
            }),
        _ => false,
    }
}

/// Binds the loopback listener: on the configured port, else on the port of
/// a registration that would be reused (most servers bind a registration to
/// its exact redirect URI) when it is free, else on any free port.
async fn bind_callback(flow: &Flow<'_>) -> Result<CallbackServer> {
    let host = flow.settings.callback_host;
    let path = flow
        .settings
        .callback_path
        .as_deref()
        .unwrap_or(CALLBACK_PATH);
    if let Some(port) = flow.settings.callback_port {
        return CallbackServer::bind_at(host, port, path).await;
    }
    if let Some(port) = identity::reusable_redirect(flow).and_then(|uri| Url::port(&uri))
        && let Ok(callback) = CallbackServer::bind_at(host, port, path).await
    {
        return Ok(callback);
    }
    CallbackServer::bind_at(host, 0, path).await
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
