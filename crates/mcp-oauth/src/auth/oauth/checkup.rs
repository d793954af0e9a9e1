//! [`OAuth::checkup`]: every step of the flow tried against the server, one
//! finding each, for a person to read (`mcp-oauth doctor`) or a program to
//! act on. Nothing is signed in and no secret is reported.

use std::time::Duration;

use serde::Serialize;

use super::{
    OAuth,
    discovery::{
        MetadataSource, check_resource, fetch_auth_server_metadata, fetch_resource_metadata,
        validate,
    },
    dpop::DPOP_ALGORITHM,
    grants,
    session::Binding,
    wire::BearerChallenge,
};
use crate::{Auth, Client, Error, clock::now_ms, store::AuthServerMetadata, terminal_safe_line};

/// A step of the flow, as [`OAuth::checkup`] tries it.
///
/// ```
/// # fn run(checkup: &mcp_oauth::Checkup) {
/// use mcp_oauth::CheckStep;
/// let refresh = checkup.findings.iter().find(|finding| finding.step == CheckStep::Refresh);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckStep {
    /// The server answers, over TLS where it is `https`.
    Reachable,
    /// It speaks MCP, and which revision.
    McpEndpoint,
    /// Its 401 challenge (`WWW-Authenticate`).
    Challenge,
    /// Its protected resource metadata (RFC 9728).
    ResourceMetadata,
    /// The authorization server's metadata (RFC 8414).
    AuthorizationServer,
    /// The loopback port a browser sign-in comes back to.
    CallbackPort,
    /// The credentials stored for the server.
    StoredCredentials,
    /// A refresh of the stored tokens, when asked for.
    Refresh,
}

/// How a step went.
///
/// ```
/// # fn run(checkup: &mcp_oauth::Checkup) {
/// use mcp_oauth::CheckStatus;
/// let passed = checkup.findings.iter().all(|finding| finding.status != CheckStatus::Failed);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckStatus {
    /// As it should be.
    Passed,
    /// Wrong: the flow fails here, or is unsafe.
    Failed,
    /// Not tried: an earlier step decided it (no OAuth needed, nothing
    /// stored, no refresh asked for).
    Skipped,
}

/// What is wrong, when a step failed.
///
/// ```
/// # fn run(finding: &mcp_oauth::Finding) {
/// use mcp_oauth::CheckProblem;
/// if finding.problem == Some(CheckProblem::CallbackPortInUse) {
///     eprintln!("choose another callback port");
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckProblem {
    /// No answer at all (DNS, refused, timed out).
    Unreachable,
    /// The TLS handshake failed (an unknown certificate authority, a name
    /// the certificate does not cover).
    Tls,
    /// Something answered, but not MCP.
    NotMcp,
    /// A 401 without a `WWW-Authenticate` challenge.
    NoChallenge,
    /// No protected resource metadata anywhere it may be.
    NoResourceMetadata,
    /// The metadata is for another resource.
    ResourceMismatch,
    /// The authorization server's metadata could not be had.
    NoAuthServerMetadata,
    /// The metadata names another issuer (a mix-up risk).
    IssuerMismatch,
    /// No PKCE with S256.
    NoPkceS256,
    /// No way to get a client identity: no registration endpoint, no
    /// metadata document support, and no client id given.
    NoRegistration,
    /// The callback port is taken by another program.
    CallbackPortInUse,
    /// The stored access token expired and cannot be refreshed.
    Expired,
    /// The refresh was refused or failed.
    RefreshFailed,
    /// The store could not be read.
    Storage,
}

/// One step's finding.
///
/// ```no_run
/// # async fn run(oauth: mcp_oauth::OAuth) -> mcp_oauth::Result<()> {
/// use mcp_oauth::CheckStatus;
/// let checkup = oauth.checkup(false).await?;
/// let failed = checkup.findings.iter().filter(|finding| finding.status == CheckStatus::Failed);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The step.
    pub step: CheckStep,
    /// How it went.
    pub status: CheckStatus,
    /// What was seen, on one line, safe for a terminal; never a secret.
    pub summary: String,
    /// What is wrong, when it failed.
    pub problem: Option<CheckProblem>,
}

