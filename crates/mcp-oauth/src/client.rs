//! [`Client`] and its builder: the API most users need.

use std::{fmt, sync::Arc, time::Duration};

use url::Url;

use crate::{
    Auth, Error, Result,
    auth::Authorizer,
    model::{
        CallToolResult, GetPromptResult, JsonObject, Prompt, ReadResourceResult, Resource, Tool,
    },
    transport::{ConnectedVia, Connection, HttpCore, ServerDetails, TransportMode},
};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A connected MCP client. Cheap to clone; clones share one session.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::{Auth, Client};
///
/// let client = Client::builder("https://example.com/mcp")
///     .auth(Auth::bearer("token"))
///     .connect()
///     .await?;
/// client.ping().await?;
/// for tool in client.list_tools().await? {
///     println!("{}", tool.name);
/// }
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    timeout: Duration,
    target: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.inner.target)
            .field("via", &self.inner.connection.via())
            .finish_non_exhaustive()
    }
}

enum Target {
    Url(String),
    Command(tokio::process::Command),
}

/// Configures and connects a [`Client`]; see [`Client::builder`] and
/// [`Client::stdio`].
#[must_use]
pub struct ClientBuilder {
    target: Target,
    auth: Auth,
    transport: TransportMode,
    timeout: Duration,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::Url(url) => url.clone(),
            Target::Command(command) => format!("{:?}", command.as_std().get_program()),
        };
        f.debug_struct("ClientBuilder")
            .field("target", &target)
            .field("auth", &self.auth)
            .field("transport", &self.transport)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// Starts configuring a client for the MCP server at `url`
    /// (`http://` or `https://`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(Target::Url(url.into()))
    }

    /// Starts configuring a client for a local MCP server that `command`
    /// starts; messages go over its stdin and stdout, its stderr is inherited.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// let mut command = tokio::process::Command::new("npx");
    /// command.args(["-y", "@modelcontextprotocol/server-everything"]);
    /// let client = mcp_oauth::Client::stdio(command).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn stdio(command: tokio::process::Command) -> ClientBuilder {
        ClientBuilder::new(Target::Command(command))
    }

    /// Checks that the server answers.
    ///
    /// Revisions up to 2025-11-25 have a `ping` request. 2026-07-28 has none,
    /// so there the client sends `server/discover`, the cheapest request every
    /// such server answers, and never serves it from a cache.
    pub async fn ping(&self) -> Result<()> {
        self.bounded(self.inner.connection.ping()).await
    }

    /// All tools of the server, following `nextCursor` through every page.
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        self.bounded(self.inner.connection.list_tools()).await
    }

    /// Calls the tool `name` with `arguments` (a JSON object, or `None`).
    ///
    /// A tool that fails returns `Ok` with `is_error: Some(true)`; an unknown
    /// tool or invalid arguments usually return [`Error::Server`].
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult> {
        self.bounded(self.inner.connection.call_tool(name, arguments))
            .await
    }

    /// All resources of the server, through every page.
    pub async fn list_resources(&self) -> Result<Vec<Resource>> {
        self.bounded(self.inner.connection.list_resources()).await
    }

    /// Reads the resource at `uri`.
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult> {
        self.bounded(self.inner.connection.read_resource(uri)).await
    }

    /// All prompts of the server, through every page.
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        self.bounded(self.inner.connection.list_prompts()).await
    }

    /// Gets the prompt `name`, filled in with `arguments`.
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult> {
        self.bounded(self.inner.connection.get_prompt(name, arguments))
            .await
    }

    /// What the server said about itself, and the negotiated revision.
    pub fn server(&self) -> ServerDetails {
        self.inner.connection.server()
    }

    /// The transport in use.
    pub fn connected_via(&self) -> ConnectedVia {
        self.inner.connection.via()
    }

    /// Ends the session (HTTP: `DELETE` of the session; stdio: the child
    /// process is shut down). Waits at most the client's timeout. Requests
    /// from other clones fail afterwards.
    pub async fn close(&self) {
        self.inner.connection.close(self.inner.timeout).await;
    }

    async fn bounded<T>(&self, request: impl Future<Output = Result<T>>) -> Result<T> {
        within(self.inner.timeout, &self.inner.target, request).await
    }
}

impl ClientBuilder {
    fn new(target: Target) -> Self {
        Self {
            target,
            auth: Auth::None,
            transport: TransportMode::Auto,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The credentials to present (default: [`Auth::None`]).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Which HTTP transport to use (default: [`TransportMode::Auto`]).
    /// Ignored for [`Client::stdio`].
    pub fn transport(mut self, transport: TransportMode) -> Self {
        self.transport = transport;
        self
    }

    /// How long to wait for the connection and for each request
    /// (default: 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects and completes the protocol handshake.
    pub async fn connect(self) -> Result<Client> {
        let timeout = self.timeout;
        let (target, connection) = match self.target {
            Target::Url(url) => {
                let parsed = parse_server_url(&url)?;
                let core = HttpCore::new(Authorizer::new(self.auth), timeout)?;
                let target = parsed.to_string();
                let connecting = Connection::http(&parsed, self.transport, core);
                let connection = within(timeout, &target, connecting).await?;
                (target, connection)
            }
            Target::Command(command) => {
                let target = command
                    .as_std()
                    .get_program()
                    .to_string_lossy()
                    .into_owned();
                let connection = within(timeout, &target, Connection::stdio(command)).await?;
                (target, connection)
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                connection,
                timeout,
                target,
            }),
        })
    }
}

async fn within<T>(
    timeout: Duration,
    target: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Timeout {
                url: target.to_owned(),
                after: timeout,
            })
        })
}

/// Accepts only absolute `http(s)` URLs with a host.
fn parse_server_url(text: &str) -> Result<Url> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: text.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(text.trim()).map_err(|error| match error {
        url::ParseError::RelativeUrlWithoutBase => {
            invalid("not an absolute URL; include the scheme, e.g. https://example.com/mcp")
        }
        other => invalid(&other.to_string()),
    })?;
    match url.scheme() {
        "http" | "https" => {}
        scheme => {
            return Err(invalid(&format!(
                "the scheme {scheme:?} is not supported; use http:// or https://"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_url_must_be_http_or_https() {
        assert!(parse_server_url("https://example.com/mcp").is_ok());
        assert!(parse_server_url("http://127.0.0.1:8080/mcp").is_ok());
        let error = parse_server_url("ftp://example.com/mcp").unwrap_err();
        assert!(
            error.to_string().contains("use http:// or https://"),
            "{error}"
        );
        let error = parse_server_url("example.com/mcp").unwrap_err();
        assert!(error.to_string().contains("include the scheme"), "{error}");
        assert!(parse_server_url("file:///etc/passwd").is_err());
    }
}
