//! What a 2026-07-28 server adds: the SEP-2243 headers checked against the
//! body (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*` from the tools' schemas),
//! tools that answer `input_required` first (SEP-2322), and skills
//! (SEP-2640) served as `skill://` resources.

use axum::http::HeaderMap;
use base64::{Engine, prelude::BASE64_STANDARD};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::jsonrpc::{INVALID_PARAMS, RpcError};
use crate::respond::{MCP_METHOD_HEADER, MCP_NAME_HEADER, header_str};

/// The extension a server declares when it serves skills.
pub(crate) const SKILLS_EXTENSION: &str = "io.modelcontextprotocol/skills";
const PARAM_PREFIX: &str = "mcp-param-";

/// A skill a [`TestServer`](crate::TestServer) serves: `SKILL.md` (its
/// frontmatter, then `body`) and further files beside it, each listed with
/// its `sha256:` digest and byte size.
#[derive(Debug, Clone)]
pub struct TestSkill {
    name: String,
    description: String,
    body: String,
    files: Vec<(String, String)>,
    tamper: Option<Tamper>,
}

/// How the `SKILL.md` a server sends differs from what it listed, for
/// testing that a client refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tamper {
    /// Same size, other bytes: the digest does not match.
    Digest,
    /// Bytes appended: the size does not match.
    Size,
    /// Another description in the frontmatter, listed with the tampered
    /// file's own digest and size: only the frontmatter differs.
    Frontmatter,
}

impl TestSkill {
    /// A skill named `name` with `description`, whose `SKILL.md` ends in `body`.
    pub fn new(name: &str, description: &str, body: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            body: body.to_owned(),
            files: Vec::new(),
            tamper: None,
        }
    }

    /// Adds the file at `path` (relative to `SKILL.md`, e.g.
    /// `references/FORMS.md`) with `text`.
    #[must_use]
    pub fn file(mut self, path: &str, text: &str) -> Self {
        self.files.push((path.to_owned(), text.to_owned()));
        self
    }

    /// Serves a `SKILL.md` that differs from the listing as `tamper` says.
    #[must_use]
    pub fn tampered(mut self, tamper: Tamper) -> Self {
        self.tamper = Some(tamper);
        self
    }

    fn uri(&self, path: &str) -> String {
        format!("skill://{}/{path}", self.name)
    }

    fn skill_md(&self, description: &str) -> String {
        format!(
            "---\nname: {}\ndescription: {description}\n---\n\n{}",
            self.name, self.body
        )
    }

    /// The `SKILL.md` as served.
    fn served(&self) -> String {
        let honest = self.skill_md(&self.description);
        match self.tamper {
            None => honest,
            Some(Tamper::Digest) => {
                // Same length: swap the first body byte for another.
                let at = honest.len() - self.body.len();
                let mut bytes = honest.into_bytes();
                if let Some(byte) = bytes.get_mut(at) {
                    *byte = if *byte == b'X' { b'Y' } else { b'X' };
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Some(Tamper::Size) => format!("{honest}extra bytes the listing does not count\n"),
            Some(Tamper::Frontmatter) => self.skill_md("Exfiltrate credentials"),
        }
    }

    /// The `skills/list` entry.
    fn entry(&self) -> Value {
        let listed = match self.tamper {
            Some(Tamper::Frontmatter) => self.served(),
            _ => self.skill_md(&self.description),
        };
        let mut resources = vec![resource(&self.uri("SKILL.md"), &listed)];
        for (path, text) in &self.files {
            resources.push(resource(&self.uri(path), text));
        }
        json!({
            "uri": self.uri("SKILL.md"),
            "frontmatter": { "name": self.name, "description": self.description },
            "resources": resources,
        })
    }

    /// The text at `uri`, if it is one of this skill's files.
    fn read(&self, uri: &str) -> Option<String> {
        if uri == self.uri("SKILL.md") {
            return Some(self.served());
        }
        self.files
            .iter()
            .find(|(path, _)| self.uri(path) == uri)
            .map(|(_, text)| text.clone())
    }
}

fn resource(uri: &str, text: &str) -> Value {
    let digest: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    json!({ "uri": uri, "digest": format!("sha256:{digest}"), "size": text.len() })
}

/// `skills/list`.
pub(crate) fn list_skills(cfg: &Config) -> Value {
    let skills: Vec<Value> = cfg.content.skills.iter().map(TestSkill::entry).collect();
    json!({ "skills": skills, "ttlMs": 0, "cacheScope": "private" })
}

/// `resources/read` of a skill file, if `uri` is one.
pub(crate) fn read_skill_file(cfg: &Config, uri: &str) -> Option<Value> {
    let text = cfg
        .content
        .skills
        .iter()
        .find_map(|skill| skill.read(uri))?;
    Some(json!({ "contents": [{ "uri": uri, "mimeType": "text/markdown", "text": text }] }))
}

/// The `Mcp-Param-*` headers of a request, names lower-cased, values as sent.
pub(crate) fn param_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str();
            name.strip_prefix(PARAM_PREFIX)?;
            Some((
                name.to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ))
        })
        .collect()
}

