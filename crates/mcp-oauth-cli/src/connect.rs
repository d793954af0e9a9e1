//! From the options to the library: the credentials for a server (a static
//! token or OAuth), how a person signs in, and a connected client. Every
//! command that reaches a server is set up here, so they all read the
//! options the same way.

use mcp_oauth::{
    AssertionSource, Auth, Client, ClientBuilder, CrossAppAccess, ElicitationPolicy, Error, OAuth,
    OAuthBuilder, SigningAlgorithm, TransportMode, UserAgent,
};

use crate::{
    failure::Failure,
    options::{
        CallbackHostArg, ConnectArgs, CredentialArgs, ElicitationArg, GlobalArgs, GrantArg,
        GrantArgs, OAuthArgs, ServerArgs, SignInArgs, SigningAlgorithmArg, TargetArgs,
        TransportArg, TransportArgs,
    },
    spinner::Spinner,
};

/// A server to connect to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// An http(s) MCP endpoint.
    Url(&'a str),
    /// A local server: the program and its arguments.
    Stdio(&'a [String]),
}

impl ServerArgs {
    /// Connects as `ping` and `tools` do.
    pub(crate) async fn connect(&self, global: &GlobalArgs) -> Result<Client, Failure> {
        connect(
            self.target.target(),
            &self.connect,
            &self.credentials,
            global,
            ServerMessages::Ignored,
        )
        .await
    }
}

/// Whether a command listens for what the server sends outside the answers
/// to its own requests (the Streamable HTTP GET stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerMessages {
    /// `ping` and `tools` ask and are done: the stream would cost a request
    /// and carry nothing they use.
    Ignored,
    /// A tool call may make the server ask the person something
    /// (elicitation), and servers may send that request on the stream.
    Answered,
}

impl TargetArgs {
    pub(crate) fn target(&self) -> Target<'_> {
        // clap lets through a URL or `--stdio -- <COMMAND>`, never both.
        match &self.url {
            Some(url) => Target::Url(url),
            None => Target::Stdio(&self.stdio.command),
        }
    }
}

/// Connects to `target` with the credentials given; a failure carries the
/// hint that fits how the sign-in was asked for.
pub(crate) async fn connect(
    target: Target<'_>,
    connect: &ConnectArgs,
    credentials: &CredentialArgs,
    global: &GlobalArgs,
    server_messages: ServerMessages,
) -> Result<Client, Failure> {
    let builder = match target {
        Target::Url(url) => Client::builder(url).auth(credentials.auth(url, global)?),
        Target::Stdio(command) => {
            let (program, args) = command
                .split_first()
                .ok_or_else(|| Failure::usage("--stdio needs the server command after --"))?;
            let mut command = tokio::process::Command::new(program);
            command.args(args);
            Client::stdio(command)
        }
    };
    let builder = match target {
        Target::Url(_) => connect.transport.extras(builder, global)?,
        Target::Stdio(_) => builder,
    };
    connect
        .apply(builder)
        .listen_for_server_messages(server_messages == ServerMessages::Answered)
        .connect()
        .await
        .map_err(|error| credentials.oauth.sign_in.failure(error))
}

impl ConnectArgs {
    pub(crate) fn apply(&self, builder: ClientBuilder) -> ClientBuilder {
        let elicitation = match self.elicitation {
            ElicitationArg::Decline => ElicitationPolicy::Decline,
            ElicitationArg::AcceptDefaults => ElicitationPolicy::AcceptDefaults,
        };
        builder
            .elicitation(elicitation)
            .transport(self.transport.mode())
            .timeout(self.timeout.0)
    }
}

impl TransportArgs {
    /// `builder` with the `--header`s and the `--ca-cert` trust anchors.
    pub(crate) fn extras(
        &self,
        mut builder: ClientBuilder,
        global: &GlobalArgs,
    ) -> Result<ClientBuilder, Failure> {
        for (name, value) in self.headers()? {
            builder = builder.header(&name, &value);
        }
        if let Some(pem) = global.ca_bundle()? {
            builder = builder.ca_certificates(pem);
        }
        Ok(builder)
    }

