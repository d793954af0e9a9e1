//! Tools whose `x-mcp-header` annotations are unusable (2026-07-28, SEP-2243).
//!
//! A tool's input schema may name parameters to mirror into `Mcp-Param-<X>`
//! headers. rmcp builds those headers from the schemas of the listed tools;
//! a tool whose annotations break the rules would get headers no server can
//! check, so it is taken out of every `tools/list` answer before rmcp sees
//! it, with a debug log saying why, and remembered: calling it fails here,
//! with that reason, instead of at the server.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use http::{HeaderName, HeaderValue};
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, JsonObject, ServerJsonRpcMessage, ServerResult,
};
use serde_json::Value;
use sse_stream::Sse;

/// The keyword that names a parameter's header.
const ANNOTATION: &str = "x-mcp-header";

/// The tools left out of the listings of one connection, by name, with the
/// reason. Shared between the HTTP client, which screens the listings, and
/// the connection, which refuses to call them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RefusedTools(Arc<Mutex<HashMap<String, String>>>);

impl RefusedTools {
    /// Why the tool `name` was left out of a listing, if it was.
    pub(crate) fn reason(&self, name: &str) -> Option<String> {
        self.lock().get(name).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `reply` without the tools whose annotations are invalid, when it is
    /// a `tools/list` result.
    pub(crate) fn screen_reply(&self, mut reply: ServerJsonRpcMessage) -> ServerJsonRpcMessage {
        if let ServerJsonRpcMessage::Response(response) = &mut reply
            && let ServerResult::ListToolsResult(list) = &mut response.result
        {
            let mut refused = self.lock();
            list.tools
                .retain(|tool| match check_annotations(&tool.input_schema) {
                    Ok(()) => {
                        refused.remove(tool.name.as_ref());
                        true
                    }
                    Err(reason) => {
                        tracing::debug!(tool = %tool.name, %reason, "tool left out: its x-mcp-header annotations are invalid");
                        refused.insert(tool.name.to_string(), reason);
                        false
                    }
                });
        }
        reply
    }

    /// [`Self::screen_reply`] for a reply that came as an event.
    pub(crate) fn screen_event(&self, mut event: Sse) -> Sse {
        let Some(data) = event.data.as_deref() else {
            return event;
        };
        let Ok(reply) = serde_json::from_str::<ServerJsonRpcMessage>(data) else {
            return event;
        };
        if let Ok(text) = serde_json::to_string(&self.screen_reply(reply)) {
            event.data = Some(text);
        }
        event
    }
}

/// Whether the answer to `message` is a listing of tools to screen for
/// invalid header annotations: a `tools/list` sent at 2026-07-28 or later
/// (the revision rides in the version header rmcp sets).
pub(super) fn screens(
    message: &ClientJsonRpcMessage,
    headers: &HashMap<HeaderName, HeaderValue>,
) -> bool {
    let listing = matches!(message, ClientJsonRpcMessage::Request(request)
        if matches!(request.request, ClientRequest::ListToolsRequest(_)));
    listing
        && headers
            .get(&HeaderName::from_static("mcp-protocol-version"))
            .and_then(|value| value.to_str().ok())
            .is_some_and(|version| version >= super::STANDARD_HEADERS)
}

/// Checks the `x-mcp-header` annotations of an input schema: each sits on a
/// property reached from the top through `properties` alone, whose type is
/// a string, an integer or a boolean; each is a non-empty HTTP token (no
/// space, colon, non-ASCII or control character); no two are equal
/// ignoring case.
pub(crate) fn check_annotations(schema: &JsonObject) -> Result<(), String> {
    let mut seen: Vec<String> = Vec::new();
    walk(schema, "", &mut seen)
}

/// Checks the properties of `schema`, whose own path is `path` ("" at the top).
fn walk(schema: &JsonObject, path: &str, seen: &mut Vec<String>) -> Result<(), String> {
    for (key, value) in schema {
        match key.as_str() {
            ANNOTATION if path.is_empty() => {
                return Err(format!(
                    "{ANNOTATION} on the schema itself, not on a property"
                ));
            }
            ANNOTATION => {}
            "properties" => {
                let Value::Object(properties) = value else {
                    continue;
                };
                for (name, definition) in properties {
                    let Value::Object(definition) = definition else {
                        continue;
                    };
                    let property = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    if let Some(header) = definition.get(ANNOTATION) {
                        check_one(&property, header, definition, seen)?;
                    }
                    walk(definition, &property, seen)?;
                }
            }
            // Instance data, not schemas.
            "default" | "const" | "enum" | "examples" => {}
            _ if nested_annotation(value) => {
                let place = if path.is_empty() { "the schema" } else { path };
                return Err(format!(
                    "{ANNOTATION} under {key:?} of {place}, off the properties where headers come from"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_one(
    property: &str,
    header: &Value,
    definition: &JsonObject,
    seen: &mut Vec<String>,
) -> Result<(), String> {
    let Value::String(header) = header else {
        return Err(format!(
            "property {property:?}: {ANNOTATION} is not a string"
        ));
    };
    if header.is_empty() {
        return Err(format!("property {property:?}: {ANNOTATION} is empty"));
    }
    if let Some(bad) = header.chars().find(|c| !is_token_char(*c)) {
        return Err(format!(
            "property {property:?}: {ANNOTATION} {header:?} holds {bad:?}, which a header name cannot"
        ));
    }
    let kind = definition.get("type").and_then(Value::as_str);
    if !matches!(kind, Some("string" | "integer" | "boolean")) {
        return Err(format!(
            "property {property:?}: {ANNOTATION} on a property of type {}, not a string, integer or boolean",
            kind.unwrap_or("(none)")
        ));
    }
    let folded = header.to_ascii_lowercase();
    if seen.contains(&folded) {
        return Err(format!(
            "property {property:?}: {ANNOTATION} {header:?} is given twice (ignoring case)"
        ));
    }
    seen.push(folded);
    Ok(())
}

/// Whether an annotation hides anywhere below `value`.
fn nested_annotation(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key == ANNOTATION || nested_annotation(value)),
        Value::Array(items) => items.iter().any(nested_annotation),
        _ => false,
    }
}

/// RFC 9110 `tchar`.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema(properties: Value) -> JsonObject {
        let mut schema = JsonObject::new();
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), properties);
        schema
    }

    fn refused(properties: Value) -> String {
        check_annotations(&schema(properties)).unwrap_err()
    }

    #[test]
    fn valid_annotations_pass() {
        let ok = schema(json!({
            "region": { "type": "string", "x-mcp-header": "Region" },
            "priority": { "type": "integer", "x-mcp-header": "Priority" },
            "verbose": { "type": "boolean", "x-mcp-header": "Verbose" },
            "query": { "type": "string" },
        }));
        assert_eq!(check_annotations(&ok), Ok(()));
    }

    #[test]
    fn each_broken_rule_is_named() {
        let s = |header: &str| json!({ "v": { "type": "string", "x-mcp-header": header } });
        assert!(refused(s("")).contains("is empty"));
        assert!(refused(s("My Region")).contains("' '"));
        assert!(refused(s("Region:Primary")).contains("':'"));
        assert!(refused(s("Région")).contains("'é'"));
        assert!(refused(s("Region\t1")).contains("'\\t'"));
        let object = json!({ "d": { "type": "object", "x-mcp-header": "Data" } });
        assert!(refused(object).contains("type object"));
        let number = json!({ "n": { "type": "number", "x-mcp-header": "Score" } });
        assert!(refused(number).contains("type number"));
        let twice = json!({
            "a": { "type": "string", "x-mcp-header": "MyField" },
            "b": { "type": "string", "x-mcp-header": "myfield" },
        });
        assert!(refused(twice).contains("twice"));
        let nested = json!({ "o": { "type": "object", "properties": {
            "inner": { "type": "string", "x-mcp-header": "Inner" } } } });
        assert_eq!(
            check_annotations(&schema(nested)),
            Ok(()),
            "a properties path is fine"
        );
        let items = json!({ "l": { "type": "array", "items": {
            "type": "string", "x-mcp-header": "Item" } } });
        assert!(refused(items).contains("off the properties"));
    }
}
