//! Reading answers: whole bodies within a cap, and bounded previews of
//! bodies that are only shown in errors.

use std::time::Duration;

use super::{Response, failure::timed_out};
use crate::{Error, Result, error::one_line};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::header::CONTENT_TYPE;

/// How much of an unusable body is kept for an error message.
const PREVIEW_BYTES: usize = 512;

/// The media type of a response, lower-cased, without parameters.
pub(crate) fn media_type(response: &Response) -> Option<String> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Reads a whole body, refusing more than `limit` bytes; a client whose
/// requests are bounded by `after` reports running out of it as a timeout.
pub(crate) async fn read_body(
    url: &str,
    response: Response,
    limit: usize,
    after: Duration,
) -> Result<Bytes> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large(url, limit));
    }
    // Most bodies arrive in one chunk: that one is kept, not copied.
    let mut first: Option<Bytes> = None;
    let mut body = BytesMut::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| timed_out(url, error, after))?;
        let read = first.as_ref().map_or(0, Bytes::len) + body.len();
        if read + chunk.len() > limit {
            return Err(too_large(url, limit));
        }
        if first.is_none() && body.is_empty() {
            first = Some(chunk);
            continue;
        }
        if let Some(earlier) = first.take() {
            body.extend_from_slice(&earlier);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(first.unwrap_or_else(|| body.freeze()))
}

/// Reads at most [`PREVIEW_BYTES`] of a body for an error message, without
/// waiting for the rest.
pub(crate) async fn body_preview(response: Response) -> String {
    let mut body = BytesMut::new();
    let mut chunks = response.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = chunks.next().await {
            body.extend_from_slice(&chunk);
            if body.len() >= PREVIEW_BYTES {
                break;
            }
        }
    };
    // A server that sends its error page slowly must not stall the report.
    let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
    preview(&body)
}

/// A one-line, bounded, printable view of a body.
pub(crate) fn preview(body: &[u8]) -> String {
    let end = body.len().min(PREVIEW_BYTES);
    one_line(&String::from_utf8_lossy(&body[..end]), 160)
}

fn too_large(url: &str, limit: usize) -> Error {
    Error::Protocol {
        url: url.to_owned(),
        detail: format!("the response body is larger than the {} limit", size(limit)),
    }
}

/// A byte count for people: `16 MiB`, `64 KiB`, `300 bytes`.
pub(crate) fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1024 * 1024 && b % (1024 * 1024) == 0 => format!("{} MiB", b / (1024 * 1024)),
        b if b >= 1024 && b % 1024 == 0 => format!("{} KiB", b / 1024),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(chunks: &[&'static str]) -> Response {
        Response::from_chunks(
            chunks
                .iter()
                .map(|c| Bytes::from_static(c.as_bytes()))
                .collect(),
        )
    }

    #[tokio::test]
    async fn bodies_are_read_whole_in_one_chunk_or_many_and_capped() {
        let url = "http://127.0.0.1:1/mcp";
        let after = Duration::from_secs(5);
        let one = read_body(url, response(&["{\"a\":1}"]), 64, after)
            .await
            .unwrap();
        assert_eq!(&one[..], b"{\"a\":1}");
        let many = read_body(url, response(&["{\"a\"", ":", "1}"]), 64, after)
            .await
            .unwrap();
        assert_eq!(&many[..], b"{\"a\":1}");
        let capped = read_body(url, response(&["12345", "67890"]), 8, after).await;
        assert!(capped.unwrap_err().to_string().contains("larger than"));
        assert!(
            read_body(url, response(&["12345678"]), 8, after)
                .await
                .is_ok()
        );
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(size(16 * 1024 * 1024), "16 MiB");
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
