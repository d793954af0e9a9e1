//! The refresh grant: new tokens from the stored refresh token, one refresh
//! at a time across processes, and what a refused refresh drops.

use secrecy::SecretString;

use super::{
    super::{
        flow::{refuses_resource, rejects_client},
        session::{Binding, REFRESH_LOCK_WAIT, Reread, Session},
        wire::{OAuthErrorCode, token_endpoint},
    },
    Grant, request_tokens,
};
use crate::{Error, Result, store::RegistrationKind};

/// Refreshes the session's tokens and returns the new access token. The new
/// tokens are saved before they are returned. `invalid_grant` drops the
/// tokens (a new authorization follows); a dynamic registration the server
/// no longer knows is dropped too; other failures keep everything.
pub(in super::super) async fn refresh(
    binding: &Binding,
    session: &mut Session,
) -> Result<SecretString> {
    // One refresh at a time across processes: a rotated refresh token is
    // spent once. The lock spans only the token request.
    let lock = binding.storage.lock(REFRESH_LOCK_WAIT).await?;
    let result = match refresh_locked(binding, session).await {
        // A shared store refused the save: another process saved newer
        // tokens while this one's lock had lapsed (a long pause), or the
        // store lost the record this process read (a Redis restarted
        // without persistence). Newer tokens are the ones to use, and ours
        // are never written over them; with none stored, ours are not kept
        // either (their refresh token is spent): the next request goes
        // without, and the server's 401 brings the sign-in every process
        // waits for.
        Err(error) if error.is_storage_conflict() => {
            tracing::info!(server = %binding.server, %error, "using the credentials another process saved");
            match binding.reread(session).await {
                Ok(Reread::Newer(token)) => Ok(token),
                Ok(Reread::Adopted) => Err(error),
                Ok(Reread::Nothing) => {
                    drop_tokens(session);
                    Err(error)
                }
                Err(other) => Err(other),
            }
        }
        other => other,
    };
    // Given back before the answer is used, so a process that exits next
    // does not leave the others waiting out a lease.
    lock.release().await;
    result
}

async fn refresh_locked(binding: &Binding, session: &mut Session) -> Result<SecretString> {
    match binding.reread(session).await? {
        Reread::Newer(token) => return Ok(token),
        Reread::Adopted => {}
        // Nothing stored any more: a logout elsewhere, or a store that lost
        // what it held (a Redis restarted without persistence). The refresh
        // token in memory may be spent already, by a process whose answer
        // (and spend mark) the store lost too; spent again it would revoke
        // the whole family. A refresh token is spent only while it is the
        // stored one: a new sign-in follows, one for every process.
        Reread::Nothing => {
            tracing::info!(server = %binding.server, "the credentials are no longer stored; a new sign-in follows");
            drop_tokens(session);
            return Err(Error::InvalidConfig {
                reason: "the credentials are no longer stored (a logout elsewhere, or a store \
                         that lost them); log in again"
                    .into(),
            });
        }
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
    let endpoint = token_endpoint(metadata)?;
    // A rotating refresh token is spent by the request: what it brings must
    // be sure to fit before it is sent.
    let prepared = binding.prepare_save(credentials).await?;
    tracing::debug!(server = %binding.server, "refreshing the access token");
    binding.brake_token_request()?;
    let grant = Grant::Refresh {
        refresh_token,
        scope: tokens.scope.as_deref(),
    };
    let omit = binding.omit_resource || credentials.resource_refused;
    let resource = credentials.resource.as_deref().filter(|_| !omit);
    let http = &binding.http;
    let mut result = request_tokens(
        http,
        &endpoint,
        registration,
        &grant,
        resource,
        Some(tokens),
    )
    .await;
    // Refused before the refresh token was looked at: once more without
    // the parameter, and never again with it.
    let mut refused_resource = false;
    if resource.is_some() && result.as_ref().is_err_and(refuses_resource) {
        tracing::info!(server = %binding.server, "the authorization server refuses the resource parameter; refreshing without it");
        refused_resource = true;
        binding.brake_token_request()?;
        result = request_tokens(http, &endpoint, registration, &grant, None, Some(tokens)).await;
    }
    credentials.resource_refused |= refused_resource;
    match result {
        Ok(fresh) => {
            let token = fresh.access_token.clone();
            binding.save_tokens(prepared, credentials, fresh).await?;
            Ok(token)
        }
        Err(error) if rejects_grant(&error) => {
            tracing::info!(server = %binding.server, "the refresh token was refused; a new sign-in follows");
            credentials.tokens = None;
            binding.save_prepared(prepared, credentials).await?;
            Err(error)
        }
        // A dynamic registration the server forgot: drop it (and its
        // tokens) so the next authorization registers again. Static
        // credentials are never dropped.
        Err(error)
            if rejects_client(&error)
                && credentials
                    .registration
                    .as_ref()
                    .is_some_and(|r| r.kind == RegistrationKind::Dynamic) =>
        {
            tracing::info!(server = %binding.server, "the authorization server no longer knows this client; registering again");
            credentials.registration = None;
            credentials.tokens = None;
            binding.save_prepared(prepared, credentials).await?;
            Err(error)
        }
        // 5xx, temporarily_unavailable, network: keep everything.
        Err(error) => Err(error),
    }
}

/// Whether a failed [`refresh`] dropped the tokens (refused, no longer
/// stored, or another process dropped them), so that the request goes out
/// without any and the server's 401 starts a new authorization, which
/// waits for any other process's and uses its tokens.
pub(in super::super) fn refresh_dropped_tokens(error: &Error, session: &Session) -> bool {
    let tokens_gone = session
        .credentials
        .as_ref()
        .is_none_or(|c| c.tokens.is_none());
    rejects_grant(error) || tokens_gone
}

/// Forgets the session's tokens, keeping the client's registration for the
/// sign-in that follows.
fn drop_tokens(session: &mut Session) {
    if let Some(credentials) = session.credentials.as_mut() {
        credentials.tokens = None;
    }
}

fn rejects_grant(error: &Error) -> bool {
    matches!(
        error,
        Error::TokenEndpoint {
            error: OAuthErrorCode::InvalidGrant,
            ..
        }
    )
}
