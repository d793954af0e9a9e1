//! What each command does and prints.

use std::{io::Write, time::Instant};

use mcp_oauth::{
    Client,
    model::{CallToolResult, ContentBlock, JsonObject, Tool},
};
use serde_json::{Value, json};

use crate::{
    failure::{Exit, Failure},
    output::Output,
};

pub(crate) async fn ping(client: &Client, out: &mut Output, json: bool) -> Result<(), Failure> {
    let started = Instant::now();
    client.ping().await?;
    let elapsed_ms = started.elapsed().as_millis();
    let server = client.server();
    if json {
        out.json(&json!({
            "ok": true,
            "server": { "name": server.name, "version": server.version },
            "protocol_version": server.protocol_version,
            "transport": client.connected_via().to_string(),
            "elapsed_ms": elapsed_ms,
        }))
    } else {
        let name = match (&server.name, &server.version) {
            (Some(name), Some(version)) => format!("{name} {version}"),
            (Some(name), None) => name.clone(),
            _ => "server".to_owned(),
        };
        out.line(&format!(
            "ok: {name} answered in {elapsed_ms} ms (protocol {}, {})",
            server.protocol_version,
            client.connected_via()
        ))
    }
}

pub(crate) async fn tools(client: &Client, out: &mut Output, json: bool) -> Result<(), Failure> {
    let tools = client.list_tools().await?;
    if json {
        return out.json(&serde_json::to_value(&tools).unwrap_or(Value::Null));
    }
    if tools.is_empty() {
        eprintln!("the server offers no tools");
        return Ok(());
    }
    out.text(&tool_table(&tools))
}

/// Name and the first line of the description, in two aligned columns.
fn tool_table(tools: &[Tool]) -> String {
    let width = tools
        .iter()
        .map(|tool| tool.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut table = format!("{:width$}  DESCRIPTION\n", "NAME");
    for tool in tools {
        let description = tool
            .description
            .as_deref()
            .and_then(|text| text.lines().map(str::trim).find(|line| !line.is_empty()))
            .unwrap_or("");
        table.push_str(format!("{:width$}  {description}", tool.name).trim_end());
        table.push('\n');
    }
    table
}

/// Parses `--args`: absent means no arguments; else a JSON object.
pub(crate) fn parse_arguments(text: Option<&str>) -> Result<Option<JsonObject>, Failure> {
    let Some(text) = text else { return Ok(None) };
    let bad = |why: String| {
        Failure::new(Exit::BadInput, format!("invalid --args: {why}"))
            .hint(r#"pass a JSON object, e.g. --args '{"text": "hello"}'"#)
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(other) => Err(bad(format!("expected a JSON object, got {}", kind(&other)))),
        Err(error) => Err(bad(format!("not valid JSON ({error})"))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) async fn call(
    client: &Client,
    out: &mut Output,
    json: bool,
    tool: &str,
    arguments: Option<JsonObject>,
) -> Result<(), Failure> {
    let result = client.call_tool(tool, arguments).await?;
    if json {
        out.json(&serde_json::to_value(&result).unwrap_or(Value::Null))?;
    } else {
        out.text(&render_result(&result))?;
    }
    if result.is_error == Some(true) {
        return Err(Failure::new(
            Exit::ToolFailed,
            format!("the tool {tool:?} reported an error"),
        )
        .hint("its message is printed above"));
    }
    Ok(())
}

/// Text content as text, anything else as one line of JSON each.
fn render_result(result: &CallToolResult) -> String {
    let mut rendered = String::new();
    for content in &result.content {
        match content {
            ContentBlock::Text(text) => rendered.push_str(&text.text),
            other => rendered.push_str(&serde_json::to_string(other).unwrap_or_default()),
        }
        if !rendered.ends_with('\n') {
            rendered.push('\n');
        }
    }
    if result.content.is_empty()
        && let Some(structured) = &result.structured_content
    {
        rendered.push_str(&serde_json::to_string_pretty(structured).unwrap_or_default());
        rendered.push('\n');
    }
    rendered
}

/// Flushes what was written; a closed pipe (`| head`) is not a failure.
pub(crate) fn finish(out: &mut Output) {
    let _ = out.stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_must_be_a_json_object() {
        assert!(parse_arguments(None).unwrap().is_none());
        assert_eq!(
            parse_arguments(Some(r#"{"a":1}"#)).unwrap().unwrap()["a"],
            1
        );
        let error = parse_arguments(Some("[1]")).unwrap_err();
        assert_eq!(error.exit, Exit::BadInput);
        assert!(
            error
                .message
                .contains("expected a JSON object, got an array")
        );
        let error = parse_arguments(Some("{oops")).unwrap_err();
        assert!(error.message.contains("not valid JSON"));
    }
}
