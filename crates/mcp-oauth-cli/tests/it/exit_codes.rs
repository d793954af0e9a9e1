//! The README's table of exit codes, walked: for each code it lists, a real
//! failure of that class, provoked against a server on loopback, ends the
//! CLI with that code. The table is read from the README, so a code added
//! there without a case here fails the test.

use std::{collections::BTreeSet, path::Path};

use mcp_oauth_testkit::{AuthFault, AuthServer, Fault, TestServer};
use serde_json::Value;

use crate::support::{Run, mcp_oauth, mcp_oauth_with_env, protected, scripted_browser};

/// Codes provoked by tests elsewhere, and where: Ctrl-C needs a signal
/// sent while the CLI waits.
const PROVOKED_ELSEWHERE: [(i32, &str); 1] = [(130, "interrupt.rs")];

/// What a token endpoint bent on header injection answers.
const INJECTING: &str = "fresh\r\nX-Injected: yes";

/// The hint a failure gives when the command line is to blame.
const OPTIONS_HINT: &str = "check the options given";

/// The codes of the documented exit-code table (docs/cli.md), in its order.
fn readme_codes() -> Vec<i32> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(manifest.join("../../docs/cli.md"))
        .expect("the command line's documentation can be read");
    let (_, table) = readme
        .split_once("Exit codes:")
        .expect("the README has its exit-code table");
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1)?.trim().parse().ok())
        .collect()
}

/// The `hint:` line of a run, if any.
fn hint(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|line| line.starts_with("hint: "))
        .unwrap_or("")
}

/// The cases run so far, by the code they ended with.
#[derive(Default)]
struct Walk {
    covered: BTreeSet<i32>,
}

impl Walk {
    /// `run`, the case `what`, must end with `code`; a failure must say why
    /// on stderr and give a hint, and print nothing on stdout but a tool's
    /// own output.
    fn expect<'r>(&mut self, what: &str, run: &'r Run, code: i32) -> &'r Run {
        assert_eq!(
            run.code,
            Some(code),
            "{what}: expected exit {code}: {run:#?}"
        );
        if code != 0 {
            assert!(run.stderr.contains("error: "), "{what}: {run:#?}");
        }
        if code >= 2 {
            assert!(!hint(run).is_empty(), "{what}: no hint: {run:#?}");
        }
        self.covered.insert(code);
        run
    }
}

#[tokio::test]
async fn every_exit_code_of_the_readme_is_what_its_failure_exits_with() {
    let mut walk = Walk::default();
    let server = TestServer::builder().start().await.unwrap();
    let url = server.url();

    walk.expect("a ping", &mcp_oauth(&["ping", &url]).await, 0);
    walk.expect("a tool error", &mcp_oauth(&["call", &url, "fail"]).await, 1);
    let bad_args = mcp_oauth(&["call", &url, "echo", "--args", "{not json"]).await;
    walk.expect("--args that is not JSON", &bad_args, 2);
    let bad_bearer = mcp_oauth(&["ping", &url, "--bearer", "a\nb"]).await;
    // An option given is the one to fix.
    let bad_bearer = walk.expect("a --bearer with a line break", &bad_bearer, 2);
    assert!(hint(bad_bearer).contains(OPTIONS_HINT), "{bad_bearer:#?}");
    walk.expect(
        "an invalid URL",
        &mcp_oauth(&["ping", "ftp://x/mcp"]).await,
        2,
    );
    let unknown_tool = mcp_oauth(&["call", &url, "no-such-tool"]).await;
    walk.expect("an unknown tool", &unknown_tool, 7);
    server.stop().await;

    unreachable(&mut walk).await;
    not_mcp_and_timeout(&mut walk).await;
    authorization(&mut walk).await;
    malformed_token_answers(&mut walk).await;
    stored_token_that_cannot_be_sent(&mut walk).await;
    local_failure(&mut walk).await;

    for (code, test) in PROVOKED_ELSEWHERE {
        assert!(
            !walk.covered.contains(&code),
            "{code} is provoked in {test}"
        );
        walk.covered.insert(code);
    }
    let documented: BTreeSet<i32> = readme_codes().into_iter().collect();
    assert!(documented.len() >= 10, "the table was read: {documented:?}");
    assert_eq!(
        documented, walk.covered,
        "every code of the README's table has a case here, and no other code is used"
    );
}

