//! The event-stream side of the fuzz entry points (see `crate::fuzzing`):
//! the body of a Streamable HTTP answer or of the legacy SSE stream, read
//! through the per-event size cap and the SSE parser, then as messages.

use bytes::Bytes;
use futures::{StreamExt, executor::block_on};
use rmcp::model::{RequestId, ServerJsonRpcMessage};
use sse_stream::{Sse, SseStream};
use url::Url;

use crate::transport::{
    BodyError, cap_sse_events, legacy_discover_event, legacy_discover_reply, resolve_endpoint,
};

/// The legacy transport's cap; fuzz inputs never come near it.
const LARGE: usize = 16 * 1024 * 1024;
/// A cap the inputs do reach.
const SMALL: usize = 64;

/// What a reader gets from a stream: the events up to the first error,
/// and whether there was one (and whether it was the size cap).
#[derive(Debug)]
struct Read {
    events: Vec<Sse>,
    failed: Option<bool>,
}

fn read(chunks: Vec<Bytes>, limit: usize) -> Read {
    let body = futures::stream::iter(chunks.into_iter().map(Ok::<_, crate::net::HttpError>));
    let mut stream = SseStream::from_bytes_stream(cap_sse_events(body, limit)).boxed();
    let mut events = Vec::new();
    let failed = block_on(async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => events.push(event),
                Err(error) => return Some(is_cap(&error)),
            }
        }
        None
    });
    Read { events, failed }
}

fn is_cap(error: &sse_stream::Error) -> bool {
    match error {
        sse_stream::Error::Body(error) => matches!(
            error.downcast_ref::<BodyError>(),
            Some(BodyError::EventTooLarge { .. })
        ),
        _ => false,
    }
}

/// Chunk lengths drawn from the input itself, so that a run is repeatable.
fn uneven(data: &[u8]) -> Vec<Bytes> {
    let mut seed = data.iter().fold(0x9e37_79b9_7f4a_7c15_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let length = usize::try_from(seed % 9).unwrap_or(0) + 1;
        let (chunk, tail) = rest.split_at(length.min(rest.len()));
        chunks.push(Bytes::copy_from_slice(chunk));
        rest = tail;
    }
    chunks
}

fn chunkings(data: &[u8]) -> [Vec<Bytes>; 3] {
    [
        vec![Bytes::copy_from_slice(data)],
        data.chunks(1).map(Bytes::copy_from_slice).collect(),
        uneven(data),
    ]
}

/// The length of each event as the SSE specification delimits them (lines
/// end at CRLF, LF or CR; an empty line ends an event), the unfinished last
/// one included.
fn event_lengths(data: &[u8]) -> Vec<usize> {
    let mut lengths = Vec::new();
    let (mut event, mut line, mut index) = (0, 0, 0);
    while index < data.len() {
        let terminator = match data[index] {
            b'\r' if data.get(index + 1) == Some(&b'\n') => 2,
            b'\r' | b'\n' => 1,
            _ => 0,
        };
        if terminator == 0 {
            line += 1;
            event += 1;
            index += 1;
            continue;
        }
        event += terminator;
        index += terminator;
        if line == 0 {
            lengths.push(event);
            event = 0;
        }
        line = 0;
    }
    lengths.push(event);
    lengths
}

/// A response body as an event stream: however the bytes are split into
/// chunks, a reader gets the same events; the size cap refuses exactly the
/// streams with an event over it; every event is then read the way each
/// transport reads it. The same bytes as a JSON answer, too.
pub fn sse_stream(data: &[u8]) {
    for limit in [LARGE, SMALL] {
        let [whole, bytewise, uneven] = chunkings(data).map(|chunks| read(chunks, limit));
        // Which error comes first may differ (a malformed line, or the cap
        // on an event that holds one), not the events read nor that it fails.
        for (other, how) in [(&bytewise, "one byte at a time"), (&uneven, "unevenly")] {
            assert_eq!(whole.events, other.events, "chunked {how}, cap {limit}");
            assert_eq!(
                whole.failed.is_some(),
                other.failed.is_some(),
                "chunked {how}, cap {limit}: {:?} {:?}",
                whole.failed,
                other.failed
            );
        }

        let longest = event_lengths(data).into_iter().max().unwrap_or(0);
        match whole.failed {
            // The cap counts the LF of a CRLF that ends an event into the
            // next one: one byte of slack either way.
            Some(true) => assert!(longest >= limit, "refused, longest event {longest}"),
            None => assert!(longest <= limit + 1, "accepted an event of {longest} bytes"),
            Some(false) => {}
        }
        if limit == LARGE {
            assert_ne!(whole.failed, Some(true));
            for event in &whole.events {
                as_transports_read(event);
            }
        }
    }

    // Streamable HTTP, `application/json`.
    if let Ok(reply) = serde_json::from_slice::<ServerJsonRpcMessage>(data) {
        let _ = legacy_discover_reply(reply, &RequestId::Number(1));
    }
}

fn as_transports_read(event: &Sse) {
    let data = event.data.as_deref().unwrap_or("");
    // Legacy SSE: the `endpoint` event, then JSON-RPC messages.
    match event.event.as_deref() {
        Some("endpoint") => {
            let stream_url = Url::parse("https://mcp.example.com/sse").expect("a URL");
            if let Ok(endpoint) = resolve_endpoint(&stream_url, data) {
                assert_eq!(endpoint.origin(), stream_url.origin(), "{endpoint}");
            }
        }
        None | Some("message") => {
            let _ = serde_json::from_str::<ServerJsonRpcMessage>(data);
        }
        Some(_) => {}
    }
    // Streamable HTTP: the answer to a `server/discover` probe may be
    // rewritten; only its data changes.
    let rewritten = legacy_discover_event(event.clone(), &RequestId::Number(1));
    assert_eq!(rewritten.event, event.event);
    assert_eq!(rewritten.id, event.id);
    assert_eq!(rewritten.retry, event.retry);
    assert_eq!(rewritten.data.is_some(), event.data.is_some());
}
