//! Server configuration: the public knobs and the version rules derived from them.

/// Protocol revision from which `initialize` is gone and each request carries `_meta`.
pub(crate) const MODERN: &str = "2026-07-28";

/// Every revision the testkit knows, oldest first.
pub(crate) const ALL_VERSIONS: [&str; 5] = [
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    MODERN,
];

/// Default for [`ServerMode::LegacySse`]: the revisions that still had the HTTP+SSE transport.
pub(crate) const LEGACY_SSE_VERSIONS: [&str; 2] = ["2024-11-05", "2025-03-26"];

/// Revision strings are dates, so plain string order is chronological.
pub(crate) fn is_modern(version: &str) -> bool {
    version >= MODERN
}

/// Which transport and lifecycle the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ServerMode {
    /// Streamable HTTP with `initialize` and `Mcp-Session-Id` (2025-03-26 .. 2025-11-25);
    /// also answers `server/discover` statelessly when 2026-07-28 is configured.
    #[default]
    Stateful,
    /// Streamable HTTP without sessions (2026-07-28 `server/discover` and per-request `_meta`).
    Stateless,
    /// The 2024-11-05 HTTP+SSE transport: `GET /sse` plus `POST /messages?sessionId=..`.
    LegacySse,
}

/// How POST responses to requests are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseStyle {
    /// One `application/json` body.
    #[default]
    Json,
    /// A `text/event-stream` carrying the response as one `message` event.
    Sse,
}

/// A misbehaviour to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Every POST and GET answers 200 `text/html`.
    HtmlPage,
    /// POSTs answer 200 `application/json` with a body that is not JSON
    /// (LegacySse: the `message` events carry it instead).
    GarbageJson,
    /// POSTs answer 200 `application/json` with `{"hello":"world"}`
    /// (LegacySse: the `message` events carry it instead).
    NotJsonRpc,
    /// Every request is read and never answered (until the server stops).
    Stall,
    /// Stateful: a session is forgotten after it has served this many JSON-RPC
    /// requests; the next request carrying it gets 404.
    ExpireSessionAfter(usize),
    /// `tools/call` (Stateful + Sse, LegacySse) first sends a server-to-client
    /// `ping` and answers only after the client's response arrives (5 s limit).
    ServerPing,
    /// `tools/call` first sends `notifications/message` (and
    /// `notifications/progress` when the request carries a `progressToken`),
    /// then its result. They go on the call's own SSE response (Stateful +
    /// Sse), on the session's GET stream (Stateful + Json; queued until the
    /// client opens it), or on the stream of a LegacySse session.
    NotifyDuringCall,
    /// The first request is refused with HTTP 400 and JSON-RPC -32022
    /// (unsupported protocol version), its `data.supported` listing the
    /// configured revisions, whatever revision it asked for; later requests
    /// are served. A 2026-07-28 client retries once with a listed revision.
    UnsupportedVersionOnce,
    /// `tools/call` (Stateful, LegacySse) is answered only once
    /// [`TestServer::release_tool_calls`](crate::TestServer::release_tool_calls)
    /// was called. A server that stops first answers the held calls 503
    /// (LegacySse: not at all; the stream ends).
    HoldToolCalls,
}

/// What a tool added with
/// [`TestServerBuilder::tool`](crate::TestServerBuilder::tool) answers
/// every call with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolAnswer {
    /// A result with this one text content.
    Text(String),
    /// A JSON-RPC error (-32603) with this message.
    RpcError(String),
    /// 2026-07-28 only: the first call is answered `input_required`,
    /// asking this message (an elicitation of `{confirmed: boolean}`) with a
    /// `requestState`; the retry must carry the answer, the state byte for
    /// byte, and a new JSON-RPC id, and gets `"<tool>: <action> <content>"`
    /// back (a JSON-RPC error -32602 otherwise).
    AskFirst(String),
}

/// A tool beyond the built-in ones.
#[derive(Debug, Clone)]
pub(crate) struct ExtraTool {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) answer: ToolAnswer,
    /// The `inputSchema`; `None`: an object with no properties.
    pub(crate) input_schema: Option<serde_json::Value>,
}

/// What the server says about itself and its tools, where a test may want
/// other words (a hostile server's, say) than the defaults.
#[derive(Debug, Clone, Default)]
pub(crate) struct Content {
    /// The `serverInfo` object; `None`: the testkit's name and version.
    pub(crate) server_info: Option<serde_json::Value>,
    /// `instructions` in the `initialize` result.
    pub(crate) instructions: Option<String>,
    /// Listed after the built-in tools.
    pub(crate) tools: Vec<ExtraTool>,
    /// Skills served (2026-07-28 requests only), with the skills extension
    /// declared.
    pub(crate) skills: Vec<crate::modern::TestSkill>,
}

/// The immutable configuration one server runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) mode: ServerMode,
    pub(crate) style: ResponseStyle,
    /// Supported revisions, sorted oldest first.
    pub(crate) versions: Vec<String>,
    pub(crate) page_size: Option<usize>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) bearer: Option<String>,
    /// A legacy server's answer to a POST to its stream URL; `None`: 405.
    pub(crate) legacy_probe_status: Option<u16>,
    pub(crate) content: Content,
}

impl Config {
    pub(crate) fn supports(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    pub(crate) fn supports_modern(&self) -> bool {
        self.supports(MODERN)
    }

    /// Whether some configured revision still has `initialize`.
    pub(crate) fn has_legacy(&self) -> bool {
        self.versions.iter().any(|v| !is_modern(v))
    }

    pub(crate) fn has_fault(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }

    pub(crate) fn expire_after(&self) -> Option<usize> {
        self.faults.iter().find_map(|f| match f {
            Fault::ExpireSessionAfter(n) => Some(*n),
            _ => None,
        })
    }

    /// The revision `initialize` answers with: the client's if supported,
    /// else the newest supported one that has `initialize`.
    pub(crate) fn negotiate_initialize(&self, requested: &str) -> Option<String> {
        if self.supports(requested) && !is_modern(requested) {
            return Some(requested.to_owned());
        }
        self.versions.iter().rev().find(|v| !is_modern(v)).cloned()
    }
}
