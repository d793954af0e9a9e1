//! The HTTP layer both HTTP transports share: one [`HttpClient`], the
//! credentials, redirect and size rules, and the mapping of network failures
//! to [`Error`].

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{StatusCode, header::AUTHORIZATION};

use super::extras::Extras;
use crate::{
    Error, Result, ServerUrl,
    auth::{Authorizer, Rejection},
    net::{
        self, HttpClient, HttpClientBuilder, HttpError, Redirects, RequestBuilder, Response,
        preview, root_cause, size, timed_out,
    },
};

/// The HTTP client of one connection: cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HttpCore {
    http: HttpClient,
    authorizer: Authorizer,
    timeout: Duration,
    /// The user's own headers, and the server whose origin they go to.
    headers: Option<Arc<(ServerUrl, http::HeaderMap)>>,
}

impl HttpCore {
    /// `timeout` bounds connecting, and every exchange whose answer is not
    /// a stream.
    pub(crate) fn new(authorizer: Authorizer, timeout: Duration) -> Result<Self> {
        Self::with_builder(authorizer, timeout, HttpClient::builder(), None)
    }

    /// For one server: a plain `http` server is all this client ever talks
    /// to (redirects stay on its origin), so the system's certificates, whose
    /// loading is most of a short run's start-up, are not read at all, unless
    /// a proxy (which may speak TLS) stands in between. A server on loopback
    /// is reached directly, never through a proxy. `extras` add headers to
    /// every request to the server's origin, and trust anchors.
    pub(crate) fn for_server(
        authorizer: Authorizer,
        timeout: Duration,
        server: &ServerUrl,
        extras: &Extras,
    ) -> Result<Self> {
        extras.check()?;
        let direct = server.is_loopback();
        let proxied = !direct
            && ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
                .iter()
                .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
        let builder = HttpClient::builder()
            .direct(direct)
            .tls(server.url().scheme() != "http" || proxied)
            .roots(extras.roots.clone());
        let headers = (!extras.headers.is_empty())
            .then(|| Arc::new((server.clone(), extras.headers.clone())));
        Self::with_builder(authorizer, timeout, builder, headers)
    }

    fn with_builder(
        authorizer: Authorizer,
        timeout: Duration,
        builder: HttpClientBuilder,
        headers: Option<Arc<(ServerUrl, http::HeaderMap)>>,
    ) -> Result<Self> {
        // Credentials must never follow a redirect to another origin.
        let http = net::build_client(
            builder
                .connect_timeout(timeout)
                .redirects(Redirects::SameOrigin),
        )?;
        Ok(Self {
            http,
            authorizer,
            timeout,
            headers,
        })
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends the request `build` makes, with credentials. A 401 or 403 goes to
    /// the [`Authorizer`]; when it renews the credentials, the request is built
    /// and sent once more. Any other answer is returned as it is.
    pub(crate) async fn send(
        &self,
        url: &str,
        build: impl Fn(&HttpClient) -> RequestBuilder,
    ) -> Result<Response> {
        let mut retried = false;
        // A server's DPoP nonce asks for one more try (RFC 9449 §9), apart
        // from the one a renewal of the credentials gets.
        let mut nonce_retried = false;
        loop {
            let mut request = build(&self.http);
            if let Some((server, headers)) = self.headers.as_deref()
                && (server.is_same_origin_prefix(url)
                    || url::Url::parse(url).is_ok_and(|u| u.origin() == server.url().origin()))
            {
                request = request.headers(headers.clone());
            }
            // Credentials go only to the origin they belong to.
            let allowed = self.authorizer.may_send_to(url);
            let sent = if allowed {
                self.authorizer.header().await?
            } else {
                None
            };
            let mut proved = None;
            if let Some(header) = &sent {
                let target = request.url().cloned();
                if let Some(target) = target {
                    let method = request.method().as_str().to_owned();
                    if let Some(proof) = self.authorizer.dpop_proof(&method, &target, header)? {
                        request = request.header("dpop", proof);
                        proved = Some(target);
                    }
                }
                request = request.header(AUTHORIZATION, header.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|error| timed_out(url, error, self.timeout))?;
            let fresh_nonce = proved.as_ref().is_some_and(|target| {
                self.authorizer
                    .remember_dpop_nonce(target, response.headers())
            });
            let status = response.status();
            if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
                self.authorizer.accepted(sent.as_ref());
                return Ok(response);
            }
            let rejection = Rejection::from_headers(url, status.as_u16(), response.headers());
            let wants_nonce = rejection
                .challenge
                .as_ref()
                .is_some_and(|challenge| challenge.wants_dpop_nonce());
            if wants_nonce && fresh_nonce && !nonce_retried {
                tracing::debug!(url, "the server asked for a DPoP nonce");
                nonce_retried = true;
                continue;
            }
            if !retried && self.authorizer.settle(&rejection, sent.as_ref()).await? {
                retried = true;
                continue;
            }
            if retried {
                // The renewed token refused too: renewals may pause.
                return Err(self
                    .authorizer
                    .refused_again(rejection, sent.as_ref())
                    .await);
            }
            return Err(rejection.into_error());
        }
    }
}

/// Explains a successful answer that is not MCP: an HTML page, plain text.
pub(crate) fn not_mcp(url: &str, status: StatusCode, media: Option<&str>, body: &[u8]) -> Error {
    let looks_like_html =
        media == Some("text/html") || body.trim_ascii_start().first() == Some(&b'<');
    let what = if looks_like_html {
        "an HTML page".to_owned()
    } else {
        match media {
            Some(media) => format!("content of type {media}"),
            None => "a body without a content type".to_owned(),
        }
    };
    let shown = preview(body);
    let shown = if shown.is_empty() {
        String::new()
    } else {
        format!(": {shown}")
    };
    Error::NotMcp {
        url: url.to_owned(),
        detail: format!("it answered HTTP {} with {what}{shown}", status.as_u16()),
    }
}

/// A body stream that fails once one server-sent event grows past `limit`
/// bytes, so a hostile server cannot make the SSE parser buffer without end.
///
/// Chunks are also cut after every event's end: the SSE parser reports an
/// error in a chunk before the events that chunk completed, and its readers
/// stop at the first error, so an answer followed in the same chunk by a
/// malformed line would otherwise be lost.
pub(crate) fn cap_sse_events<S>(
    stream: S,
    limit: usize,
) -> impl Stream<Item = std::result::Result<Bytes, BodyError>> + Send + 'static
where
    S: Stream<Item = std::result::Result<Bytes, HttpError>> + Send + 'static,
{
    let start = (Box::pin(stream), EventCap::new(limit), Bytes::new());
    futures::stream::unfold(Some(start), |state| async move {
        let (mut stream, mut cap, mut rest) = state?;
        while rest.is_empty() {
            match stream.next().await? {
                Ok(chunk) => rest = chunk,
                Err(error) => return Some((Err(BodyError::Read(error)), None)),
            }
        }
        match cap.take_event(&mut rest) {
            Ok(piece) => Some((Ok(piece), Some((stream, cap, rest)))),
            Err(error) => Some((Err(error), None)),
        }
    })
}

/// Where the events of a stream end, as the SSE parser sees them: lines end
/// at CRLF, LF or CR, and an empty line ends an event.
#[derive(Debug)]
struct EventCap {
    limit: usize,
    /// Bytes of the event being received.
    pending: usize,
    at_line_start: bool,
    after_cr: bool,
}

impl EventCap {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            pending: 0,
            at_line_start: true,
            after_cr: false,
        }
    }

    /// Takes from `chunk` its bytes up to the end of the first event that
    /// ends in it (or all of them); fails once an event grows past the limit.
    fn take_event(&mut self, chunk: &mut Bytes) -> std::result::Result<Bytes, BodyError> {
        for (index, &byte) in chunk.iter().enumerate() {
            self.pending += 1;
            if self.pending > self.limit {
                return Err(BodyError::EventTooLarge { limit: self.limit });
            }
            if byte == b'\n' && self.after_cr {
                // The LF of a CRLF: the line already ended at the CR.
                self.after_cr = false;
                continue;
            }
            self.after_cr = byte == b'\r';
            if byte == b'\n' || byte == b'\r' {
                if self.at_line_start {
                    self.pending = 0;
                    return Ok(chunk.split_to(index + 1));
                }
                self.at_line_start = true;
            } else {
                self.at_line_start = false;
            }
        }
        Ok(std::mem::take(chunk))
    }
}

