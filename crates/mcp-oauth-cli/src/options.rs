//! The option groups the commands share, as clap parses them. Each command
//! flattens the groups it uses, so an option it would ignore is a usage
//! error rather than silently accepted; what clap can check (ranges,
//! requirements, conflicts) it checks here, before anything runs.

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use clap::{Args, ValueEnum};
use mcp_oauth::{ClientBuilder, FileTokenStorage, OAuthBuilder};
use serde_json::Value;

use crate::failure::Failure;

/// Options every command accepts, before or after its name (one that has
/// no results or no cache to read ignores `--json` or `--cache-dir`).
///
/// Not `Debug`: `--store` may carry the Redis password.
#[derive(Args)]
pub(crate) struct GlobalArgs {
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Log to stderr: -v for this tool's steps, -vv for every detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    /// Where credentials are cached [default: ~/.local/share/mcp-oauth].
    #[arg(long, global = true, env = "MCP_OAUTH_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,

    /// Where credentials are kept: file: (the cache folder); keyring (the OS
    /// keychain: the Secret Service, the macOS Keychain, the Windows
    /// Credential Manager; only lock files in the cache folder); or a Redis
    /// shared by many processes and hosts: redis://[USER:PASSWORD@]HOST[:PORT][/DB],
    /// rediss://… for TLS.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_STORE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) store: Option<String>,

    /// The key that seals credentials in a shared store: a file holding 32
    /// random bytes in base64 (`openssl rand -base64 32`), readable only by
    /// you; MCP_OAUTH_STORE_KEY holds the same. New key first, older ones
    /// after (comma- or line-separated) to rotate.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) store_key_file: Option<PathBuf>,

    /// The certificate authorities (PEM) a rediss:// store's certificate is
    /// checked against, instead of the system's: for a Redis whose
    /// certificate a private CA signed.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_STORE_CA_FILE",
        value_name = "FILE"
    )]
    pub(crate) store_ca_file: Option<PathBuf>,

    /// Keep credentials in a shared store unsealed (readable by whoever
    /// reads it), when no key is given.
    #[arg(long, global = true)]
    pub(crate) store_plaintext: bool,

    /// The prefix of the shared store's keys, so that fleets share one Redis.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_STORE_PREFIX",
        value_name = "PREFIX",
        default_value = mcp_oauth_redis::DEFAULT_PREFIX
    )]
    pub(crate) store_prefix: Option<String>,

    /// Seconds a shared store's lock is held without renewal: a process that
    /// dies holding it is replaced after this. Also the longest a token
    /// request is waited for when its sender stopped answering.
    #[arg(
        long,
        global = true,
        env = "MCP_OAUTH_STORE_LEASE",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    pub(crate) store_lease: Option<u64>,

    /// Whose credentials to use, when one server is used under several
    /// identities (a work and a personal account): each account signs in on
    /// its own and keeps its own tokens, in the cache folder or the shared
    /// store. Without it, the default account's credentials are used.
    /// `status` then lists this account only, and `logout <URL>` forgets
    /// only its credentials.
    #[arg(long, global = true, value_name = "NAME", value_parser = account_name)]
    pub(crate) account: Option<String>,

    /// Trust the certificate authorities of this PEM file too, besides the
    /// system's, for the MCP server and the authorization server alike: a
    /// company's TLS inspection proxy, a private CA.
    #[arg(long, global = true, env = "MCP_OAUTH_CA_BUNDLE", value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,

    /// The store, once opened.
    #[arg(skip)]
    pub(crate) opened: crate::store::Store,
}

impl GlobalArgs {
    /// `builder` with its tokens kept in the store the options name, as
    /// the credentials of `--account`.
    pub(crate) fn keep_tokens(
        &self,
        builder: OAuthBuilder,
        url: &str,
    ) -> Result<OAuthBuilder, Failure> {
        let account = self.account.as_deref();
        let builder = match account {
            Some(account) => builder.account(account),
            None => builder,
        };
        self.opened
            .apply(builder, url, self.cache_dir.as_ref(), account)
    }

    /// `--account` as a command repeats it in a hint: ` --account NAME`
    /// (quoted for a shell when it has to be), or nothing.
    pub(crate) fn account_option(&self) -> String {
        let Some(account) = &self.account else {
            return String::new();
        };
        let plain = account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+'));
        if plain {
            format!(" --account {account}")
        } else {
            format!(" --account '{}'", account.replace('\'', "'\\''"))
        }
    }

