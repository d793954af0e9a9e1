//! The loopback server that receives the OAuth redirect.
//!
//! The listener is bound before the redirect URI is built, and the same
//! socket serves until the wait ends: no port is released and bound again,
//! so no other process can slip in between. Only a request carrying the
//! expected `state` can end the wait; anything else (a stray request, a
//! stale or forged link) gets an explanation page and the wait goes on.

#[cfg(feature = "fuzzing")]
pub(crate) mod fuzz;
mod page;
mod path;
mod serve;

pub(crate) use self::path::check_callback_path;

use std::{
    fmt, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{Router, extract::State, response::Response};
use http::{Method, Uri};
use secrecy::{ExposeSecret, SecretString};
use tokio::{
    net::TcpListener,
    sync::{mpsc, oneshot},
    time::Instant,
};
use url::Url;

use self::{page::WaitEnded, serve::Running};
use super::wire::OAuthErrorCode;
use crate::{Error, Result, error::one_line};

/// The path of the redirect URI, unless one is configured.
pub(crate) const CALLBACK_PATH: &str = "/callback";

/// No authorization response comes near this; longer queries are refused
/// unparsed.
const MAX_QUERY_BYTES: usize = 8 * 1024;

/// The reason given when the port is taken.
const PORT_IN_USE: &str = "the port is in use; pick another callback port";

/// Which host the redirect URI names (and so which address is bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum CallbackHost {
    /// `127.0.0.1`, the default (RFC 8252 §7.3 prefers a literal address).
    #[default]
    Loopback,
    /// `localhost`: binds `127.0.0.1`, and `::1` too where IPv6 is available,
    /// since the browser may resolve it to either.
    Localhost,
    /// `[::1]`.
    Ipv6,
}

impl CallbackHost {
    /// The host as the redirect URI spells it.
    pub(crate) fn uri_host(self) -> &'static str {
        match self {
            Self::Loopback => "127.0.0.1",
            Self::Localhost => "localhost",
            Self::Ipv6 => "[::1]",
        }
    }
}

impl fmt::Display for CallbackHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri_host())
    }
}

impl FromStr for CallbackHost {
    type Err = Error;

    /// Parses `127.0.0.1`, `localhost` or `::1` (also `[::1]`).
    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "127.0.0.1" | "loopback" => Ok(Self::Loopback),
            "localhost" => Ok(Self::Localhost),
            "::1" | "[::1]" | "ipv6" => Ok(Self::Ipv6),
            other => Err(Error::InvalidConfig {
                reason: format!(
                    "unknown callback host {other:?}: expected 127.0.0.1, localhost or ::1"
                ),
            }),
        }
    }
}

/// A bound callback listener, not yet serving.
pub(crate) struct CallbackServer {
    listeners: Vec<TcpListener>,
    redirect_uri: Url,
}

impl fmt::Debug for CallbackServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addresses: Vec<_> = self
            .listeners
            .iter()
            .filter_map(|listener| listener.local_addr().ok())
            .collect();
        f.debug_struct("CallbackServer")
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field("addresses", &addresses)
            .finish()
    }
}

impl CallbackServer {
    /// Binds exactly the host the redirect URI names; `port` 0 asks for an
    /// ephemeral port, which stays bound until the wait ends.
    #[cfg(test)]
    pub(crate) async fn bind(host: CallbackHost, port: u16) -> Result<Self> {
        Self::bind_at(host, port, CALLBACK_PATH).await
    }

    /// [`bind`](Self::bind) with the redirect URI's path `path`, the only
    /// one answered.
    pub(crate) async fn bind_at(host: CallbackHost, port: u16, path: &str) -> Result<Self> {
        check_callback_path(path)?;
        let listeners = match host {
            CallbackHost::Loopback => vec![bind_one(host, Ipv4Addr::LOCALHOST.into(), port).await?],
            CallbackHost::Ipv6 => vec![bind_one(host, Ipv6Addr::LOCALHOST.into(), port).await?],
            CallbackHost::Localhost => bind_localhost(port).await?,
        };
        let bound = local_port(host, port, &listeners[0])?;
        let redirect_uri = Url::parse(&format!("http://{}:{bound}{path}", host.uri_host()))
            .map_err(|error| Error::InvalidConfig {
                reason: format!("could not build the redirect URI: {error}"),
            })?;
        tracing::debug!(redirect_uri = %redirect_uri, "callback server bound");
        Ok(Self {
            listeners,
            redirect_uri,
        })
    }

