//! How a failure is reported: one line naming the cause, one line of hint,
//! and an exit code a script can branch on.

use std::process::ExitCode;

use mcp_oauth::Error;

use crate::output::to_stderr;

/// Exit codes, as `--help` documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    ToolFailed = 1,
    BadInput = 2,
    Unreachable = 3,
    NotMcp = 4,
    Timeout = 5,
    Unauthorized = 6,
    Refused = 7,
    /// Something on this machine: the credentials cache or the output could
    /// not be read or written.
    Local = 8,
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failure of the command, ready to be reported.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) exit: Exit,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            exit,
        }
    }

    /// A command line that does not make sense; clap catches most, this is
    /// for what it cannot express.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::BadInput, message).hint("see mcp-oauth --help")
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn report(&self) -> ExitCode {
        to_stderr(&format!("error: {}", self.message));
        if let Some(hint) = &self.hint {
            to_stderr(&format!("hint: {hint}"));
        }
        self.exit.into()
    }
}

/// What `--store keyring` needs, when the keychain does not answer or
/// stays locked.
const KEYCHAIN_HINT: &str = "--store keyring needs the OS keychain running and unlocked: on \
Linux a Secret Service (gnome-keyring, KeePassXC, KWallet) on this session's D-Bus bus \
(DBUS_SESSION_BUS_ADDRESS), e.g. started with `echo -n PASSWORD | gnome-keyring-daemon --unlock \
--components=secrets`; or keep credentials in files (--store file:)";