async fn unreachable(walk: &mut Walk) {
    // Bound but not listening: connections are refused, and no other
    // server can take the port while the case runs.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let run = mcp_oauth(&["ping", &format!("http://127.0.0.1:{port}/mcp")]).await;
    walk.expect("a refused port", &run, 3);
    let run = mcp_oauth(&["ping", "--stdio", "--", "/nonexistent/mcp-server"]).await;
    walk.expect("a --stdio command that cannot start", &run, 3);
    drop(held);
}

async fn not_mcp_and_timeout(walk: &mut Walk) {
    let html = TestServer::builder()
        .fault(Fault::HtmlPage)
        .start()
        .await
        .unwrap();
    walk.expect("an HTML page", &mcp_oauth(&["ping", &html.url()]).await, 4);
    html.stop().await;
    let stalled = TestServer::builder()
        .fault(Fault::Stall)
        .start()
        .await
        .unwrap();
    let run = mcp_oauth(&["ping", &stalled.url(), "--timeout", "1"]).await;
    walk.expect("a stalled server", &run, 5);
    stalled.stop().await;
}

async fn authorization(walk: &mut Walk) {
    let server = TestServer::builder().bearer("right").start().await.unwrap();
    let run = mcp_oauth(&["ping", &server.url(), "--bearer", "wrong"]).await;
    walk.expect("a refused bearer token", &run, 6);
    server.stop().await;
}

/// A sign-in whose token endpoint answers something that is no token
/// answer: the token endpoint's failure (6), with a hint that points there,
/// and no tokens stored.
async fn malformed_token_answers(walk: &mut Walk) {
    let cases = [
        ("an unknown token_type", AuthFault::TokenType("DPoP")),
        ("a body that is not JSON", AuthFault::MalformedTokenBody),
        ("a body larger than allowed", AuthFault::HugeTokenBody),
        ("no access_token", AuthFault::NoAccessToken),
        (
            "an access_token with a line break",
            AuthFault::AccessToken(INJECTING),
        ),
    ];
    for (what, fault) in cases {
        let (auth, server) = protected(AuthServer::builder().fault(fault)).await;
        let dir = crate::support::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let run = login(&server, &cache, &scripted_browser(dir.path())).await;
        let run = walk.expect(what, &run, 6);
        assert!(hint(run).contains("token endpoint"), "{what}: {run:#?}");
        assert!(!run.stderr.contains("X-Injected"), "{what}: {run:#?}");
        // The registration may be kept for the next attempt; no tokens are.
        let stored = std::fs::read(crate::support::stored_document(&server.url(), &cache))
            .map(|bytes| serde_json::from_slice::<Value>(&bytes).unwrap())
            .unwrap_or_default();
        assert!(stored.get("tokens").is_none(), "{what}: {stored}");
        server.stop().await;
        auth.stop().await;
    }
}

async fn login(server: &TestServer, cache: &Path, browser: &str) -> Run {
    let cache = cache.to_str().unwrap();
    let args = [
        "login",
        &server.url(),
        "--cache-dir",
        cache,
        "--login-timeout",
        "15",
    ];
    mcp_oauth_with_env(&args, &[("BROWSER", browser)]).await
}

/// A stored access token a header cannot carry (written by an older
/// version, or by hand), without a refresh token: `token` prints nothing
/// and asks for a sign-in (6); no option is to blame (not 2).
async fn stored_token_that_cannot_be_sent(walk: &mut Walk) {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let signed_in = login(&server, &cache, &scripted_browser(dir.path())).await;
    walk.expect("a sign-in", &signed_in, 0);
    let path = crate::support::stored_document(&url, &cache);
    let mut document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let tokens = document["tokens"].as_object_mut().unwrap();
    tokens.insert("access_token".into(), INJECTING.into());
    tokens.remove("refresh_token");
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();

    let cache = cache.to_str().unwrap();
    let run = mcp_oauth(&["token", &url, "--cache-dir", cache]).await;
    let run = walk.expect("a stored token that cannot be sent", &run, 6);
    assert_eq!(run.stdout, "", "nothing is printed");
    assert!(!hint(run).contains(OPTIONS_HINT), "{run:#?}");
    assert!(hint(run).contains("mcp-oauth login"), "{run:#?}");
    assert!(!run.stderr.contains("X-Injected"), "{run:#?}");
    server.stop().await;
    auth.stop().await;
}

async fn local_failure(walk: &mut Walk) {
    let dir = crate::support::tempdir().unwrap();
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "").unwrap();
    let run = mcp_oauth(&["status", "--cache-dir", not_a_folder.to_str().unwrap()]).await;
    walk.expect("a cache folder that is a file", &run, 8);
}