    /// `http://127.0.0.1:PORT/callback` (or `localhost`, `[::1]`), with
    /// the port actually bound.
    pub(crate) fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Serves until the first valid callback, an `error=` callback carrying
    /// the expected state, a valid pasted redirect URL, or the timeout; then
    /// closes the listener.
    ///
    /// Each line received on `pasted` is a redirect URL (or its query) the
    /// user copied from the browser, checked exactly like a callback.
    pub(crate) async fn wait(
        self,
        expected_state: &SecretString,
        timeout: Duration,
        pasted: Option<mpsc::Receiver<String>>,
    ) -> Result<AuthorizationResponse> {
        if expected_state.expose_secret().is_empty() {
            return Err(Error::InvalidConfig {
                reason: "the OAuth state must not be empty".into(),
            });
        }
        let (outcome_tx, mut outcome_rx) = oneshot::channel();
        let shared = Arc::new(Shared {
            path: self.redirect_uri.path().to_owned(),
            expected_state: expected_state.clone(),
            progress: Mutex::new(Progress::Waiting(outcome_tx)),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let running = Running::start(self.listeners, router);
        // A huge timeout means no timeout, not an overflow.
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
        let mut pasted = pasted;

        let outcome = loop {
            tokio::select! {
                // The outcome first, so that one settled just before the
                // deadline is not lost to it.
                biased;
                outcome = &mut outcome_rx => {
                    // The sender only goes away unused at the deadline.
                    break outcome.unwrap_or(Err(Error::SignInTimeout { after: timeout }));
                }
                line = next_line(&mut pasted) => match line {
                    Some(line) => shared.accept_pasted(&line),
                    None => pasted = None,
                },
                () = tokio::time::sleep_until(deadline) => {
                    if shared.finish(WaitEnded::TimedOut) {
                        break Err(Error::SignInTimeout { after: timeout });
                    }
                    // Otherwise an outcome is waiting in the channel.
                }
            }
        };
        running.stop().await;
        outcome
    }
}

/// The `code` (and `iss`) of a successful authorization response.
pub(crate) struct AuthorizationResponse {
    /// The authorization code, to exchange at the token endpoint.
    pub(crate) code: SecretString,
    /// The `iss` parameter (RFC 9207), when the server sent one; the caller
    /// compares it with the issuer.
    pub(crate) iss: Option<String>,
}

impl fmt::Debug for AuthorizationResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationResponse")
            .field("code", &"[redacted]")
            .field("iss", &self.iss)
            .finish()
    }
}

/// What a callback query says, once checked against the expected state.
#[derive(Debug)]
pub(crate) enum ParsedCallback {
    /// A code, with the expected state.
    Code {
        /// The authorization code.
        code: SecretString,
        /// The `iss` parameter, if present.
        iss: Option<String>,
    },
    /// An `error=` answer, with the expected state.
    Denied {
        /// The OAuth error code, on one bounded line.
        error: String,
        /// The `error_description`, on one bounded line.
        description: Option<String>,
    },
    /// Not an answer to this authorization request; the reason names no
    /// secret.
    Invalid(String),
}

/// Parses a redirect URL the user pasted (or a bare callback query, with or
/// without its `?`), with the same checks as the server's.
pub(crate) fn parse_redirect(url_or_query: &str, expected_state: &SecretString) -> ParsedCallback {
    let input = url_or_query.trim();
    let parsed_url = Url::parse(input).ok();
    let query = match &parsed_url {
        Some(url) => url.query().unwrap_or(""),
        None => {
            let query = input.split_once('?').map_or(input, |(_, query)| query);
            query.split('#').next().unwrap_or("")
        }
    };
    if query.len() > MAX_QUERY_BYTES {
        return ParsedCallback::Invalid("the address is longer than any sign-in redirect".into());
    }
    parse_query(query, expected_state)
}

fn parse_query(query: &str, expected_state: &SecretString) -> ParsedCallback {
    let params = match CallbackParams::read(query) {
        Ok(params) => params,
        Err(reason) => return ParsedCallback::Invalid(reason),
    };
    let expected = expected_state.expose_secret().as_bytes();
    if expected.is_empty() || !constant_time_eq(params.state.expose_secret().as_bytes(), expected) {
        return ParsedCallback::Invalid("the state parameter does not match this sign-in".into());
    }
    params.outcome()
}

