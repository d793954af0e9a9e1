//! The second half of a web sign-in: the callback checked against the
//! attempt it names, the code exchanged, the account's tokens stored.

use secrecy::SecretString;
use url::Url;

use super::{
    Connected, WebFlow,
    attempt::{Attempt, attempt_id, binding_of},
};
use crate::{
    CallbackRefusal, Error, OAuthErrorCode, Result, StoredCredentials, Taken,
    auth::oauth::{
        callback::{CallbackParams, ParsedCallback},
        grants::exchange_code,
        session::REFRESH_LOCK_WAIT,
        wire::{check_issuer, token_endpoint},
    },
    clock::now_ms,
    store::check_account,
};

fn refused(reason: CallbackRefusal) -> Error {
    Error::CallbackRefused { reason }
}

pub(super) async fn complete(
    web: &WebFlow,
    query: &str,
    account: &str,
    session: &SecretString,
) -> Result<Connected> {
    check_account(account)?;
    let query = query.strip_prefix('?').unwrap_or(query);
    let params = CallbackParams::read(query)
        .map_err(|reason| refused(CallbackRefusal::Malformed(reason)))?;
    let taken = web
        .inner
        .pending
        .take(
            &attempt_id(&params.state),
            &binding_of(account, session),
            now_ms(),
        )
        .await?;
    let attempt = match taken {
        Taken::Attempt(attempt) => Attempt::from_document(attempt.document())?,
        Taken::AlreadyUsed => return Err(refused(CallbackRefusal::AlreadyUsed)),
        Taken::Expired => return Err(refused(CallbackRefusal::Expired)),
        Taken::OtherSession => return Err(refused(CallbackRefusal::OtherSession)),
        _ => return Err(refused(CallbackRefusal::UnknownState)),
    };
    // The binding covers the account; a store that handed out another's
    // attempt would be a broken store, and is not trusted either.
    if attempt.account != account {
        return Err(refused(CallbackRefusal::OtherSession));
    }
    // RFC 9207, before anything else the response says is believed.
    check_issuer(&attempt.metadata, params.iss())?;
    let code = match params.outcome() {
        ParsedCallback::Code { code, .. } => code,
        ParsedCallback::Denied { error, description } => {
            return Err(Error::AuthorizationDenied {
                error: OAuthErrorCode::from(error.as_str()),
                description,
            });
        }
        ParsedCallback::Invalid(reason) => return Err(refused(CallbackRefusal::Malformed(reason))),
    };
    store_tokens(web, &attempt, &code).await?;
    tracing::debug!(server = %crate::terminal_safe_line(&attempt.server_url), "completed a web sign-in");
    Ok(Connected {
        server_url: attempt.server_url,
        account: attempt.account,
    })
}

/// Exchanges the code and stores the tokens under (server, account), with
/// the store's lock held and the save made ready first: a store that
/// cannot save stops the exchange before the code is spent.
async fn store_tokens(web: &WebFlow, attempt: &Attempt, code: &SecretString) -> Result<()> {
    let oauth = web.oauth(&attempt.server_url, &attempt.account)?;
    let binding = oauth.binding()?;
    let endpoint = token_endpoint(&attempt.metadata)?;
    let redirect_uri = Url::parse(&attempt.redirect_uri).map_err(|error| Error::InvalidConfig {
        reason: format!("a pending sign-in holds an unusable redirect URI: {error}"),
    })?;
    let mut session = binding.session().await?;
    let lock = binding.storage.lock(REFRESH_LOCK_WAIT).await?;
    let outcome = async {
        binding.reread(&mut session).await?;
        let mut credentials = session
            .credentials
            .clone()
            .unwrap_or_else(|| StoredCredentials::new(&attempt.server_url));
        if credentials.issuer.as_deref() != Some(attempt.metadata.issuer.as_str()) {
            credentials.protocol_version = None;
        }
        credentials.account = Some(attempt.account.clone());
        credentials.issuer = Some(attempt.metadata.issuer.clone());
        credentials.resource = Some(attempt.resource.clone());
        credentials.authorization_server = Some(attempt.metadata.clone());
        credentials.registration = Some(attempt.registration.clone());
        binding.prepare_dpop(attempt.dpop, &credentials)?;
        let prepared = binding.prepare_save(&credentials).await?;
        let tokens = exchange_code(
            &binding.http,
            &endpoint,
            &attempt.registration,
            code,
            &attempt.verifier,
            &redirect_uri,
            &attempt.resource,
        )
        .await?;
        binding
            .save_tokens(prepared, &mut credentials, tokens)
            .await?;
        session.credentials = Some(credentials);
        Ok(())
    }
    .await;
    lock.release().await;
    if outcome.is_ok() {
        // A person signed in: whatever paused renewals is over.
        binding.renewals.reset();
    }
    outcome
}