    /// The PEM bundle of `--ca-cert`, read, if given.
    pub(crate) fn ca_bundle(&self) -> Result<Option<Vec<u8>>, Failure> {
        let Some(path) = &self.ca_cert else {
            return Ok(None);
        };
        std::fs::read(path).map(Some).map_err(|error| {
            Failure::usage(format!("cannot read --ca-cert {}: {error}", path.display()))
        })
    }

    /// The credentials folder: `--cache-dir`, else the library's default.
    pub(crate) fn cache_dir(&self) -> Result<PathBuf, Failure> {
        match &self.cache_dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(FileTokenStorage::default_cache_dir()?),
        }
    }
}

/// A server to talk to, and how: what `ping` and `tools` take.
#[derive(Args)]
pub(crate) struct ServerArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,

    #[command(flatten)]
    pub(crate) connect: ConnectArgs,

    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// The server's MCP endpoint.
#[derive(Debug, Args)]
pub(crate) struct UrlArg {
    /// The server's MCP endpoint, e.g. https://example.com/mcp, or the name
    /// of a server kept with `mcp-oauth servers add`.
    #[arg(value_name = "URL")]
    pub(crate) url: String,
}

/// Where the server is: a URL, or a command after `--stdio --`.
#[derive(Debug, Args)]
pub(crate) struct TargetArgs {
    /// The server's MCP endpoint, e.g. https://example.com/mcp, or the name
    /// of a server kept with `mcp-oauth servers add`.
    #[arg(
        value_name = "URL",
        required_unless_present = "stdio",
        conflicts_with = "stdio"
    )]
    pub(crate) url: Option<String>,

    #[command(flatten)]
    pub(crate) stdio: StdioArgs,
}

/// A local server on stdin/stdout.
#[derive(Debug, Args)]
pub(crate) struct StdioArgs {
    /// Start a local server and talk to it over stdin/stdout; the command
    /// and its arguments follow `--`.
    #[arg(long, requires = "command")]
    pub(crate) stdio: bool,

    /// The server command, after `--` (with --stdio).
    #[arg(last = true, value_name = "COMMAND", requires = "stdio")]
    pub(crate) command: Vec<String>,
}

/// How a server is reached and how long it may take to answer.
#[derive(Args)]
pub(crate) struct ConnectArgs {
    #[command(flatten)]
    pub(crate) transport: TransportArgs,

    /// Seconds to wait for the connection and for each request.
    #[arg(
        long,
        value_name = "SECS",
        allow_negative_numbers = true,
        default_value_t = Seconds(ClientBuilder::DEFAULT_TIMEOUT)
    )]
    pub(crate) timeout: Seconds,

    /// How to answer a server's requests for input: decline them, or accept
    /// with the defaults of their form.
    #[arg(long, value_enum, default_value_t = ElicitationArg::Decline)]
    pub(crate) elicitation: ElicitationArg,
}

/// The transport for http(s) servers, and what every request to the
/// server carries.
///
/// Not `Debug`: a header may carry a key.
#[derive(Args)]
pub(crate) struct TransportArgs {
    /// Transport for http(s) servers: Streamable HTTP, legacy SSE, or
    /// Streamable HTTP falling back to SSE.
    #[arg(long, value_enum, default_value_t = TransportArg::Auto)]
    pub(crate) transport: TransportArg,

    /// A header sent with every request to the MCP server (never to the
    /// authorization server), e.g. "X-Api-Key: ${API_KEY}": ${VAR} is
    /// taken from the environment. Repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
}

/// The credentials sent to a server: a static token, or OAuth.
///
/// Neither this nor anything holding it is `Debug`: it holds secrets.
#[derive(Args)]
pub(crate) struct CredentialArgs {
    /// Send `Authorization: Bearer <TOKEN>` with every request instead of OAuth.
    #[arg(
        long,
        env = "MCP_OAUTH_BEARER",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) bearer: Option<String>,

    #[command(flatten)]
    pub(crate) oauth: OAuthArgs,
}

/// Everything OAuth takes: which client asks for what, by which grant, and
/// how a person signs in.
#[derive(Args)]
pub(crate) struct OAuthArgs {
    #[command(flatten)]
    pub(crate) client: ClientArgs,

    #[command(flatten)]
    pub(crate) grant: GrantArgs,

    #[command(flatten)]
    pub(crate) sign_in: SignInArgs,
}

/// The client and what it asks for.
#[derive(Args)]
#[command(next_help_heading = "OAuth")]
pub(crate) struct ClientArgs {
    /// OAuth scopes to ask for, space-separated (default: what the server asks).
    #[arg(long, value_name = "SCOPES")]
    pub(crate) scopes: Option<String>,

