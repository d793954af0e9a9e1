//! Named servers: `servers add|list|remove`, a name wherever a URL is
//! taken, the options kept with it, and a config file that is wrong.

use std::path::{Path, PathBuf};

use mcp_oauth_testkit::{AuthServer, TestServer};
use serde_json::{Value, json};

use crate::support::{Run, mcp_oauth_with_env, protected, scripted_browser};

/// Runs the CLI with the config file `config` (named by the environment, as
/// a host would set it once), no browser but `browser`.
async fn run(args: &[&str], config: &Path, browser: &str) -> Run {
    mcp_oauth_with_env(
        args,
        &[
            ("MCP_OAUTH_CONFIG", config.to_str().unwrap()),
            ("BROWSER", browser),
        ],
    )
    .await
}

fn listed(run: &Run) -> Value {
    serde_json::from_str(&run.success().stdout).unwrap()
}

#[tokio::test]
async fn a_named_server_is_added_listed_used_and_removed() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let dir = crate::support::tempdir().unwrap();
    let config = dir.path().join("config").join("config.toml");
    let cache = dir.path().join("cache");
    let url = server.url();

    let added = run(
        &[
            "servers",
            "add",
            "demo",
            &url,
            "--account",
            "work",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--login-timeout",
            "15",
        ],
        &config,
        "false",
    )
    .await;
    assert!(
        added
            .success()
            .stdout
            .starts_with(&format!("Kept demo: {url} with --account work")),
        "{}",
        added.stdout
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the config file is the user's only");
    }
    let list = run(&["servers", "list", "--json"], &config, "false").await;
    assert_eq!(
        listed(&list),
        json!([{
            "name": "demo",
            "url": url,
            "options": {
                "account": "work",
                "cache-dir": cache.to_str().unwrap(),
                "login-timeout": "15",
            }
        }])
    );
    let table = run(&["servers", "list"], &config, "false").await;
    assert!(
        table.success().stdout.starts_with("NAME  URL"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains(&format!("demo  {url}  --account work"))
    );

    // The name stands for the URL, its account and cache folder with it.
    let browser = scripted_browser(dir.path());
    let login = run(&["login", "demo"], &config, &browser).await;
    assert!(
        login
            .success()
            .stdout
            .starts_with(&format!("Logged in to {url} as account \"work\"")),
        "{}",
        login.stdout
    );
    let tools = run(&["tools", "demo"], &config, "false").await;
    assert!(tools.success().stdout.contains("echo "), "{}", tools.stdout);
    let call = run(
        &["call", "demo", "add", "--args", r#"{"a":2,"b":40}"#],
        &config,
        "false",
    )
    .await;
    assert_eq!(call.success().stdout, "42\n");
    let status = run(
        &["status", "--json", "--cache-dir", cache.to_str().unwrap()],
        &config,
        "false",
    )
    .await;
    let status = listed(&status);
    assert_eq!(status[0]["server"], url.as_str(), "{status}");
    assert_eq!(status[0]["account"], "work", "{status}");

    let removed = run(&["servers", "remove", "demo"], &config, "false").await;
    assert!(removed.success().stdout.starts_with("Removed demo"));
    assert_eq!(
        listed(&run(&["servers", "list", "--json"], &config, "false").await),
        json!([])
    );
    let gone = run(&["tools", "demo"], &config, "false").await;
    gone.exit(2);
    assert!(
        gone.stderr.contains("no server is named demo"),
        "{}",
        gone.stderr
    );
    assert!(gone.stderr.contains("mcp-oauth servers add demo <URL>"));
    run(&["servers", "remove", "demo"], &config, "false")
        .await
        .exit(2);
    auth.stop().await;
    server.stop().await;
}

/// Writes `text` as the config file, and returns its path.
fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("servers.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_broken_config_file_is_named_with_its_line() {
    let dir = crate::support::tempdir().unwrap();
    for (text, line) in [
        // Not TOML.
        ("[servers.demo]\nurl = \"http://127.0.0.1:1/mcp\n", 2),
        // An option no command has.
        (
            "[servers.demo]\nurl = \"http://127.0.0.1:1/mcp\"\nscope = \"read\"\n",
            3,
        ),
        // A value the option refuses.
        (
            "[servers.demo]\nurl = \"http://127.0.0.1:1/mcp\"\n\ntimeout = -1\n",
            4,
        ),
        // A secret.
        (
            "[servers.demo]\nurl = \"http://127.0.0.1:1/mcp\"\nbearer = \"t\"\n",
            3,
        ),
    ] {
        let path = config_file(dir.path(), text);
        let place = format!("{}:{line}:", path.display());
        for args in [
            &["tools", "demo"][..],
            &["servers", "list"],
            &["servers", "add", "other", "http://127.0.0.1:1/mcp"],
        ] {
            let run = run(args, &path, "false").await;
            run.exit(2);
            assert_eq!(run.stdout, "", "{text}");
            assert!(
                run.stderr
                    .starts_with(&format!("error: invalid config file {place}")),
                "{text} {args:?}: {}",
                run.stderr
            );
        }
    }
    // A command given a URL never reads the file.
    let path = config_file(dir.path(), "not toml [");
    let cache = dir.path().join("cache");
    let token = run(
        &[
            "token",
            "http://127.0.0.1:1/mcp",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        &path,
        "false",
    )
    .await;
    token.exit(6);
    assert!(!token.stderr.contains("config"), "{}", token.stderr);
}

#[tokio::test]
async fn kept_options_apply_unless_the_command_line_gives_others() {
    let server = TestServer::builder().start().await.unwrap();
    let dir = crate::support::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let url = server.url();
    run(
        &[
            "servers",
            "add",
            "plain",
            &url,
            "--transport",
            "sse",
            "--callback-port",
            "4000",
        ],
        &config,
        "false",
    )
    .await
    .success();

    // Kept: the streamable server is asked for legacy SSE, and fails.
    let kept = run(&["ping", "plain"], &config, "false").await;
    assert_eq!(kept.code, Some(4), "{kept:#?}");
    // Given: the command line's transport wins.
    let given = run(&["ping", "plain", "--transport", "http"], &config, "false").await;
    assert!(
        given.success().stdout.starts_with("ok: "),
        "{}",
        given.stdout
    );
    // A kept option the command line excludes gives way: --device goes
    // with no --callback-port.
    let device = run(
        &["ping", "plain", "--transport=http", "--device"],
        &config,
        "false",
    )
    .await;
    device.success();
    // A kept option the command does not take is left out: `token` takes
    // no --transport, and says only that nothing is cached.
    let cache = dir.path().join("cache");
    let token = run(
        &["token", "plain", "--cache-dir", cache.to_str().unwrap()],
        &config,
        "false",
    )
    .await;
    token.exit(6);
    assert!(token.stderr.contains(&url), "{}", token.stderr);

    // The name may also be another word of the line: a tool of that name.
    run(
        &["servers", "add", "echo", &url, "--transport", "http"],
        &config,
        "false",
    )
    .await
    .success();
    let call = run(
        &["call", "echo", "echo", "--args", r#"{"text":"named"}"#],
        &config,
        "false",
    )
    .await;
    assert_eq!(call.success().stdout, "named\n");

    // --config names another file, before or after the command.
    let other = dir.path().join("other.toml");
    let elsewhere = run(
        &["--config", other.to_str().unwrap(), "ping", "plain"],
        &config,
        "false",
    )
    .await;
    elsewhere.exit(2);
    assert!(
        elsewhere.stderr.contains("no server is named plain"),
        "{}",
        elsewhere.stderr
    );
    server.stop().await;
}

#[tokio::test]
async fn names_secrets_and_replacements_are_checked() {
    let dir = crate::support::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let url = "http://127.0.0.1:1/mcp";
    for (args, says) in [
        (
            &["servers", "add", "a b", url][..],
            "cannot be a server's name",
        ),
        (&["servers", "add", "-", url], "cannot be a server's name"),
        (&["servers", "add", url, url], "is a URL, not a name"),
        (&["servers", "add", "a.b", url], "letters, digits"),
        (&["servers", "add", "a", "not-a-url"], "URL"),
        (
            &[
                "servers",
                "add",
                "a",
                url,
                "--client-id",
                "c",
                "--client-secret",
                "s",
            ],
            "--client-secret is a secret",
        ),
        (
            &["servers", "add", "a", url, "--bearer", "t"],
            "--bearer is a secret",
        ),
        (
            &[
                "servers",
                "add",
                "a",
                url,
                "--store",
                "redis://:pw@127.0.0.1:1",
            ],
            "a store URL with a password",
        ),
    ] {
        let refused = run(args, &config, "false").await;
        refused.exit(2);
        assert!(
            refused.stderr.contains(says),
            "{args:?}: {}",
            refused.stderr
        );
    }
    assert!(!config.exists(), "nothing refused was written");

    run(
        &["servers", "add", "a", url, "--scopes", "read"],
        &config,
        "false",
    )
    .await
    .success();
    let again = run(&["servers", "add", "a", url], &config, "false").await;
    again.exit(2);
    assert!(again.stderr.contains("--replace"), "{}", again.stderr);
    let replaced = run(&["servers", "add", "a", url, "--replace"], &config, "false").await;
    assert!(replaced.success().stdout.starts_with("Replaced a: "));
    let list = listed(&run(&["servers", "list", "--json"], &config, "false").await);
    assert_eq!(list[0]["options"], json!({}), "{list}");
    // A secret from the environment is simply not kept.
    let from_env = mcp_oauth_with_env(
        &["servers", "add", "b", url, "--client-id", "c"],
        &[
            ("MCP_OAUTH_CONFIG", config.to_str().unwrap()),
            ("MCP_OAUTH_CLIENT_SECRET", "s3cret"),
        ],
    )
    .await;
    from_env.success();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("[servers.b]\nurl = \"http://127.0.0.1:1/mcp\"\nclient-id = \"c\"\n"));
}
