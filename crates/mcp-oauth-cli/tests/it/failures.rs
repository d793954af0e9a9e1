//! Bad input and bad servers: one line naming the cause, a hint, the
//! documented exit code, and never a hang.

use mcp_oauth_testkit::{Fault, TestServer};

use crate::support::{Run, mcp_oauth, mcp_oauth_writing_to};

fn assert_reported(run: &Run, code: i32, cause: &str) {
    run.exit(code);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "an error line and a hint line: {}",
        run.stderr
    );
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(cause),
        "{}",
        run.stderr
    );
    assert!(lines[1].starts_with("hint: "), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[tokio::test]
async fn refused_port_exits_3() {
    // Bound but not listening: connections are refused, and no other
    // server can take the port while the test runs.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let run = mcp_oauth(&["ping", &format!("http://127.0.0.1:{port}/mcp")]).await;
    assert_reported(&run, 3, "could not connect");
    drop(held);
}

#[tokio::test]
async fn a_url_that_is_not_http_exits_2() {
    let run = mcp_oauth(&["tools", "ftp://127.0.0.1/mcp"]).await;
    assert_reported(&run, 2, "use http:// or https://");
}

#[tokio::test]
async fn an_html_endpoint_exits_4() {
    let server = TestServer::builder()
        .fault(Fault::HtmlPage)
        .start()
        .await
        .unwrap();
    let run = mcp_oauth(&["tools", &server.url()]).await;
    assert_reported(&run, 4, "HTML page");
    server.stop().await;
}

#[tokio::test]
async fn garbage_and_malformed_json_rpc_exit_4() {
    for (fault, cause) in [
        (Fault::GarbageJson, "not JSON"),
        (Fault::NotJsonRpc, "not a JSON-RPC message"),
    ] {
        let server = TestServer::builder().fault(fault).start().await.unwrap();
        let run = mcp_oauth(&["ping", &server.url()]).await;
        assert_reported(&run, 4, cause);
        server.stop().await;
    }
}

#[tokio::test]
async fn a_stalled_server_times_out_with_exit_5() {
    let server = TestServer::builder()
        .fault(Fault::Stall)
        .start()
        .await
        .unwrap();
    // The run itself is bounded (30 s): a hang fails there.
    let run = mcp_oauth(&["ping", &server.url(), "--timeout", "1"]).await;
    assert_reported(&run, 5, "did not answer within 1 s");
    server.stop().await;
}

#[tokio::test]
async fn invalid_args_exit_2_before_any_request() {
    let server = TestServer::builder().start().await.unwrap();
    for bad in ["{not json", "[1, 2]", "\"text\""] {
        let run = mcp_oauth(&["call", &server.url(), "echo", "--args", bad]).await;
        assert_reported(&run, 2, "invalid --args");
    }
    assert!(server.requests().is_empty(), "no request was sent");
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_tool_exits_7() {
    let server = TestServer::builder().start().await.unwrap();
    let run = mcp_oauth(&["call", &server.url(), "no-such-tool"]).await;
    assert_reported(&run, 7, "no-such-tool");
    assert!(run.stderr.contains("mcp-oauth tools"), "{}", run.stderr);
    server.stop().await;
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let run = mcp_oauth(&["call", "http://127.0.0.1:1/mcp"]).await;
    run.exit(2);
    let run = mcp_oauth(&["ping"]).await;
    run.exit(2);
    let run = mcp_oauth(&["ping", "--timeout", "-3", "http://127.0.0.1:1/mcp"]).await;
    run.exit(2);
}

/// The `hint:` line of a failure.
fn hint(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|line| line.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint line: {}", run.stderr))
}

#[tokio::test]
async fn a_cache_folder_that_cannot_be_used_exits_8() {
    let dir = crate::support::tempdir().unwrap();
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "").unwrap();
    let cache = not_a_folder.to_str().unwrap();
    for args in [
        &["status", "--cache-dir", cache][..],
        &["logout", "--all", "--cache-dir", cache],
    ] {
        let run = mcp_oauth(args).await;
        assert_reported(&run, 8, "token storage");
        assert!(hint(&run).contains("--cache-dir"), "{}", run.stderr);
    }
}

#[tokio::test]
async fn an_unreadable_credentials_document_exits_8_with_the_way_out() {
    let dir = crate::support::tempdir().unwrap();
    let url = "http://127.0.0.1:1/mcp";
    let document = mcp_oauth::FileTokenStorage::in_dir(url, dir.path())
        .unwrap()
        .path();
    std::fs::write(&document, "{ not json").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(&document, private).unwrap();
    }
    let cache = dir.path().to_str().unwrap();
    let run = mcp_oauth(&["token", url, "--cache-dir", cache]).await;
    assert_reported(&run, 8, &document.display().to_string());
    assert!(
        hint(&run).contains("mcp-oauth logout <URL>"),
        "{}",
        run.stderr
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn output_that_cannot_be_written_exits_8() {
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    for args in [
        &["completions", "bash"][..],
        &["status", "--json", "--cache-dir", cache],
    ] {
        // Every write to /dev/full fails: "No space left on device".
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let run = mcp_oauth_writing_to(args, full).await;
        assert_reported(&run, 8, "cannot write the output");
    }
}