    /// A client id registered beforehand at the authorization server.
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,

    /// The secret of that client.
    #[arg(
        long,
        env = "MCP_OAUTH_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        requires = "client_id"
    )]
    pub(crate) client_secret: Option<String>,

    /// A Client ID Metadata Document URL, used as client id where supported.
    #[arg(long, value_name = "URL")]
    pub(crate) client_metadata_url: Option<String>,

    /// Extra dynamic-registration metadata, a JSON object.
    #[arg(long, value_name = "JSON", value_parser = json_object)]
    pub(crate) client_metadata: Option<Value>,

    /// Never send the RFC 8707 resource parameter, for authorization servers
    /// that refuse it (Microsoft Entra: AADSTS9010010). Without it, such a
    /// refusal is noticed, the request made again without, and remembered.
    #[arg(long)]
    pub(crate) no_resource: bool,

    /// Bind tokens to a key of this client's with DPoP (RFC 9449): auto uses
    /// it when the authorization server offers it and the MCP server asks
    /// for it; always insists (a bearer token is an error); never keeps
    /// bearer tokens.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = DpopArg::Auto)]
    pub(crate) dpop: DpopArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DpopArg {
    Auto,
    Always,
    Never,
}

impl From<DpopArg> for mcp_oauth::DpopMode {
    fn from(arg: DpopArg) -> Self {
        match arg {
            DpopArg::Auto => Self::Auto,
            DpopArg::Always => Self::Always,
            DpopArg::Never => Self::Never,
        }
    }
}

/// How tokens are obtained when no person signs in.
#[derive(Args)]
#[command(next_help_heading = "OAuth")]
pub(crate) struct GrantArgs {
    /// How tokens are obtained: a person signs in (authorization-code), or a
    /// machine does (client-credentials, cross-app-access: both need
    /// --client-id; jwt-bearer: a JWT the platform issued, from
    /// --assertion-file, --assertion-env or --assertion-command).
    #[arg(
        long,
        value_enum,
        default_value_t = GrantArg::AuthorizationCode,
        conflicts_with = "device",
        requires_ifs = [
            ("client-credentials", "client_id"),
            ("cross-app-access", "client_id"),
            ("cross-app-access", "idp_token_endpoint"),
            ("cross-app-access", "idp_id_token"),
            ("cross-app-access", "idp_client_id"),
        ]
    )]
    pub(crate) grant: GrantArg,

    /// A PEM private key: authenticate with a signed JWT (private_key_jwt).
    #[arg(long, value_name = "FILE")]
    pub(crate) private_key: Option<PathBuf>,

    /// The algorithm of --private-key.
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        default_value_t = SigningAlgorithmArg::Es256,
        requires = "private_key"
    )]
    pub(crate) signing_alg: SigningAlgorithmArg,

    /// Workload identity (--grant jwt-bearer): a file holding the JWT the
    /// platform issued, read anew for every token request (it rotates).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["assertion_env", "assertion_command"]
    )]
    pub(crate) assertion_file: Option<PathBuf>,

    /// Workload identity: an environment variable holding the JWT.
    #[arg(long, value_name = "VAR", conflicts_with = "assertion_command")]
    pub(crate) assertion_env: Option<String>,

    /// Workload identity: a command that prints the JWT, run for every token
    /// request (within 30 s), directly and never through a shell: its words
    /// are split at spaces, with no quoting, variables or pipes.
    #[arg(long, value_name = "COMMAND")]
    pub(crate) assertion_command: Option<String>,

    /// Cross-app access: the identity provider's token endpoint.
    #[arg(long, value_name = "URL")]
    pub(crate) idp_token_endpoint: Option<String>,

    /// Cross-app access: the user's ID token from the identity provider.
    #[arg(
        long,
        env = "MCP_OAUTH_IDP_ID_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) idp_id_token: Option<String>,

    /// Cross-app access: this application's client id at the identity provider.
    #[arg(long, value_name = "ID")]
    pub(crate) idp_client_id: Option<String>,

    /// Cross-app access: its secret there, if one is needed.
    #[arg(
        long,
        env = "MCP_OAUTH_IDP_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub(crate) idp_client_secret: Option<String>,
}

/// How a person is reached to sign in, under what name, on which callback
/// address, and for how long; the demo takes these too.
#[derive(Debug, Args)]
#[command(next_help_heading = "OAuth")]
pub(crate) struct SignInArgs {
    /// The client name shown on the consent page (dynamic registration).
    #[arg(long, value_name = "NAME", default_value = OAuthBuilder::DEFAULT_CLIENT_NAME)]
    pub(crate) client_name: String,

