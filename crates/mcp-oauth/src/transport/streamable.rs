//! Streamable HTTP (MCP 2025-03-26 and later): rmcp runs the protocol, this
//! client makes its HTTP exchanges through [`HttpCore`], so credentials,
//! redirects, size limits and error reports are ours.

use std::{collections::HashMap, sync::Arc};

use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use http::{HeaderName, HeaderValue, StatusCode, header::ACCEPT};
use rmcp::{
    model::{
        ClientJsonRpcMessage, ClientRequest, ErrorCode, ErrorData, RequestId, ServerJsonRpcMessage,
        ServerResult,
    },
    transport::streamable_http_client::{
        AuthRequiredError, InsufficientScopeError, SseError, StreamableHttpClient,
        StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
    },
};
use sse_stream::{Sse, SseStream};

use super::{
    EndCause,
    http::{BodyError, HttpCore, cap_sse_events, not_mcp},
    tool_headers::{RefusedTools, screens},
};
use crate::{
    Error,
    net::{Response, body_preview, media_type, preview, read_body},
};

const SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";
const ACCEPT_BOTH: &str = "application/json, text/event-stream";

type HttpResult<T> = Result<T, StreamableHttpError<Error>>;

/// rmcp's Streamable HTTP client with our credentials, for people who use
/// rmcp directly: every request gets its `Authorization` header from the
/// [`Auth`](crate::Auth), and a 401 (or a 403 asking for more scope) runs
/// the OAuth flow and sends the request again.
///
/// ```no_run
/// # async fn run() -> mcp_oauth::Result<()> {
/// use mcp_oauth::{Auth, AuthorizedHttpClient, OAuth};
/// use mcp_oauth::rmcp::{
///     ServiceExt,
///     transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
/// };
///
/// let url = "https://example.com/mcp";
/// let http = AuthorizedHttpClient::new(Auth::from(OAuth::builder(url).build()?))?;
/// let transport = StreamableHttpClientTransport::with_client(
///     http,
///     StreamableHttpClientTransportConfig::with_uri(url),
/// );
/// let client = ().serve(transport).await.expect("connected");
/// let tools = client.list_all_tools().await.expect("listed");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AuthorizedHttpClient {
    core: HttpCore,
    /// Where an event stream cut for its size says so: rmcp itself only
    /// sees the stream end.
    end_cause: EndCause,
    /// Whether to open the GET stream on which a server sends what belongs
    /// to none of the client's requests; a client that asks and is done
    /// saves the request.
    listens: bool,
    /// The tools left out of `tools/list` answers for invalid header
    /// annotations (2026-07-28).
    refused: RefusedTools,
}

impl AuthorizedHttpClient {
    /// A client presenting `auth`. An OAuth helper must be built for its
    /// server ([`OAuth::builder`](crate::OAuth::builder)).
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::{Auth, AuthorizedHttpClient};
    /// let http = AuthorizedHttpClient::new(Auth::bearer("…"))?;
    /// # Ok(()) }
    /// ```
    pub fn new(auth: crate::Auth) -> crate::Result<Self> {
        if let crate::Auth::OAuth(oauth) = &auth
            && oauth.server().is_none()
        {
            return Err(Error::InvalidConfig {
                reason: "give the OAuth helper its server URL: OAuth::builder(url)".into(),
            });
        }
        let server = match &auth {
            crate::Auth::OAuth(oauth) => oauth.server().cloned(),
            _ => None,
        };
        let authorizer = crate::auth::Authorizer::interactive(auth);
        let timeout = std::time::Duration::from_secs(60);
        // OAuth's server is known: set up for it (loopback reached directly).
        let core = match server {
            Some(server) => {
                HttpCore::for_server(authorizer, timeout, &server, &super::Extras::default())?
            }
            None => HttpCore::new(authorizer, timeout)?,
        };
        Ok(Self {
            core,
            end_cause: EndCause::default(),
            listens: true,
            refused: RefusedTools::default(),
        })
    }

    pub(crate) fn from_core(core: HttpCore, end_cause: EndCause) -> Self {
        Self {
            core,
            end_cause,
            listens: true,
            refused: RefusedTools::default(),
        }
    }

    /// This client, recording the tools it leaves out of listings in `refused`.
    pub(crate) fn refusing_into(mut self, refused: RefusedTools) -> Self {
        self.refused = refused;
        self
    }

    /// This client, opening the GET stream or not.
    pub(crate) fn listening(mut self, listens: bool) -> Self {
        self.listens = listens;
        self
    }

