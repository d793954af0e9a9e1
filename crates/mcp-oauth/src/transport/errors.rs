//! rmcp's errors, translated into [`Error`] with the cause a person needs.

use rmcp::{
    ServiceError, service::ClientInitializeError,
    transport::streamable_http_client::StreamableHttpError,
};

use crate::Error;
use crate::net::root_cause;

/// An error from the handshake.
pub(super) fn from_init_error(error: ClientInitializeError, target: &str) -> Error {
    match error {
        ClientInitializeError::JsonRpcError(data) => Error::Server {
            code: data.code.0,
            message: data.message.into_owned(),
            data: data.data,
        },
        // The fallback's error says why the server is unusable; the failed
        // `server/discover` probe before it is expected of older servers.
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => {
            from_init_error(*fallback, target)
        }
        ClientInitializeError::ConnectionClosed(context) => Error::Closed {
            url: target.to_owned(),
            detail: format!("the server closed the connection while waiting for the {context}"),
        },
        ClientInitializeError::TransportError { error, context } => {
            from_chain(error.error.as_ref(), target).unwrap_or_else(|| Error::Protocol {
                url: target.to_owned(),
                detail: format!("{context}: {}", root_cause(error.error.as_ref())),
            })
        }
        ClientInitializeError::NoCompatibleProtocolVersion {
            server_supported, ..
        } => {
            let versions: Vec<String> = server_supported.iter().map(ToString::to_string).collect();
            Error::Protocol {
                url: target.to_owned(),
                detail: format!(
                    "no protocol revision in common; the server supports {}",
                    versions.join(", ")
                ),
            }
        }
        other => Error::Protocol {
            url: target.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// An error from a request after the handshake.
pub(super) fn from_service_error(error: ServiceError, target: &str) -> Error {
    match error {
        ServiceError::McpError(data) => Error::Server {
            code: data.code.0,
            message: data.message.into_owned(),
            data: data.data,
        },
        ServiceError::TransportSend(error) => from_chain(error.error.as_ref(), target)
            .unwrap_or_else(|| Error::Protocol {
                url: target.to_owned(),
                detail: root_cause(error.error.as_ref()),
            }),
        ServiceError::TransportClosed => Error::Closed {
            url: target.to_owned(),
            detail: "the connection ended before the answer arrived".into(),
        },
        ServiceError::Timeout { timeout } => Error::Timeout {
            url: target.to_owned(),
            after: timeout,
        },
        ServiceError::UnexpectedResponse => Error::Protocol {
            url: target.to_owned(),
            detail: "the server answered with a result of the wrong kind".into(),
        },
        other => Error::Protocol {
            url: target.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// Finds our own [`Error`] (put there by our HTTP clients) in an error chain,
/// or explains the rmcp transport error that stands in its place.
fn from_chain(error: &(dyn std::error::Error + 'static), target: &str) -> Option<Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(ours) = error.downcast_ref::<Error>() {
            return Some(ours.clone());
        }
        if let Some(http) = error.downcast_ref::<StreamableHttpError<Error>>() {
            return Some(from_streamable(http, target));
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(Error::Closed {
                url: target.to_owned(),
                detail: io.to_string(),
            });
        }
        current = error.source();
    }
    None
}

fn from_streamable(error: &StreamableHttpError<Error>, target: &str) -> Error {
    let protocol = |detail: String| Error::Protocol {
        url: target.to_owned(),
        detail,
    };
    match error {
        StreamableHttpError::Client(ours) => ours.clone(),
        StreamableHttpError::AuthRequired(challenge) => Error::Unauthorized {
            url: target.to_owned(),
            status: 401,
            www_authenticate: Some(challenge.www_authenticate_header.clone())
                .filter(|header| !header.is_empty()),
        },
        StreamableHttpError::InsufficientScope(challenge) => Error::Unauthorized {
            url: target.to_owned(),
            status: 403,
            www_authenticate: Some(challenge.www_authenticate_header.clone())
                .filter(|header| !header.is_empty()),
        },
        StreamableHttpError::HttpStatus(status) => Error::HttpStatus {
            url: target.to_owned(),
            status: status.status,
            body: String::new(),
        },
        StreamableHttpError::Deserialize(error) => protocol(format!(
            "the server sent a message that is not valid JSON-RPC: {error}"
        )),
        StreamableHttpError::Sse(error) => {
            protocol(format!("the event stream is malformed: {error}"))
        }
        StreamableHttpError::UnexpectedEndOfStream => {
            protocol("the event stream ended before the answer arrived".into())
        }
        StreamableHttpError::UnexpectedServerResponse(what) => {
            protocol(format!("unexpected answer: {what}"))
        }
        StreamableHttpError::MissingSessionIdInResponse => {
            protocol("the server started no session (no Mcp-Session-Id header)".into())
        }
        StreamableHttpError::SessionExpired => {
            protocol("the session expired and could not be renewed".into())
        }
        other => protocol(other.to_string()),
    }
}
