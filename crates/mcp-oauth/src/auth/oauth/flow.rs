//! One authorization attempt: the [`Flow`] holds its whole state (the
//! credentials being made, the authorization server, the resource, the
//! scope), and every grant is a function over it.

use url::Url;

use super::{
    builder::{GrantKind, Settings},
    discovery::{MetadataSource, discover},
    grants,
    session::{Binding, REFRESH_LOCK_WAIT, Session},
    wire::{self, BearerChallenge, OAuthErrorCode, choose_scope, union_scope},
};
use crate::{
    Error, Result, StoredCredentials,
    store::{AuthServerMetadata, RegistrationKind},
};

/// The state of one authorization attempt.
pub(super) struct Flow<'a> {
    pub(super) settings: &'a Settings,
    pub(super) binding: &'a Binding,
    /// The credentials being made: stored when tokens arrive, handed back
    /// to the session whatever the outcome.
    pub(super) credentials: StoredCredentials,
    pub(super) metadata: AuthServerMetadata,
    pub(super) source: MetadataSource,
    /// The `resource` indicator (RFC 8707) sent with every request...
    pub(super) resource: String,
    /// ...unless the authorization server refuses it.
    pub(super) omit_resource: bool,
    /// Whether the client identity is known good for this attempt: made
    /// in it, or a cached one the authorization server was asked about.
    pub(super) client_checked: bool,
    pub(super) scope: Option<String>,
}

/// Runs the authorization flow for a refusal's `challenge` (or none, for a
/// login). For a 403 `insufficient_scope`, asks for the union of the scopes
/// granted and challenged.
///
/// `seen` is the token generation the refused request saw: when tokens were
/// stored since, another caller has just authorized and nothing more is
/// done. `None` always runs the flow.
pub(super) async fn authorize(
    settings: &Settings,
    binding: &Binding,
    challenge: Option<&BearerChallenge>,
    seen: Option<u64>,
) -> Result<()> {
    let mut session = binding.session().await?;
    if seen.is_some_and(|seen| seen != binding.generation()) {
        return Ok(());
    }
    if matches!(settings.grant, GrantKind::WebSignIn) {
        // Only a web sign-in brings tokens, perhaps on another instance.
        return match binding.adopt_newer_tokens(&mut session).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotConnected {
                server: binding.server.to_string(),
                account: settings.account.clone(),
            }),
        };
    }
    // One sign-in at a time across processes; the others wait for its
    // tokens (bounded by the sign-in timeout) and use them.
    let lock = binding
        .storage
        .lock(settings.timeout + REFRESH_LOCK_WAIT)
        .await?;
    let outcome = authorize_locked(settings, binding, &mut session, challenge, seen).await;
    lock.release().await;
    outcome
}

async fn authorize_locked(
    settings: &Settings,
    binding: &Binding,
    session: &mut Session,
    challenge: Option<&BearerChallenge>,
    seen: Option<u64>,
) -> Result<()> {
    if binding.adopt_newer_tokens(session).await?.is_some() && seen.is_some() {
        return Ok(());
    }
    let credentials = session.credentials.take().unwrap_or_else(|| {
        StoredCredentials::for_account(binding.server.as_str(), binding.account())
    });
    let mut flow = match Flow::discover(settings, binding, credentials, challenge).await {
        Ok(flow) => flow,
        Err((credentials, error)) => {
            session.credentials = Some(credentials);
            return Err(error);
        }
    };
    match flow.run().await {
        // Another process signed in and saved while this one's lock had
        // lapsed: its tokens stay, and are the ones to use.
        Err(error) if error.is_storage_conflict() => {
            tracing::info!(server = %binding.server, %error, "using the credentials another process saved");
            binding.adopt_newer_tokens(session).await.map(drop)
        }
        other => {
            session.credentials = Some(flow.credentials);
            other
        }
    }
}

