//! Ctrl-C: whatever the CLI is waiting for (a server, a sign-in, a device
//! approval, a host), SIGINT ends it with exit code 130 and one line saying
//! so, as the README's table of exit codes promises.

use std::process::Stdio;

use mcp_oauth_testkit::{AuthServer, Fault, LoginMode, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr};

use crate::support::{BOUND, cli, echo, protected, server_saw, start_proxy, wait_until};

/// Starts the CLI with stdout and stderr piped; `BROWSER` opens nothing.
fn start(args: &[&str]) -> Child {
    cli()
        .args(args)
        .env("BROWSER", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads stderr until a line contains `marker` (bounded); the lines read.
async fn wait_for_line(stderr: &mut Lines<BufReader<ChildStderr>>, marker: &str) -> String {
    let read = async {
        let mut seen = String::new();
        while let Some(line) = stderr.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(marker) {
                return seen;
            }
        }
        panic!("stderr ended before {marker:?}: {seen}");
    };
    tokio::time::timeout(BOUND, read)
        .await
        .unwrap_or_else(|_| panic!("no {marker:?} on stderr within {BOUND:?}"))
}

/// Sends SIGINT to `child` by its pid, as a terminal's Ctrl-C reaches the
/// process.
fn send_sigint(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -INT {pid}");
}

/// Interrupts `child`, waits for it to end (bounded) and checks what it
/// reported: exit 130 and `error: interrupted` last on stderr. `stderr`
/// holds what was read of it before (the rest is read here, from the pipe
/// or from `rest`). Returns stdout.
async fn interrupt(
    mut child: Child,
    stderr: String,
    rest: Option<Lines<BufReader<ChildStderr>>>,
) -> String {
    send_sigint(&child);
    let mut out = child.stdout.take().unwrap();
    let mut pipe = child.stderr.take();
    let read = async {
        let mut stdout = String::new();
        out.read_to_string(&mut stdout).await.unwrap();
        let mut stderr = stderr;
        if let Some(pipe) = &mut pipe {
            pipe.read_to_string(&mut stderr).await.unwrap();
        }
        if let Some(mut lines) = rest {
            while let Some(line) = lines.next_line().await.unwrap() {
                stderr.push_str(&line);
                stderr.push('\n');
            }
        }
        (child.wait().await.unwrap(), stdout, stderr)
    };
    let (status, stdout, stderr) = tokio::time::timeout(BOUND, read)
        .await
        .expect("the CLI ends once interrupted");
    assert_eq!(status.code(), Some(130), "{status:?}: {stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("error: interrupted"),
        "{stderr}"
    );
    stdout
}

#[tokio::test]
async fn ctrl_c_while_a_server_stalls_exits_130() {
    let server = TestServer::builder()
        .fault(Fault::Stall)
        .start()
        .await
        .unwrap();
    let child = start(&["ping", &server.url(), "--timeout", "600"]);
    wait_until("the stalled request reached the server", || {
        !server.requests().is_empty()
    })
    .await;
    let stdout = interrupt(child, String::new(), None).await;
    assert_eq!(stdout, "", "no result");
    server.stop().await;
}

/// `login` with `extra` options against a server from `auth`, interrupted
/// once stderr shows `waiting`: exit 130, no result, no token issued.
async fn interrupted_login(
    auth: mcp_oauth_testkit::AuthServerBuilder,
    extra: &[&str],
    waiting: &str,
) {
    let (auth, server) = protected(auth).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let url = server.url();
    let mut args = vec!["login"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&url, "--login-timeout", "600", "--cache-dir", cache]);
    let mut child = start(&args);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let seen = wait_for_line(&mut stderr, waiting).await;
    let stdout = interrupt(child, seen, Some(stderr)).await;
    assert_eq!(stdout, "", "no result");
    assert!(auth.tokens().is_empty(), "nothing was issued");
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn ctrl_c_while_waiting_for_the_browser_exits_130() {
    interrupted_login(AuthServer::builder(), &[], "Waiting for the browser").await;
}

#[tokio::test]
async fn ctrl_c_while_waiting_for_a_device_approval_exits_130() {
    let auth = AuthServer::builder()
        .login(LoginMode::Interactive)
        .device_authorization(std::time::Duration::from_secs(1));
    interrupted_login(auth, &["--device"], "To sign in, open ").await;
}

/// The demo too, while it waits for the sign-in (only `demo --serve`,
/// once signed in, takes Ctrl-C as the way to stop its servers).
#[tokio::test]
async fn ctrl_c_while_the_demo_waits_for_the_sign_in_exits_130() {
    let mut child = start(&["demo"]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let seen = wait_for_line(&mut stderr, "Waiting for the browser").await;
    let stdout = interrupt(child, seen, Some(stderr)).await;
    assert!(
        !stdout.contains("Hello from mcp-oauth"),
        "no tool was called: {stdout}"
    );
}

#[tokio::test]
async fn ctrl_c_while_the_proxy_serves_a_host_exits_130() {
    let server = TestServer::builder()
        .fault(Fault::HoldToolCalls)
        .start()
        .await
        .unwrap();
    let dir = crate::support::tempdir().unwrap();
    let (child, mut host) = start_proxy(&server.url(), dir.path(), "false");
    host.handshake().await;
    host.tell(echo(2, "held")).await;
    server_saw(&server, "tools/call", 1).await;
    send_sigint(&child);
    // Whatever it wrote before it ended is protocol; it exits with 130.
    let status = host.finish(child).await;
    assert_eq!(status.code(), Some(130), "{status:?}");
    server.stop().await;
}
