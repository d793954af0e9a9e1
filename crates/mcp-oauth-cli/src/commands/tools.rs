//! `mcp-oauth tools`: the server's tools, as a table or as JSON.

use mcp_oauth::{Client, model::Tool, terminal_safe_line};
use serde_json::Value;

use crate::{
    failure::Failure,
    options::{GlobalArgs, ServerArgs},
    output::{Output, to_stderr},
};

pub(crate) async fn run(
    args: &ServerArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let client = args.connect(global).await?;
    let result = list(&client, out, global.json).await;
    client.close().await;
    result
}

async fn list(client: &Client, out: &mut Output, json: bool) -> Result<(), Failure> {
    let tools = client.list_tools().await?;
    if json {
        return out.json(&serde_json::to_value(&tools).unwrap_or(Value::Null));
    }
    if tools.is_empty() {
        to_stderr("the server offers no tools");
        return Ok(());
    }
    out.text(&tool_table(&tools))
}

/// Name and the first line of the description, in two aligned columns:
/// one line per tool, whatever the server wrote.
fn tool_table(tools: &[Tool]) -> String {
    let rows: Vec<(String, String)> = tools
        .iter()
        .map(|tool| {
            let description = tool
                .description
                .as_deref()
                .and_then(|text| text.lines().map(str::trim).find(|line| !line.is_empty()))
                .unwrap_or("");
            (
                terminal_safe_line(&tool.name),
                terminal_safe_line(description),
            )
        })
        .collect();
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut table = format!("{:width$}  DESCRIPTION\n", "NAME");
    for (name, description) in rows {
        table.push_str(format!("{name:width$}  {description}").trim_end());
        table.push('\n');
    }
    table
}