    /// A fixed port for the loopback callback (default: any free port).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) callback_port: Option<u16>,

    /// The host in the redirect URI.
    #[arg(long, value_enum, default_value_t = CallbackHostArg::Loopback)]
    pub(crate) callback_host: CallbackHostArg,

    /// The path of the redirect URI (default /callback), for a client whose
    /// registered redirect URI has a fixed path; only it is answered.
    #[arg(long, value_name = "PATH")]
    pub(crate) callback_path: Option<String>,

    /// Don't open a browser: print the URL, then wait for the callback or
    /// for the redirected URL pasted on stdin.
    #[arg(long)]
    pub(crate) no_browser: bool,

    /// Sign in with the device authorization grant (RFC 8628): a code and a
    /// URL are shown to open on any device, and this one waits for approval.
    /// No browser or callback port is needed here. The authorization server
    /// must offer it.
    #[arg(
        long,
        conflicts_with_all = ["no_browser", "callback_port", "callback_host", "callback_path"]
    )]
    pub(crate) device: bool,

    /// Seconds to wait for the sign-in.
    #[arg(
        long,
        value_name = "SECS",
        // So that `-1` is refused as a wait, not taken for an option.
        allow_negative_numbers = true,
        default_value_t = Seconds(OAuthBuilder::DEFAULT_SIGN_IN_TIMEOUT)
    )]
    pub(crate) login_timeout: Seconds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportArg {
    Auto,
    Http,
    Sse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ElicitationArg {
    Decline,
    AcceptDefaults,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GrantArg {
    AuthorizationCode,
    ClientCredentials,
    CrossAppAccess,
    JwtBearer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SigningAlgorithmArg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CallbackHostArg {
    #[value(name = "127.0.0.1")]
    Loopback,
    #[value(name = "localhost")]
    Localhost,
}

/// A wait given in seconds: more than none, at most a day (a longer one is
/// a typo, not a wish).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Seconds(pub(crate) Duration);

impl Seconds {
    const MAX: f64 = 86_400.0;
}

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let seconds: f64 = text
            .trim()
            .parse()
            .map_err(|_| "not a number of seconds".to_owned())?;
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= Self::MAX) {
            return Err(format!(
                "must be more than 0 and at most {} seconds",
                Self::MAX
            ));
        }
        Ok(Self(Duration::from_secs_f64(seconds)))
    }
}

/// As `--help` shows a default: `60`, `0.5`.
impl fmt::Display for Seconds {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0.as_secs_f64())
    }
}

/// `--account`: a name the library accepts, or a usage error that says why.
fn account_name(text: &str) -> Result<String, String> {
    match mcp_oauth::check_account(text) {
        Ok(()) => Ok(text.to_owned()),
        Err(mcp_oauth::Error::InvalidConfig { reason }) => Err(reason),
        Err(error) => Err(error.to_string()),
    }
}

/// `--client-metadata`: a JSON object, or a usage error that shows one.
fn json_object(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(r#"expected a JSON object, e.g. '{"logo_uri": "https://..."}'"#.to_owned()),
        Err(error) => Err(format!("not valid JSON ({error})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_positive_and_at_most_a_day() {
        assert_eq!(
            "1.5".parse::<Seconds>(),
            Ok(Seconds(Duration::from_millis(1500)))
        );
        assert_eq!(
            "86400".parse::<Seconds>().map(|s| s.0.as_secs()),
            Ok(86_400)
        );
        for bad in ["0", "-3", "86401", "NaN", "inf", "soon", ""] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seconds_show_as_typed() {
        assert_eq!(Seconds(Duration::from_secs(60)).to_string(), "60");
        assert_eq!(Seconds(Duration::from_millis(500)).to_string(), "0.5");
    }

    #[test]
    fn account_names_are_checked_as_the_library_checks_them() {
        assert_eq!(account_name("work").as_deref(), Ok("work"));
        for bad in ["", " work", "a\u{1b}b"] {
            let error = account_name(bad).unwrap_err();
            assert!(error.contains("cannot be used"), "{error}");
        }
    }

    #[test]
    fn client_metadata_must_be_a_json_object() {
        assert!(json_object(r#"{"logo_uri": "https://x"}"#).is_ok());
        assert!(
            json_object("[1]")
                .unwrap_err()
                .contains("expected a JSON object")
        );
        assert!(json_object("{oops").unwrap_err().contains("not valid JSON"));
    }
}
