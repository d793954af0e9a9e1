//! Runs the built binary with a bound on every run; plays a stdio host
//! for `mcp-oauth proxy`.

use std::{process::Output, time::Duration};

use mcp_oauth_testkit::{AuthServer, AuthServerBuilder, Fault, ResponseStyle, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};

/// The outcome of one run of the CLI.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    pub(crate) fn exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "expected exit {code}: {self:#?}");
        self
    }
}

pub(crate) async fn mcp_oauth(args: &[&str]) -> Run {
    mcp_oauth_with_env(args, &[]).await
}

pub(crate) async fn mcp_oauth_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = cli_command(args);
    for (key, value) in env {
        command.env(key, value);
    }
    finish(command, std::process::Stdio::piped()).await
}

/// Runs the CLI with its stdout going to `stdout` (the run's `stdout` is
/// then empty).
pub(crate) async fn mcp_oauth_writing_to(args: &[&str], stdout: std::fs::File) -> Run {
    finish(cli_command(args), stdout.into()).await
}

/// Runs `command` (built with [`without_settings`]) to its end, bounded.
pub(crate) async fn run_to_end(command: tokio::process::Command) -> Run {
    finish(command, std::process::Stdio::piped()).await
}

fn cli_command(args: &[&str]) -> tokio::process::Command {
    let mut command = cli();
    command.args(args);
    command
}

/// The proxy settings of a developer's environment (curl's, reqwest's):
/// never passed to the CLI, whose servers here are all on loopback.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The CLI as a test starts it: none of the environment variables that
/// would change what it does (credentials, logging, proxies), stdin empty,
/// and killed if the test ends first.
pub(crate) fn cli() -> tokio::process::Command {
    without_settings(tokio::process::Command::new(env!(
        "CARGO_BIN_EXE_mcp-oauth"
    )))
}

/// `command` (the CLI, or a program that starts it) without the environment
/// variables that would change what the CLI does, stdin empty, and killed
/// if the test ends first.
pub(crate) fn without_settings(mut command: tokio::process::Command) -> tokio::process::Command {
    for variable in PROXY_VARIABLES.iter().chain(&[
        "MCP_OAUTH_BEARER",
        "MCP_OAUTH_CLIENT_SECRET",
        "RUST_LOG",
        "MCP_OAUTH_STORE",
        "MCP_OAUTH_STORE_KEY",
        "MCP_OAUTH_STORE_PREFIX",
        "MCP_OAUTH_STORE_LEASE",
        "MCP_OAUTH_STORE_CA_FILE",
        "MCP_OAUTH_CONFIG",
        "CLAUDE_CODE_MCP_SERVER_URL",
    ]) {
        command.env_remove(variable);
    }
    command
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// An HTTP client for the test's own requests to loopback servers: no
/// proxy, whatever the environment says.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// How long a test waits for any one condition (a request logged, a line
/// printed): far beyond what any of them takes, even on a busy machine.
pub(crate) const BOUND: Duration = Duration::from_secs(30);

/// Waits until `condition` holds, checking every 10 ms, for [`BOUND`] at most.
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let reached = async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(BOUND, reached)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {BOUND:?}"));
}

/// Makes the access token cached in `cache` for `url` expired an hour ago,
/// as if the run that stored it were long past; the refresh token stays.
/// The tokens a refresh brings can then live an hour: no test depends on
/// the machine being fast enough to use a short-lived token in time.
pub(crate) fn age_stored_tokens(url: &str, cache: &std::path::Path) {
    let path = stored_document(url, cache);
    let mut document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    age_tokens(&mut document);
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
}

/// Makes the access token of a credentials document expired an hour ago
/// (see [`age_stored_tokens`]), wherever the document is kept.
pub(crate) fn age_tokens(document: &mut Value) {
    let tokens = document["tokens"].as_object_mut().expect("stored tokens");
    let received = tokens["received_at"].as_u64().unwrap().saturating_sub(7200);
    tokens.insert("received_at".into(), json!(received));
    tokens.insert("expires_at".into(), json!(received + 3600));
    tokens.remove("received_at_ms");
    tokens.remove("expires_at_ms");
}

/// Where the CLI caches the credentials of `url` under `cache`.
pub(crate) fn stored_document(url: &str, cache: &std::path::Path) -> std::path::PathBuf {
    mcp_oauth::FileTokenStorage::in_dir(url, cache)
        .unwrap()
        .path()
}

