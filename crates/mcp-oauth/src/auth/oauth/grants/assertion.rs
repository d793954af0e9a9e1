//! Workload identity federation: the `jwt-bearer` grant (RFC 7523 §2.1,
//! SEP-1933). A machine presents a JWT its platform issued (a Kubernetes
//! service account token, a CI job's OIDC token) and gets an access token:
//! no secret stored, no registration, no browser. The JWT is read anew for
//! every token request, since platforms rotate it, and it is a secret: never
//! logged, stored or shown.

use std::{ffi::OsString, fmt, path::PathBuf, process::Stdio, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncReadExt;

use super::super::{flow::Flow, http::BasicAuth, wire::parse_token_response};
use super::post_with_client_auth;
use crate::{Error, OAuthStep, Result, store::Registration, store::Tokens};

pub(super) const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long an assertion command may run unless
/// [`AssertionSource::timeout`] says otherwise.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// An assertion is a JWT: a few KiB. More is not one.
const MAX_ASSERTION: usize = 64 * 1024;

/// Where the workload's JWT comes from, read again for every token request
/// (see [`OAuthBuilder::jwt_bearer`](crate::OAuthBuilder::jwt_bearer)).
///
/// ```
/// use mcp_oauth::AssertionSource;
///
/// // A Kubernetes projected service account token, rotated by the kubelet.
/// let file = AssertionSource::file("/var/run/secrets/tokens/mcp");
/// // A variable the platform sets.
/// let env = AssertionSource::env("MCP_WORKLOAD_JWT");
/// // A program that prints one (run directly, never through a shell).
/// let command = AssertionSource::command("/usr/local/bin/fetch-jwt", ["--audience", "mcp"]);
/// assert_eq!(format!("{env:?}"), r#"AssertionSource::Env("MCP_WORKLOAD_JWT")"#);
/// # let _ = (file, command);
/// ```
#[derive(Clone)]
pub struct AssertionSource {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    File(PathBuf),
    Env(String),
    Command {
        program: OsString,
        args: Vec<OsString>,
        timeout: Duration,
    },
}

impl AssertionSource {
    /// A file holding the JWT (surrounding whitespace ignored), read at
    /// every token request.
    ///
    /// ```
    /// let source = mcp_oauth::AssertionSource::file("/var/run/secrets/tokens/mcp");
    /// ```
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            kind: Kind::File(path.into()),
        }
    }

    /// An environment variable holding the JWT, read at every token request.
    ///
    /// ```
    /// let source = mcp_oauth::AssertionSource::env("MCP_WORKLOAD_JWT");
    /// ```
    pub fn env(name: impl Into<String>) -> Self {
        Self {
            kind: Kind::Env(name.into()),
        }
    }

    /// A program that prints the JWT on stdout (trimmed), run at every token
    /// request with `args`, directly and never through a shell. It must end
    /// within 30 s unless [`timeout`](Self::timeout) says otherwise; its
    /// stderr is the process's.
    ///
    /// ```
    /// let source = mcp_oauth::AssertionSource::command("gcloud", ["auth", "print-identity-token"]);
    /// ```
    pub fn command<I, S>(program: impl Into<OsString>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            kind: Kind::Command {
                program: program.into(),
                args: args.into_iter().map(Into::into).collect(),
                timeout: DEFAULT_COMMAND_TIMEOUT,
            },
        }
    }

    /// How long a [`command`](Self::command) may run; ignored for the
    /// other sources.
    ///
    /// ```
    /// use std::time::Duration;
    /// let source = mcp_oauth::AssertionSource::command("issue-jwt", ["--audience", "mcp"])
    ///     .timeout(Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn timeout(mut self, limit: Duration) -> Self {
        if let Kind::Command { timeout, .. } = &mut self.kind {
            *timeout = limit;
        }
        self
    }

    /// The assertion as it is now.
    pub(crate) async fn read(&self) -> Result<SecretString> {
        let text = match &self.kind {
            Kind::File(path) => read_file(path).await?,
            Kind::Env(name) => std::env::var(name).map_err(|_| Error::InvalidConfig {
                reason: format!(
                    "the environment variable {name} holds no assertion (unset or not UTF-8)"
                ),
            })?,
            Kind::Command {
                program,
                args,
                timeout,
            } => run(program, args, *timeout).await?,
        };
        let assertion = text.trim();
        if assertion.is_empty() {
            return Err(Error::InvalidConfig {
                reason: format!("{} gave an empty assertion", self.describe()),
            });
        }
        // A JWT is base64url and dots: anything else would not survive a
        // form, and may be a file given by mistake.
        if !assertion
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.=".contains(&b))
        {
            return Err(Error::InvalidConfig {
                reason: format!("{} does not hold a JWT", self.describe()),
            });
        }
        Ok(SecretString::from(assertion.to_owned()))
    }

    fn describe(&self) -> String {
        match &self.kind {
            Kind::File(path) => format!("the assertion file {}", path.display()),
            Kind::Env(name) => format!("the environment variable {name}"),
            Kind::Command { program, .. } => {
                format!("the assertion command {}", program.to_string_lossy())
            }
        }
    }
}

/// Names where the assertion comes from, never the assertion.
impl fmt::Debug for AssertionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::File(path) => write!(f, "AssertionSource::File({path:?})"),
            Kind::Env(name) => write!(f, "AssertionSource::Env({name:?})"),
            Kind::Command { program, .. } => write!(f, "AssertionSource::Command({program:?})"),
        }
    }
}