impl<'a> Flow<'a> {
    /// Finds the authorization server and the scope to ask for. On failure
    /// the credentials come back untouched.
    async fn discover(
        settings: &'a Settings,
        binding: &'a Binding,
        mut credentials: StoredCredentials,
        challenge: Option<&BearerChallenge>,
    ) -> std::result::Result<Self, (StoredCredentials, Error)> {
        let discovery = match discover(&binding.http, &binding.server, challenge).await {
            Ok(discovery) => discovery,
            Err(error) => return Err((credentials, error)),
        };
        let metadata = discovery.metadata;
        tracing::debug!(issuer = %crate::terminal_safe_line(&metadata.issuer), source = ?discovery.source, "discovered the authorization server");
        // Credentials belong to the authorization server that issued them.
        if credentials
            .issuer
            .as_deref()
            .is_some_and(|issuer| issuer != metadata.issuer)
        {
            tracing::info!(server = %binding.server, "the server uses another authorization server now; forgetting the old credentials");
            credentials.registration = None;
            credentials.tokens = None;
        }
        credentials.issuer = Some(metadata.issuer.clone());
        credentials.resource = Some(discovery.resource.clone());
        credentials.authorization_server = Some(metadata.clone());

        // Tokens bound to a key when both sides can (or as configured).
        let dpop = settings
            .dpop
            .wanted(&metadata, discovery.resource_metadata.as_ref(), challenge)
            .and_then(|wanted| binding.prepare_dpop(wanted, &credentials));
        if let Err(error) = dpop {
            return Err((credentials, error));
        }

        let challenged = challenge.and_then(|c| c.scope.as_deref());
        let scope = if challenge.is_some_and(BearerChallenge::is_insufficient_scope) {
            let granted = credentials.tokens.as_ref().and_then(|t| t.scope.as_deref());
            union_scope(granted, challenged)
        } else {
            let listed = discovery
                .resource_metadata
                .as_ref()
                .and_then(|prm| prm.scopes_supported.as_deref());
            choose_scope(settings.scopes.as_deref(), challenged, listed, &metadata)
        };
        Ok(Self {
            settings,
            binding,
            omit_resource: settings.omit_resource || credentials.resource_refused,
            client_checked: false,
            credentials,
            metadata,
            source: discovery.source,
            resource: discovery.resource,
            scope,
        })
    }

    /// Obtains tokens with the configured grant and stores them. A dynamic
    /// registration the server no longer knows is made again, once.
    async fn run(&mut self) -> Result<()> {
        // Before anything single-use is spent (a code, a device code) and
        // before anyone is asked to sign in for tokens that could not be kept.
        let prepared = self.binding.prepare_save(&self.credentials).await?;
        let mut attempt = 0;
        let tokens = loop {
            attempt += 1;
            let result = match &self.settings.grant {
                GrantKind::AuthorizationCode => grants::authorization_code(self).await,
                GrantKind::Device => grants::device(self).await,
                GrantKind::ClientCredentials | GrantKind::CrossAppAccess(_) => {
                    grants::machine(self).await
                }
                GrantKind::JwtBearer(source) => grants::jwt_bearer(self, source).await,
                GrantKind::WebSignIn => Err(Error::NotConnected {
                    server: self.binding.server.to_string(),
                    account: self.settings.account.clone(),
                }),
            };
            match result {
                Err(error)
                    if attempt == 1 && rejects_client(&error) && self.has_dynamic_client() =>
                {
                    tracing::info!(
                        "the authorization server rejected the cached client; registering again"
                    );
                    self.credentials.registration = None;
                }
                // Once, and never for a workload's assertion: that grant
                // is one request whatever its answer.
                Err(error)
                    if refuses_resource(&error)
                        && !self.omit_resource
                        && !matches!(self.settings.grant, GrantKind::JwtBearer(_)) =>
                {
                    self.omit_resource_from_now_on();
                }
                other => break other?,
            }
        };
        self.binding
            .save_tokens(prepared, &mut self.credentials, tokens)
            .await
    }

    fn has_dynamic_client(&self) -> bool {
        self.credentials
            .registration
            .as_ref()
            .is_some_and(|r| r.kind == RegistrationKind::Dynamic)
    }

    /// The authorization server refused the `resource` parameter: it is
    /// left out from now on, in this attempt and, once stored, in every
    /// refresh; the person is told why the step is repeated.
    pub(super) fn omit_resource_from_now_on(&mut self) {
        self.omit_resource = true;
        self.credentials.resource_refused = true;
        self.settings.notify(
            "The authorization server refuses the resource parameter (RFC 8707); trying again \
             without it. It is left out from now on for this server.",
        );
    }

    /// The `resource` parameter to send, if any.
    pub(super) fn resource_parameter(&self) -> Option<&str> {
        (!self.omit_resource).then_some(self.resource.as_str())
    }

    /// The token endpoint, checked: present, a URL, https unless loopback.
    pub(super) fn token_endpoint(&self) -> Result<Url> {
        wire::token_endpoint(&self.metadata)
    }
}

/// Whether the authorization server refused the RFC 8707 `resource`
/// parameter: `invalid_target`, or Microsoft Entra's `AADSTS9010010`
/// whatever the code.
pub(super) fn refuses_resource(error: &Error) -> bool {
    let target = matches!(error.oauth_error_code(), Some(OAuthErrorCode::Other(code)) if code == "invalid_target");
    target || (error.oauth_error_code().is_some() && error.to_string().contains("AADSTS9010010"))
}

/// Whether the authorization server refused the client itself: a
/// registration it no longer knows.
pub(super) fn rejects_client(error: &Error) -> bool {
    matches!(
        error.oauth_error_code(),
        Some(OAuthErrorCode::InvalidClient | OAuthErrorCode::UnauthorizedClient)
    )
}
