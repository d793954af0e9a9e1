//! The per-server record of every HTTP request received.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// One HTTP request the server received, and how it was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub http_method: String,
    /// Request path without the query, e.g. `/mcp`.
    pub path: String,
    /// The `Mcp-Session-Id` header (LegacySse: the `sessionId` query parameter).
    pub session_id: Option<String>,
    /// The `MCP-Protocol-Version` header.
    pub protocol_version: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `DPoP` proof header, when the request carried one.
    pub dpop: Option<String>,
    /// JSON-RPC `method` of the body, if it is a request or notification.
    pub rpc_method: Option<String>,
    /// The body was a JSON-RPC response or error (the client answering a server request).
    pub rpc_is_response: bool,
    /// `_meta["io.modelcontextprotocol/protocolVersion"]` of a request body (2026-07-28).
    pub meta_protocol_version: Option<String>,
    /// The SEP-2243 `Mcp-Method` header.
    pub mcp_method: Option<String>,
    /// The SEP-2243 `Mcp-Name` header.
    pub mcp_name: Option<String>,
    /// The SEP-2243 `Mcp-Param-*` headers: names lower-cased, values as sent.
    pub mcp_params: Vec<(String, String)>,
    /// `params.name` (tools, prompts) or `params.uri` (resources) of a
    /// request body.
    pub rpc_target: Option<String>,
    /// `_meta["io.modelcontextprotocol/clientInfo"].name` of a request body
    /// (2026-07-28).
    pub meta_client_name: Option<String>,
    /// HTTP status answered; 0 while unanswered (a stalled request stays 0).
    pub status: u16,
    /// Where the request came from: the client's address, or that of a
    /// relay in front of the server.
    pub peer: Option<std::net::SocketAddr>,
    /// Every header, names in lower case, values as sent (lossy UTF-8).
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

/// The first value of the header `name` in `headers`.
pub(crate) fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The headers of a request, as recorded.
pub(crate) fn all_headers(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// Something whose HTTP status is filled in once it was answered.
pub(crate) trait Answered {
    fn set_status(&mut self, status: u16);
}

impl Answered for RecordedRequest {
    fn set_status(&mut self, status: u16) {
        self.status = status;
    }
}

/// Entries carry a sequence number so a status can be filled in after
/// later requests were logged (or the log was cleared).
#[derive(Debug)]
pub(crate) struct RequestLog<T = RecordedRequest> {
    inner: Mutex<LogInner<T>>,
}

#[derive(Debug)]
struct LogInner<T> {
    next_seq: u64,
    entries: Vec<(u64, T)>,
}

impl<T> Default for RequestLog<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(LogInner {
                next_seq: 0,
                entries: Vec::new(),
            }),
        }
    }
}

impl<T: Answered + Clone> RequestLog<T> {
    /// A test that panicked while holding the lock must not hide the log from the others.
    fn lock(&self) -> MutexGuard<'_, LogInner<T>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, request: T) -> u64 {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.entries.push((seq, request));
        seq
    }

    pub(crate) fn set_status(&self, seq: u64, status: u16) {
        let mut inner = self.lock();
        if let Some((_, entry)) = inner.entries.iter_mut().rev().find(|(s, _)| *s == seq) {
            entry.set_status(status);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        self.lock().entries.iter().map(|(_, r)| r.clone()).collect()
    }

    pub(crate) fn clear(&self) {
        self.lock().entries.clear();
    }
}