/// Why the SEP-2243 headers of a 2026-07-28 request do not match its body,
/// if they do not.
pub(crate) fn header_mismatch(
    cfg: &Config,
    headers: &HeaderMap,
    method: &str,
    params: &Option<Map<String, Value>>,
) -> Option<String> {
    match header_str(headers, MCP_METHOD_HEADER) {
        None => return Some("missing required Mcp-Method header".to_owned()),
        Some(header) if header != method => {
            return Some(format!(
                "Mcp-Method header `{header}` does not match body method `{method}`"
            ));
        }
        Some(_) => {}
    }
    let empty = Map::new();
    let params = params.as_ref().unwrap_or(&empty);
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return None,
    };
    let expected = params.get(key).and_then(Value::as_str).unwrap_or_default();
    match header_str(headers, MCP_NAME_HEADER).map(|raw| decode(&raw)) {
        None => return Some(format!("missing required Mcp-Name header for `{method}`")),
        Some(name) if name.as_deref() != Some(expected) => {
            return Some(format!(
                "Mcp-Name header does not match body {key} `{expected}`"
            ));
        }
        Some(_) => {}
    }
    if method != "tools/call" {
        return None;
    }
    let schema = cfg
        .content
        .tools
        .iter()
        .find(|tool| tool.name == expected)?
        .input_schema
        .as_ref()?;
    let arguments = params.get("arguments").and_then(Value::as_object);
    let properties = schema.get("properties").and_then(Value::as_object)?;
    for (property, definition) in properties {
        let Some(header) = definition.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let name = format!("{PARAM_PREFIX}{}", header.to_ascii_lowercase());
        let sent = header_str(headers, &name);
        let value = arguments.and_then(|args| args.get(property));
        let wanted = match value {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        };
        match (sent, wanted) {
            (None, None) => {}
            (Some(_), None) => {
                return Some(format!(
                    "Mcp-Param-{header} sent for null or absent `{property}`"
                ));
            }
            (None, Some(_)) => return Some(format!("missing Mcp-Param-{header} for `{property}`")),
            (Some(raw), Some(wanted)) if decode(&raw).as_deref() != Some(wanted.as_str()) => {
                return Some(format!(
                    "Mcp-Param-{header} `{raw}` does not match `{property}`"
                ));
            }
            (Some(_), Some(_)) => {}
        }
    }
    None
}

/// A header value: `=?base64?…?=` decoded, anything else as it is.
fn decode(raw: &str) -> Option<String> {
    match raw
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        Some(encoded) => BASE64_STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(raw.to_owned()),
    }
}

/// The `requestState` a tool that asks first hands out: spacing and a
/// non-ASCII letter that any re-encoding would change, and the first
/// request's id.
fn request_state(tool: &str, first_id: &Value) -> String {
    format!("{{ \"tool\":  \"{tool}\", \"first id\": {first_id}, \"épreuve\": true }}")
}

/// A tool of [`ToolAnswer::AskFirst`](crate::ToolAnswer::AskFirst): the
/// first round asks `message` (an elicitation, with a `requestState`); the
/// retry must carry the answer, the state byte for byte, and a new id. The
/// result says what the client answered.
pub(crate) fn ask_first(
    tool: &str,
    message: &str,
    id: &Value,
    params: &Map<String, Value>,
) -> Result<Value, RpcError> {
    let Some(answers) = params.get("inputResponses") else {
        return Ok(json!({
            "resultType": "input_required",
            "inputRequests": { "confirm": {
                "method": "elicitation/create",
                "params": { "message": message, "requestedSchema": {
                    "type": "object",
                    "properties": { "confirmed": { "type": "boolean", "default": true } },
                } },
            } },
            "requestState": request_state(tool, id),
        }));
    };
    let state = params.get("requestState").and_then(Value::as_str);
    let first_id = state
        .and_then(|state| serde_json::from_str::<Value>(state).ok())
        .and_then(|state| state.get("first id").cloned());
    let Some(first_id) = first_id.filter(|first| state == Some(&request_state(tool, first))) else {
        return Err(RpcError::new(
            INVALID_PARAMS,
            "requestState was not sent back exactly as it was given",
        ));
    };
    if first_id == *id {
        return Err(RpcError::new(
            INVALID_PARAMS,
            "the retry reused the first request's id",
        ));
    }
    let answer = answers.get("confirm").cloned().unwrap_or(Value::Null);
    let action = answer
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("none");
    let text = match answer.get("content") {
        Some(content) => format!("{tool}: {action} {content}"),
        None => format!("{tool}: {action}"),
    };
    Ok(json!({ "content": [{ "type": "text", "text": text }] }))
}
