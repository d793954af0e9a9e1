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

/// `call` takes the URL (unless `--stdio`) and then the tool name.
#[derive(Args)]
pub(crate) struct CallArgs {
    /// The server URL and the tool: `<URL> <TOOL>`, or just `<TOOL>` with --stdio.
    #[arg(required = true, num_args = 1..=2, value_names = ["URL", "TOOL"])]
    pub(crate) positional: Vec<String>,

    /// The tool's arguments, a JSON object.
    #[arg(long, value_name = "JSON")]
    pub(crate) args: Option<String>,

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
