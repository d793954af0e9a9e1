//! The same server over stdin/stdout, one JSON-RPC message per line, for
//! clients that start MCP servers as child processes.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::{ALL_VERSIONS, Config, Content, ResponseStyle, ServerMode, is_modern};
use crate::jsonrpc::{Body, Incoming, RpcError, meta_protocol_version, success};
use crate::methods::{
    assumed_legacy_version, discover_result, dispatch, initialize_result, negotiate,
};

/// Serves MCP on `input`/`output` until `input` ends. `versions` are the
/// revisions to implement (all known ones when empty).
pub async fn serve_stdio<R, W>(input: R, mut output: W, versions: &[&str]) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let chosen: &[&str] = if versions.is_empty() {
        &ALL_VERSIONS
    } else {
        versions
    };
    let mut versions: Vec<String> = chosen.iter().map(|v| (*v).to_owned()).collect();
    versions.sort();
    let cfg = Config {
        mode: ServerMode::Stateless,
        style: ResponseStyle::Json,
        versions,
        page_size: None,
        faults: Vec::new(),
        bearer: None,
        legacy_probe_status: None,
        content: Content::default(),
    };
    let mut negotiated: Option<String> = None;
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match Body::parse(line.as_bytes()) {
            Body::Message(Incoming::Request { id, method, params }) => {
                let answer = match method.as_str() {
                    "initialize" => negotiate(&cfg, &params).map(|version| {
                        let result = initialize_result(&cfg, &version);
                        negotiated = Some(version);
                        result
                    }),
                    "server/discover" if cfg.supports_modern() => Ok(discover_result(&cfg)),
                    "server/discover" => Err(RpcError::method_not_found()),
                    _ => {
                        let version = meta_protocol_version(&params)
                            .filter(|version| is_modern(version))
                            .or_else(|| negotiated.clone())
                            .unwrap_or_else(|| assumed_legacy_version(&cfg));
                        dispatch(&cfg, &version, &method, &params)
                    }
                };
                Some(match answer {
                    Ok(result) => success(&id, result),
                    Err(error) => error.to_message(Some(&id)),
                })
            }
            Body::Message(_) => None,
            Body::ParseError => Some(RpcError::new(-32700, "Parse error").to_message(None)),
            Body::Invalid(id) => {
                Some(RpcError::new(-32600, "Invalid Request").to_message(id.as_ref()))
            }
            Body::Batch => {
                Some(RpcError::new(-32600, "Batches are not supported").to_message(None))
            }
        };
        if let Some(reply) = reply {
            let mut text = reply.to_string();
            text.push('\n');
            output.write_all(text.as_bytes()).await?;
            output.flush().await?;
        }
    }
    Ok(())
}
