//! The MCP methods the testkit serves: tools, resources, prompts, lifecycle.

use serde_json::{Map, Value, json};

use crate::config::{Config, MODERN, ToolAnswer, is_modern};
use crate::jsonrpc::{INTERNAL_ERROR, INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError};

pub(crate) const SERVER_NAME: &str = "mcp-oauth-testkit";
pub(crate) const SERVER_VERSION: &str = "0.1.0";
const HELLO_URI: &str = "test://hello";
const HELLO_TEXT: &str = "Hello from the testkit";

type Params = Option<Map<String, Value>>;

fn server_info(cfg: &Config) -> Value {
    match &cfg.content.server_info {
        Some(info) => info.clone(),
        None => json!({ "name": SERVER_NAME, "version": SERVER_VERSION }),
    }
}

fn capabilities(cfg: &Config) -> Value {
    let mut capabilities = json!({ "tools": {}, "resources": {}, "prompts": {} });
    if !cfg.content.skills.is_empty() {
        capabilities["extensions"] = json!({ (crate::modern::SKILLS_EXTENSION): {} });
    }
    capabilities
}

/// The `initialize` result for the negotiated `version`.
pub(crate) fn initialize_result(cfg: &Config, version: &str) -> Value {
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": capabilities(cfg),
        "serverInfo": server_info(cfg),
    });
    if let (Some(instructions), Some(obj)) = (&cfg.content.instructions, result.as_object_mut()) {
        obj.insert("instructions".to_owned(), json!(instructions));
    }
    result
}

/// Negotiates `initialize` against the configured revisions.
pub(crate) fn negotiate(cfg: &Config, params: &Params) -> Result<String, RpcError> {
    let Some(requested) = params
        .as_ref()
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str)
    else {
        return Err(RpcError::invalid_params("Missing protocolVersion"));
    };
    cfg.negotiate_initialize(requested)
        .ok_or_else(|| RpcError::unsupported_version(requested, &cfg.versions))
}

/// The `server/discover` result (field names as rmcp's `DiscoverResult`).
pub(crate) fn discover_result(cfg: &Config) -> Value {
    json!({
        "resultType": "complete",
        "supportedVersions": cfg.versions,
        "capabilities": capabilities(cfg),
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": { "io.modelcontextprotocol/serverInfo": server_info(cfg) },
    })
}

/// Serves one request other than `initialize` / `server/discover`, whose
/// handling depends on the transport. `version` is the revision in effect.
pub(crate) fn dispatch(
    cfg: &Config,
    version: &str,
    method: &str,
    params: &Params,
) -> Result<Value, RpcError> {
    let modern = is_modern(version);
    let empty = Map::new();
    let p = params.as_ref().unwrap_or(&empty);
    let mut result = match method {
        "ping" if !modern => json!({}),
        "tools/list" => list_tools(cfg, p)?,
        "tools/call" => call_tool(cfg, p)?,
        "resources/list" => json!({ "resources": [hello_resource()] }),
        "resources/templates/list" => json!({ "resourceTemplates": [] }),
        "resources/read" => read_resource(p, modern)?,
        "prompts/list" => json!({ "prompts": [greet_prompt()] }),
        "prompts/get" => get_prompt(p)?,
        _ => return Err(RpcError::method_not_found()),
    };
    // 2026-07-28 results say how to parse them; older peers never saw the field.
    if modern && let Some(obj) = result.as_object_mut() {
        obj.insert("resultType".to_owned(), json!("complete"));
    }
    Ok(result)
}

fn tools(cfg: &Config) -> Vec<Value> {
    let extra = cfg.content.tools.iter().map(|tool| {
        json!({
            "name": tool.name,
            "description": tool.description,
            "inputSchema": tool.input_schema.clone()
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
        })
    });
    let builtin = vec![
        json!({
            "name": "echo",
            "description": "Returns the given text unchanged",
            "inputSchema": {
                "type": "object",
                "properties": { "text": { "type": "string", "description": "Text to echo" } },
                "required": ["text"],
            },
        }),
        json!({
            "name": "add",
            "description": "Adds two numbers",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "a": { "type": "number", "description": "First addend" },
                    "b": { "type": "number", "description": "Second addend" },
                },
                "required": ["a", "b"],
            },
        }),
        json!({
            "name": "fail",
            "description": "Always returns a tool error",
            "inputSchema": { "type": "object", "properties": {} },
        }),
    ];
    builtin.into_iter().chain(extra).collect()
}