    /// The events of an event-stream answer, each at most `limit` bytes; a
    /// larger one ends the stream, and the reason is kept for the error.
    fn events(
        &self,
        uri: &str,
        response: Response,
        limit: usize,
    ) -> impl Stream<Item = Result<Sse, SseError>> + Send + 'static {
        let end_cause = self.end_cause.clone();
        let url = uri.to_owned();
        let capped = cap_sse_events(response.bytes_stream(), limit).inspect_err(move |error| {
            if let BodyError::EventTooLarge { .. } = error {
                // Also logged: a bridge's host only hears that the stream closed.
                tracing::warn!(%url, %error, "event stream cut");
                end_cause.cut(Error::Protocol {
                    url: url.clone(),
                    detail: error.to_string(),
                });
            }
        });
        SseStream::from_bytes_stream(capped)
    }

    async fn post(
        &self,
        uri: &str,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        // Shared (not copied) between a first try and a retry.
        let body = bytes::Bytes::from(serde_json::to_vec(&message)?);
        let response = self
            .core
            .send(uri, |http| {
                let mut request = http
                    .post(uri)
                    .header(ACCEPT, ACCEPT_BOTH)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .headers(
                        headers
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                    .body(body.clone());
                if let Some(session_id) = &session_id {
                    request = request.header(SESSION_ID, session_id.as_ref());
                }
                request
            })
            .await
            .map_err(StreamableHttpError::Client)?;

        let status = response.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let new_session_id = response
            .headers()
            .get(SESSION_ID)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let media = media_type(&response);

        if !status.is_success() {
            return self
                .rejected(
                    uri,
                    &message,
                    session_id.is_some(),
                    status,
                    response,
                    limits,
                )
                .await;
        }
        // Nothing is awaited for a notification or a response: any 2xx
        // accepts it, whatever body a lenient server adds (202 is the rule).
        if awaits_no_response(&message) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        match media.as_deref() {
            Some("text/event-stream") => {
                let events = self.events(uri, response, limits.max_sse_event_size);
                let events = match (discover_id(&message), screens(&message, &headers)) {
                    (Some(id), _) => events
                        .map(move |event| event.map(|sse| legacy_discover_event(sse, &id)))
                        .boxed(),
                    (None, true) => {
                        let refused = self.refused.clone();
                        events
                            .map(move |event| event.map(|sse| refused.screen_event(sse)))
                            .boxed()
                    }
                    (None, false) => events.boxed(),
                };
                Ok(StreamableHttpPostResponse::Sse(events, new_session_id))
            }
            Some("application/json") => {
                let body = read_body(
                    uri,
                    response,
                    limits.max_json_response_size,
                    self.core.timeout(),
                )
                .await
                .map_err(StreamableHttpError::Client)?;
                match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                    Ok(reply) => {
                        let reply = match discover_id(&message) {
                            Some(id) => legacy_discover_reply(reply, &id),
                            None if screens(&message, &headers) => self.refused.screen_reply(reply),
                            None => reply,
                        };
                        Ok(StreamableHttpPostResponse::Json(reply, new_session_id))
                    }
                    Err(error) if serde_json::from_slice::<serde_json::Value>(&body).is_ok() => {
                        Err(StreamableHttpError::Client(Error::Protocol {
                            url: uri.to_owned(),
                            detail: format!(
                                "the answer is JSON but not a JSON-RPC message ({error}): {}",
                                preview(&body)
                            ),
                        }))
                    }
                    Err(_) => Err(StreamableHttpError::Client(Error::NotMcp {
                        url: uri.to_owned(),
                        detail: format!(
                            "it answered HTTP {} with a body that is not JSON: {}",
                            status.as_u16(),
                            preview(&body)
                        ),
                    })),
                }
            }
            other => {
                let other = other.map(str::to_owned);
                let body = read_body(uri, response, 64 * 1024, self.core.timeout())
                    .await
                    .unwrap_or_default();
                Err(StreamableHttpError::Client(not_mcp(
                    uri,
                    status,
                    other.as_deref(),
                    &body,
                )))
            }
        }
    }

    /// An error status other than 401/403 (those went to the authorizer).
    async fn rejected(
        &self,
        uri: &str,
        message: &ClientJsonRpcMessage,
        session_attached: bool,
        status: StatusCode,
        response: Response,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let media = media_type(&response);
        let body = if media.as_deref() == Some("application/json") {
            read_body(
                uri,
                response,
                limits.max_json_response_size,
                self.core.timeout(),
            )
            .await
            .unwrap_or_default()
        } else {
            bytes::Bytes::from(body_preview(response).await)
        };
        let server_error = match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
            Ok(ServerJsonRpcMessage::Error(error)) => Some(error.error),
            _ => None,
        };
        // A server from before 2026-07-28 rejects the `server/discover` probe
        // with a 4xx; rmcp must see that as a JSON-RPC error for *its* request
        // to fall back to `initialize`. Hence the id is re-attached.
        if let ClientJsonRpcMessage::Request(request) = message
            && matches!(request.request, ClientRequest::DiscoverRequest(_))
            && !session_attached
            && status.is_client_error()
        {
            let error = server_error.unwrap_or_else(|| {
                ErrorData::invalid_request(
                    format!("server/discover rejected with HTTP {}", status.as_u16()),
                    None,
                )
            });
            return Ok(StreamableHttpPostResponse::Json(
                ServerJsonRpcMessage::error(error, Some(request.id.clone())),
                None,
            ));
        }
        if let Some(error) = server_error {
            return Err(StreamableHttpError::Client(Error::Server {
                code: error.code.0,
                message: error.message.into_owned(),
                data: error.data,
            }));
        }
        Err(StreamableHttpError::Client(Error::HttpStatus {
            url: uri.to_owned(),
            status: status.as_u16(),
            body: preview(&body),
        }))
    }
}

