//! The platform's routes. Each request finds its user in the session
//! cookie; the web flow does the OAuth part: `/connect` begins a sign-in,
//! `/oauth/callback` completes it (on whichever instance the browser
//! reaches), `/tools` and `/call` use the user's tokens.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{Query, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use mcp_oauth::{Auth, Client, Error, WebFlow};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::session::{Session, SessionKey};

/// How long a connection to an MCP server and each request on it may take.
const MCP_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) web: WebFlow,
    pub(crate) sessions: Arc<SessionKey>,
}

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/connect", get(connect))
        .route("/oauth/callback", get(callback))
        .route("/tools", get(tools))
        .route("/call", post(call))
        .with_state(app)
}

/// The query parameters of every route; each takes what it needs, and a
/// missing one is a JSON 400 rather than axum's plain-text rejection.
#[derive(Debug, Deserialize)]
struct Params {
    user: Option<String>,
    server: Option<String>,
    tool: Option<String>,
}

fn required(value: Option<String>, name: &str) -> Result<String, Refusal> {
    value.ok_or_else(|| {
        Refusal::new(StatusCode::BAD_REQUEST, "missing_parameter")
            .reason(format!("the query needs {name}="))
    })
}

/// A demo sign-in: whoever asks is whom they say. A real platform signs
/// its users in its own way and keeps the session it already has.
async fn login(State(app): State<App>, Query(params): Query<Params>) -> Answer {
    let user = required(params.user, "user")?;
    // The user is the web flow's account: the same rules apply.
    mcp_oauth::check_account(&user).map_err(|error| {
        Refusal::new(StatusCode::BAD_REQUEST, "invalid_user").reason(error.to_string())
    })?;
    let (_, cookie) = app.sessions.sign_in(&user).map_err(|error| {
        Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "no_randomness").reason(error.to_string())
    })?;
    Ok(([(header::SET_COOKIE, cookie)], found("/")).into_response())
}

/// Begins the signed-in user's sign-in to an MCP server: 302 to its
/// authorization server.
async fn connect(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Answer {
    let (session, server) = signed_in(&app, &headers, params.server)?;
    match app.web.begin(&server, &session.user, &session.nonce).await {
        Ok(url) => Ok(found(url.as_str())),
        Err(error @ (Error::InvalidUrl { .. } | Error::InvalidConfig { .. })) => {
            Err(Refusal::new(StatusCode::BAD_REQUEST, "invalid_server").reason(error.to_string()))
        }
        Err(error) => {
            Err(Refusal::new(StatusCode::BAD_GATEWAY, "cannot_connect").reason(error.to_string()))
        }
    }
}

/// The authorization server's redirect back: completes the sign-in begun by
/// this browser session, on any instance, then home. The query goes to the
/// web flow whole; the page to return to is ours, never one from the query
/// (an open redirector otherwise).
async fn callback(State(app): State<App>, headers: HeaderMap, RawQuery(query): RawQuery) -> Answer {
    let session = session_of(&app, &headers)
        .ok_or_else(|| Refusal::new(StatusCode::UNAUTHORIZED, "not_signed_in"))?;
    let query = query.unwrap_or_default();
    let refused =
        |kind, error: Error| Refusal::new(StatusCode::BAD_REQUEST, kind).reason(error.to_string());
    match app
        .web
        .complete(&query, &session.user, &session.nonce)
        .await
    {
        Ok(_) => Ok(found("/")),
        // Each refused before anything was exchanged or stored.
        // Another session's, a replay, expired, unknown, malformed:
        Err(error @ Error::CallbackRefused { .. }) => Err(refused("callback_refused", error)),
        // An `iss` that is not the attempt's issuer (a mix-up):
        Err(error @ Error::Insecure { .. }) => Err(refused("insecure_callback", error)),
        // The authorization server's own `error=`:
        Err(error @ Error::AuthorizationDenied { .. }) => {
            Err(refused("authorization_denied", error))
        }
        Err(error) => {
            Err(Refusal::new(StatusCode::BAD_GATEWAY, "sign_in_failed").reason(error.to_string()))
        }
    }
}

/// The names of the user's tools on a server.
async fn tools(State(app): State<App>, headers: HeaderMap, Query(params): Query<Params>) -> Answer {
    let (session, server) = signed_in(&app, &headers, params.server)?;
    let client = connected(&app.web, &server, &session).await?;
    let listed = client.list_tools().await;
    close(client);
    let tools = listed.map_err(|error| mcp_failure(&error))?;
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    Ok(axum::Json(names).into_response())
}

/// Calls a tool with the JSON object of the body as its arguments.
async fn call(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<Params>,
    body: Bytes,
) -> Answer {
    let (session, server) = signed_in(&app, &headers, params.server)?;
    let tool = required(params.tool, "tool")?;
    let Ok(Value::Object(arguments)) = serde_json::from_slice::<Value>(&body) else {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "invalid_arguments")
            .reason("the body must be a JSON object: the tool's arguments".into()));
    };
    let client = connected(&app.web, &server, &session).await?;
    let result = client.call_tool(&tool, Some(arguments)).await;
    close(client);
    let result = result.map_err(|error| mcp_failure(&error))?;
    Ok(axum::Json(result).into_response())
}

