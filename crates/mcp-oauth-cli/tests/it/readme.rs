//! The README's 30-second tour, run as written: each command of its block,
//! in order, against the `demo --serve` it starts with; `$URL` is the URL
//! the demo printed, as the block says.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{BOUND, Run, cli, mcp_oauth_with_env};

/// The lines of the README's tour, comments left out.
fn tour() -> Vec<String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(manifest.join("../../README.md")).unwrap();
    let (_, after) = readme
        .split_once("## A 30-second tour")
        .expect("the README has its tour");
    let (_, block) = after.split_once("```sh\n").expect("a shell block");
    let (block, _) = block.split_once("```").expect("the block ends");
    block
        .lines()
        .map(|line| without_comment(line).trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

/// `line` up to a ` #` outside quotes.
fn without_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, '#') if previous.is_whitespace() => return &line[..at],
            _ => {}
        }
        previous = c;
    }
    line
}

/// A shell's words: single and double quotes, `$URL` replaced.
fn words(line: &str, url: &str) -> Vec<String> {
    let line = line.replace("$URL", url);
    let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(open), c) if c == open => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

#[tokio::test]
async fn the_readme_tour_runs_as_written() {
    let lines = tour();
    assert_eq!(lines[0], "mcp-oauth demo --serve &", "{lines:#?}");
    assert!(lines[1].starts_with("URL="), "{lines:#?}");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser = format!(
        "sh {}",
        manifest.join("../../scripts/demo-browser").display()
    );
    let dir = crate::support::tempdir().unwrap();
    let (cache, config) = (dir.path().join("cache"), dir.path().join("config.toml"));

    // The demo signs in once on its own, then keeps serving and says where.
    let mut demo = cli()
        .args(["demo", "--serve", "--login-timeout", "20"])
        .env("BROWSER", &browser)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut output = BufReader::new(demo.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(BOUND, async {
        while let Some(line) = output.next_line().await.unwrap() {
            if let Some((_, rest)) = line.split_once("protected MCP server at ") {
                return rest.trim_end_matches('.').to_owned();
            }
        }
        panic!("the demo ended without naming its server");
    })
    .await
    .expect("the demo names its server");
    tokio::time::timeout(BOUND, async {
        while let Some(line) = output.next_line().await.unwrap() {
            if line.contains("keep running") {
                return;
            }
        }
        panic!("the demo ended before serving");
    })
    .await
    .expect("the demo keeps serving");
    // Its output keeps flowing while the tour runs.
    tokio::spawn(async move { while let Ok(Some(_)) = output.next_line().await {} });

    let mut runs: Vec<(String, Run)> = Vec::new();
    for line in &lines[2..] {
        let words = words(line, &url);
        assert_eq!(words[0], "mcp-oauth", "{line}");
        let mut args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        args.extend(["--cache-dir", cache.to_str().unwrap()]);
        let run = mcp_oauth_with_env(
            &args,
            &[
                ("BROWSER", &browser),
                ("MCP_OAUTH_CONFIG", config.to_str().unwrap()),
            ],
        )
        .await;
        assert_eq!(run.code, Some(0), "{line}: {run:#?}");
        runs.push((line.clone(), run));
    }
    let output_of = |start: &str| {
        &runs
            .iter()
            .find(|(line, _)| line.starts_with(start))
            .unwrap()
            .1
            .stdout
    };
    assert!(output_of("mcp-oauth tools").contains("echo"));
    assert_eq!(output_of("mcp-oauth call"), "5\n");
    assert!(output_of("mcp-oauth login").starts_with(&format!("Logged in to {url}")));
    let _ = demo.start_kill();
    let _ = demo.wait().await;
}

#[test]
fn comments_and_quotes_are_read_as_a_shell_reads_them() {
    assert_eq!(without_comment("a 'b # c' # d"), "a 'b # c' ");
    assert_eq!(
        words(r#"x "$URL" add --args '{"a": 2}'"#, "http://u"),
        ["x", "http://u", "add", "--args", r#"{"a": 2}"#]
    );
}
