//! An answer: its head at once, its body as a stream of chunks that ends
//! with an error when the request's time runs out.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use http::{HeaderMap, StatusCode};
use http_body::Body as _;
use http_body_util::BodyDataStream;
use tokio::time::{Instant, Sleep};

use super::error::HttpError;

/// The chunks of a body, as they arrive.
type Chunks = BoxStream<'static, Result<Bytes, HttpError>>;

/// An HTTP answer whose body has not been read yet.
#[derive(Debug)]
pub(crate) struct Response {
    status: StatusCode,
    headers: HeaderMap,
    content_length: Option<u64>,
    body: Body,
}

impl Response {
    /// `response` as hyper gave it, its body bounded by `deadline`.
    pub(super) fn new(
        response: http::Response<hyper::body::Incoming>,
        deadline: Option<Instant>,
    ) -> Self {
        let (head, body) = response.into_parts();
        let content_length = body.size_hint().exact();
        let chunks = BodyDataStream::new(body).map_err(HttpError::body).boxed();
        Self {
            status: head.status,
            headers: head.headers,
            content_length,
            body: Body::new(chunks, deadline),
        }
    }

    /// A 200 answer whose body is `chunks`: for tests of what reads bodies.
    #[cfg(test)]
    pub(crate) fn from_chunks(chunks: Vec<Bytes>) -> Self {
        let chunks = futures::stream::iter(chunks.into_iter().map(Ok)).boxed();
        Self {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            content_length: None,
            body: Body::new(chunks, None),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body's length, when the server said it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The body, chunk by chunk.
    pub(crate) fn bytes_stream(
        self,
    ) -> impl Stream<Item = Result<Bytes, HttpError>> + Send + 'static {
        self.body
    }
}

/// A body that fails with a timeout once its request's deadline passes
/// (as reqwest's `timeout` covers the body too).
struct Body {
    chunks: Chunks,
    deadline: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl Body {
    fn new(chunks: Chunks, deadline: Option<Instant>) -> Self {
        Self {
            chunks,
            deadline: deadline.map(|deadline| Box::pin(tokio::time::sleep_until(deadline))),
            done: false,
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body").finish_non_exhaustive()
    }
}

impl Stream for Body {
    type Item = Result<Bytes, HttpError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.done = true;
            return Poll::Ready(Some(Err(HttpError::timeout())));
        }
        let polled = this.chunks.poll_next_unpin(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.done = true;
        }
        polled
    }
}