/// Why a streamed body ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("reading the response failed: {}", root_cause(.0))]
    Read(HttpError),
    #[error("a server-sent event is larger than the {} limit", size(*limit))]
    EventTooLarge { limit: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sse_cap_counts_per_event_not_per_stream() {
        let events: Vec<std::result::Result<Bytes, HttpError>> = (0..100)
            .map(|_| Ok(Bytes::from_static(b"data: 0123456789\n\n")))
            .collect();
        let capped = cap_sse_events(futures::stream::iter(events), 32);
        let results: Vec<_> = capped.collect().await;
        assert!(results.iter().all(|chunk| chunk.is_ok()));

        let big: Vec<std::result::Result<Bytes, HttpError>> =
            vec![Ok(Bytes::from(format!("data: {}\n\n", "x".repeat(64))))];
        let results: Vec<_> = cap_sse_events(futures::stream::iter(big), 32)
            .collect()
            .await;
        assert!(matches!(
            results[0],
            Err(BodyError::EventTooLarge { limit: 32 })
        ));
    }

    #[tokio::test]
    async fn sse_cap_knows_every_line_ending() {
        // CR alone ends lines too; such a stream once counted as one event.
        for event in [
            "data: 0123456789\r\r",
            "data: 0123456789\r\n\r\n",
            "data: 0\n\r",
        ] {
            let chunks: Vec<std::result::Result<Bytes, HttpError>> =
                (0..100).map(|_| Ok(Bytes::from(event))).collect();
            let results: Vec<_> = cap_sse_events(futures::stream::iter(chunks), 32)
                .collect()
                .await;
            assert!(results.iter().all(Result::is_ok), "{event:?}");
        }
    }

    #[tokio::test]
    async fn an_event_is_read_before_a_malformed_line_in_the_same_chunk() {
        let body = b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\nnot a field\n";
        let chunks: Vec<std::result::Result<Bytes, HttpError>> = vec![Ok(Bytes::from_static(body))];
        let mut events = sse_stream::SseStream::from_bytes_stream(cap_sse_events(
            futures::stream::iter(chunks),
            1024,
        ))
        .boxed();
        let first = events.next().await.expect("an item").expect("the event");
        assert_eq!(
            first.data.as_deref(),
            Some(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
        );
        assert!(matches!(events.next().await, Some(Err(_))));
    }

    #[test]
    fn html_is_named_as_such() {
        let error = not_mcp(
            "http://h/",
            StatusCode::OK,
            Some("text/html"),
            b"<html><body>hi",
        );
        assert_eq!(
            error.to_string(),
            "http://h/ is not an MCP endpoint: it answered HTTP 200 with an HTML page: <html><body>hi"
        );
    }
}
