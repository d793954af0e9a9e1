//! The one error type of the crate.

mod cause;
mod kinds;

use std::time::Duration;

use crate::{
    OAuthErrorCode,
    text::{bounded_line, terminal_safe_line},
};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while talking to an MCP server.
///
/// Each variant names what failed and carries the facts a caller needs to
/// react (the URL, the HTTP status, the JSON-RPC error code), never a token or
/// other secret. `Display` gives one line fit for a person, and safe for a
/// terminal: every text field in it (the server's words above all) is shown
/// through [`terminal_safe_line`](crate::terminal_safe_line), so a control
/// character or a bidi override reads as an escape such as `\x1b`, never
/// acts. The fields themselves keep the text as it came. Match on the
/// variant to branch.
///
/// ```
/// # fn describe(error: &mcp_oauth::Error) -> String {
/// use mcp_oauth::Error;
/// match error {
///     Error::Unauthorized { status, .. } => format!("refused (HTTP {status})"),
///     Error::Timeout { after, .. } => format!("no answer within {after:?}"),
///     other => other.to_string(),
/// }
/// # }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server address given was not a usable `http(s)` URL.
    #[error("invalid server URL \"{}\": {}", line(url), line(reason))]
    InvalidUrl {
        /// The address as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The client was configured with something it cannot use (a bearer
    /// token with a line break, an unknown auth kind, an invalid header).
    #[error("invalid configuration: {}", line(reason))]
    InvalidConfig {
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// No connection could be made (refused, unreachable, DNS, TLS).
    #[error("could not connect to {}: {}", line(url), line(reason))]
    Connect {
        /// The URL that was being reached.
        url: String,
        /// The cause, as the operating system or TLS layer put it.
        reason: String,
        /// The failure of the HTTP client, when there was one.
        #[source]
        source: Option<Cause>,
    },

    /// The server did not answer in time.
    #[error("{} did not answer within {}", line(url), format_duration(*after))]
    Timeout {
        /// The URL (or command) that was waited for.
        url: String,
        /// How long we waited.
        after: Duration,
    },

    /// The server answered with an HTTP error status.
    #[error("{} answered HTTP {status}{}", line(url), body_suffix(body))]
    HttpStatus {
        /// The URL that answered.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for diagnosis (may be empty).
        body: String,
    },

    /// The server answered, but not as an MCP endpoint does (an HTML page, a
    /// body that is not JSON, an unexpected content type).
    #[error("{} is not an MCP endpoint: {}", line(url), line(detail))]
    NotMcp {
        /// The URL that answered.
        url: String,
        /// What it answered instead.
        detail: String,
    },

    /// The server spoke JSON, but broke the MCP protocol.
    #[error("protocol error from {}: {}", line(url), line(detail))]
    Protocol {
        /// The URL (or command) of the server.
        url: String,
        /// What was wrong.
        detail: String,
    },

    /// The server refused the request for lack of (valid) credentials.
    ///
    /// `www_authenticate` is the challenge exactly as the server sent it.
    #[error(
        "{} requires authorization (HTTP {status}){}",
        line(url),
        challenge_suffix(www_authenticate)
    )]
    Unauthorized {
        /// The URL that refused.
        url: String,
        /// 401 (no or invalid credentials) or 403 (insufficient rights).
        status: u16,
        /// The `WWW-Authenticate` header, when the server sent one.
        www_authenticate: Option<String>,
    },

    /// The server answered the request with a JSON-RPC error, for example an
    /// unknown tool or invalid arguments.
    #[error("server error {code}: {}", line(message))]
    Server {
        /// The JSON-RPC error code.
        code: i32,
        /// The server's message.
        message: String,
        /// Additional data the server attached, if any.
        data: Option<serde_json::Value>,
    },

    /// A local MCP server process could not be started.
    #[error("could not start \"{}\": {}", line(command), line(reason))]
    Spawn {
        /// The program that was run.
        command: String,
        /// Why it could not be started.
        reason: String,
        /// The operating system's error.
        #[source]
        source: Option<Cause>,
    },

    /// The connection closed before the exchange finished.
    #[error("connection to {} closed: {}", line(url), line(detail))]
    Closed {
        /// The URL (or command) of the server.
        url: String,
        /// What was going on when it closed.
        detail: String,
    },

    /// OAuth discovery failed: no usable protected-resource or
    /// authorization-server metadata.
    #[error("OAuth discovery failed at {}: {}", line(url), line(reason))]
    Discovery {
        /// The last URL asked (or the server URL when none answered).
        url: String,
        /// What each step found.
        reason: String,
    },

    /// The protected-resource metadata names another resource than the
    /// server: no authorization request is made.
    #[error(
        "the server {} claims to be the resource {}; refusing to authorize for it",
        line(server),
        line(resource)
    )]
    ResourceMismatch {
        /// The MCP server URL in use.
        server: String,
        /// The `resource` its metadata gave.
        resource: String,
    },

    /// Something the security rules forbid: plain `http` to a remote host,
    /// an authorization server without PKCE S256, a metadata `issuer` or an
    /// `iss` parameter that is not the expected one.
    #[error("refusing to continue with {}: {}", line(url), line(reason))]
    Insecure {
        /// The URL concerned.
        url: String,
        /// The rule that was broken.
        reason: String,
    },

    /// Client registration failed (dynamic registration or a rejected client).
    #[error("client registration at {} failed: {}", line(url), line(reason))]
    Registration {
        /// The registration endpoint (or the authorization server).
        url: String,
        /// What the server answered.
        reason: String,
    },

    /// The authorization server refused the authorization request: the user
    /// denied it, or it answered the callback with `error=`.
    #[error(
        "authorization refused: {}{}",
        line(error.as_str()),
        description_suffix(description)
    )]
    AuthorizationDenied {
        /// The OAuth `error` code, e.g. `access_denied`.
        error: OAuthErrorCode,
        /// The server's `error_description`, if any.
        description: Option<String>,
    },

    /// The token endpoint answered with an error.
    #[error(
        "the token endpoint {} refused the request: {}{}",
        line(url),
        line(error.as_str()),
        description_suffix(description)
    )]
    TokenEndpoint {
        /// The token endpoint.
        url: String,
        /// HTTP status of the answer.
        status: u16,
        /// The OAuth `error` code, e.g. `invalid_grant`.
        error: OAuthErrorCode,
        /// The server's `error_description`, if any.
        description: Option<String>,
    },

    /// An OAuth endpoint answered something that cannot be used: a body
    /// that is not JSON or is over the size limit, a required field
    /// missing, a token type other than Bearer, a token with characters it
    /// may not hold. The answer itself is never quoted: it may carry a
    /// secret. (Discovery and registration have their own variants.)
    #[error("the {step} {} gave an unusable answer: {}", line(url), line(detail))]
    OAuthAnswer {
        /// The step whose endpoint answered.
        step: OAuthStep,
        /// The endpoint.
        url: String,
        /// What is wrong with the answer.
        detail: String,
    },

    /// The loopback callback server could not listen.
    #[error(
        "cannot listen for the OAuth callback on {}:{port}: {}",
        line(host),
        line(reason)
    )]
    CallbackUnavailable {
        /// The host the redirect URI names.
        host: String,
        /// The port (0 when an ephemeral port was asked for).
        port: u16,
        /// Why, e.g. "the port is in use".
        reason: String,
    },

    /// The sign-in was not finished in time: no valid callback arrived (the
    /// browser step), or the device code was not approved.
    #[error("no authorization arrived within {}", format_duration(*after))]
    SignInTimeout {
        /// How long we waited.
        after: Duration,
    },

    /// A sign-in is needed but cannot happen here: no browser can be opened
    /// and the sign-in may not fall back to printing its URL (see
    /// [`UserAgent::BrowserOnly`](crate::UserAgent::BrowserOnly)).
    #[error("cannot sign in here: {}", line(reason))]
    SignInUnavailable {
        /// Why, e.g. no graphical display and no `$BROWSER`.
        reason: String,
    },
    /// The authorization URL could not be shown to the user (browser failed).
    #[error("could not open the authorization page: {}", line(reason))]
    UserAgent {
        /// What failed.
        reason: String,
    },

    /// Too many token requests or sign-ins for one server in a short time:
    /// a brake against loops that would hammer the authorization server or
    /// open browser tabs without end.
    #[error("{} for {}; try again in a minute", line(reason), line(url))]
    Throttled {
        /// The MCP server concerned.
        url: String,
        /// What was refused, e.g. "more than 5 sign-ins in a minute".
        reason: String,
    },

    /// The server refused the token it had just been given (by a sign-in or
    /// a refresh made because of its refusal): signing in again would most
    /// likely be refused too. This process renews nothing for the server
    /// until `retry_after` has passed, unless the server asks for something
    /// else or new tokens are stored (a person signed in).
    #[error(
        "{} refused the token its authorization server had just issued (HTTP {status}{}); no \
         new sign-in for {} s unless the server asks for something else or new tokens are stored",
        line(url),
        challenge_suffix(www_authenticate),
        retry_after.as_secs().max(1)
    )]
    RenewalsPaused {
        /// The URL that refused.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The `WWW-Authenticate` header, when the server sent one.
        www_authenticate: Option<String>,
        /// How long before this process may sign in again for the server.
        retry_after: Duration,
    },

    /// Reading or writing the token store failed; nothing was overwritten.
    #[error("token storage at {} failed: {}", line(path), line(reason))]
    Storage {
        /// The file or folder concerned.
        path: String,
        /// What failed and what to do.
        reason: String,
        /// The error of the file system or the encoder, when there was one.
        #[source]
        source: Option<Cause>,
    },

    /// A token store (a database on the network, the OS keychain) could
    /// not be reached, refused to be used (a locked keychain), or did not
    /// answer in time; nothing was written.
    #[error("token store {} is unreachable: {}", line(store), line(reason))]
    StoreUnreachable {
        /// The store, as its operator knows it (an address, never a password).
        store: String,
        /// What failed.
        reason: String,
        /// The store client's own error.
        #[source]
        source: Option<Cause>,
    },

    /// The stored credentials changed since this process read them (another
    /// process saved newer ones while this one's lock had lapsed), so the
    /// save was refused: newer tokens are never overwritten by older ones.
    /// Read the store again and use what it holds.
    #[error(
        "token store {} holds newer credentials: {}",
        line(store),
        line(reason)
    )]
    StorageConflict {
        /// The store, as its operator knows it.
        store: String,
        /// What was refused.
        reason: String,
    },

    /// The account has no usable credentials for the server, and tokens for
    /// it come only from a web sign-in ([`WebFlow`](crate::WebFlow)): begin
    /// one.
    #[error(
        "{} is not connected to {}: sign in through the web flow first",
        account.as_deref().map_or_else(|| "the default account".to_owned(), |a| format!("account \"{}\"", line(a))),
        line(server)
    )]
    NotConnected {
        /// The MCP server.
        server: String,
        /// The account; `None` for the default one.
        account: Option<String>,
    },

    /// A web sign-in's callback was refused before anything was exchanged
    /// or stored: see [`CallbackRefusal`] for why.
    #[error("sign-in callback refused: {reason}")]
    CallbackRefused {
        /// Why.
        reason: CallbackRefusal,
    },
}