/// Who is signed in, as a tiny page.
async fn home(State(app): State<App>, headers: HeaderMap) -> Html<String> {
    let who = match session_of(&app, &headers) {
        Some(session) => format!("Signed in as <b>{}</b>.", escape_html(&session.user)),
        None => "Not signed in: <code>/login?user=NAME</code>.".to_owned(),
    };
    Html(format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>mcp-oauth web example</title>\n\
         <p>{who}</p>\n"
    ))
}

fn session_of(app: &App, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok());
    app.sessions.session(cookies)
}

/// The signed-in user and the `server` parameter.
fn signed_in(
    app: &App,
    headers: &HeaderMap,
    server: Option<String>,
) -> Result<(Session, String), Refusal> {
    let session = session_of(app, headers)
        .ok_or_else(|| Refusal::new(StatusCode::UNAUTHORIZED, "not_signed_in"))?;
    Ok((session, required(server, "server")?))
}

/// A client of `server` with the user's tokens. The web flow hands out one
/// `OAuth` per (server, user) for the process: concurrent requests of a
/// user share one refresh, and the store's lock makes it one across
/// instances. It never signs in: no tokens is `NotConnected`, a 401 here.
async fn connected(web: &WebFlow, server: &str, session: &Session) -> Result<Client, Refusal> {
    let oauth = web
        .oauth(server, &session.user)
        .map_err(|error| mcp_failure(&error))?;
    Client::builder(server)
        .auth(Auth::from(oauth))
        .timeout(MCP_TIMEOUT)
        // One request and done: no stream for the server's own messages.
        .listen_for_server_messages(false)
        .connect()
        .await
        .map_err(|error| mcp_failure(&error))
}

/// Ends the MCP session after the answer is sent, not before.
fn close(client: Client) {
    tokio::spawn(async move { client.close().await });
}

fn mcp_failure(error: &Error) -> Refusal {
    match error {
        Error::NotConnected { .. } => Refusal::new(StatusCode::UNAUTHORIZED, "not_connected"),
        Error::InvalidUrl { .. } | Error::InvalidConfig { .. } => {
            Refusal::new(StatusCode::BAD_REQUEST, "invalid_request").reason(error.to_string())
        }
        // The library's messages name URLs and reasons, never a token.
        _ => Refusal::new(StatusCode::BAD_GATEWAY, "mcp_server_failed").reason(error.to_string()),
    }
}

/// A 302 to `location` (axum's `Redirect::to` is a 303).
fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

type Answer = Result<Response, Refusal>;

/// A JSON error: `{"error": kind}`, with `"reason"` when there is one.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    kind: &'static str,
    reason: Option<String>,
}

impl Refusal {
    fn new(status: StatusCode, kind: &'static str) -> Self {
        Self {
            status,
            kind,
            reason: None,
        }
    }

    fn reason(mut self, reason: String) -> Self {
        self.reason = Some(reason);
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = match self.reason {
            Some(reason) => json!({ "error": self.kind, "reason": reason }),
            None => json!({ "error": self.kind }),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_is_escaped() {
        assert_eq!(
            super::escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
