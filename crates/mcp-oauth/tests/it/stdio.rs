//! A local server as a child process.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use mcp_oauth::{Client, ConnectedVia, Error};

use crate::support::{NO_HANG, TIMEOUT, exercise_tools};

/// The testkit's stdio server, built next to this test binary by
/// `cargo test --workspace`.
pub(crate) fn testkit_stdio() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("mcp-testkit-stdio");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p mcp-oauth-testkit` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

fn command(versions: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(testkit_stdio());
    command.args(versions);
    command
}

#[tokio::test]
async fn a_child_process_server_negotiates_and_serves() {
    let client = Client::stdio(command(&[]))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.connected_via(), ConnectedVia::Stdio);
    assert_eq!(client.server().protocol_version, "2026-07-28");
    client.ping().await.unwrap();
    exercise_tools(&client).await;
    client.close().await;
}

#[tokio::test]
async fn an_older_child_process_server_gets_the_handshake() {
    let client = Client::stdio(command(&["2025-06-18"]))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.server().protocol_version, "2025-06-18");
    client.ping().await.unwrap();
    exercise_tools(&client).await;
    client.close().await;
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let command = tokio::process::Command::new("mcp-oauth-no-such-program");
    let error = Client::stdio(command)
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Spawn { .. }), "{error:?}");
    assert!(error.to_string().contains("no such program"), "{error}");
}

#[tokio::test]
async fn a_process_that_exits_at_once_is_reported_not_awaited() {
    let started = Instant::now();
    let error = Client::stdio(tokio::process::Command::new("true"))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap_err();
    // Closed, not timed out: the exit was seen, not waited out.
    assert!(matches!(error, Error::Closed { .. }), "{error:?}");
    assert!(started.elapsed() < NO_HANG);
}

#[tokio::test]
async fn a_process_that_speaks_no_mcp_times_out() {
    let mut command = tokio::process::Command::new("sh");
    command.args(["-c", "echo 'this is not JSON-RPC'; sleep 30"]);
    let started = Instant::now();
    let error = Client::stdio(command)
        .timeout(Duration::from_millis(700))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < NO_HANG);
}
