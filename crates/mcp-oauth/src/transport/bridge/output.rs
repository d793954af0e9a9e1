//! The host's stdout: one JSON-RPC message per line, each written whole.

use rmcp::model::{ErrorData, RequestId, ServerJsonRpcMessage};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::{Error, Result};

/// Answers the host's request `id` with an error of the proxy's, naming
/// `reason`.
pub(super) async fn reply_error<W: AsyncWrite + Unpin>(
    output: &mut W,
    id: RequestId,
    reason: &str,
) -> Result<()> {
    let error = ErrorData::internal_error(format!("mcp-oauth proxy: {reason}"), None);
    write_line(output, &ServerJsonRpcMessage::error(error, Some(id))).await
}

pub(super) async fn write_line<W: AsyncWrite + Unpin>(
    output: &mut W,
    message: &ServerJsonRpcMessage,
) -> Result<()> {
    let text = serde_json::to_string(message).map_err(|error| Error::Protocol {
        url: "stdio".into(),
        detail: format!("could not encode a message: {error}"),
    })?;
    write_raw(output, &text).await
}

pub(super) async fn write_raw<W: AsyncWrite + Unpin>(output: &mut W, text: &str) -> Result<()> {
    output
        .write_all(text.as_bytes())
        .await
        .map_err(|error| local_error(&error))?;
    output
        .write_all(b"\n")
        .await
        .map_err(|error| local_error(&error))?;
    output.flush().await.map_err(|error| local_error(&error))
}

pub(super) fn local_error(error: &std::io::Error) -> Error {
    Error::Closed {
        url: "stdio".into(),
        detail: error.to_string(),
    }
}
