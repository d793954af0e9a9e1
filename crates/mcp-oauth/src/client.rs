//! [`Client`] and its builder: the API most users need.

use std::{fmt, sync::Arc, time::Duration};

use crate::{
    Auth, Error, OAuth, Result, ServerUrl,
    auth::{Authorizer, Rejection, wants_authorization},
    model::{
        CallToolResult, GetPromptResult, JsonObject, Prompt, ReadResourceResult, Resource, Skill,
        Tool,
    },
    transport::{
        ConnectedVia, Connection, ElicitationPolicy, Extras, HttpCore, LoadedSkill, ServerDetails,
        StreamableOptions, TransportMode,
    },
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
    oauth: Option<OAuth>,
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
///
/// ```
/// use std::time::Duration;
/// let builder = mcp_oauth::Client::builder("https://mcp.example.com/mcp").timeout(Duration::from_secs(30));
/// ```
#[must_use]
pub struct ClientBuilder {
    target: Target,
    auth: Auth,
    transport: TransportMode,
    timeout: Duration,
    elicitation: ElicitationPolicy,
    listen_for_server_messages: bool,
    extras: Extras,
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
            .field(
                "listen_for_server_messages",
                &self.listen_for_server_messages,
            )
            .field("extras", &self.extras)
            .finish()
    }
}

impl Client {
    /// Starts configuring a client for the MCP server at `url`
    /// (`http://` or `https://`).
    ///
    /// ```
    /// let builder = mcp_oauth::Client::builder("https://mcp.example.com/mcp");
    /// ```
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
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// client.ping().await?;
    /// # Ok(()) }
    /// ```
    pub async fn ping(&self) -> Result<()> {
        self.request(|connection| connection.ping()).await
    }

