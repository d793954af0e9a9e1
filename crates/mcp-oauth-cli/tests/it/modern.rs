//! `skills` and `call --calls` against a 2026-07-28 server.

use mcp_oauth_testkit::{ServerMode, Tamper, TestServer, TestSkill, ToolAnswer};
use serde_json::Value;

use crate::support::mcp_oauth;

fn pdf_skill() -> TestSkill {
    TestSkill::new(
        "pdf-processing",
        "Extract, fill, and assemble PDF documents",
        "Use the forms.\n",
    )
    .file("references/FORMS.md", "Supporting content.\n")
}

async fn serving(skill: TestSkill) -> TestServer {
    TestServer::builder()
        .mode(ServerMode::Stateless)
        .skill(skill)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn skills_lists_then_loads_a_skill_and_its_files() {
    let server = serving(pdf_skill()).await;
    let run = mcp_oauth(&["skills", &server.url()]).await;
    let lines: Vec<&str> = run.success().stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{lines:?}");
    assert!(
        lines[1].starts_with("pdf-processing  Extract, fill"),
        "{lines:?}"
    );

    let run = mcp_oauth(&[
        "skills",
        &server.url(),
        "--load",
        "pdf-processing",
        "--file",
        "references/FORMS.md",
    ])
    .await;
    let out = &run.success().stdout;
    assert!(out.starts_with("---\nname: pdf-processing\n"), "{out}");
    assert!(out.contains("Use the forms.\n"), "{out}");
    assert!(
        out.ends_with("--- references/FORMS.md\nSupporting content.\n"),
        "{out}"
    );

    let run = mcp_oauth(&["skills", &server.url(), "--load", "nope"]).await;
    run.exit(2);
    assert!(
        run.stderr.contains("no skill named \"nope\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("it offers: pdf-processing"),
        "{}",
        run.stderr
    );
    server.stop().await;
}

#[tokio::test]
async fn a_tampered_skill_is_refused_and_its_files_are_not_read() {
    let server = serving(pdf_skill().tampered(Tamper::Frontmatter)).await;
    let run = mcp_oauth(&[
        "skills",
        &server.url(),
        "--load",
        "pdf-processing",
        "--file",
        "references/FORMS.md",
    ])
    .await;
    run.exit(4);
    assert_eq!(run.stdout, "", "nothing of it is printed");
    assert!(
        run.stderr
            .contains("the skill \"pdf-processing\" was refused"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\"description\""), "{}", run.stderr);
    let reads: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.rpc_method.as_deref() == Some("resources/read"))
        .filter_map(|r| r.rpc_target)
        .collect();
    assert_eq!(reads, ["skill://pdf-processing/SKILL.md"]);
    server.stop().await;
}

#[tokio::test]
async fn call_with_calls_makes_each_call_on_one_connection() {
    let server = TestServer::builder()
        .mode(ServerMode::Stateless)
        .tool(
            "confirm",
            "Asks first",
            ToolAnswer::AskFirst("Go on?".into()),
        )
        .start()
        .await
        .unwrap();
    let calls = r#"[{"name":"confirm"},{"name":"echo","arguments":{"text":"after"}}]"#;
    let run = mcp_oauth(&["call", &server.url(), "--calls", calls]).await;
    assert_eq!(run.success().stdout, "confirm: decline\nafter\n");

    let run = mcp_oauth(&["call", &server.url(), "--calls", calls, "--json"]).await;
    let results: Value = serde_json::from_str(&run.success().stdout).unwrap();
    assert_eq!(results[1]["content"][0]["text"], "after");

    let failing = r#"[{"name":"fail"},{"name":"echo","arguments":{"text":"never"}}]"#;
    let run = mcp_oauth(&["call", &server.url(), "--calls", failing]).await;
    run.exit(1);
    assert!(!run.stdout.contains("never"), "the first failure stops");

    let run = mcp_oauth(&["call", &server.url(), "echo", "--calls", calls]).await;
    run.exit(2);
    assert!(
        run.stderr.contains("give only the server URL"),
        "{}",
        run.stderr
    );
    server.stop().await;
}