/// What [`OAuth::checkup`] found, step by step, in the flow's order.
///
/// ```no_run
/// # async fn run(oauth: mcp_oauth::OAuth) -> mcp_oauth::Result<()> {
/// for finding in oauth.checkup(false).await?.findings {
///     println!("{:?} {:?}: {}", finding.step, finding.status, finding.summary);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Checkup {
    /// The findings, in order.
    pub findings: Vec<Finding>,
}

impl Checkup {
    /// The first failed step, if any.
    ///
    /// ```no_run
    /// # async fn run(oauth: mcp_oauth::OAuth) -> mcp_oauth::Result<()> {
    /// let checkup = oauth.checkup(false).await?;
    /// if let Some(finding) = checkup.first_failure() {
    ///     eprintln!("{:?}: {}", finding.step, finding.summary);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn first_failure(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|finding| finding.status == CheckStatus::Failed)
    }

    fn record(
        &mut self,
        step: CheckStep,
        status: CheckStatus,
        summary: impl AsRef<str>,
        problem: Option<CheckProblem>,
    ) {
        self.findings.push(Finding {
            step,
            status,
            summary: terminal_safe_line(summary.as_ref()),
            problem,
        });
    }

    fn pass(&mut self, step: CheckStep, summary: impl AsRef<str>) {
        self.record(step, CheckStatus::Passed, summary, None);
    }

    fn fail(&mut self, step: CheckStep, problem: CheckProblem, summary: impl AsRef<str>) {
        self.record(step, CheckStatus::Failed, summary, Some(problem));
    }

    fn skip(&mut self, step: CheckStep, summary: impl AsRef<str>) {
        self.record(step, CheckStatus::Skipped, summary, None);
    }
}

/// How long the probe of the MCP endpoint may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

impl OAuth {
    /// Tries each step of the flow against the server and reports what it
    /// saw (see [`CheckStep`]): the endpoint and its revision, the
    /// challenge, the protected resource metadata, the authorization
    /// server's metadata (issuer, PKCE, registration, DPoP, device grant),
    /// the callback port, the stored credentials and, with `refresh`, a
    /// live refresh. Nobody is asked to sign in; no secret is reported.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// let oauth = mcp_oauth::OAuth::builder("https://example.com/mcp").build()?;
    /// let checkup = oauth.checkup(false).await?;
    /// for finding in &checkup.findings {
    ///     println!("{:?} {:?}: {}", finding.status, finding.step, finding.summary);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn checkup(&self, refresh: bool) -> crate::Result<Checkup> {
        let binding = self.binding()?;
        let mut checkup = Checkup {
            findings: Vec::new(),
        };
        let challenge = probe(&mut checkup, binding).await;
        if let Some(challenge) = challenge {
            metadata(&mut checkup, self, binding, challenge.as_ref()).await;
            callback_port(&mut checkup, self, binding).await;
        }
        stored(&mut checkup, binding, refresh).await;
        Ok(checkup)
    }
}

/// The endpoint, unauthenticated: `None` when the steps after it have
/// nothing to work on (unreachable, or no OAuth needed); else the
/// challenge, if there was one.
async fn probe(checkup: &mut Checkup, binding: &Binding) -> Option<Option<BearerChallenge>> {
    let url = binding.server.as_str();
    let connected = Client::builder(url)
        .auth(Auth::None)
        .timeout(PROBE_TIMEOUT)
        .connect()
        .await;
    match connected {
        Ok(client) => {
            let revision = client.server().protocol_version;
            client.close().await;
            checkup.pass(CheckStep::Reachable, format!("{url} answered"));
            checkup.pass(
                CheckStep::McpEndpoint,
                format!("MCP {revision}, without authorization"),
            );
            checkup.skip(CheckStep::Challenge, "the server asks for no authorization");
            None
        }
        Err(Error::Unauthorized {
            status,
            www_authenticate,
            ..
        }) => {
            checkup.pass(CheckStep::Reachable, format!("{url} answered"));
            checkup.pass(
                CheckStep::McpEndpoint,
                format!("answers HTTP {status}: authorization needed"),
            );
            let challenge = www_authenticate.as_deref().and_then(BearerChallenge::parse);
            match &challenge {
                Some(found) => {
                    let scheme = if found.dpop { "DPoP" } else { "Bearer" };
                    let mut summary = format!("{scheme} challenge");
                    if let Some(metadata) = &found.resource_metadata {
                        summary.push_str(&format!(", resource_metadata {metadata}"));
                    }
                    if let Some(scope) = &found.scope {
                        summary.push_str(&format!(", scope \"{scope}\""));
                    }
                    checkup.pass(CheckStep::Challenge, summary);
                }
                None => checkup.fail(
                    CheckStep::Challenge,
                    CheckProblem::NoChallenge,
                    match &www_authenticate {
                        Some(header) => format!("no Bearer or DPoP challenge in \"{header}\""),
                        None => {
                            "no WWW-Authenticate header: the flow falls back to the well-known \
                                 locations"
                                .into()
                        }
                    },
                ),
            }
            Some(challenge)
        }
        Err(error) => {
            let (step, problem) = match &error {
                Error::Connect { .. } | Error::Timeout { .. } if mentions_tls(&error) => {
                    (CheckStep::Reachable, CheckProblem::Tls)
                }
                Error::Connect { .. } | Error::Timeout { .. } => {
                    (CheckStep::Reachable, CheckProblem::Unreachable)
                }
                _ => {
                    checkup.pass(CheckStep::Reachable, format!("{url} answered"));
                    (CheckStep::McpEndpoint, CheckProblem::NotMcp)
                }
            };
            checkup.fail(step, problem, error.to_string());
            None
        }
    }
}