fn list_tools(cfg: &Config, p: &Map<String, Value>) -> Result<Value, RpcError> {
    let all = tools(cfg);
    let start = match p.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(cursor)) => cursor
            .parse::<usize>()
            .ok()
            .filter(|n| *n < all.len())
            .ok_or_else(|| RpcError::invalid_params("Invalid cursor"))?,
        Some(_) => return Err(RpcError::invalid_params("Invalid cursor")),
    };
    let size = cfg.page_size.unwrap_or(all.len()).max(1);
    let end = (start + size).min(all.len());
    let mut result = json!({ "tools": all[start..end] });
    if end < all.len()
        && let Some(obj) = result.as_object_mut()
    {
        obj.insert("nextCursor".to_owned(), json!(end.to_string()));
    }
    Ok(result)
}

fn text_result(text: &str, is_error: bool) -> Value {
    let mut result = json!({ "content": [{ "type": "text", "text": text }] });
    if is_error && let Some(obj) = result.as_object_mut() {
        obj.insert("isError".to_owned(), json!(true));
    }
    result
}

fn call_tool(cfg: &Config, p: &Map<String, Value>) -> Result<Value, RpcError> {
    let Some(name) = p.get("name").and_then(Value::as_str) else {
        return Err(RpcError::invalid_params("Missing tool name"));
    };
    let empty = Map::new();
    let args = match p.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(args)) => args,
        Some(_) => return Err(RpcError::invalid_params("arguments must be an object")),
    };
    match name {
        "echo" => {
            let text = args
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_argument("text", "a string"))?;
            Ok(text_result(text, false))
        }
        "add" => {
            let a = number_arg(args, "a")?;
            let b = number_arg(args, "b")?;
            Ok(text_result(&add(a, b), false))
        }
        "fail" => Ok(text_result("this tool always fails", true)),
        _ => match cfg.content.tools.iter().find(|tool| tool.name == name) {
            Some(tool) => match &tool.answer {
                ToolAnswer::Text(text) => Ok(text_result(text, false)),
                ToolAnswer::RpcError(message) => {
                    Err(RpcError::new(INTERNAL_ERROR, message.clone()))
                }
                // Served before dispatch on 2026-07-28; older revisions
                // cannot take several rounds.
                ToolAnswer::AskFirst(_) => Err(RpcError::new(
                    INTERNAL_ERROR,
                    "this tool needs input, which only 2026-07-28 can ask for",
                )),
            },
            None => Err(RpcError::invalid_params(format!("Unknown tool: {name}"))),
        },
    }
}

/// What a `tools/call` reports before its result under
/// [`Fault::NotifyDuringCall`](crate::Fault::NotifyDuringCall): a log message
/// naming the tool, and progress when the request asked for it.
pub(crate) fn call_notifications(params: &Params) -> Vec<Value> {
    let empty = Map::new();
    let p = params.as_ref().unwrap_or(&empty);
    let tool = p.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut notes = vec![json!({
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": { "level": "info", "logger": SERVER_NAME, "data": format!("calling {tool}") },
    })];
    if let Some(token) = p.get("_meta").and_then(|meta| meta.get("progressToken")) {
        notes.push(json!({
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": { "progressToken": token, "progress": 1, "total": 1, "message": format!("{tool} done") },
        }));
    }
    notes
}

fn bad_argument(name: &str, expected: &str) -> RpcError {
    RpcError::new(
        INVALID_PARAMS,
        format!("Invalid arguments: `{name}` must be {expected}"),
    )
}

fn number_arg<'a>(args: &'a Map<String, Value>, name: &str) -> Result<&'a Value, RpcError> {
    args.get(name)
        .filter(|v| v.is_number())
        .ok_or_else(|| bad_argument(name, "a number"))
}

/// Integer sums print without ".0"; exact for i64 operands.
fn add(a: &Value, b: &Value) -> String {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64())
        && let Some(sum) = a.checked_add(b)
    {
        return sum.to_string();
    }
    let sum = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
    if sum.fract() == 0.0 && sum.abs() < 1e15 {
        format!("{}", sum as i64)
    } else {
        sum.to_string()
    }
}

fn hello_resource() -> Value {
    json!({ "uri": HELLO_URI, "name": "hello", "mimeType": "text/plain" })
}

