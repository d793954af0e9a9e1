//! The legacy HTTP+SSE transport of MCP 2024-11-05, which rmcp no longer
//! has: GET an event stream, wait for its `endpoint` event, POST every
//! message to that endpoint, read every answer from the stream.

use std::sync::Arc;

use futures::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE};
use rmcp::{
    RoleClient,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::Transport,
};
use sse_stream::SseStream;
use tokio::{sync::mpsc, task::JoinHandle};
use url::Url;

use super::{
    EndCause,
    http::{HttpCore, cap_sse_events, not_mcp},
};
use crate::{
    Error, Result,
    net::{body_preview, media_type, preview},
};

/// The largest single event accepted on the stream.
const MAX_EVENT_BYTES: usize = super::MAX_MESSAGE_BYTES;

/// A connected legacy SSE session.
#[derive(Debug)]
pub(crate) struct LegacySseTransport {
    core: HttpCore,
    endpoint: Arc<str>,
    incoming: mpsc::Receiver<ServerJsonRpcMessage>,
    reader: AbortOnDrop,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl LegacySseTransport {
    /// Opens the stream at `url` and waits for the `endpoint` event.
    /// When the stream ends by itself, the reason is left in `end_cause`.
    pub(crate) async fn connect(core: HttpCore, url: &Url, end_cause: EndCause) -> Result<Self> {
        let url_text = url.as_str();
        let response = core
            .send(url_text, |http| {
                http.get(url.clone()).header(ACCEPT, "text/event-stream")
            })
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::HttpStatus {
                url: url_text.to_owned(),
                status: status.as_u16(),
                body: body_preview(response).await,
            });
        }
        if media_type(&response).as_deref() != Some("text/event-stream") {
            let media = media_type(&response);
            let body = bytes::Bytes::from(body_preview(response).await);
            return Err(not_mcp(url_text, status, media.as_deref(), &body));
        }

        let mut events =
            SseStream::from_bytes_stream(cap_sse_events(response.bytes_stream(), MAX_EVENT_BYTES))
                .boxed();
        let endpoint = loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                    break resolve_endpoint(url, event.data.as_deref().unwrap_or(""))?;
                }
                // Comments and early events carry nothing we need.
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    return Err(Error::Protocol {
                        url: url_text.to_owned(),
                        detail: format!("the event stream is malformed: {error}"),
                    });
                }
                None => {
                    return Err(Error::Closed {
                        url: url_text.to_owned(),
                        detail: "the event stream ended before its `endpoint` event".into(),
                    });
                }
            }
        };
        tracing::debug!(%endpoint, "legacy SSE session open");

        let (sender, incoming) = mpsc::channel(64);
        let stream_url = url_text.to_owned();
        let reader = tokio::spawn(async move {
            let cause = loop {
                let event = match events.next().await {
                    Some(Ok(event)) => event,
                    Some(Err(error)) => {
                        break Error::Protocol {
                            url: stream_url.clone(),
                            detail: format!("the event stream failed: {error}"),
                        };
                    }
                    None => {
                        break Error::Closed {
                            url: stream_url.clone(),
                            detail: "the server ended the event stream".into(),
                        };
                    }
                };
                if !matches!(event.event.as_deref(), None | Some("message")) {
                    continue;
                }
                let data = event.data.unwrap_or_default();
                match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                    Ok(message) => {
                        if sender.send(message).await.is_err() {
                            return;
                        }
                    }
                    // Answers cannot be matched to requests any more: end the
                    // session with the reason instead of letting calls wait.
                    Err(error) => {
                        break Error::Protocol {
                            url: stream_url.clone(),
                            detail: format!(
                                "the event stream carried a message that is not JSON-RPC ({error}): {}",
                                preview(data.as_bytes())
                            ),
                        };
                    }
                }
            };
            tracing::debug!(error = %cause, "legacy SSE stream ended");
            end_cause.ended(cause);
        });
        Ok(Self {
            core,
            endpoint: endpoint.as_str().into(),
            incoming,
            reader: AbortOnDrop(reader),
        })
    }
}

/// The endpoint is relative to the stream URL and must stay on its origin:
/// credentials go only to the server they were given for.
pub(crate) fn resolve_endpoint(stream_url: &Url, data: &str) -> Result<Url> {
    let endpoint = stream_url
        .join(data.trim())
        .map_err(|error| Error::Protocol {
            url: stream_url.to_string(),
            detail: format!("the `endpoint` event holds no usable URL ({error}): {data:?}"),
        })?;
    if endpoint.origin() != stream_url.origin() {
        return Err(Error::Protocol {
            url: stream_url.to_string(),
            detail: format!(
                "the `endpoint` event points to another origin ({}); refusing to send messages there",
                endpoint.origin().ascii_serialization()
            ),
        });
    }
    Ok(endpoint)
}

impl Transport<RoleClient> for LegacySseTransport {
    type Error = Error;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let core = self.core.clone();
        let endpoint = self.endpoint.clone();
        async move {
            let body = serde_json::to_vec(&item).map_err(|error| Error::Protocol {
                url: endpoint.to_string(),
                detail: format!("could not encode a message: {error}"),
            })?;
            let response = core
                .send(&endpoint, |http| {
                    http.post(endpoint.as_ref())
                        .header(CONTENT_TYPE, "application/json")
                        .timeout(core.timeout())
                        .body(body.clone())
                })
                .await?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            Err(Error::HttpStatus {
                url: endpoint.to_string(),
                status: status.as_u16(),
                body: body_preview(response).await,
            })
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ServerJsonRpcMessage>> + Send {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<()> {
        self.reader.0.abort();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_resolves_relative_to_the_stream() {
        let stream = Url::parse("http://127.0.0.1:9/sse").unwrap();
        let endpoint = resolve_endpoint(&stream, "/messages?sessionId=abc").unwrap();
        assert_eq!(
            endpoint.as_str(),
            "http://127.0.0.1:9/messages?sessionId=abc"
        );
    }

    #[test]
    fn endpoint_on_another_origin_is_refused() {
        let stream = Url::parse("http://127.0.0.1:9/sse").unwrap();
        let error = resolve_endpoint(&stream, "http://evil.example/steal").unwrap_err();
        assert!(error.to_string().contains("another origin"), "{error}");
    }
}
