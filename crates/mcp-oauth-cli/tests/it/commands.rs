//! `ping`, `tools` and `call` doing their job, in text and JSON.

use mcp_oauth_testkit::{ServerMode, TestServer};
use serde_json::Value;

use crate::support::{mcp_oauth, mcp_oauth_with_env};

#[tokio::test]
async fn ping_reports_server_revision_and_transport() {
    let server = TestServer::builder().start().await.unwrap();
    let run = mcp_oauth(&["ping", &server.url()]).await;
    run.success();
    assert!(
        run.stdout.starts_with("ok: mcp-oauth-testkit"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("protocol 2026-07-28, streamable-http"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr, "", "nothing but results");

    let run = mcp_oauth(&["ping", &server.url(), "--json"]).await;
    let json: Value = serde_json::from_str(&run.success().stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["transport"], "streamable-http");
    assert_eq!(json["server"]["name"], "mcp-oauth-testkit");
    server.stop().await;
}

#[tokio::test]
async fn tools_prints_a_table_or_json() {
    let server = TestServer::builder().start().await.unwrap();
    let run = mcp_oauth(&["tools", &server.url()]).await;
    let lines: Vec<&str> = run.success().stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("DESCRIPTION"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|line| line.starts_with("echo ")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|line| line.starts_with("add ")),
        "{lines:?}"
    );

    let run = mcp_oauth(&["--json", "tools", &server.url()]).await;
    let tools: Vec<Value> = serde_json::from_str(&run.success().stdout).unwrap();
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    assert_eq!(names, ["echo", "add", "fail"]);
    assert!(tools[0]["inputSchema"].is_object());
    server.stop().await;
}

#[tokio::test]
async fn call_prints_text_content_as_text() {
    let server = TestServer::builder().start().await.unwrap();
    let url = server.url();
    let run = mcp_oauth(&["call", &url, "echo", "--args", r#"{"text":"hi there"}"#]).await;
    assert_eq!(run.success().stdout, "hi there\n");
    let run = mcp_oauth(&["call", &url, "add", "--args", r#"{"a":2,"b":3}"#]).await;
    assert_eq!(run.success().stdout, "5\n");

    let run = mcp_oauth(&["call", &url, "add", "--args", r#"{"a":2,"b":3}"#, "--json"]).await;
    let json: Value = serde_json::from_str(&run.success().stdout).unwrap();
    assert_eq!(json["content"][0]["text"], "5");
    server.stop().await;
}

#[tokio::test]
async fn a_tool_error_result_exits_1_with_its_message() {
    let server = TestServer::builder().start().await.unwrap();
    let run = mcp_oauth(&["call", &server.url(), "fail"]).await;
    run.exit(1);
    assert_eq!(run.stdout, "this tool always fails\n");
    assert!(
        run.stderr
            .starts_with("error: the tool \"fail\" reported an error"),
        "{}",
        run.stderr
    );
    server.stop().await;
}

#[tokio::test]
async fn legacy_sse_servers_work_by_fallback_and_explicitly() {
    let server = TestServer::builder()
        .mode(ServerMode::LegacySse)
        .start()
        .await
        .unwrap();
    let run = mcp_oauth(&["ping", &server.url()]).await;
    assert!(run.success().stdout.contains(", sse)"), "{}", run.stdout);
    let run = mcp_oauth(&[
        "call",
        &server.url(),
        "echo",
        "--args",
        r#"{"text":"old"}"#,
        "--transport",
        "sse",
    ])
    .await;
    assert_eq!(run.success().stdout, "old\n");
    server.stop().await;
}

#[tokio::test]
async fn bearer_comes_from_the_flag_or_the_environment() {
    let server = TestServer::builder()
        .bearer("tok-123")
        .start()
        .await
        .unwrap();
    let url = server.url();
    mcp_oauth(&["ping", &url, "--bearer", "tok-123"])
        .await
        .success();
    mcp_oauth_with_env(&["ping", &url], &[("MCP_OAUTH_BEARER", "tok-123")])
        .await
        .success();
    let run = mcp_oauth(&["ping", &url]).await;
    run.exit(6);
    assert!(run.stderr.contains("--bearer"), "{}", run.stderr);
    server.stop().await;
}

#[tokio::test]
async fn verbose_logs_go_to_stderr_and_never_show_the_token() {
    let server = TestServer::builder()
        .bearer("tok-secret-42")
        .start()
        .await
        .unwrap();
    let run = mcp_oauth(&[
        "-vv",
        "call",
        &server.url(),
        "echo",
        "--args",
        r#"{"text":"x"}"#,
        "--bearer",
        "tok-secret-42",
    ])
    .await;
    assert_eq!(run.success().stdout, "x\n", "stdout holds the result only");
    assert!(
        run.stderr.contains("DEBUG") || run.stderr.contains("TRACE"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("tok-secret-42"),
        "the token leaked into the log"
    );
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal"
    );
    server.stop().await;
}

#[tokio::test]
async fn demo_logs_in_through_the_login_page_and_calls_tools() {
    // A scripted person: signs in as demo/demo and approves.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/demo-browser");
    let browser = format!("sh {script}");
    let run = mcp_oauth_with_env(&["demo"], &[("BROWSER", browser.as_str())]).await;
    run.success();
    assert!(
        run.stdout
            .contains("a protected MCP server at http://127.0.0.1:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("dynamic registration made the client"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("-> Hello from mcp-oauth"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("(0 requests to the authorization server): add 2 3 -> 5"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("Sign in as demo / demo"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn demo_gives_up_after_the_login_timeout() {
    // The port is free when picked, but another test may take it before the
    // demo binds it: the demo then says so (exit 6) and another is picked.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        // A browser that opens nothing: the sign-in never completes.
        let run = mcp_oauth_with_env(
            &[
                "demo",
                "--login-timeout",
                "1",
                "--callback-port",
                &port,
                "--callback-host",
                "localhost",
            ],
            &[("BROWSER", "true")],
        )
        .await;
        if run.code == Some(6) && run.stderr.contains("the port is in use") {
            continue;
        }
        assert_eq!(run.code, Some(5), "exit 5, a timeout: {}", run.stderr);
        // The demo honours the callback options as every command does.
        assert!(
            run.stderr
                .contains(&format!("http://localhost:{port}/callback")),
            "{}",
            run.stderr
        );
        return;
    }
    panic!("five callback ports were taken before the demo could bind them");
}

/// The testkit's stdio server, built beside this binary by `cargo test --workspace`.
fn testkit_stdio() -> String {
    let cli = std::path::Path::new(env!("CARGO_BIN_EXE_mcp-oauth"));
    let path = cli.with_file_name("mcp-testkit-stdio");
    assert!(
        path.exists(),
        "{} is missing: run cargo build -p mcp-oauth-testkit",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn stdio_servers_are_reached_with_a_command_after_double_dash() {
    let server = testkit_stdio();
    let run = mcp_oauth(&["tools", "--stdio", "--", &server]).await;
    assert!(run.success().stdout.contains("echo "), "{}", run.stdout);
    let run = mcp_oauth(&[
        "call",
        "--stdio",
        "add",
        "--args",
        r#"{"a":20,"b":22}"#,
        "--",
        &server,
    ])
    .await;
    assert_eq!(run.success().stdout, "42\n");
    let run = mcp_oauth(&["ping", "--stdio", "--", &server, "2025-03-26"]).await;
    assert!(
        run.success().stdout.contains("protocol 2025-03-26, stdio"),
        "{}",
        run.stdout
    );
    let run = mcp_oauth(&["ping", "--stdio", "--", "mcp-oauth-no-such-program"]).await;
    run.exit(3);
    assert!(run.stderr.contains("no such program"), "{}", run.stderr);
}

#[tokio::test]
async fn completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef mcp-oauth"),
        ("fish", "complete -c mcp-oauth"),
    ] {
        let run = mcp_oauth(&["completions", shell]).await;
        assert!(run.success().stdout.contains(marker), "{shell}");
        for command in ["login", "proxy", "status", "callback-port"] {
            assert!(run.stdout.contains(command), "{shell} completes {command}");
        }
    }
    mcp_oauth(&["completions", "powershell-2"]).await.exit(2);
}

#[tokio::test]
async fn man_pages_for_the_tool_and_each_command() {
    let tool = mcp_oauth(&["man"]).await;
    let page = &tool.success().stdout;
    assert!(
        page.starts_with(".ie") || page.contains(".TH mcp-oauth 1"),
        "{page}"
    );
    for command in ["login", "doctor", "proxy", "man"] {
        assert!(page.contains(command), "{command} is listed: {page}");
    }
    let login = mcp_oauth(&["man", "login"]).await;
    let page = &login.success().stdout;
    assert!(page.contains(".TH mcp-oauth-login 1"), "{page}");
    assert!(page.contains("callback\\-port"), "{page}");
    mcp_oauth(&["man", "no-such-command"]).await.exit(2);
}