    /// The `--header`s as (name, value), `${VAR}` taken from the environment.
    pub(crate) fn headers(&self) -> Result<Vec<(String, String)>, Failure> {
        self.headers
            .iter()
            .map(|header| {
                let (name, value) = header.split_once(':').ok_or_else(|| {
                    Failure::usage(format!(
                        "--header {:?} is not \"Name: value\"",
                        mcp_oauth::terminal_safe_line(header)
                    ))
                })?;
                let value = expand(value, name.trim())?;
                Ok((name.trim().to_owned(), value))
            })
            .collect()
    }

    pub(crate) fn mode(&self) -> TransportMode {
        match self.transport {
            TransportArg::Auto => TransportMode::Auto,
            TransportArg::Http => TransportMode::StreamableHttp,
            TransportArg::Sse => TransportMode::Sse,
        }
    }
}

impl CredentialArgs {
    /// `--bearer` when given (a blank one counts as none), else OAuth.
    pub(crate) fn auth(&self, url: &str, global: &GlobalArgs) -> Result<Auth, Failure> {
        self.auth_with(url, global, None)
    }

    /// [`auth`](Self::auth), the sign-in reaching the person through
    /// `agent` (when given) whatever `--no-browser` says.
    pub(crate) fn auth_with(
        &self,
        url: &str,
        global: &GlobalArgs,
        agent: Option<UserAgent>,
    ) -> Result<Auth, Failure> {
        let bearer = self.bearer.as_deref().map(str::trim);
        if let Some(token) = bearer.filter(|token| !token.is_empty()) {
            return Ok(Auth::bearer(token));
        }
        Ok(Auth::from(self.oauth.oauth_with(url, global, agent)?))
    }
}

impl OAuthArgs {
    /// OAuth for `url` as the options say, its tokens in the store they name (or
    /// the default folder).
    pub(crate) fn oauth(&self, url: &str, global: &GlobalArgs) -> Result<OAuth, Failure> {
        self.oauth_with(url, global, None)
    }

    /// [`oauth`](Self::oauth) whose sign-in reaches the person through
    /// `agent`, when given.
    fn oauth_with(
        &self,
        url: &str,
        global: &GlobalArgs,
        agent: Option<UserAgent>,
    ) -> Result<OAuth, Failure> {
        let client = &self.client;
        let mut builder = self.sign_in.builder(url);
        if let Some(agent) = agent {
            builder = builder.user_agent(agent);
        }
        if let Some(scopes) = &client.scopes {
            builder = builder.scopes(scopes.as_str());
        }
        builder = global.keep_tokens(builder, url)?;
        if let Some(id) = &client.client_id {
            builder = builder.client_id(id);
        }
        if let Some(secret) = &client.client_secret {
            builder = builder.client_secret(secret);
        }
        if let Some(url) = &client.client_metadata_url {
            builder = builder.client_metadata_url(url);
        }
        if let Some(metadata) = &client.client_metadata {
            builder = builder.additional_client_metadata(metadata.clone());
        }
        builder = builder.dpop(client.dpop.into());
        if let Some(pem) = global.ca_bundle()? {
            builder = builder.ca_certificates(pem);
        }
        if client.no_resource {
            builder = builder.no_resource();
        }
        Ok(self.grant.apply(builder)?.build()?)
    }
}

