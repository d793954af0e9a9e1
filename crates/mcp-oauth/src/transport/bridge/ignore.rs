//! Tools the host never sees (`mcp-oauth proxy --ignore-tool`, as
//! mcp-remote has it): left out of every `tools/list` answer, and a call to
//! one refused with a JSON-RPC error instead of reaching the server.

use std::{collections::HashSet, sync::Arc};

use rmcp::model::{ClientJsonRpcMessage, ErrorCode, ErrorData, RequestId, ServerJsonRpcMessage};
use serde_json::Value;

/// The names (globs: `*` any run of characters, `?` one) of the tools to
/// hide, and the host's `tools/list` requests whose answers are filtered.
#[derive(Debug, Clone, Default)]
pub(super) struct IgnoredTools {
    globs: Arc<[String]>,
    listing: HashSet<RequestId>,
}

impl IgnoredTools {
    pub(super) fn add(&mut self, glob: String) {
        let mut globs = self.globs.to_vec();
        globs.push(glob);
        self.globs = globs.into();
    }

    fn hides(&self, name: &str) -> bool {
        self.globs
            .iter()
            .any(|glob| matches(glob.as_bytes(), name.as_bytes()))
    }

    /// Looks at a host's message on its way: notes a `tools/list` request,
    /// and returns the refusal of a call to a hidden tool (which then must
    /// not be sent).
    pub(super) fn refusal(
        &mut self,
        message: &ClientJsonRpcMessage,
    ) -> Option<ServerJsonRpcMessage> {
        if self.globs.is_empty() {
            return None;
        }
        let ClientJsonRpcMessage::Request(request) = message else {
            return None;
        };
        let value = serde_json::to_value(message).ok()?;
        match value.get("method").and_then(Value::as_str) {
            Some("tools/list") => {
                self.listing.insert(request.id.clone());
                None
            }
            Some("tools/call") => {
                let name = value.pointer("/params/name").and_then(Value::as_str)?;
                self.hides(name).then(|| {
                    let error = ErrorData::new(
                        ErrorCode::INVALID_PARAMS,
                        format!("the tool {name} is not available: this proxy hides it"),
                        None,
                    );
                    ServerJsonRpcMessage::error(error, Some(request.id.clone()))
                })
            }
            _ => None,
        }
    }

    /// A server's message on its way to the host: an answer to a
    /// `tools/list` request without the hidden tools.
    pub(super) fn filter(&mut self, message: ServerJsonRpcMessage) -> ServerJsonRpcMessage {
        let ServerJsonRpcMessage::Response(response) = &message else {
            return message;
        };
        if !self.listing.remove(&response.id) {
            return message;
        }
        let Ok(mut value) = serde_json::to_value(&message) else {
            return message;
        };
        let Some(Value::Array(tools)) = value.pointer_mut("/result/tools") else {
            return message;
        };
        let before = tools.len();
        tools.retain(|tool| {
            !tool
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| self.hides(n))
        });
        if tools.len() == before {
            return message;
        }
        tracing::debug!(hidden = before - tools.len(), "tools hidden from the host");
        serde_json::from_value(value).unwrap_or(message)
    }
}

/// Whether `name` matches `glob` (`*`: any run, `?`: any one character).
fn matches(glob: &[u8], name: &[u8]) -> bool {
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g, n));
                g += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                g += 1;
                n += 1;
            }
            _ => match star {
                Some((star_g, star_n)) => {
                    g = star_g + 1;
                    n = star_n + 1;
                    star = Some((star_g, star_n + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        for (glob, name, expected) in [
            ("delete_*", "delete_file", true),
            ("delete_*", "undelete_file", false),
            ("*file*", "read_file_now", true),
            ("echo", "echo", true),
            ("echo", "echo2", false),
            ("ec?o", "echo", true),
            ("*", "", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(
                matches(glob.as_bytes(), name.as_bytes()),
                expected,
                "{glob} {name}"
            );
        }
    }
}