fn description_suffix(description: &Option<String>) -> String {
    match description {
        Some(text) if !text.trim().is_empty() => format!(" ({})", one_line(text, 300)),
        _ => String::new(),
    }
}

impl Error {
    /// The OAuth `error` code an authorization or token endpoint answered
    /// with, if this is such a refusal.
    ///
    /// ```
    /// # fn run(error: &mcp_oauth::Error) {
    /// if let Some(code) = error.oauth_error_code() {
    ///     eprintln!("the authorization server answered {code:?}");
    /// }
    /// # }
    /// ```
    pub fn oauth_error_code(&self) -> Option<&OAuthErrorCode> {
        match self {
            Self::TokenEndpoint { error, .. } | Self::AuthorizationDenied { error, .. } => {
                Some(error)
            }
            _ => None,
        }
    }

    /// The step of the OAuth flow whose endpoint failed or refused, if this
    /// is such a failure: discovery, registration, the device authorization
    /// or the token endpoint (an error code, or an answer that cannot be
    /// used).
    ///
    /// ```
    /// # fn run(error: &mcp_oauth::Error) {
    /// if let Some(step) = error.oauth_step() {
    ///     eprintln!("the {step} failed: {error}");
    /// }
    /// # }
    /// ```
    pub fn oauth_step(&self) -> Option<OAuthStep> {
        match self {
            Self::Discovery { .. } => Some(OAuthStep::Discovery),
            Self::Registration { .. } => Some(OAuthStep::Registration),
            Self::TokenEndpoint { .. } => Some(OAuthStep::Token),
            Self::OAuthAnswer { step, .. } => Some(*step),
            _ => None,
        }
    }