/// The id of a `server/discover` probe, if `message` is one.
fn discover_id(message: &ClientJsonRpcMessage) -> Option<RequestId> {
    match message {
        ClientJsonRpcMessage::Request(request)
            if matches!(request.request, ClientRequest::DiscoverRequest(_)) =>
        {
            Some(request.id.clone())
        }
        _ => None,
    }
}

/// Some servers from before 2026-07-28 answer every method, `server/discover`
/// included, with an empty result. That is no discovery: turn it into the
/// "method not found" an older server should send, so the handshake falls
/// back to `initialize`.
pub(crate) fn legacy_discover_reply(
    reply: ServerJsonRpcMessage,
    id: &RequestId,
) -> ServerJsonRpcMessage {
    match &reply {
        ServerJsonRpcMessage::Response(response)
            if &response.id == id
                && !matches!(response.result, ServerResult::DiscoverResult(_)) =>
        {
            tracing::debug!(
                "the server answered server/discover with another result: an older server"
            );
            ServerJsonRpcMessage::error(
                ErrorData::new(
                    ErrorCode::METHOD_NOT_FOUND,
                    "server/discover is not supported",
                    None,
                ),
                Some(id.clone()),
            )
        }
        _ => reply,
    }
}

pub(crate) fn legacy_discover_event(mut event: Sse, id: &RequestId) -> Sse {
    let Some(data) = event.data.as_deref() else {
        return event;
    };
    let Ok(reply) = serde_json::from_str::<ServerJsonRpcMessage>(data) else {
        return event;
    };
    let rewritten = legacy_discover_reply(reply, id);
    if let Ok(text) = serde_json::to_string(&rewritten) {
        event.data = Some(text);
    }
    event
}

fn awaits_no_response(message: &ClientJsonRpcMessage) -> bool {
    !matches!(message, ClientJsonRpcMessage::Request(_))
}

impl StreamableHttpClient for AuthorizedHttpClient {
    type Error = Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let limits = StreamableHttpResponseLimits::default();
        self.post(&uri, message, session_id, custom_headers, limits)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post(&uri, message, session_id, custom_headers, limits)
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.post(&uri, message, session_id, custom_headers, limits)
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        let response = self
            .core
            .send(&uri, |http| {
                http.delete(uri.as_ref())
                    .header(SESSION_ID, session_id.as_ref())
                    .headers(
                        custom_headers
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
            })
            .await
            .map_err(StreamableHttpError::Client)?;
        let status = response.status();
        // 405: the server does not let clients end sessions; that is allowed.
        if status.is_success() || status == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        Err(StreamableHttpError::Client(Error::HttpStatus {
            url: uri.to_string(),
            status: status.as_u16(),
            body: body_preview(response).await,
        }))
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        let limit = StreamableHttpResponseLimits::default().max_sse_event_size;
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            limit,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<BoxStream<'static, Result<Sse, SseError>>> {
        // rmcp opens the stream right after the handshake and has no setting
        // against it; "no stream here" is the answer it takes quietly. A GET
        // with a last event id resumes the answer to one of our requests (a
        // stream the server closed early) and always goes out.
        if !self.listens && last_event_id.is_none() {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        let result = self
            .core
            .send(&uri, |http| {
                let mut request = http
                    .get(uri.as_ref())
                    .header(ACCEPT, "text/event-stream")
                    .headers(
                        custom_headers
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    );
                if let Some(session_id) = &session_id {
                    request = request.header(SESSION_ID, session_id.as_ref());
                }
                if let Some(last_event_id) = &last_event_id {
                    request = request.header(LAST_EVENT_ID, last_event_id);
                }
                request
            })
            .await;
        let response = match result {
            Ok(response) => response,
            // rmcp stops reconnecting the optional GET stream on these two.
            Err(Error::Unauthorized {
                status: 403,
                www_authenticate,
                ..
            }) => {
                return Err(StreamableHttpError::InsufficientScope(
                    InsufficientScopeError::new(www_authenticate.unwrap_or_default(), None),
                ));
            }
            Err(Error::Unauthorized {
                www_authenticate, ..
            }) => {
                return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
                    www_authenticate.unwrap_or_default(),
                )));
            }
            Err(error) => return Err(StreamableHttpError::Client(error)),
        };
        let status = response.status();
        // 405 says "no stream here"; some servers say it with 404.
        if status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::NOT_FOUND {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if !status.is_success() {
            return Err(StreamableHttpError::Client(Error::HttpStatus {
                url: uri.to_string(),
                status: status.as_u16(),
                body: body_preview(response).await,
            }));
        }
        if media_type(&response).as_deref() != Some("text/event-stream") {
            return Err(StreamableHttpError::UnexpectedContentType(media_type(
                &response,
            )));
        }
        Ok(self.events(&uri, response, max_sse_event_size).boxed())
    }
}

#[cfg(test)]
mod tests;