fn read_resource(p: &Map<String, Value>, modern: bool) -> Result<Value, RpcError> {
    let Some(uri) = p.get("uri").and_then(Value::as_str) else {
        return Err(RpcError::invalid_params("Missing uri"));
    };
    if uri != HELLO_URI {
        // SEP-2164: from 2026-07-28 an unknown resource is an invalid-params error.
        let code = if modern {
            INVALID_PARAMS
        } else {
            RESOURCE_NOT_FOUND
        };
        return Err(RpcError::new(code, format!("Resource not found: {uri}"))
            .with_data(json!({ "uri": uri })));
    }
    Ok(json!({
        "contents": [{ "uri": HELLO_URI, "mimeType": "text/plain", "text": HELLO_TEXT }],
    }))
}

fn greet_prompt() -> Value {
    json!({
        "name": "greet",
        "description": "Greets someone by name",
        "arguments": [{ "name": "name", "description": "Who to greet", "required": true }],
    })
}

fn get_prompt(p: &Map<String, Value>) -> Result<Value, RpcError> {
    let Some(name) = p.get("name").and_then(Value::as_str) else {
        return Err(RpcError::invalid_params("Missing prompt name"));
    };
    if name != "greet" {
        return Err(RpcError::invalid_params(format!("Unknown prompt: {name}")));
    }
    let who = p
        .get("arguments")
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("Missing required argument: name"))?;
    Ok(json!({
        "description": "A greeting",
        "messages": [{ "role": "user", "content": { "type": "text", "text": format!("Hello, {who}!") } }],
    }))
}

/// The revision a request speaks when it names none: the spec's fallback.
pub(crate) fn assumed_legacy_version(cfg: &Config) -> String {
    cfg.versions
        .iter()
        .rev()
        .find(|v| !is_modern(v))
        .cloned()
        .unwrap_or_else(|| MODERN.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ResponseStyle, ServerMode};

    fn cfg() -> Config {
        Config {
            mode: ServerMode::Stateful,
            style: ResponseStyle::Json,
            versions: vec!["2025-06-18".into(), MODERN.into()],
            page_size: Some(2),
            faults: vec![],
            bearer: None,
            legacy_probe_status: None,
            content: Default::default(),
        }
    }

    fn call(name: &str, args: &Value) -> Result<Value, RpcError> {
        let params = json!({ "name": name, "arguments": args });
        dispatch(
            &cfg(),
            "2025-06-18",
            "tools/call",
            &params.as_object().cloned(),
        )
    }

    #[test]
    fn add_formats_sums() {
        assert_eq!(add(&json!(2), &json!(3)), "5");
        assert_eq!(add(&json!(2.5), &json!(2.5)), "5");
        assert_eq!(add(&json!(0.5), &json!(0.25)), "0.75");
    }

    #[test]
    fn tool_errors() {
        assert_eq!(
            call("nope", &json!({})).unwrap_err().message,
            "Unknown tool: nope"
        );
        let err = call("add", &json!({ "a": 1 })).unwrap_err();
        assert_eq!(err.code, INVALID_PARAMS);
        assert!(err.message.contains("`b`"), "{}", err.message);
        assert_eq!(call("fail", &json!({})).unwrap()["isError"], json!(true));
    }

    #[test]
    fn call_notifications_follow_the_request() {
        let plain = json!({ "name": "echo" }).as_object().cloned();
        let notes = call_notifications(&plain);
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["method"], "notifications/message");
        assert_eq!(notes[0]["params"]["data"], "calling echo");
        let tracked = json!({ "name": "add", "_meta": { "progressToken": "p-1" } });
        let notes = call_notifications(&tracked.as_object().cloned());
        assert_eq!(notes[1]["method"], "notifications/progress");
        assert_eq!(notes[1]["params"]["progressToken"], "p-1");
    }

    #[test]
    fn pagination_and_result_type() {
        let page = dispatch(&cfg(), MODERN, "tools/list", &None).unwrap();
        assert_eq!(page["tools"].as_array().map(Vec::len), Some(2));
        assert_eq!(page["nextCursor"], json!("2"));
        assert_eq!(page["resultType"], json!("complete"));
        let params = json!({ "cursor": "2" }).as_object().cloned();
        let last = dispatch(&cfg(), "2025-06-18", "tools/list", &params).unwrap();
        assert_eq!(last["tools"][0]["name"], json!("fail"));
        assert!(last.get("nextCursor").is_none() && last.get("resultType").is_none());
        assert!(dispatch(&cfg(), MODERN, "ping", &None).is_err());
    }
}