fn mentions_tls(error: &Error) -> bool {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let text = text.to_ascii_lowercase();
    ["certificate", "tls", "handshake"]
        .iter()
        .any(|word| text.contains(word))
}

/// The protected resource metadata and the authorization server's.
async fn metadata(
    checkup: &mut Checkup,
    oauth: &OAuth,
    binding: &Binding,
    challenge: Option<&BearerChallenge>,
) {
    let server = &binding.server;
    let announced = challenge.and_then(|c| c.resource_metadata.as_deref());
    let issuers = match fetch_resource_metadata(&binding.http, server, announced).await {
        Ok(Some((url, prm))) => match check_resource(server, prm.resource.as_deref()) {
            Ok(resource) => {
                checkup.pass(
                    CheckStep::ResourceMetadata,
                    format!("at {url}, resource {resource}"),
                );
                prm.authorization_servers
            }
            Err(error) => {
                checkup.fail(
                    CheckStep::ResourceMetadata,
                    CheckProblem::ResourceMismatch,
                    error.to_string(),
                );
                return;
            }
        },
        Ok(None) => {
            checkup.fail(
                CheckStep::ResourceMetadata,
                CheckProblem::NoResourceMetadata,
                "none found (the 2025-03-26 fallback takes the server's origin as the \
                 authorization server)",
            );
            vec![server.url().origin().ascii_serialization()]
        }
        Err(error) => {
            checkup.fail(
                CheckStep::ResourceMetadata,
                CheckProblem::NoResourceMetadata,
                error.to_string(),
            );
            return;
        }
    };
    let Some(issuer) = issuers.first() else {
        return;
    };
    match fetch_auth_server_metadata(&binding.http, server, issuer).await {
        Ok(metadata) => judge_metadata(checkup, oauth, &metadata),
        Err(error @ Error::Insecure { .. }) => {
            checkup.fail(
                CheckStep::AuthorizationServer,
                CheckProblem::IssuerMismatch,
                error.to_string(),
            );
        }
        Err(error) => checkup.fail(
            CheckStep::AuthorizationServer,
            CheckProblem::NoAuthServerMetadata,
            error.to_string(),
        ),
    }
}

fn judge_metadata(checkup: &mut Checkup, oauth: &OAuth, metadata: &AuthServerMetadata) {
    let settings = &oauth.inner.settings;
    if let Err(error) = validate(metadata, MetadataSource::Discovered) {
        let problem = if error.to_string().contains("S256") {
            CheckProblem::NoPkceS256
        } else {
            CheckProblem::NoAuthServerMetadata
        };
        checkup.fail(CheckStep::AuthorizationServer, problem, error.to_string());
        return;
    }
    let identity = if settings.client_id.is_some() {
        "a client id given"
    } else if settings.client_metadata_url.is_some()
        && metadata.client_id_metadata_document_supported
    {
        "client metadata documents"
    } else if metadata.registration_endpoint.is_some() {
        "dynamic registration"
    } else {
        checkup.fail(
            CheckStep::AuthorizationServer,
            CheckProblem::NoRegistration,
            format!(
                "issuer {}: no dynamic registration{}, and no client id given",
                metadata.issuer,
                if metadata.client_id_metadata_document_supported {
                    " (client metadata documents are supported)"
                } else {
                    ""
                }
            ),
        );
        return;
    };
    let dpop = metadata
        .dpop_signing_alg_values_supported
        .as_ref()
        .is_some_and(|algs| algs.iter().any(|alg| alg == DPOP_ALGORITHM));
    checkup.pass(
        CheckStep::AuthorizationServer,
        format!(
            "issuer {}, PKCE S256, {identity}{}{}",
            metadata.issuer,
            if dpop { ", DPoP" } else { "" },
            if metadata.device_authorization_endpoint.is_some() {
                ", device grant"
            } else {
                ""
            }
        ),
    );
}