const ENDPOINT_HINT: &str = "check that the URL is the server's MCP endpoint (often ending in \
/mcp, or /sse for older servers)";

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        let (exit, hint) = match &error {
            Error::InvalidUrl { .. } => (
                Exit::BadInput,
                "give the full URL, e.g. https://example.com/mcp".to_owned(),
            ),
            Error::InvalidConfig { .. } => (
                Exit::BadInput,
                "check the options given; see mcp-oauth <COMMAND> --help".to_owned(),
            ),
            Error::Connect { .. } if message.contains("certificate") => (
                Exit::Unreachable,
                "the server's TLS certificate is not trusted here: if a private or company CA \
                 signed it, give that CA's certificate (PEM) with --ca-cert <FILE> or \
                 MCP_OAUTH_CA_BUNDLE"
                    .to_owned(),
            ),
            Error::Connect { .. } => (
                Exit::Unreachable,
                "is the server running, and are the host and port right?".to_owned(),
            ),
            Error::Spawn { .. } => (
                Exit::Unreachable,
                "check the command given after --stdio --".to_owned(),
            ),
            Error::Timeout { .. } => (
                Exit::Timeout,
                "the server may be stuck or the URL wrong; raise --timeout if it is only slow"
                    .to_owned(),
            ),
            Error::HttpStatus {
                status: 404 | 405, ..
            } => (
                Exit::NotMcp,
                format!("{ENDPOINT_HINT}; for a legacy SSE server try --transport sse"),
            ),
            Error::HttpStatus { status, .. } if *status >= 500 => (
                Exit::NotMcp,
                "the server failed; try again later or ask its operator".to_owned(),
            ),
            Error::HttpStatus { .. } | Error::NotMcp { .. } => {
                (Exit::NotMcp, ENDPOINT_HINT.to_owned())
            }
            Error::Protocol { .. } => (
                Exit::NotMcp,
                "the server does not follow the MCP protocol; run with -vv to see the exchange"
                    .to_owned(),
            ),
            Error::Closed { .. } => (
                Exit::NotMcp,
                "the server ended the connection; run with -v to see why".to_owned(),
            ),
            Error::Unauthorized { status: 403, .. } => (
                Exit::Unauthorized,
                "the credentials lack a permission this request needs".to_owned(),
            ),
            Error::Unauthorized { .. } => (
                Exit::Unauthorized,
                "the server refused the credentials; run `mcp-oauth login <URL>`, or pass \
                 --bearer <TOKEN>"
                    .to_owned(),
            ),
            Error::Server { code: -32601, .. } => (
                Exit::Refused,
                "the server does not support this request".to_owned(),
            ),
            Error::Server { message, .. } if message.to_ascii_lowercase().contains("tool") => (
                Exit::Refused,
                "list the tools and their arguments with `mcp-oauth tools <URL> --json`".to_owned(),
            ),
            Error::Server { .. } => (
                Exit::Refused,
                "the server refused the request as sent".to_owned(),
            ),
            Error::CallbackUnavailable { .. } => (
                Exit::Unauthorized,
                "pick another port with --callback-port".to_owned(),
            ),
            Error::SignInTimeout { .. } => (
                Exit::Timeout,
                "finish the sign-in in the browser (raise --login-timeout), or use --no-browser \
                 and paste the URL the browser was redirected to"
                    .to_owned(),
            ),
            Error::AuthorizationDenied { error, .. } if error == "expired_token" => (
                Exit::Unauthorized,
                "the code expired before it was approved; run the command again and approve \
                 it sooner"
                    .to_owned(),
            ),
            Error::AuthorizationDenied { .. } => (
                Exit::Unauthorized,
                "the sign-in was refused; run the command again to retry".to_owned(),
            ),
            // The keychain is named by its kind, Redis by its URL.
            Error::StoreUnreachable { store, .. } if store == mcp_oauth_keyring::KEYCHAIN => {
                (Exit::Unreachable, KEYCHAIN_HINT.to_owned())
            }
            Error::StoreUnreachable { reason, .. } if reason.contains("certificate") => (
                Exit::Unreachable,
                "the store's TLS certificate was refused; for a Redis whose certificate a \
                 private CA signed, give that CA with --store-ca-file (MCP_OAUTH_STORE_CA_FILE)"
                    .to_owned(),
            ),
            Error::StoreUnreachable { .. } => (
                Exit::Unreachable,
                "is Redis running, and are the host, port and password in --store \
                 (MCP_OAUTH_STORE) right?"
                    .to_owned(),
            ),
            // An item of the keychain that holds something unusable.
            Error::Storage { path, .. } if path.starts_with(mcp_oauth_keyring::KEYCHAIN) => (
                Exit::Local,
                "forget these credentials with `mcp-oauth logout <URL> --store keyring` and log \
                 in again"
                    .to_owned(),
            ),
            // A shared store is named by its (password-masked) URL; a
            // file store by a path, which may well begin with "redis" too.
            Error::Storage { path, .. }
                if path.starts_with("redis://") || path.starts_with("rediss://") =>
            {
                (
                    Exit::Local,
                    "check the store's URL, its password and the store key (the same on every \
                     host); `mcp-oauth status` shows what the store holds"
                        .to_owned(),
                )
            }
            Error::Storage { path, source, .. } => {
                (Exit::Local, storage_hint(path, source.is_some()).to_owned())
            }
            Error::Discovery { .. } => (
                Exit::Unauthorized,
                "run with -v to see each discovery step; a server that takes a static token needs \
                 --bearer <TOKEN>"
                    .to_owned(),
            ),
            Error::Registration { .. } => (
                Exit::Unauthorized,
                "register a client beforehand and pass --client-id; run with -v to see each \
                 step"
                    .to_owned(),
            ),
            Error::TokenEndpoint { .. } => (
                Exit::Unauthorized,
                "the authorization server refused; run with -v to see each step".to_owned(),
            ),
            Error::OAuthAnswer { step, .. } => (
                Exit::Unauthorized,
                format!(
                    "the authorization server's {step} answered something this client cannot \
                     use; run with -v to see each step, and tell the server's operator"
                ),
            ),
            Error::ResourceMismatch { .. } | Error::Insecure { .. } => (
                Exit::Unauthorized,
                "refused for your safety; check the server URL".to_owned(),
            ),
            Error::Throttled { .. } => (
                Exit::Unauthorized,
                "something keeps failing after sign-in; run with -v to see what".to_owned(),
            ),
            Error::RenewalsPaused { .. } => (
                Exit::Unauthorized,
                "the server refuses the tokens its authorization server issues (often a \
                 misconfigured audience or scope on its side): tell its operator; `mcp-oauth \
                 login <URL>` signs in again now"
                    .to_owned(),
            ),
            Error::SignInUnavailable { .. } => (
                Exit::Unauthorized,
                "sign in from a terminal first: `mcp-oauth login <URL>` (or `login --device`)"
                    .to_owned(),
            ),
            Error::UserAgent { .. } => (
                Exit::Unauthorized,
                "use --no-browser and open the printed URL yourself".to_owned(),
            ),
            // Told apart by kind, not by wording: a failure of the OAuth
            // flow this list does not name yet is still an authorization
            // failure.
            _ if error.is_authorization_failure() => (
                Exit::Unauthorized,
                "authorization failed; run with -v to see each step".to_owned(),
            ),
            _ => (Exit::NotMcp, "run with -v for details".to_owned()),
        };
        Failure::new(exit, message).hint(hint)
    }
}

/// A stored document that cannot be read can be forgotten; the file
/// system failing (a full disk, no permission, a file where the folder
/// should be) needs another place; a folder others may change (or a lock
/// file linked elsewhere) is refused, its error says how to fix it.
fn storage_hint(path: &str, file_system_failed: bool) -> &'static str {
    if file_system_failed {
        "check that the credentials folder can be written and the disk has room, or pick \
         another folder with --cache-dir"
    } else if path.ends_with(".json") {
        "run `mcp-oauth logout <URL>` (or delete the file) and log in again"
    } else {
        "the credentials folder must be a folder of yours that only you can write; fix it, or \
         pick another with --cache-dir"
    }
}
