//! `mcp-oauth call`: call a tool and print its result.

use clap::Args;
use mcp_oauth::{
    Client,
    model::{CallToolResult, ContentBlock, JsonObject},
};
use serde_json::Value;

use crate::{
    connect::{ServerMessages, Target, connect},
    failure::{Exit, Failure},
    options::{ConnectArgs, CredentialArgs, GlobalArgs, StdioArgs},
    output::Output,
};

/// `call` takes the URL (unless `--stdio`) and then the tool name (unless
/// `--calls`).
#[derive(Args)]
pub(crate) struct CallArgs {
    /// The server URL and the tool: `<URL> <TOOL>`, or just `<TOOL>` with
    /// --stdio; with --calls, only the URL (or nothing with --stdio).
    #[arg(num_args = 0..=2, value_names = ["URL", "TOOL"])]
    pub(crate) positional: Vec<String>,

    /// The tool's arguments, a JSON object.
    #[arg(long, value_name = "JSON", conflicts_with = "calls")]
    pub(crate) args: Option<String>,

    /// Several calls, one after the other on one connection: a JSON array
    /// of {"name": TOOL, "arguments": {...}}. Each result is printed (with
    /// --json: one JSON array of them); the first call that fails stops.
    #[arg(long, value_name = "JSON")]
    pub(crate) calls: Option<String>,

    #[command(flatten)]
    pub(crate) stdio: StdioArgs,

    #[command(flatten)]
    pub(crate) connect: ConnectArgs,

    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

pub(crate) async fn run(
    args: &CallArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    if let Some(calls) = &args.calls {
        return run_many(args, calls, global, out).await;
    }
    // Whether the first word is the URL or the tool depends on --stdio,
    // which clap cannot express.
    let (target, tool) = match (args.stdio.stdio, args.positional.as_slice()) {
        (true, [tool]) => (Target::Stdio(&args.stdio.command), tool),
        (false, [url, tool]) => (Target::Url(url), tool),
        (true, _) => {
            return Err(Failure::usage(
                "with --stdio, give only the tool name: call --stdio <TOOL> -- <COMMAND>",
            ));
        }
        (false, _) => {
            return Err(Failure::usage(
                "give the server URL and the tool name: call <URL> <TOOL>",
            ));
        }
    };
    // Bad arguments are reported before any connection is made.
    let arguments = parse_arguments(args.args.as_deref())?;
    let client = connect(
        target,
        &args.connect,
        &args.credentials,
        global,
        ServerMessages::Answered,
    )
    .await?;
    let result = call(&client, out, global.json, tool, arguments).await;
    client.close().await;
    result
}

/// `call --calls`: every call on one connection, in order.
async fn run_many(
    args: &CallArgs,
    calls: &str,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let target = match (args.stdio.stdio, args.positional.as_slice()) {
        (true, []) => Target::Stdio(&args.stdio.command),
        (false, [url]) => Target::Url(url),
        _ => {
            return Err(Failure::usage(
                "with --calls, give only the server URL: call <URL> --calls JSON",
            ));
        }
    };
    let calls = parse_calls(calls)?;
    let client = connect(
        target,
        &args.connect,
        &args.credentials,
        global,
        ServerMessages::Answered,
    )
    .await?;
    let mut results = Vec::new();
    let mut outcome = Ok(());
    for (tool, arguments) in calls {
        match client.call_tool(&tool, arguments).await {
            Ok(result) => {
                if !global.json {
                    outcome = out.text(&render_result(&result));
                }
                let failed = result.is_error == Some(true);
                results.push(serde_json::to_value(&result).unwrap_or(Value::Null));
                if failed {
                    outcome = outcome.and(Err(tool_failed(&tool)));
                }
            }
            Err(error) => outcome = Err(error.into()),
        }
        if outcome.is_err() {
            break;
        }
    }
    if global.json {
        let printed = out.json(&Value::Array(results));
        outcome = outcome.and(printed);
    }
    client.close().await;
    outcome
}

/// Parses `--calls`: a JSON array of `{"name": .., "arguments": {..}}`.
fn parse_calls(text: &str) -> Result<Vec<(String, Option<JsonObject>)>, Failure> {
    let bad = |why: String| {
        Failure::new(Exit::BadInput, format!("invalid --calls: {why}")).hint(
            r#"pass a JSON array, e.g. --calls '[{"name": "echo", "arguments": {"text": "hi"}}]'"#,
        )
    };
    let value: Value =
        serde_json::from_str(text).map_err(|error| bad(format!("not valid JSON ({error})")))?;
    let Value::Array(items) = value else {
        return Err(bad(format!("expected a JSON array, got {}", kind(&value))));
    };
    if items.is_empty() {
        return Err(bad("the array names no call".into()));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let name = item.get("name").and_then(Value::as_str);
            let Some(name) = name else {
                return Err(bad(format!("call {}: no \"name\" string", i + 1)));
            };
            match item.get("arguments") {
                None | Some(Value::Null) => Ok((name.to_owned(), None)),
                Some(Value::Object(map)) => Ok((name.to_owned(), Some(map.clone()))),
                Some(other) => Err(bad(format!(
                    "call {}: \"arguments\" is {}, not an object",
                    i + 1,
                    kind(other)
                ))),
            }
        })
        .collect()
}

fn tool_failed(tool: &str) -> Failure {
    Failure::new(
        Exit::ToolFailed,
        format!("the tool {tool:?} reported an error"),
    )
    .hint("its message is printed above")
}

/// Parses `--args`: absent means no arguments; else a JSON object. Checked
/// here rather than by clap, to report the cause and an example.
fn parse_arguments(text: Option<&str>) -> Result<Option<JsonObject>, Failure> {
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

async fn call(
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
        return Err(tool_failed(tool));
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

    #[test]
    fn calls_must_be_an_array_of_named_calls() {
        let calls =
            parse_calls(r#"[{"name":"a","arguments":{"x":1}},{"name":"b","arguments":null}]"#)
                .unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].0, "a");
        assert_eq!(calls[0].1.as_ref().unwrap()["x"], 1);
        assert!(calls[1].1.is_none());
        for (text, why) in [
            ("{}", "expected a JSON array, got an object"),
            ("[]", "names no call"),
            (r#"[{"arguments":{}}]"#, "call 1: no \"name\""),
            (
                r#"[{"name":"a","arguments":[1]}]"#,
                "call 1: \"arguments\" is an array",
            ),
        ] {
            let error = parse_calls(text).unwrap_err();
            assert_eq!(error.exit, Exit::BadInput);
            assert!(error.message.contains(why), "{text}: {}", error.message);
        }
    }
}
