//! JSON-RPC 2.0 framing: classifying incoming bodies and building replies.

use serde_json::{Map, Value, json};

/// `_meta` key carrying the request's protocol revision (2026-07-28).
pub(crate) const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

pub(crate) const PARSE_ERROR: i64 = -32700;
pub(crate) const INVALID_REQUEST: i64 = -32600;
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
pub(crate) const INVALID_PARAMS: i64 = -32602;
pub(crate) const INTERNAL_ERROR: i64 = -32603;
pub(crate) const RESOURCE_NOT_FOUND: i64 = -32002;
pub(crate) const HEADER_MISMATCH: i64 = -32020;
pub(crate) const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// A well-formed JSON-RPC message from the client.
#[derive(Debug, Clone)]
pub(crate) enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Option<Map<String, Value>>,
    },
    Notification {
        method: String,
    },
    /// A result or error answering one of our requests.
    Response {
        id: Value,
    },
}

/// What a POST body turned out to be.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Message(Incoming),
    /// Not JSON at all.
    ParseError,
    /// JSON, but no single JSON-RPC message; carries the id if one was readable.
    Invalid(Option<Value>),
    /// A JSON array (batching was dropped in 2025-06-18; not supported here).
    Batch,
}

impl Body {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            return Self::ParseError;
        };
        match value {
            Value::Array(_) => Self::Batch,
            Value::Object(obj) => Self::classify(obj),
            _ => Self::Invalid(None),
        }
    }

    fn classify(mut obj: Map<String, Value>) -> Self {
        let id = obj.remove("id");
        let valid_id = id
            .as_ref()
            .is_some_and(|id| id.is_string() || id.is_number());
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Self::Invalid(id.filter(|_| valid_id));
        }
        match obj.remove("method") {
            Some(Value::String(method)) => {
                let params = match obj.remove("params") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(params)) => Some(params),
                    Some(_) => return Self::Invalid(id.filter(|_| valid_id)),
                };
                match id {
                    None => Self::Message(Incoming::Notification { method }),
                    Some(id) if valid_id => Self::Message(Incoming::Request { id, method, params }),
                    Some(_) => Self::Invalid(None),
                }
            }
            Some(_) => Self::Invalid(id.filter(|_| valid_id)),
            None if obj.contains_key("result") || obj.contains_key("error") => match id {
                Some(id) => Self::Message(Incoming::Response { id }),
                None => Self::Invalid(None),
            },
            None => Self::Invalid(id.filter(|_| valid_id)),
        }
    }

    /// The body's `method`, for the request log.
    pub(crate) fn method(&self) -> Option<&str> {
        match self {
            Self::Message(Incoming::Request { method, .. } | Incoming::Notification { method }) => {
                Some(method)
            }
            _ => None,
        }
    }

    pub(crate) fn is_response(&self) -> bool {
        matches!(self, Self::Message(Incoming::Response { .. }))
    }

    /// `params.name`, else `params.uri`, of a request, for the request log.
    pub(crate) fn target(&self) -> Option<String> {
        let Self::Message(Incoming::Request { params, .. }) = self else {
            return None;
        };
        let params = params.as_ref()?;
        params
            .get("name")
            .or_else(|| params.get("uri"))?
            .as_str()
            .map(str::to_owned)
    }

    /// The client's name in the request's `_meta`, for the request log.
    pub(crate) fn meta_client_name(&self) -> Option<String> {
        let Self::Message(Incoming::Request { params, .. }) = self else {
            return None;
        };
        params
            .as_ref()?
            .get("_meta")?
            .get("io.modelcontextprotocol/clientInfo")?
            .get("name")?
            .as_str()
            .map(str::to_owned)
    }

    /// The body's `_meta` protocol version, for the request log.
    pub(crate) fn meta_protocol_version(&self) -> Option<String> {
        match self {
            Self::Message(Incoming::Request { params, .. }) => meta_protocol_version(params),
            _ => None,
        }
    }
}

/// `params._meta["io.modelcontextprotocol/protocolVersion"]`, if it is a string.
pub(crate) fn meta_protocol_version(params: &Option<Map<String, Value>>) -> Option<String> {
    params
        .as_ref()?
        .get("_meta")?
        .get(META_PROTOCOL_VERSION)?
        .as_str()
        .map(str::to_owned)
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) data: Option<Value>,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub(crate) fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    pub(crate) fn method_not_found() -> Self {
        Self::new(METHOD_NOT_FOUND, "Method not found")
    }

    pub(crate) fn unsupported_version(requested: &str, supported: &[String]) -> Self {
        Self::new(UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version")
            .with_data(json!({ "requested": requested, "supported": supported }))
    }

    /// The full error message; `id` is `null` when the request's id was unreadable.
    pub(crate) fn to_message(&self, id: Option<&Value>) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let (Some(data), Some(obj)) = (&self.data, error.as_object_mut()) {
            obj.insert("data".to_owned(), data.clone());
        }
        json!({ "jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error })
    }
}

pub(crate) fn success(id: &Value, result: Value) -> Value {
    let mut message = Map::new();
    message.insert("jsonrpc".to_owned(), json!("2.0"));
    message.insert("id".to_owned(), id.clone());
    message.insert("result".to_owned(), result);
    Value::Object(message)
}

/// A server-to-client request.
pub(crate) fn request(id: &Value, method: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_bodies() {
        let parse = |s: &str| Body::parse(s.as_bytes());
        assert!(matches!(parse("{not json"), Body::ParseError));
        assert!(matches!(parse("[]"), Body::Batch));
        assert!(matches!(parse(r#"{"hello":"world"}"#), Body::Invalid(None)));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Body::Message(Incoming::Request { .. })
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Body::Message(Incoming::Notification { .. })
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":"x","result":{}}"#),
            Body::Message(Incoming::Response { .. })
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":7,"method":"x","params":3}"#),
            Body::Invalid(Some(_))
        ));
    }

    #[test]
    fn error_message_shape() {
        let err = RpcError::method_not_found().to_message(Some(&json!(3)));
        assert_eq!(
            err,
            json!({"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}})
        );
    }
}