/// The parameters of an authorization response (RFC 6749 §4.1.2), read but
/// not yet matched to a sign-in.
pub(crate) struct CallbackParams {
    pub(crate) state: SecretString,
    code: Option<SecretString>,
    error: Option<String>,
    description: Option<String>,
    iss: Option<String>,
}

impl CallbackParams {
    /// Reads a callback query (without its `?`). A parameter sent twice,
    /// or a missing `state`, makes it invalid; the reason names no secret.
    pub(crate) fn read(query: &str) -> std::result::Result<Self, String> {
        if query.len() > MAX_QUERY_BYTES {
            return Err("the address is longer than any sign-in redirect".into());
        }
        let mut code: Option<SecretString> = None;
        let mut state: Option<SecretString> = None;
        let mut error: Option<String> = None;
        let mut description: Option<String> = None;
        let mut iss: Option<String> = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            // RFC 6749 §3.1: a parameter sent twice makes the response invalid.
            let repeated = match name.as_ref() {
                "code" => code.replace(value.into_owned().into()).is_some(),
                "state" => state.replace(value.into_owned().into()).is_some(),
                "error" => error.replace(value.into_owned()).is_some(),
                "error_description" => description.replace(value.into_owned()).is_some(),
                "iss" => iss.replace(value.into_owned()).is_some(),
                _ => false,
            };
            if repeated {
                return Err(format!(
                    "the {} parameter appears more than once",
                    one_line(&name, 40)
                ));
            }
        }
        let state = state
            .filter(|state| !state.expose_secret().is_empty())
            .ok_or("the state parameter is missing")?;
        Ok(Self {
            state,
            code,
            error,
            description,
            iss,
        })
    }

    /// The `iss` parameter (RFC 9207), if present.
    pub(crate) fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// What the response says, once its state is known to be right.
    pub(crate) fn outcome(self) -> ParsedCallback {
        // Bounded and on one line: these texts end up in a terminal.
        if let Some(error) = self.error {
            return ParsedCallback::Denied {
                error: one_line(&error, 200),
                description: self.description.map(|text| one_line(&text, 1000)),
            };
        }
        match self.code {
            Some(code) if !code.expose_secret().is_empty() => ParsedCallback::Code {
                code,
                iss: self.iss,
            },
            _ => ParsedCallback::Invalid("the code parameter is missing".into()),
        }
    }
}

/// Compares two byte strings in time that depends on the lengths only, not
/// on where they differ.
fn constant_time_eq(received: &[u8], expected: &[u8]) -> bool {
    // The loop always runs over the whole expected value, whatever the
    // received length, so a length mismatch only costs its own flag.
    let mut difference = u8::from(received.len() != expected.len());
    for (index, &byte) in expected.iter().enumerate() {
        let other = received.get(index).copied().unwrap_or(!byte);
        difference |= std::hint::black_box(byte ^ other);
    }
    std::hint::black_box(difference) == 0
}

/// State shared by the request handler and the waiter.
struct Shared {
    /// The one path answered.
    path: String,
    expected_state: SecretString,
    progress: Mutex<Progress>,
}

enum Progress {
    Waiting(oneshot::Sender<Result<AuthorizationResponse>>),
    Ended(WaitEnded),
}

/// What a callback did to the wait.
enum Settled {
    SignedIn,
    Denied {
        error: String,
        description: Option<String>,
    },
    AlreadyOver(WaitEnded),
    Stray(String),
}

