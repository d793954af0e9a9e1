//! `mcp-oauth demo`: a server on loopback and the client at work on it.

use std::time::Instant;

use mcp_oauth::Client;
use mcp_oauth_testkit::TestServer;
use serde_json::json;

use crate::{
    failure::{Exit, Failure},
    output::Output,
};

pub(crate) async fn run(out: &mut Output, serve: bool) -> Result<(), Failure> {
    let server = TestServer::builder().start().await.map_err(|error| {
        Failure::new(
            Exit::Unreachable,
            format!("could not start the demo server: {error}"),
        )
        .hint("is the loopback interface up?")
    })?;
    let url = server.url();
    out.line(&format!("Started a demo MCP server at {url}"))?;

    let started = Instant::now();
    let client = Client::builder(&url).connect().await?;
    let details = client.server();
    out.line(&format!(
        "1. Connected in {} ms: {} speaks protocol {} over {}",
        started.elapsed().as_millis(),
        details.name.as_deref().unwrap_or("the server"),
        details.protocol_version,
        client.connected_via()
    ))?;

    let started = Instant::now();
    client.ping().await?;
    out.line(&format!(
        "2. ping answered in {} ms",
        started.elapsed().as_millis()
    ))?;

    let tools = client.list_tools().await?;
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    out.line(&format!(
        "3. The server offers {} tools: {}",
        names.len(),
        names.join(", ")
    ))?;

    let arguments = json!({ "text": "Hello from mcp-oauth" });
    let echoed = client
        .call_tool("echo", arguments.as_object().cloned())
        .await?;
    out.line(&format!(
        "4. call echo {arguments} -> {}",
        first_text(&echoed)
    ))?;
    let arguments = json!({ "a": 2, "b": 3 });
    let sum = client
        .call_tool("add", arguments.as_object().cloned())
        .await?;
    out.line(&format!("5. call add {arguments} -> {}", first_text(&sum)))?;

    client.close().await;
    let requests = server.requests();
    let deleted = requests
        .iter()
        .any(|request| request.http_method == "DELETE");
    out.line(if deleted {
        "6. Closed the session (the server saw a DELETE of it)."
    } else {
        "6. Closed the connection (2026-07-28 has no session to delete)."
    })?;
    out.line(&format!(
        "The whole exchange took {} HTTP requests.",
        requests.len()
    ))?;

    if serve {
        out.line(&format!(
            "\nThe demo server keeps running; in another terminal try:\n  \
             mcp-oauth tools {url}\n  \
             mcp-oauth call {url} echo --args '{{\"text\":\"hi\"}}'\n\
             Press Ctrl-C to stop it."
        ))?;
        crate::commands::finish(out);
        let _ = tokio::signal::ctrl_c().await;
    }
    server.stop().await;
    Ok(())
}

fn first_text(result: &mcp_oauth::model::CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|block| block.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}