    /// Whether the server asked for credentials (HTTP 401 or 403).
    ///
    /// ```
    /// let error = mcp_oauth::Error::Unauthorized {
    ///     url: "https://mcp.example.com/mcp".into(),
    ///     status: 401,
    ///     www_authenticate: None,
    /// };
    /// assert!(error.is_unauthorized());
    /// assert!(error.is_authorization_failure());
    /// ```
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }

    /// Whether authorization failed: the server refused the credentials, or
    /// the OAuth flow could not get new ones (discovery, registration, the
    /// sign-in, the token endpoint's refusal or unusable answer, a rule that
    /// protects the user). Every error with an [`oauth_step`](Self::oauth_step)
    /// is one.
    ///
    /// ```
    /// # fn run(error: &mcp_oauth::Error) {
    /// if error.is_authorization_failure() {
    ///     eprintln!("sign in again: {error}");
    /// }
    /// # }
    /// ```
    pub fn is_authorization_failure(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized { .. }
                | Self::Discovery { .. }
                | Self::ResourceMismatch { .. }
                | Self::Insecure { .. }
                | Self::Registration { .. }
                | Self::AuthorizationDenied { .. }
                | Self::TokenEndpoint { .. }
                | Self::OAuthAnswer { .. }
                | Self::CallbackUnavailable { .. }
                | Self::SignInTimeout { .. }
                | Self::SignInUnavailable { .. }
                | Self::UserAgent { .. }
                | Self::Throttled { .. }
                | Self::RenewalsPaused { .. }
                | Self::NotConnected { .. }
                | Self::CallbackRefused { .. }
        )
    }

    /// Whether the error is a timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let error = mcp_oauth::Error::Timeout {
    ///     url: "https://mcp.example.com/mcp".into(),
    ///     after: Duration::from_secs(30),
    /// };
    /// assert!(error.is_timeout());
    /// assert_eq!(error.to_string(), "https://mcp.example.com/mcp did not answer within 30 s");
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// Whether the server is simply not reachable.
    ///
    /// ```
    /// let error = mcp_oauth::Error::Connect {
    ///     url: "https://mcp.example.com/mcp".into(),
    ///     reason: "connection refused".into(),
    ///     source: None,
    /// };
    /// assert!(error.is_connect());
    /// assert!(!error.is_timeout());
    /// ```
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect { .. })
    }

    /// Whether a token store (a shared one, the OS keychain) could not be
    /// reached or used.
    ///
    /// ```
    /// # fn run(error: &mcp_oauth::Error) {
    /// if error.is_store_unreachable() {
    ///     eprintln!("the token store is down; try again later");
    /// }
    /// # }
    /// ```
    pub fn is_store_unreachable(&self) -> bool {
        matches!(self, Self::StoreUnreachable { .. })
    }

    /// Whether a save was refused because the store holds newer credentials
    /// (see [`Error::StorageConflict`]).
    ///
    /// ```
    /// # fn run(error: &mcp_oauth::Error) {
    /// if error.is_storage_conflict() {
    ///     // Another process saved newer credentials: load them again.
    /// }
    /// # }
    /// ```
    pub fn is_storage_conflict(&self) -> bool {
        matches!(self, Self::StorageConflict { .. })
    }
}

fn format_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

fn body_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {}", one_line(body, 200))
    }
}

fn challenge_suffix(challenge: &Option<String>) -> String {
    match challenge {
        Some(challenge) => format!("; challenge: {}", one_line(challenge, 300)),
        None => String::new(),
    }
}

/// A text field of a message: each one goes through this, so that none
/// can act on the terminal that shows it or start a line of its own.
fn line(text: &str) -> String {
    terminal_safe_line(text)
}

/// Squeezes a server-provided text onto one line of bounded length, safe for
/// a terminal (see [`terminal_safe_line`]), so that an error message never
/// turns into a page of HTML or an escape sequence.
pub(crate) fn one_line(text: &str, max_chars: usize) -> String {
    bounded_line(text, max_chars)
}

pub use self::{
    cause::Cause,
    kinds::{CallbackRefusal, OAuthStep},
};

#[cfg(test)]
mod tests;