async fn finish(mut command: tokio::process::Command, stdout: std::process::Stdio) -> Run {
    let child = command
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the CLI could be run");
    let output: Output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the CLI finished within 30 s")
        .expect("the CLI's output could be read");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Starts `auth`, and a testkit server it protects.
pub(crate) async fn protected(auth: AuthServerBuilder) -> (AuthServer, TestServer) {
    let auth = auth.start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    (auth, server)
}

/// An unprotected testkit server speaking 2025-06-18 with one response style
/// and one fault.
pub(crate) async fn server(style: ResponseStyle, fault: Fault) -> TestServer {
    TestServer::builder()
        .protocol_versions(&["2025-06-18"])
        .responses(style)
        .fault(fault)
        .start()
        .await
        .unwrap()
}

/// A `tools/call` of `echo`.
pub(crate) fn echo(id: impl Into<Value>, text: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id.into(), "method": "tools/call",
        "params": { "name": "echo", "arguments": { "text": text } }
    })
}

/// A "browser" that follows the authorization redirect into the callback,
/// as a person who approves at once would.
pub(crate) fn scripted_browser(dir: &std::path::Path) -> String {
    let script = dir.join("browser.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nexec curl -s -L --noproxy '*' --max-time 10 -o /dev/null \"$1\"\n",
    )
    .unwrap();
    // Run through sh: no exec of a file that was just written (ETXTBSY).
    format!("sh {}", script.display())
}

/// Starts `mcp-oauth proxy url` with the host's pipes; stderr is discarded.
pub(crate) fn start_proxy(
    url: &str,
    cache: &std::path::Path,
    browser: &str,
) -> (tokio::process::Child, Host) {
    let mut proxy = proxy_command(url, cache, browser)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let host = Host::of(&mut proxy);
    (proxy, host)
}

/// Starts `mcp-oauth -vv proxy url` with `RUST_LOG=trace`: the host's pipes,
/// and the whole log, read as it comes (so that the proxy never blocks on a
/// full pipe) and handed over once the proxy has exited.
pub(crate) fn start_logging_proxy(
    url: &str,
    cache: &std::path::Path,
    browser: &str,
) -> (tokio::process::Child, Host, tokio::task::JoinHandle<String>) {
    let mut proxy = proxy_command(url, cache, browser)
        .arg("-vv")
        .env("RUST_LOG", "trace")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let host = Host::of(&mut proxy);
    let mut stderr = proxy.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut log = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stderr, &mut log)
            .await
            .unwrap();
        String::from_utf8_lossy(&log).into_owned()
    });
    (proxy, host, log)
}

/// Starts `mcp-oauth proxy url` with the host's pipes and `extra` arguments
/// (none: the verbosity a host runs it with), and its stderr read line by
/// line as it comes, as a host keeps it in its log.
pub(crate) fn start_proxy_with_log(
    url: &str,
    cache: &std::path::Path,
    extra: &[&str],
) -> (tokio::process::Child, Host, ProxyLog) {
    let mut proxy = proxy_command(url, cache, "false")
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let host = Host::of(&mut proxy);
    let mut stderr = BufReader::new(proxy.stderr.take().unwrap()).lines();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let filled = lines.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            filled.lock().unwrap().push(line);
        }
    });
    (proxy, host, ProxyLog { lines, reader })
}

/// The proxy's stderr, as read so far.
pub(crate) struct ProxyLog {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl ProxyLog {
    /// The lines that contain `text`.
    pub(crate) fn lines_with(&self, text: &str) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// Every line, once the proxy has exited (its stderr read to the end).
    pub(crate) async fn all(self) -> Vec<String> {
        tokio::time::timeout(BOUND, self.reader)
            .await
            .expect("stderr ends with the proxy")
            .unwrap();
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

/// The peak resident memory of the running process `pid` so far (Linux's
/// `VmHWM`), in bytes.
pub(crate) fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"));
    kib * 1024
}

pub(crate) fn proxy_command(
    url: &str,
    cache: &std::path::Path,
    browser: &str,
) -> tokio::process::Command {
    let mut command = cli();
    command
        .args(["proxy", url, "--login-timeout", "15", "--cache-dir"])
        .arg(cache)
        .env("BROWSER", browser)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    command
}

/// How long a host waits for any one line from the proxy.
const LINE_WAIT: Duration = Duration::from_secs(20);

/// A scripted stdio host: its side of the proxy's pipes, and everything the
/// proxy wrote to it.
pub(crate) struct Host {
    stdin: Option<tokio::process::ChildStdin>,
    stdout: Lines<BufReader<tokio::process::ChildStdout>>,
    /// Every message read from the proxy's stdout, in order.
    pub(crate) seen: Vec<Value>,
}

impl Host {
    /// The host's side of `proxy`'s stdin and stdout.
    pub(crate) fn of(proxy: &mut tokio::process::Child) -> Self {
        Self {
            stdin: proxy.stdin.take(),
            stdout: BufReader::new(proxy.stdout.take().unwrap()).lines(),
            seen: Vec::new(),
        }
    }

    pub(crate) async fn tell(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }

    /// Writes `bytes` as they are: for input that is not one JSON message
    /// and a newline.
    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).await.unwrap();
    }

