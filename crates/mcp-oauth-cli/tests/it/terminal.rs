//! Hostile servers whose every text carries what a terminal obeys (escape
//! sequences that retitle or clear it, a C1 CSI, a bidi override, NUL, a
//! carriage return): nothing of it reaches the terminal raw, the person
//! sees it escaped, and `--json` still gives the exact text.

use std::path::Path;

use mcp_oauth_testkit::{AuthFault, AuthServer, AuthServerBuilder, TestServer, ToolAnswer};
use serde_json::{Value, json};

use crate::support::{BOUND, Run, cli, mcp_oauth, mcp_oauth_with_env, scripted_browser};

/// What the hostile servers write wherever they write text.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}\u{0}\r!";

/// How a person must see it.
const SHOWN: &str = "\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\\u{202e}\\x00\\x0d!";

/// A tool whose name and description are hostile.
const HOSTILE_TOOL: &str = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}\u{0}\r!";

/// Whether a terminal would act on `ch` (the test's own list, not the
/// library's): C0, DEL, C1, and the bidi controls.
fn acts_on_terminal(ch: char) -> bool {
    matches!(
        ch,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `text` holds nothing a terminal acts on, but for the line ends (and tabs
/// where `tabs`) of the layout.
fn assert_terminal_safe(what: &str, text: &str, tabs: bool) {
    let raw: Vec<char> = text
        .chars()
        .filter(|&ch| acts_on_terminal(ch) && ch != '\n' && !(tabs && ch == '\t'))
        .collect();
    assert!(raw.is_empty(), "{what} lets {raw:?} through: {text:?}");
}

/// Neither stream of `run` holds anything a terminal acts on.
fn assert_run_safe(what: &str, run: &Run) {
    assert_terminal_safe(&format!("{what} (stdout)"), &run.stdout, false);
    assert_terminal_safe(&format!("{what} (stderr)"), &run.stderr, false);
}

/// A server that says hostile things about itself and its tools.
async fn hostile_server() -> TestServer {
    TestServer::builder()
        .server_info(json!({ "name": HOSTILE, "version": HOSTILE, "title": HOSTILE }))
        .instructions(HOSTILE)
        .tool(HOSTILE_TOOL, HOSTILE, ToolAnswer::Text(HOSTILE.to_owned()))
        .tool(
            "lines",
            "Answers on several lines",
            ToolAnswer::Text(format!("first\n\tsecond {HOSTILE}\r\nthird")),
        )
        .tool(
            "refuse",
            "Answers with a JSON-RPC error",
            ToolAnswer::RpcError(HOSTILE.to_owned()),
        )
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn tools_shows_hostile_names_and_descriptions_escaped() {
    let server = hostile_server().await;
    let tools = mcp_oauth(&["tools", &server.url()]).await;
    tools.success();
    assert_run_safe("tools", &tools);
    let row = tools
        .stdout
        .lines()
        .find(|line| line.starts_with("evil"))
        .unwrap_or_else(|| panic!("no row for the hostile tool: {}", tools.stdout));
    assert!(row.contains(&format!("evil{SHOWN}")), "{row}");
    assert!(row.ends_with(SHOWN), "the description: {row}");
    assert_eq!(
        tools.stdout.lines().count(),
        7,
        "a header and one line per tool"
    );

    let json = mcp_oauth(&["tools", "--json", &server.url()]).await;
    json.success();
    assert_run_safe("tools --json", &json);
    let listed: Value = serde_json::from_str(&json.stdout).unwrap();
    let tool = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["name"] == HOSTILE_TOOL)
        .expect("the exact name");
    assert_eq!(tool["description"], HOSTILE);
    server.stop().await;
}

#[tokio::test]
async fn call_shows_a_hostile_result_escaped_with_its_lines_and_tabs() {
    let server = hostile_server().await;
    let call = mcp_oauth(&["call", &server.url(), "lines"]).await;
    call.success();
    assert_terminal_safe("call (stdout)", &call.stdout, true);
    assert_terminal_safe("call (stderr)", &call.stderr, false);
    assert_eq!(call.stdout, format!("first\n\tsecond {SHOWN}\nthird\n"));

    let json = mcp_oauth(&["call", "--json", &server.url(), "lines"]).await;
    json.success();
    assert_run_safe("call --json", &json);
    let result: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        result["content"][0]["text"],
        format!("first\n\tsecond {HOSTILE}\r\nthird")
    );

    // A tool named with escape sequences is called by that name.
    let call = mcp_oauth(&["call", &server.url(), "evil\u{1b}]0;pwned\u{7}"]).await;
    call.exit(7);
    assert_run_safe("call of an unknown hostile name", &call);
    assert!(
        call.stderr.contains("evil\\x1b]0;pwned\\x07"),
        "{}",
        call.stderr
    );
    server.stop().await;
}

#[tokio::test]
async fn a_hostile_json_rpc_error_is_reported_escaped() {
    let server = hostile_server().await;
    let call = mcp_oauth(&["call", &server.url(), "refuse"]).await;
    call.exit(7);
    assert_run_safe("call refused", &call);
    assert!(
        call.stderr
            .contains(&format!("server error -32603: {SHOWN}")),
        "{}",
        call.stderr
    );
    server.stop().await;
}

#[tokio::test]
async fn ping_shows_a_hostile_server_info_escaped() {
    let server = hostile_server().await;
    let ping = mcp_oauth(&["ping", &server.url()]).await;
    ping.success();
    assert_run_safe("ping", &ping);
    assert!(
        ping.stdout
            .starts_with(&format!("ok: {SHOWN} {SHOWN} answered in ")),
        "{}",
        ping.stdout
    );
    assert_eq!(ping.stdout.lines().count(), 1, "{}", ping.stdout);

    let json = mcp_oauth(&["ping", "--json", &server.url()]).await;
    json.success();
    assert_run_safe("ping --json", &json);
    let answer: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(answer["server"]["name"], HOSTILE);
    assert_eq!(answer["server"]["version"], HOSTILE);
    server.stop().await;
}

/// Runs the CLI with `cache` and a browser that approves at once.
async fn signed_in_run(args: &[&str], cache: &Path, browser: &str) -> Run {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--cache-dir", cache.to_str().unwrap()]);
    if args.first() != Some(&"status") {
        full.extend(["--login-timeout", "15"]);
    }
    mcp_oauth_with_env(&full, &[("BROWSER", browser)]).await
}

/// Starts `auth` and a server it protects, whose metadata names `resource`
/// when given.
async fn protected_with(
    auth: AuthServerBuilder,
    resource: Option<&str>,
) -> (AuthServer, TestServer) {
    let auth = auth.start().await.unwrap();
    let mut server = TestServer::builder().protected_by(&auth);
    if let Some(resource) = resource {
        server = server.prm_resource(resource);
    }
    (auth, server.start().await.unwrap())
}

#[tokio::test]
async fn login_and_status_show_a_hostile_scope_and_client_id_escaped() {
    let (auth, server) = protected_with(
        AuthServer::builder()
            .fault(AuthFault::TokenScope(HOSTILE))
            .fault(AuthFault::RegisteredClientId(HOSTILE)),
        None,
    )
    .await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let browser = scripted_browser(dir.path());
    let url = server.url();

    let login = signed_in_run(&["login", &url], &cache, &browser).await;
    login.success();
    assert_run_safe("login", &login);
    assert!(
        login
            .stdout
            .contains(&format!(": scope {SHOWN}, expires in")),
        "{}",
        login.stdout
    );

    let status = signed_in_run(&["status"], &cache, "false").await;
    status.success();
    assert_run_safe("status", &status);
    assert!(
        status
            .stdout
            .contains(&format!("client {SHOWN}  scope \"{SHOWN}\"")),
        "{}",
        status.stdout
    );

    let json = signed_in_run(&["status", "--json"], &cache, "false").await;
    json.success();
    assert_run_safe("status --json", &json);
    let listed: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(listed[0]["client_id"], HOSTILE);
    assert_eq!(listed[0]["scope"], HOSTILE);

    // Logged in again, with --json: the same exact words.
    let login = signed_in_run(&["login", "--json", &url], &cache, &browser).await;
    login.success();
    assert_run_safe("login --json", &login);
    let answer: Value = serde_json::from_str(&login.stdout).unwrap();
    assert_eq!(answer["client_id"], HOSTILE);
    assert_eq!(answer["scope"], HOSTILE);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_hostile_registration_refusal_is_reported_escaped() {
    let (auth, server) = protected_with(
        AuthServer::builder().fault(AuthFault::RegistrationRejectedWith(HOSTILE)),
        None,
    )
    .await;
    let dir = crate::support::tempdir().unwrap();
    let login = signed_in_run(
        &["login", &server.url()],
        &dir.path().join("cache"),
        "false",
    )
    .await;
    login.exit(6);
    assert_run_safe("login refused", &login);
    assert!(
        login
            .stderr
            .contains(&format!("failed: invalid_client_metadata: {SHOWN}")),
        "{}",
        login.stderr
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_hostile_resource_is_refused_and_named_escaped() {
    let (auth, server) = protected_with(AuthServer::builder(), Some(HOSTILE)).await;
    let dir = crate::support::tempdir().unwrap();
    let ping = signed_in_run(&["ping", &server.url()], &dir.path().join("cache"), "false").await;
    ping.exit(6);
    assert_run_safe("ping refused", &ping);
    assert!(
        ping.stderr
            .contains(&format!("claims to be the resource {SHOWN};")),
        "{}",
        ping.stderr
    );
    auth.stop().await;
    server.stop().await;
}

/// The proxy's stderr, its log included, reaches the terminal the host was
/// started from.
#[tokio::test]
async fn the_proxy_logs_and_reports_a_hostile_resource_escaped() {
    let (auth, server) = protected_with(AuthServer::builder(), Some(HOSTILE)).await;
    let dir = crate::support::tempdir().unwrap();
    let mut proxy = cli()
        .args(["proxy", "-v", &server.url(), "--cache-dir"])
        .arg(dir.path().join("cache"))
        .env("BROWSER", "false")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = proxy.stdin.take().unwrap();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "scripted-host", "version": "1" } }
    });
    tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{initialize}\n").as_bytes())
        .await
        .unwrap();
    let output = tokio::time::timeout(BOUND, proxy.wait_with_output())
        .await
        .expect("the proxy gives up on a server it must not authorize for")
        .unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(6), "{stderr}");
    assert_terminal_safe("the proxy's stderr", &stderr, false);
    assert!(
        stderr.contains(&format!("claims to be the resource {SHOWN};")),
        "{stderr}"
    );
    auth.stop().await;
    server.stop().await;
}
