//! The DPoP side of a server's [`Binding`]: the key put in use with the
//! credentials that hold it, made ready for a sign-in, and recorded with the
//! tokens bound to it.

use std::sync::Arc;

use super::{DpopKey, DpopMode};
use crate::{
    Error, Result, StoredCredentials,
    auth::oauth::{session::Binding, wire::DPOP_TOKEN_TYPE},
    store::Tokens,
};

impl Binding {
    /// Puts the DPoP key stored with `credentials` in use, when their
    /// tokens are bound to one. Tokens bound to a key that is missing or
    /// does not read cannot be used by anyone: they are dropped, and the
    /// server's refusal starts a new sign-in.
    pub(in crate::auth::oauth) fn adopt_dpop_key(
        &self,
        credentials: &mut Option<StoredCredentials>,
    ) {
        let Some(credentials) = credentials.as_mut() else {
            self.dpop.set_key(None);
            return;
        };
        let key = credentials
            .dpop_key
            .as_ref()
            .and_then(DpopKey::from_stored)
            .map(Arc::new);
        let bound = credentials
            .tokens
            .as_ref()
            .is_some_and(|tokens| tokens.token_type == DPOP_TOKEN_TYPE);
        if bound && key.is_none() {
            tracing::warn!(server = %self.server, "the DPoP key of the stored tokens is missing or unreadable; a new sign-in follows");
            credentials.tokens = None;
            credentials.dpop_key = None;
        }
        self.dpop.set_key(key.filter(|_| bound));
    }

    /// Makes the key ready for a sign-in that `wanted` DPoP or not: the key
    /// the credentials keep, else a new one.
    pub(in crate::auth::oauth) fn prepare_dpop(
        &self,
        wanted: bool,
        credentials: &StoredCredentials,
    ) -> Result<()> {
        if !wanted {
            self.dpop.set_key(None);
            return Ok(());
        }
        let key = match credentials.dpop_key.as_ref().and_then(DpopKey::from_stored) {
            Some(key) => key,
            None => DpopKey::generate()?,
        };
        tracing::debug!(server = %self.server, thumbprint = key.thumbprint(), "binding tokens to a DPoP key");
        self.dpop.set_key(Some(Arc::new(key)));
        Ok(())
    }

    /// Records with `credentials` the key `tokens` are bound to, or that
    /// they are bearer tokens. A bearer token where DPoP was required is
    /// an error, and nothing is saved.
    pub(in crate::auth::oauth) fn bind_key(
        &self,
        credentials: &mut StoredCredentials,
        tokens: &Tokens,
    ) -> Result<()> {
        let key = self.dpop.key();
        if tokens.token_type == DPOP_TOKEN_TYPE {
            let key = key.ok_or_else(|| Error::InvalidConfig {
                reason: "DPoP-bound tokens arrived without a key in use".into(),
            })?;
            credentials.dpop_key = Some(key.to_stored()?);
            return Ok(());
        }
        if key.is_some() && self.dpop_mode == DpopMode::Always {
            return Err(Error::Insecure {
                url: credentials.issuer.clone().unwrap_or_default(),
                reason: "the authorization server answered a DPoP proof with a bearer token, \
                         and DPoP is required"
                    .into(),
            });
        }
        if key.is_some() {
            tracing::info!(server = %self.server, "the authorization server issued a bearer token, not a DPoP-bound one");
        }
        credentials.dpop_key = None;
        self.dpop.set_key(None);
        Ok(())
    }
}
