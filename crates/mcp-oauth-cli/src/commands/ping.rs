//! `mcp-oauth ping`: connect and check that the server answers.

use std::time::Instant;

use mcp_oauth::{Client, terminal_safe_line};
use serde_json::json;

use crate::{
    failure::Failure,
    options::{GlobalArgs, ServerArgs},
    output::Output,
};

pub(crate) async fn run(
    args: &ServerArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let client = args.connect(global).await?;
    let result = ping(&client, out, global.json).await;
    client.close().await;
    result
}

async fn ping(client: &Client, out: &mut Output, json: bool) -> Result<(), Failure> {
    let started = Instant::now();
    client.ping().await?;
    let elapsed_ms = started.elapsed().as_millis();
    let server = client.server();
    if json {
        return out.json(&json!({
            "ok": true,
            "server": { "name": server.name, "version": server.version },
            "protocol_version": server.protocol_version,
            "transport": client.connected_via().to_string(),
            "elapsed_ms": elapsed_ms,
        }));
    }
    // On the one line, whatever the server calls itself.
    let name = match (&server.name, &server.version) {
        (Some(name), Some(version)) => {
            format!(
                "{} {}",
                terminal_safe_line(name),
                terminal_safe_line(version)
            )
        }
        (Some(name), None) => terminal_safe_line(name),
        _ => "server".to_owned(),
    };
    out.line(&format!(
        "ok: {name} answered in {elapsed_ms} ms (protocol {}, {})",
        server.protocol_version,
        client.connected_via()
    ))
}
