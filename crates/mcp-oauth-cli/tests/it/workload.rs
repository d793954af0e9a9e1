//! `--grant jwt-bearer`: workload identity federation from the command line.

use mcp_oauth_testkit::{AuthFault, AuthRequestKind, AuthServer};

use crate::support::{mcp_oauth, mcp_oauth_with_env, protected};

fn workload_auth() -> mcp_oauth_testkit::AuthServerBuilder {
    AuthServer::builder()
        .workload_identity(true)
        .dynamic_registration(false)
}

fn token_requests(auth: &AuthServer) -> usize {
    let requests = auth.requests();
    requests
        .iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .count()
}

#[tokio::test]
async fn a_rotating_assertion_file_is_read_for_each_run_and_never_shown() {
    let (auth, server) = protected(workload_auth()).await;
    let dir = crate::support::tempdir().unwrap();
    let (cache, file) = (dir.path().join("cache"), dir.path().join("token"));
    let first = auth.workload_assertion("job");
    std::fs::write(&file, &first).unwrap();
    let args = [
        "call",
        &server.url(),
        "echo",
        "--args",
        r#"{"text":"hi"}"#,
        "--grant",
        "jwt-bearer",
        "--assertion-file",
        file.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "-vv",
    ];
    let run = mcp_oauth_with_env(&args, &[("RUST_LOG", "trace")]).await;
    assert_eq!(run.success().stdout, "hi\n");
    let second = auth.workload_assertion("job");
    std::fs::write(&file, &second).unwrap();
    auth.expire_access_tokens();
    let again = mcp_oauth_with_env(&args, &[("RUST_LOG", "trace")]).await;
    again.success();
    let forms: Vec<String> = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .filter_map(|r| r.param("assertion").map(str::to_owned))
        .collect();
    assert_eq!(forms, [first.clone(), second.clone()]);
    for secret in [&first, &second] {
        for output in [&run.stderr, &run.stdout, &again.stderr, &again.stdout] {
            assert!(!output.contains(secret.as_str()), "the assertion was shown");
        }
    }
    for entry in std::fs::read_dir(&cache).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains(&second), "the assertion was stored");
    }
}

#[tokio::test]
async fn a_refused_assertion_is_sent_once_and_exits_6() {
    let (auth, server) = protected(workload_auth().fault(AuthFault::AssertionRefused)).await;
    let dir = crate::support::tempdir().unwrap();
    let assertion = auth.workload_assertion("job");
    let command = format!("printf %s {assertion}");
    let run = mcp_oauth(&[
        "tools",
        &server.url(),
        "--grant",
        "jwt-bearer",
        "--assertion-command",
        &command,
        "--client-id",
        "workload",
        "--cache-dir",
        dir.path().to_str().unwrap(),
    ])
    .await;
    run.exit(6);
    assert!(run.stderr.contains("invalid_grant"), "{}", run.stderr);
    assert!(!run.stderr.contains(&assertion));
    assert_eq!(token_requests(&auth), 1, "never retried");
    let requests = auth.requests();
    let token = requests
        .iter()
        .find(|r| r.kind == AuthRequestKind::Token)
        .unwrap();
    assert_eq!(token.param("client_id"), Some("workload"));
    assert!(requests.iter().all(|r| r.kind != AuthRequestKind::Register));
    assert!(
        requests
            .iter()
            .all(|r| r.kind != AuthRequestKind::Authorize)
    );
}

#[tokio::test]
async fn an_assertion_from_the_environment_and_the_usage_rules() {
    let (auth, server) = protected(workload_auth()).await;
    let dir = crate::support::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let assertion = auth.workload_assertion("job");
    let url = server.url();
    let run = mcp_oauth_with_env(
        &[
            "ping",
            &url,
            "--grant",
            "jwt-bearer",
            "--assertion-env",
            "WORKLOAD_JWT",
            "--cache-dir",
            cache,
        ],
        &[("WORKLOAD_JWT", &assertion)],
    )
    .await;
    run.success();
    // The grant needs a source, and a source needs the grant.
    let without = mcp_oauth(&["ping", &url, "--grant", "jwt-bearer", "--cache-dir", cache]).await;
    assert!(
        without.exit(2).stderr.contains("--assertion-file"),
        "{}",
        without.stderr
    );
    let stray = mcp_oauth(&["ping", &url, "--assertion-env", "X", "--cache-dir", cache]).await;
    stray.exit(2);
    let both = mcp_oauth(&[
        "ping",
        &url,
        "--grant",
        "jwt-bearer",
        "--assertion-env",
        "X",
        "--assertion-file",
        "f",
    ])
    .await;
    both.exit(2);
    // An unset variable: a clear error, no request.
    let unset = mcp_oauth(&[
        "ping",
        &url,
        "--grant",
        "jwt-bearer",
        "--assertion-env",
        "MCP_OAUTH_NO_SUCH_JWT",
        "--cache-dir",
        &format!("{cache}/other"),
    ])
    .await;
    assert!(
        unset.exit(2).stderr.contains("MCP_OAUTH_NO_SUCH_JWT"),
        "{}",
        unset.stderr
    );
    assert_eq!(token_requests(&auth), 1);
}