async fn read_file(path: &std::path::Path) -> Result<String> {
    let failed = |reason: String| Error::InvalidConfig {
        reason: format!(
            "cannot read the assertion file {}: {reason}",
            path.display()
        ),
    };
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|error| failed(error.to_string()))?;
    let mut text = String::new();
    file.take(MAX_ASSERTION as u64 + 1)
        .read_to_string(&mut text)
        .await
        .map_err(|error| failed(error.to_string()))?;
    if text.len() > MAX_ASSERTION {
        return Err(failed("larger than an assertion can be".into()));
    }
    Ok(text)
}

async fn run(program: &OsString, args: &[OsString], timeout: Duration) -> Result<String> {
    let shown = program.to_string_lossy().into_owned();
    let failed = |reason: String| Error::InvalidConfig {
        reason: format!("the assertion command {shown} {reason}"),
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| failed(format!("could not be started: {error}")))?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| failed(format!("did not finish within {} s", timeout.as_secs_f64())))?
        .map_err(|error| failed(format!("failed: {error}")))?;
    if !output.status.success() {
        return Err(failed(format!("failed ({})", output.status)));
    }
    if output.stdout.len() > MAX_ASSERTION {
        return Err(failed("printed more than an assertion can be".into()));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| failed("printed something that is not text".into()))
}

/// One `jwt-bearer` token request with the assertion as it is now. A
/// refusal is the answer: never retried, never another grant. No refresh
/// token is kept: a new assertion is the way to new tokens.
pub(in super::super) async fn jwt_bearer(
    flow: &mut Flow<'_>,
    source: &AssertionSource,
) -> Result<Tokens> {
    let settings = flow.settings;
    // No registration is used; one cached from a sign-in is not this
    // grant's, and must not make a refusal look like a stale client.
    flow.credentials.registration = settings
        .client_id
        .as_deref()
        .map(|id| Registration::fixed(id, settings.client_secret.clone(), &flow.metadata));
    let assertion = source.read().await?;
    flow.binding.brake_token_request()?;
    let endpoint = flow.token_endpoint()?;
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", JWT_BEARER),
        ("assertion", assertion.expose_secret()),
    ];
    if let Some(resource) = flow.resource_parameter() {
        form.push(("resource", resource));
    }
    // No refresh token is kept, so `offline_access` is asked for only when
    // the person named it.
    let explicit = settings.scopes.as_deref().unwrap_or_default();
    let scope = flow.scope.as_deref().map(|scope| {
        let kept = scope
            .split(' ')
            .filter(|s| *s != "offline_access" || explicit.split(' ').any(|e| e == *s));
        kept.collect::<Vec<_>>().join(" ")
    });
    if let Some(scope) = scope.as_deref().filter(|scope| !scope.is_empty()) {
        form.push(("scope", scope));
    }
    let http = &flow.binding.http;
    let fetched = match &flow.credentials.registration {
        Some(client) => {
            post_with_client_auth(http, &endpoint, client, form, OAuthStep::Token).await?
        }
        None => {
            http.post_form(&endpoint, &form, BasicAuth::None, OAuthStep::Token)
                .await?
        }
    };
    let mut tokens = parse_token_response(&endpoint, &fetched, None)?;
    tokens.refresh_token = None;
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_is_read_anew_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "aaa.bbb.ccc\n").unwrap();
        let source = AssertionSource::file(&path);
        assert_eq!(source.read().await.unwrap().expose_secret(), "aaa.bbb.ccc");
        std::fs::write(&path, "ddd.eee.fff").unwrap();
        assert_eq!(source.read().await.unwrap().expose_secret(), "ddd.eee.fff");
        std::fs::write(&path, "  \n").unwrap();
        let empty = source.read().await.unwrap_err().to_string();
        assert!(empty.contains("empty assertion"), "{empty}");
        std::fs::write(&path, "not a jwt at all").unwrap();
        assert!(source.read().await.is_err());
        let missing = AssertionSource::file(dir.path().join("none")).read().await;
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("cannot read the assertion file")
        );
    }

    #[tokio::test]
    async fn a_command_runs_without_a_shell_and_within_its_time() {
        let printed = AssertionSource::command("printf", ["%s", "a.b.c $HOME"]);
        // No shell: `$HOME` stays as written, and makes it no JWT.
        assert!(printed.read().await.is_err());
        let printed = AssertionSource::command("printf", ["  a.b.c\n"]);
        assert_eq!(printed.read().await.unwrap().expose_secret(), "a.b.c");
        let failing = AssertionSource::command("false", Vec::<String>::new());
        let error = failing.read().await.unwrap_err().to_string();
        assert!(error.contains("assertion command false failed"), "{error}");
        let slow = AssertionSource::command("sleep", ["5"]).timeout(Duration::from_millis(100));
        let error = slow.read().await.unwrap_err().to_string();
        assert!(error.contains("did not finish"), "{error}");
    }

    #[test]
    fn debug_names_the_source_only() {
        let source = AssertionSource::command("fetch", ["--secret-flag"]);
        assert_eq!(
            format!("{source:?}"),
            r#"AssertionSource::Command("fetch")"#
        );
    }
}