impl Shared {
    /// Ends the wait with `parsed` if it is the first valid answer.
    fn settle(&self, parsed: ParsedCallback) -> Settled {
        let (outcome, over, settled) = match parsed {
            ParsedCallback::Invalid(reason) => return Settled::Stray(reason),
            ParsedCallback::Code { code, iss } => (
                Ok(AuthorizationResponse { code, iss }),
                WaitEnded::SignedIn,
                Settled::SignedIn,
            ),
            ParsedCallback::Denied { error, description } => (
                Err(Error::AuthorizationDenied {
                    error: OAuthErrorCode::from(error.as_str()),
                    description: description.clone(),
                }),
                WaitEnded::Denied,
                Settled::Denied { error, description },
            ),
        };
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *progress, Progress::Ended(over)) {
            Progress::Waiting(sender) => {
                // The waiter only goes away after closing the listener.
                let _ = sender.send(outcome);
                settled
            }
            Progress::Ended(earlier) => {
                *progress = Progress::Ended(earlier);
                Settled::AlreadyOver(earlier)
            }
        }
    }

    /// Marks the wait as over; true when it was still waiting.
    fn finish(&self, over: WaitEnded) -> bool {
        let mut progress = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        match &*progress {
            Progress::Waiting(_) => {
                *progress = Progress::Ended(over);
                true
            }
            Progress::Ended(_) => false,
        }
    }

    fn accept_pasted(&self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        match self.settle(parse_redirect(line, &self.expected_state)) {
            Settled::Stray(reason) => {
                tracing::warn!("the pasted address is not this sign-in's redirect: {reason}");
            }
            Settled::AlreadyOver(_) => tracing::debug!("pasted address after the sign-in ended"),
            Settled::SignedIn | Settled::Denied { .. } => {}
        }
    }
}

/// The next pasted line; pending forever once there is no (more) input.
async fn next_line(pasted: &mut Option<mpsc::Receiver<String>>) -> Option<String> {
    match pasted {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Answers every request: only `GET` on the callback path is looked at.
async fn handle(State(shared): State<Arc<Shared>>, method: Method, uri: Uri) -> Response {
    if uri.path() != shared.path {
        return page::not_found();
    }
    if method != Method::GET {
        return page::method_not_allowed();
    }
    let query = uri.query().unwrap_or("");
    if query.len() > MAX_QUERY_BYTES {
        return page::too_long();
    }
    match shared.settle(parse_query(query, &shared.expected_state)) {
        Settled::SignedIn => page::success(),
        Settled::Denied { error, description } => page::denied(&error, description.as_deref()),
        Settled::AlreadyOver(over) => page::already_over(over),
        Settled::Stray(reason) => {
            tracing::debug!("stray request on the callback server: {reason}");
            page::stray(&reason)
        }
    }
}

async fn bind_one(host: CallbackHost, ip: IpAddr, port: u16) -> Result<TcpListener> {
    TcpListener::bind((ip, port))
        .await
        .map_err(|error| bind_error(host, port, &error))
}

/// `localhost` may resolve to either loopback address, so both are bound on
/// the same port; `::1` is skipped only where IPv6 is unavailable.
async fn bind_localhost(port: u16) -> Result<Vec<TcpListener>> {
    let host = CallbackHost::Localhost;
    for _ in 0..8 {
        let v4 = bind_one(host, Ipv4Addr::LOCALHOST.into(), port).await?;
        let bound = local_port(host, port, &v4)?;
        match TcpListener::bind((Ipv6Addr::LOCALHOST, bound)).await {
            Ok(v6) => return Ok(vec![v4, v6]),
            // Someone else holds that port on ::1 and would get the
            // browser's request: with an ephemeral port, draw another.
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && port == 0 => {}
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => {
                return Err(bind_error(host, port, &error));
            }
            Err(error) => {
                tracing::debug!("IPv6 loopback unavailable ({error}); localhost is 127.0.0.1 only");
                return Ok(vec![v4]);
            }
        }
    }
    Err(Error::CallbackUnavailable {
        host: host.uri_host().into(),
        port,
        reason: "found no port free on both 127.0.0.1 and ::1".into(),
    })
}

fn local_port(host: CallbackHost, port: u16, listener: &TcpListener) -> Result<u16> {
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| bind_error(host, port, &error))
}

fn bind_error(host: CallbackHost, port: u16, error: &io::Error) -> Error {
    let reason = match error.kind() {
        io::ErrorKind::AddrInUse => PORT_IN_USE.to_owned(),
        io::ErrorKind::PermissionDenied if port != 0 && port < 1024 => {
            format!("{error}; ports below 1024 need privileges; pick another callback port")
        }
        io::ErrorKind::AddrNotAvailable if host == CallbackHost::Ipv6 => {
            format!("{error}; IPv6 may be disabled on this machine")
        }
        _ => error.to_string(),
    };
    Error::CallbackUnavailable {
        host: host.uri_host().into(),
        port,
        reason,
    }
}

#[cfg(test)]
mod tests;
