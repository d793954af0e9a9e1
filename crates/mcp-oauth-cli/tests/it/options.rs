//! Which options each command takes: an option a command would ignore is a
//! usage error (exit 2), what clap can check is checked before any request,
//! and the defaults shown are the library's.

use mcp_oauth::{ClientBuilder, OAuthBuilder};

use crate::support::{Run, mcp_oauth, mcp_oauth_with_env};

/// Nothing listens here: exit 2 rather than 3 shows the command line was
/// refused before any connection was tried.
const NOWHERE: &str = "http://127.0.0.1:1/mcp";

fn assert_usage_error(run: &Run, mentions: &str) {
    run.exit(2);
    assert!(run.stderr.contains(mentions), "{mentions}: {}", run.stderr);
    assert_eq!(run.stdout, "");
}

/// `--help` text on one line, so that wrapping does not matter.
async fn help(args: &[&str]) -> String {
    let mut full = args.to_vec();
    full.push("--help");
    let run = mcp_oauth(&full).await;
    run.success()
        .stdout
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn oauth_options_are_refused_where_nothing_signs_in() {
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    for args in [
        &["status", "--client-secret", "x"][..],
        &["status", "--scopes", "read"],
        &["logout", "--all", "--callback-port", "8765"],
        &["logout", NOWHERE, "--client-id", "x"],
        &["token", NOWHERE, "--login-timeout", "5"],
        &["token", NOWHERE, "--bearer", "x"],
        &["completions", "bash", "--client-id", "x"],
        &["completions", "bash", "--timeout", "5"],
        &["proxy", NOWHERE, "--timeout", "5"],
        &["demo", "--scopes", "read"],
        &["demo", "--client-id", "x"],
    ] {
        let mut full = args.to_vec();
        full.extend(["--cache-dir", cache]);
        let run = mcp_oauth(&full).await;
        assert_usage_error(&run, "unexpected argument");
    }
    // Options of a command come after its name; only --json, -v and
    // --cache-dir may come first.
    let run = mcp_oauth(&["--scopes", "read", "ping", NOWHERE]).await;
    assert_usage_error(&run, "unexpected argument '--scopes'");
}

#[tokio::test]
async fn option_environment_variables_matter_only_where_the_option_exists() {
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let secret = [("MCP_OAUTH_CLIENT_SECRET", "s3cret")];
    let run = mcp_oauth_with_env(&["status", "--json", "--cache-dir", cache], &secret).await;
    assert_eq!(run.success().stdout.trim(), "[]");
}

#[tokio::test]
async fn global_options_come_before_or_after_the_command() {
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    for args in [
        &["--json", "--cache-dir", cache, "status"][..],
        &["status", "--json", "--cache-dir", cache],
        &["-v", "--json", "status", "--cache-dir", cache],
    ] {
        let run = mcp_oauth(args).await;
        assert_eq!(run.success().stdout.trim(), "[]", "{args:?}");
    }
}

#[tokio::test]
async fn help_lists_only_the_options_a_command_uses() {
    let sign_in = [
        "--scopes",
        "--client-id",
        "--client-secret",
        "--callback-port",
        "--no-browser",
        "--device",
        "--grant",
        "--login-timeout",
    ];
    for command in [&["completions"][..], &["status"], &["logout"], &["token"]] {
        let text = help(command).await;
        for option in sign_in
            .iter()
            .chain(&["--bearer", "--timeout", "--transport"])
        {
            assert!(!text.contains(option), "{command:?} lists {option}: {text}");
        }
    }
    for command in ["ping", "tools", "call", "login", "proxy"] {
        let text = help(&[command]).await;
        for option in sign_in {
            assert!(text.contains(option), "{command} lacks {option}");
        }
    }
    // The demo keeps its tokens in memory and registers itself.
    let demo = help(&["demo"]).await;
    assert!(demo.contains("--login-timeout") && demo.contains("--device"));
    assert!(!demo.contains("--client-id") && !demo.contains("--bearer"));
}

#[tokio::test]
async fn the_defaults_shown_are_the_librarys() {
    let request = ClientBuilder::DEFAULT_TIMEOUT.as_secs();
    let sign_in = OAuthBuilder::DEFAULT_SIGN_IN_TIMEOUT.as_secs();
    for command in ["ping", "tools", "call", "login"] {
        let text = help(&[command]).await;
        let shown = format!(
            "--timeout <SECS> Seconds to wait for the connection and for each request \
             [default: {request}]"
        );
        assert!(text.contains(&shown), "{command}: {text}");
    }
    for command in ["ping", "login", "proxy", "demo"] {
        let text = help(&[command]).await;
        let shown =
            format!("--login-timeout <SECS> Seconds to wait for the sign-in [default: {sign_in}]");
        assert!(text.contains(&shown), "{command}: {text}");
    }
}

#[tokio::test]
async fn clap_checks_values_and_combinations_before_any_request() {
    for (args, mentions) in [
        (&["ping", NOWHERE, "--timeout", "0"][..], "--timeout"),
        (&["ping", NOWHERE, "--timeout", "90000"], "at most 86400"),
        (
            &["login", NOWHERE, "--login-timeout", "-1"],
            "--login-timeout",
        ),
        (
            &["login", NOWHERE, "--callback-port", "0"],
            "--callback-port",
        ),
        (
            &["login", NOWHERE, "--callback-port", "70000"],
            "--callback-port",
        ),
        (&["login", NOWHERE, "--device", "--no-browser"], "--device"),
        (
            &["login", NOWHERE, "--device", "--callback-port", "8765"],
            "--device",
        ),
        (&["ping", NOWHERE, "--client-secret", "s"], "--client-id"),
        (
            &["call", NOWHERE, "echo", "--grant", "client-credentials"],
            "--client-id",
        ),
        (
            &[
                "ping",
                NOWHERE,
                "--grant",
                "cross-app-access",
                "--client-id",
                "x",
            ],
            "--idp-token-endpoint",
        ),
        (
            &["ping", NOWHERE, "--signing-alg", "RS256"],
            "--private-key",
        ),
        (
            &["ping", NOWHERE, "--client-metadata", "[1]"],
            "expected a JSON object",
        ),
        (&["tools", NOWHERE, "--stdio", "--", "server"], "--stdio"),
        (&["logout", NOWHERE, "--all"], "--all"),
    ] {
        let run = mcp_oauth(args).await;
        assert_usage_error(&run, mentions);
    }
}