impl GrantArgs {
    fn apply(&self, mut builder: OAuthBuilder) -> Result<OAuthBuilder, Failure> {
        if let Some(path) = &self.private_key {
            let pem = std::fs::read_to_string(path).map_err(|error| {
                Failure::usage(format!(
                    "cannot read --private-key {}: {error}",
                    path.display()
                ))
            })?;
            let algorithm = match self.signing_alg {
                SigningAlgorithmArg::Es256 => SigningAlgorithm::Es256,
                SigningAlgorithmArg::Rs256 => SigningAlgorithm::Rs256,
            };
            builder = builder.private_key_jwt(pem, algorithm);
        }
        let assertion = self.assertion_source()?;
        if assertion.is_some() != (self.grant == GrantArg::JwtBearer) {
            return Err(Failure::usage(
                "--grant jwt-bearer takes one of --assertion-file, --assertion-env or \
                 --assertion-command, and those go with --grant jwt-bearer only",
            ));
        }
        Ok(match self.grant {
            GrantArg::AuthorizationCode => builder,
            GrantArg::JwtBearer => match assertion {
                Some(source) => builder.jwt_bearer(source),
                None => builder,
            },
            GrantArg::ClientCredentials => builder.client_credentials(),
            GrantArg::CrossAppAccess => {
                // clap requires all three with this grant.
                let (Some(endpoint), Some(id_token), Some(idp_client)) = (
                    &self.idp_token_endpoint,
                    &self.idp_id_token,
                    &self.idp_client_id,
                ) else {
                    return Err(Failure::usage(
                        "--grant cross-app-access needs --idp-token-endpoint, --idp-id-token \
                         and --idp-client-id",
                    ));
                };
                let mut idp = CrossAppAccess::new(endpoint, id_token, idp_client);
                if let Some(secret) = &self.idp_client_secret {
                    idp = idp.idp_client_secret(secret);
                }
                builder.cross_app_access(idp)
            }
        })
    }
}

impl GrantArgs {
    /// Where `--grant jwt-bearer` reads the workload's JWT, if given.
    fn assertion_source(&self) -> Result<Option<AssertionSource>, Failure> {
        if let Some(path) = &self.assertion_file {
            return Ok(Some(AssertionSource::file(path)));
        }
        if let Some(name) = &self.assertion_env {
            return Ok(Some(AssertionSource::env(name)));
        }
        let Some(line) = &self.assertion_command else {
            return Ok(None);
        };
        let mut words = line.split_whitespace();
        let program = words
            .next()
            .ok_or_else(|| Failure::usage("--assertion-command is empty"))?;
        Ok(Some(AssertionSource::command(program, words)))
    }
}

/// `text` with each `${VAR}` replaced by that environment variable; an
/// unset one is an error naming it (never the value: it may be a key).
fn expand(text: &str, header: &str) -> Result<String, Failure> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| Failure::usage(format!("--header {header}: a ${{ without its }}")))?;
        let name = &after[..end];
        let value = std::env::var(name).map_err(|_| {
            Failure::usage(format!(
                "--header {header}: the environment variable {} is not set",
                mcp_oauth::terminal_safe_line(name)
            ))
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The hint for a device sign-in the authorization server may not offer;
/// the library names no option, this command line does.
const DEVICE_DISCOVERY_HINT: &str = "run with -v to see each discovery step; if the \
authorization server offers no device grant, sign in with a browser instead (without \
--device), or print the URL with --no-browser and paste the redirect";

impl SignInArgs {
    /// What every sign-in shares, the demo's included: how the person is
    /// reached (browser, printed URL or device code), under what name, on
    /// which callback address, and for how long.
    pub(crate) fn builder(&self, url: &str) -> OAuthBuilder {
        let mut builder = Spinner::attach(OAuth::builder(url))
            .client_name(self.client_name.clone())
            .timeout(self.login_timeout.0)
            .user_agent(if self.no_browser {
                UserAgent::PrintUrl
            } else {
                UserAgent::SystemBrowser
            });
        if let Some(port) = self.callback_port {
            builder = builder.callback_port(port);
        }
        if let Some(path) = &self.callback_path {
            builder = builder.callback_path(path);
        }
        if self.callback_host == CallbackHostArg::Localhost {
            builder = builder.callback_host_localhost();
        }
        if self.device {
            builder = builder.device_authorization();
        }
        builder
    }

    /// `error` as a failure, its hint fitted to how the sign-in was asked for.
    pub(crate) fn failure(&self, error: Error) -> Failure {
        let device_discovery = self.device && matches!(error, Error::Discovery { .. });
        let failure = Failure::from(error);
        if device_discovery {
            failure.hint(DEVICE_DISCOVERY_HINT)
        } else {
            failure
        }
    }
}