    /// All tools of the server, following `nextCursor` through every page.
    ///
    /// From 2026-07-28 on, a tool whose `x-mcp-header` annotations break
    /// the rules (empty, not a valid header name, on a parameter that is not
    /// a string, integer or boolean, or given twice) is left out, and a
    /// debug log says why. Schemas are kept exactly as the server sent them:
    /// no `$ref` is followed, no keyword dropped.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// for tool in client.list_tools().await? {
    ///     println!("{}", tool.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_tools(&self) -> Result<Vec<Tool>> {
        self.request(|connection| connection.list_tools()).await
    }

    /// Calls the tool `name` with `arguments` (a JSON object, or `None`).
    ///
    /// A tool that fails returns `Ok` with `is_error: Some(true)`; an unknown
    /// tool or invalid arguments usually return [`Error::Server`].
    ///
    /// From 2026-07-28 on, the call carries the `Mcp-Method` and `Mcp-Name`
    /// headers and, for each argument the tool's schema marks with
    /// `x-mcp-header: X`, an `Mcp-Param-X` header (Base64-wrapped as
    /// `=?base64?…?=` where the value could not travel as it is; none for
    /// null). So the tools are listed first unless they were on this client;
    /// a tool left out of the list for invalid annotations is not called
    /// ([`Error::Protocol`] says why). When the server answers that it needs
    /// input first, the client answers as its elicitation policy says and
    /// sends the call again (new request id, the server's `requestState`
    /// unchanged) until it completes.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// let arguments = serde_json::json!({ "message": "hello" });
    /// let result = client.call_tool("echo", arguments.as_object().cloned()).await?;
    /// println!("error: {:?}", result.is_error);
    /// # Ok(()) }
    /// ```
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult> {
        self.request(|connection| connection.call_tool(name, arguments.clone()))
            .await
    }

    /// All resources of the server, through every page.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// for resource in client.list_resources().await? {
    ///     println!("{}", resource.uri);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_resources(&self) -> Result<Vec<Resource>> {
        self.request(|connection| connection.list_resources()).await
    }

    /// Reads the resource at `uri`.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// let resource = client.read_resource("file:///README.md").await?;
    /// println!("{} part(s)", resource.contents.len());
    /// # Ok(()) }
    /// ```
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult> {
        self.request(|connection| connection.read_resource(uri))
            .await
    }

    /// All prompts of the server, through every page.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// for prompt in client.list_prompts().await? {
    ///     println!("{}", prompt.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        self.request(|connection| connection.list_prompts()).await
    }

    /// Gets the prompt `name`, filled in with `arguments`.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// let arguments = serde_json::json!({ "topic": "rust" });
    /// let prompt = client.get_prompt("explain", arguments.as_object().cloned()).await?;
    /// println!("{} message(s)", prompt.messages.len());
    /// # Ok(()) }
    /// ```
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<GetPromptResult> {
        self.request(|connection| connection.get_prompt(name, arguments.clone()))
            .await
    }

    /// The skills the server offers (the `io.modelcontextprotocol/skills`
    /// extension). Listing reads none of their files.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// let skills = client.list_skills().await?;
    /// println!("{} skill(s)", skills.len());
    /// # Ok(()) }
    /// ```
    pub async fn list_skills(&self) -> Result<Vec<Skill>> {
        self.request(|connection| connection.list_skills()).await
    }

    /// Loads a listed skill: reads its `SKILL.md` and checks it against the
    /// listing (byte size, `sha256:` digest, the YAML frontmatter field by
    /// field). Content that does not match is refused with
    /// [`Error::Protocol`], and nothing more of the skill is read.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
    /// for skill in client.list_skills().await? {
    ///     let loaded = client.load_skill(&skill).await?;
    ///     println!("{}", loaded.instructions());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn load_skill(&self, skill: &Skill) -> Result<LoadedSkill> {
        self.request(|connection| connection.load_skill(skill))
            .await
    }

    /// Reads one more file of a loaded skill (a listed URI, or a path such
    /// as `references/FORMS.md` beside `SKILL.md`), checked against the
    /// listing like `SKILL.md` was.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client, skill: mcp_oauth::LoadedSkill) -> mcp_oauth::Result<()> {
    /// let forms = client.read_skill_file(&skill, "references/FORMS.md").await?;
    /// # Ok(()) }
    /// ```
    pub async fn read_skill_file(&self, skill: &LoadedSkill, file: &str) -> Result<String> {
        self.request(|connection| connection.read_skill_file(skill, file))
            .await
    }

    /// What the server said about itself, and the negotiated revision.
    ///
    /// ```
    /// # fn run(client: mcp_oauth::Client) {
    /// let server = client.server();
    /// println!("{:?} speaks {}", server.name, server.protocol_version);
    /// # }
    /// ```
    pub fn server(&self) -> ServerDetails {
        self.inner.connection.server()
    }

    /// The transport in use.
    ///
    /// ```
    /// # fn run(client: mcp_oauth::Client) {
    /// println!("connected via {}", client.connected_via());
    /// # }
    /// ```
    pub fn connected_via(&self) -> ConnectedVia {
        self.inner.connection.via()
    }

    /// Ends the session (HTTP: `DELETE` of the session; stdio: the child
    /// process is shut down). Waits at most the client's timeout. Requests
    /// from other clones fail afterwards.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client) {
    /// client.close().await;
    /// # }
    /// ```
    pub async fn close(&self) {
        self.inner.connection.close(self.inner.timeout).await;
    }

    /// Runs a request within the timeout; when the server asks for
    /// authorization, runs the OAuth flow (outside the timeout: a person is
    /// at work) and sends the request again.
    ///
    /// Plain closures returning futures, not async closures: the futures of
    /// the public methods must be `Send` for any caller's `tokio::spawn`.
    async fn request<'a, T, F>(&'a self, call: impl Fn(&'a Connection) -> F) -> Result<T>
    where
        F: Future<Output = Result<T>> + 'a,
    {
        let inner = &*self.inner;
        authorized(inner.oauth.as_ref(), || {
            within(inner.timeout, &inner.target, call(&inner.connection))
        })
        .await
    }
}