    /// The proxy's stdin, for a writer of its own (the host then reads
    /// while it writes).
    pub(crate) fn take_input(&mut self) -> tokio::process::ChildStdin {
        self.stdin.take().expect("stdin still open")
    }

    /// The host's `initialize`, answered through the proxy.
    pub(crate) async fn initialize(&mut self) -> Value {
        let answer = self
            .ask(json!({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": { "protocolVersion": "2025-06-18", "capabilities": { "roots": { "listChanged": true } },
                            "clientInfo": { "name": "scripted-host", "version": "1" } }
            }))
            .await;
        assert_eq!(
            answer["result"]["serverInfo"]["name"], "mcp-oauth-testkit",
            "{answer}"
        );
        answer
    }

    /// `initialize`, then `notifications/initialized`.
    pub(crate) async fn handshake(&mut self) -> Value {
        let answer = self.initialize().await;
        self.tell(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        answer
    }

    /// Sends a request; the next line must be its answer.
    pub(crate) async fn ask(&mut self, message: Value) -> Value {
        let id = message["id"].clone();
        self.tell(message).await;
        let answer = self.next().await;
        assert_eq!(answer["id"], id, "the next line answers the request");
        answer
    }

    /// Reads until the answer to request `id`: the messages that came
    /// before it, and the answer. The whole wait is bounded, not only each
    /// line.
    pub(crate) async fn answer_to(&mut self, id: &Value) -> (Vec<Value>, Value) {
        let read = async {
            let mut before = Vec::new();
            loop {
                let message = self.next().await;
                if is_answer(&message) && &message["id"] == id {
                    return (before, message);
                }
                before.push(message);
            }
        };
        tokio::time::timeout(LINE_WAIT, read)
            .await
            .unwrap_or_else(|_| panic!("no answer to request {id} within {LINE_WAIT:?}"))
    }

    /// The next message from the proxy (bounded wait); it must be JSON-RPC.
    pub(crate) async fn next(&mut self) -> Value {
        let line = self.next_line().await;
        let message = protocol_line(&line);
        self.seen.push(message.clone());
        message
    }

    /// The next line from the proxy, as it is (bounded wait).
    pub(crate) async fn next_line(&mut self) -> String {
        tokio::time::timeout(LINE_WAIT, self.stdout.next_line())
            .await
            .expect("a line from the proxy in time")
            .unwrap()
            .expect("the proxy's stdout is still open")
    }

    /// Closes the proxy's stdin, as a host that quits does.
    pub(crate) fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Closes stdin, reads stdout to its end and waits for the proxy to exit
    /// (bounded). Checks the whole transcript: only JSON-RPC lines, and no
    /// request answered twice.
    pub(crate) async fn finish(
        &mut self,
        mut proxy: tokio::process::Child,
    ) -> std::process::ExitStatus {
        self.close_input();
        let rest = async {
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                self.seen.push(protocol_line(&line));
            }
        };
        tokio::time::timeout(LINE_WAIT, rest)
            .await
            .expect("stdout ends once stdin is closed");
        let status = tokio::time::timeout(LINE_WAIT, proxy.wait())
            .await
            .expect("the proxy exits once stdin is closed")
            .unwrap();
        let mut answered = std::collections::HashSet::new();
        for message in self.seen.iter().filter(|m| is_answer(m)) {
            assert!(
                answered.insert(message["id"].to_string()),
                "request {} answered twice: {:#?}",
                message["id"],
                self.seen
            );
        }
        status
    }
}

/// A JSON-RPC response or error (not a request or notification).
pub(crate) fn is_answer(message: &Value) -> bool {
    message.get("method").is_none() && message.get("id").is_some()
}

/// A line of the proxy's stdout, which must be one JSON-RPC 2.0 message.
fn protocol_line(line: &str) -> Value {
    let message: Value = serde_json::from_str(line)
        .unwrap_or_else(|_| panic!("stdout carries only JSON-RPC, got: {line}"));
    assert_eq!(message["jsonrpc"], "2.0", "{line}");
    let call = message["method"].is_string();
    let answer = message.get("id").is_some()
        && (message.get("result").is_some() != message.get("error").is_some());
    assert!(call != answer, "not one JSON-RPC message: {line}");
    message
}

/// Waits (bounded) until `server` has recorded `count` POSTs of JSON-RPC
/// `method`.
pub(crate) async fn server_saw(server: &mcp_oauth_testkit::TestServer, method: &str, count: usize) {
    let received = || {
        server
            .requests()
            .iter()
            .filter(|r| r.rpc_method.as_deref() == Some(method))
            .count()
    };
    let seen = async {
        while received() < count {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(LINE_WAIT, seen)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the server received {method} {} times, not {count}",
                received()
            )
        });
}

/// A temporary folder only this user may enter, whatever the umask: the
/// store refuses a cache folder others may write in, and under a umask of
/// 002 `tempfile::tempdir()` makes one its group may write in.
pub(crate) fn tempdir() -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir()
}