/// The loopback port a sign-in would listen on: the configured one, else
/// the cached registration's, else any free one.
async fn callback_port(checkup: &mut Checkup, oauth: &OAuth, binding: &Binding) {
    let cached = match binding.session().await {
        Ok(session) => session
            .credentials
            .as_ref()
            .and_then(|c| c.registration.as_ref())
            .and_then(|r| r.redirect_uri.as_deref())
            .and_then(|uri| url::Url::parse(uri).ok())
            .and_then(|uri| uri.port()),
        Err(_) => None,
    };
    let Some(port) = oauth.inner.settings.callback_port.or(cached) else {
        checkup.pass(CheckStep::CallbackPort, "any free port");
        return;
    };
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => {
            drop(listener);
            checkup.pass(CheckStep::CallbackPort, format!("127.0.0.1:{port} is free"));
        }
        Err(error) => checkup.fail(
            CheckStep::CallbackPort,
            CheckProblem::CallbackPortInUse,
            format!("127.0.0.1:{port} cannot be used: {error}"),
        ),
    }
}

/// The stored credentials, and a live refresh when asked.
async fn stored(checkup: &mut Checkup, binding: &Binding, refresh: bool) {
    let mut session = match binding.session().await {
        Ok(session) => session,
        Err(error) => {
            checkup.fail(
                CheckStep::StoredCredentials,
                CheckProblem::Storage,
                error.to_string(),
            );
            return;
        }
    };
    let Some(credentials) = session.credentials.clone() else {
        checkup.skip(
            CheckStep::StoredCredentials,
            "nothing stored: not signed in yet",
        );
        checkup.skip(CheckStep::Refresh, "nothing to refresh");
        return;
    };
    let issuer = credentials
        .issuer()
        .unwrap_or("an unknown issuer")
        .to_owned();
    let refreshable = credentials.can_refresh();
    let left = credentials
        .tokens
        .as_ref()
        .map(|tokens| tokens.fresh_until_ms().saturating_sub(now_ms()) / 1000);
    let bound = if credentials.is_dpop_bound() {
        ", DPoP-bound"
    } else {
        ""
    };
    match (left, refreshable) {
        (None, _) => checkup.skip(
            CheckStep::StoredCredentials,
            format!("from {issuer}: a registration, no tokens"),
        ),
        (Some(0), false) => checkup.fail(
            CheckStep::StoredCredentials,
            CheckProblem::Expired,
            format!("from {issuer}: the access token expired and there is no refresh token"),
        ),
        (Some(0), true) => checkup.pass(
            CheckStep::StoredCredentials,
            format!("from {issuer}: the access token expired; a refresh renews it{bound}"),
        ),
        (Some(seconds), _) => checkup.pass(
            CheckStep::StoredCredentials,
            format!(
                "from {issuer}: fresh for {}{}{bound}",
                humanize(seconds),
                if refreshable {
                    ", refreshable"
                } else {
                    ", not refreshable"
                }
            ),
        ),
    }
    if !refresh {
        checkup.skip(CheckStep::Refresh, "not asked for");
        return;
    }
    if !refreshable {
        checkup.fail(
            CheckStep::Refresh,
            CheckProblem::RefreshFailed,
            "no refresh token is stored",
        );
        return;
    }
    match grants::refresh(binding, &mut session).await {
        Ok(_) => checkup.pass(
            CheckStep::Refresh,
            "the authorization server issued new tokens",
        ),
        Err(error) => checkup.fail(
            CheckStep::Refresh,
            CheckProblem::RefreshFailed,
            error.to_string(),
        ),
    }
}

fn humanize(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3600),
    }
}