impl ClientBuilder {
    /// How long the connection and each request may take unless
    /// [`ClientBuilder::timeout`] says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = DEFAULT_TIMEOUT;

    fn new(target: Target) -> Self {
        Self {
            target,
            auth: Auth::None,
            transport: TransportMode::Auto,
            timeout: DEFAULT_TIMEOUT,
            elicitation: ElicitationPolicy::Decline,
            listen_for_server_messages: true,
            extras: Extras::default(),
        }
    }

    /// Sends the header `name: value` with every request to the MCP server
    /// (Streamable HTTP and legacy SSE alike), never to an authorization
    /// server: an API gateway's key, a tenant id. May be called several
    /// times. The value is kept out of `Debug` output and logs. A name the
    /// transport sets itself (`Authorization`: use [`Auth`];
    /// `Mcp-Session-Id`, `Content-Type`, `Host`, ...) or a value a header
    /// cannot carry fails [`connect`](Self::connect) with
    /// [`Error::InvalidConfig`]: `.header("X-Api-Key", key)`.
    ///
    /// ```
    /// let builder = mcp_oauth::Client::builder("https://mcp.example.com/mcp").header("X-Tenant", "acme");
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.extras.header(name, value);
        self
    }

    /// Trusts the certificate authorities of this PEM bundle for the MCP
    /// server's certificate, besides the system's: a company's TLS
    /// inspection proxy, a private CA. An OAuth helper takes its own (see
    /// [`OAuthBuilder::ca_certificates`](crate::OAuthBuilder::ca_certificates)).
    /// A bundle without a certificate fails [`connect`](Self::connect).
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// let pem = std::fs::read("/etc/ssl/company-ca.pem")?;
    /// let builder = mcp_oauth::Client::builder("https://mcp.example.com/mcp").ca_certificates(pem);
    /// # Ok(()) }
    /// ```
    pub fn ca_certificates(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.extras.ca_certificates(pem.as_ref());
        self
    }

    /// The credentials to present (default: [`Auth::None`]).
    ///
    /// ```
    /// use mcp_oauth::{Auth, Client};
    /// let builder = Client::builder("https://mcp.example.com/mcp").auth(Auth::bearer("…"));
    /// ```
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Which HTTP transport to use (default: [`TransportMode::Auto`]).
    /// Ignored for [`Client::stdio`].
    ///
    /// ```
    /// use mcp_oauth::{Client, TransportMode};
    /// let builder = Client::builder("https://mcp.example.com/sse").transport(TransportMode::Sse);
    /// ```
    pub fn transport(mut self, transport: TransportMode) -> Self {
        self.transport = transport;
        self
    }

    /// How long to wait for the connection and for each request
    /// (default: 60 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = mcp_oauth::Client::builder("https://mcp.example.com/mcp").timeout(Duration::from_secs(30));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How to answer a server's requests for user input (default:
    /// [`ElicitationPolicy::Decline`]).
    ///
    /// ```
    /// use mcp_oauth::{Client, ElicitationPolicy};
    /// let builder = Client::builder("https://mcp.example.com/mcp").elicitation(ElicitationPolicy::AcceptDefaults);
    /// ```
    pub fn elicitation(mut self, policy: ElicitationPolicy) -> Self {
        self.elicitation = policy;
        self
    }

    /// Whether to keep a stream open on which the server can send requests
    /// and notifications outside any request of this client (Streamable
    /// HTTP's optional GET stream; default: `true`).
    ///
    /// Turn it off for a client that asks a few questions and closes, as a
    /// command-line tool does: the connection then costs one request fewer,
    /// and no server resource is held for a stream nobody reads. Answers,
    /// and whatever the server sends along with them while a request is
    /// under way, arrive either way. The legacy HTTP+SSE transport always
    /// keeps its stream: its answers come on it.
    ///
    /// ```
    /// let builder = mcp_oauth::Client::builder("https://mcp.example.com/mcp").listen_for_server_messages(false);
    /// ```
    pub fn listen_for_server_messages(mut self, listen: bool) -> Self {
        self.listen_for_server_messages = listen;
        self
    }

    /// Connects and completes the protocol handshake.
    ///
    /// With OAuth, the protocol revision negotiated over Streamable HTTP is
    /// remembered with the stored credentials; the next connection to the
    /// server speaks it at once instead of probing with `server/discover`,
    /// and probes again if the server refuses it.
    ///
    /// ```no_run
    /// # async fn run() -> mcp_oauth::Result<()> {
    /// let client = mcp_oauth::Client::builder("https://mcp.example.com/mcp").connect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<Client> {
        let timeout = self.timeout;
        let handler = crate::transport::Handler {
            elicitation: self.elicitation,
        };
        let (target, connection, oauth) = match self.target {
            Target::Url(url) => {
                let server = ServerUrl::parse(&url)?;
                let authorizer = Authorizer::new(self.auth.for_server(&server)?);
                let oauth = authorizer.oauth().cloned();
                let core = HttpCore::for_server(authorizer, timeout, &server, &self.extras)?;
                let target = server.to_string();
                let transport = self.transport;
                let remembered = match &oauth {
                    Some(oauth) => oauth.remembered_protocol().await,
                    None => None,
                };
                let options = StreamableOptions {
                    remembered_revision: remembered.as_deref(),
                    listen_for_server_messages: self.listen_for_server_messages,
                };
                let connection = authorized(oauth.as_ref(), || {
                    within(
                        timeout,
                        &target,
                        Connection::http(server.url(), transport, core.clone(), handler, options),
                    )
                })
                .await?;
                if let Some(oauth) = &oauth {
                    remember_protocol(oauth, &connection, remembered.as_deref()).await;
                }
                (target, connection, oauth)
            }
            // Credentials for a local process come from its environment, not OAuth.
            Target::Command(command) => {
                let target = command
                    .as_std()
                    .get_program()
                    .to_string_lossy()
                    .into_owned();
                let connection =
                    within(timeout, &target, Connection::stdio(command, handler)).await?;
                (target, connection, None)
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                connection,
                timeout,
                target,
                oauth,
            }),
        })
    }
}

/// Runs `attempt`; when it is refused and the one rule of
/// [`wants_authorization`] calls for an authorization, runs the OAuth flow
/// (outside any timeout: a person is at work) and tries again.
async fn authorized<T, F>(oauth: Option<&OAuth>, attempt: impl Fn() -> F) -> Result<T>
where
    F: Future<Output = Result<T>>,
{
    let mut authorizations = 0;
    loop {
        let generation = oauth.map(OAuth::generation);
        let result = attempt().await;
        let (
            Some(oauth),
            Err(Error::Unauthorized {
                url,
                status,
                www_authenticate,
            }),
        ) = (oauth, &result)
        else {
            return result;
        };
        let refusal = Rejection::new(url.as_str(), *status, www_authenticate.clone());
        if !wants_authorization(refusal.status, refusal.challenge.as_ref(), authorizations) {
            return result;
        }
        authorizations += 1;
        // A caller refused at the same time may have authorized since: then
        // its tokens serve this request too, and no second flow runs.
        oauth
            .authorize(&refusal, generation.unwrap_or_default())
            .await?;
    }
}

/// Keeps the revision just negotiated over Streamable HTTP for the next
/// connection. A legacy HTTP+SSE server is remembered as nothing: it is
/// found by the probe, and a remembered `initialize` would only fail first.
async fn remember_protocol(oauth: &OAuth, connection: &Connection, remembered: Option<&str>) {
    let negotiated = connection.server().protocol_version;
    let revision = match connection.via() {
        ConnectedVia::StreamableHttp if !negotiated.is_empty() => Some(negotiated.as_str()),
        _ => None,
    };
    if revision != remembered {
        oauth.remember_protocol(revision).await;
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
