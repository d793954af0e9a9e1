//! 2026-07-28 against a server that checks it: `_meta` and the version
//! header on every request, one retry after -32022, the SEP-2243 headers
//! (`Mcp-Param-*` from the tools' schemas), schemas kept as sent, requests
//! that take several rounds, and skills checked before use.

use mcp_oauth::{ElicitationPolicy, Error};
use mcp_oauth_testkit::{
    Fault, RecordedRequest, ServerMode, Tamper, TestServer, TestServerBuilder, TestSkill,
    ToolAnswer,
};
use serde_json::{Value, json};

use crate::support::{args, builder, text_of};

const MODERN: &str = "2026-07-28";

fn stateless() -> TestServerBuilder {
    TestServer::builder().mode(ServerMode::Stateless)
}

fn posts(server: &TestServer) -> Vec<RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.http_method == "POST")
        .collect()
}

fn calls_of(server: &TestServer, tool: &str) -> Vec<RecordedRequest> {
    posts(server)
        .into_iter()
        .filter(|r| {
            r.rpc_method.as_deref() == Some("tools/call") && r.rpc_target.as_deref() == Some(tool)
        })
        .collect()
}

#[tokio::test]
async fn every_request_names_its_revision_client_and_method() {
    let server = stateless().start().await.unwrap();
    let client = builder(&server).connect().await.unwrap();
    assert_eq!(client.server().protocol_version, MODERN);
    client.list_tools().await.unwrap();
    let result = client
        .call_tool("echo", args(json!({ "text": "hi" })))
        .await
        .unwrap();
    assert_eq!(text_of(&result), "hi");
    client.close().await;

    let posts = posts(&server);
    assert!(posts.len() >= 3, "{posts:?}");
    for post in &posts {
        assert_eq!(post.status, 200, "{post:?}");
        assert_eq!(post.protocol_version.as_deref(), Some(MODERN), "{post:?}");
        assert_eq!(
            post.meta_protocol_version.as_deref(),
            Some(MODERN),
            "{post:?}"
        );
        assert_eq!(
            post.meta_client_name.as_deref(),
            Some("mcp-oauth"),
            "{post:?}"
        );
        assert_eq!(post.mcp_method, post.rpc_method, "{post:?}");
    }
    let call = &calls_of(&server, "echo")[0];
    assert_eq!(call.mcp_name.as_deref(), Some("echo"));
    server.stop().await;
}

#[tokio::test]
async fn an_unsupported_version_answer_is_retried_once_with_a_listed_one() {
    let server = stateless()
        .fault(Fault::UnsupportedVersionOnce)
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    let result = client
        .call_tool("add", args(json!({ "a": 2, "b": 3 })))
        .await
        .unwrap();
    assert_eq!(text_of(&result), "5");
    client.close().await;

    let posts = posts(&server);
    assert_eq!(posts[0].status, 400, "the first request is refused");
    assert_eq!(posts[1].status, 200, "{posts:?}");
    assert_eq!(
        posts[1].rpc_method, posts[0].rpc_method,
        "the same request again"
    );
    assert_eq!(posts[1].meta_protocol_version.as_deref(), Some(MODERN));
    assert_eq!(
        posts.iter().filter(|r| r.status == 400).count(),
        1,
        "retried once: {posts:?}"
    );
    server.stop().await;
}

fn lookup_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "region": { "type": "string", "x-mcp-header": "Region" },
            "priority": { "type": "integer", "x-mcp-header": "Priority" },
            "verbose": { "type": "boolean", "x-mcp-header": "Verbose" },
            "city": { "type": "string", "x-mcp-header": "City" },
            "padded": { "type": "string", "x-mcp-header": "Padded" },
            "query": { "type": "string" },
        },
        "required": ["region", "query"],
    })
}

#[tokio::test]
async fn annotated_arguments_travel_in_mcp_param_headers() {
    let server = stateless()
        .tool_with_schema(
            "lookup",
            "Looks things up",
            lookup_schema(),
            ToolAnswer::Text("found".into()),
        )
        .start()
        .await
        .unwrap();
    // A fresh client calls at once: it lists the tools first by itself.
    let client = builder(&server).connect().await.unwrap();
    let arguments = json!({
        "region": "us-west1", "priority": 42, "verbose": null,
        "city": "Zürich", "padded": " x ", "query": "SELECT 1",
    });
    let result = client.call_tool("lookup", args(arguments)).await.unwrap();
    assert_eq!(text_of(&result), "found", "the server accepted the headers");
    client.close().await;

    let methods: Vec<_> = posts(&server)
        .into_iter()
        .filter_map(|r| r.rpc_method)
        .collect();
    let listed = methods.iter().position(|m| m == "tools/list");
    let called = methods.iter().position(|m| m == "tools/call");
    assert!(listed < called && listed.is_some(), "{methods:?}");
    let mut params = calls_of(&server, "lookup")[0].mcp_params.clone();
    params.sort();
    assert_eq!(
        params,
        vec![
            (
                "mcp-param-city".to_owned(),
                "=?base64?WsO8cmljaA==?=".to_owned()
            ),
            ("mcp-param-padded".to_owned(), "=?base64?IHgg?=".to_owned()),
            ("mcp-param-priority".to_owned(), "42".to_owned()),
            ("mcp-param-region".to_owned(), "us-west1".to_owned()),
        ],
        "plain where it can, Base64 where it must, none for null or unmarked"
    );
    server.stop().await;
}

#[tokio::test]
async fn tools_with_invalid_header_annotations_are_left_out_and_never_called() {
    let broken = |header: &str, kind: &str| json!({ "type": "object", "properties": { "v": { "type": kind, "x-mcp-header": header } } });
    let mut server = stateless();
    for (name, schema) in [
        ("empty", broken("", "string")),
        ("spaced", broken("My Region", "string")),
        ("colon", broken("Region:Primary", "string")),
        ("accented", broken("Région", "string")),
        ("on_an_object", broken("Data", "object")),
        ("on_a_number", broken("Score", "number")),
        ("valid_tool", broken("Region", "string")),
    ] {
        server = server.tool_with_schema(name, "x", schema, ToolAnswer::Text("ok".into()));
    }
    let server = server.start().await.unwrap();
    let client = builder(&server).connect().await.unwrap();
    let names: Vec<String> = client
        .list_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    assert_eq!(names, ["echo", "add", "fail", "valid_tool"]);

    let refused = client.call_tool("spaced", args(json!({ "v": "x" }))).await;
    let Err(Error::Protocol { detail, .. }) = refused else {
        panic!("not refused: {refused:?}");
    };
    assert!(
        detail.contains("\"spaced\"") && detail.contains("' '"),
        "{detail}"
    );
    let ok = client
        .call_tool("valid_tool", args(json!({ "v": "eu" })))
        .await;
    assert_eq!(text_of(&ok.unwrap()), "ok");
    client.close().await;
    assert!(calls_of(&server, "spaced").is_empty(), "never sent");
    server.stop().await;
}

#[tokio::test]
async fn schemas_are_kept_as_sent_and_no_ref_is_followed() {
    let canary_server = stateless().start().await.unwrap();
    let canary = format!("{}/canary/profile-schema.json", canary_server.base_url());
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "userId": { "type": "string", "pattern": "^[a-z0-9-]+$" },
            "address": { "$anchor": "addr", "type": "object", "properties": {} },
        },
        "properties": {
            "id": { "$ref": "#/$defs/userId" },
            "profile": { "$ref": canary },
            "kind": { "anyOf": [{ "const": "a" }, { "const": "b" }] },
        },
        "allOf": [{ "required": ["id"] }],
        "if": { "properties": { "kind": { "const": "a" } } },
        "then": { "required": ["profile"] },
        "else": {},
        "additionalProperties": false,
    });
    let server = stateless()
        .tool_with_schema(
            "lookup_user",
            "x",
            schema.clone(),
            ToolAnswer::Text("ok".into()),
        )
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    let tools = client.list_tools().await.unwrap();
    let tool = tools.iter().find(|t| t.name == "lookup_user").unwrap();
    assert_eq!(Value::Object((*tool.input_schema).clone()), schema);
    client
        .call_tool("lookup_user", args(json!({ "id": "a-1" })))
        .await
        .unwrap();
    client.close().await;
    assert!(canary_server.requests().is_empty(), "the $ref was fetched");
    server.stop().await;
    canary_server.stop().await;
}

async fn ask_first(policy: ElicitationPolicy) -> (String, Vec<RecordedRequest>) {
    let server = stateless()
        .tool(
            "confirm",
            "Asks first",
            ToolAnswer::AskFirst("Go on?".into()),
        )
        .start()
        .await
        .unwrap();
    let client = builder(&server)
        .elicitation(policy)
        .connect()
        .await
        .unwrap();
    let result = client.call_tool("confirm", None).await.unwrap();
    // Another tool afterwards carries nothing of that exchange.
    client
        .call_tool("echo", args(json!({ "text": "x" })))
        .await
        .unwrap();
    client.close().await;
    let calls = calls_of(&server, "confirm");
    server.stop().await;
    (text_of(&result), calls)
}

#[tokio::test]
async fn a_call_the_server_answers_input_required_is_answered_and_sent_again() {
    // The server refuses a retry whose requestState changed or whose id was reused.
    let (text, calls) = ask_first(ElicitationPolicy::Decline).await;
    assert_eq!(text, "confirm: decline");
    assert_eq!(calls.len(), 2, "{calls:?}");
    let (text, _) = ask_first(ElicitationPolicy::AcceptDefaults).await;
    assert_eq!(text, r#"confirm: accept {"confirmed":true}"#);
}

const BODY: &str = "Use the forms.\n";

fn pdf_skill() -> TestSkill {
    TestSkill::new(
        "pdf-processing",
        "Extract, fill, and assemble PDF documents",
        BODY,
    )
    .file("references/FORMS.md", "Supporting content.\n")
}

fn skill_reads(server: &TestServer) -> Vec<String> {
    posts(server)
        .into_iter()
        .filter(|r| r.rpc_method.as_deref() == Some("resources/read"))
        .filter_map(|r| r.rpc_target)
        .collect()
}

#[tokio::test]
async fn skills_are_listed_without_reading_a_file_and_loaded_checked() {
    let server = stateless().skill(pdf_skill()).start().await.unwrap();
    let client = builder(&server).connect().await.unwrap();
    let skills = client.list_skills().await.unwrap();
    assert_eq!(skills.len(), 1);
    assert_eq!(skills[0].name(), "pdf-processing");
    assert!(skill_reads(&server).is_empty(), "listing reads nothing");

    let loaded = client.load_skill(&skills[0]).await.unwrap();
    assert!(
        loaded.instructions().ends_with(BODY),
        "{}",
        loaded.instructions()
    );
    assert_eq!(
        loaded.files(),
        ["skill://pdf-processing/references/FORMS.md"]
    );
    assert_eq!(skill_reads(&server), ["skill://pdf-processing/SKILL.md"]);
    let forms = client
        .read_skill_file(&loaded, "references/FORMS.md")
        .await
        .unwrap();
    assert_eq!(forms, "Supporting content.\n");
    client.close().await;
    server.stop().await;
}

async fn refused(tamper: Tamper) -> String {
    let server = stateless()
        .skill(pdf_skill().tampered(tamper))
        .start()
        .await
        .unwrap();
    let client = builder(&server).connect().await.unwrap();
    let skills = client.list_skills().await.unwrap();
    let error = client.load_skill(&skills[0]).await.unwrap_err();
    client.close().await;
    assert_eq!(
        skill_reads(&server),
        ["skill://pdf-processing/SKILL.md"],
        "nothing more of the skill is read"
    );
    server.stop().await;
    let Error::Protocol { detail, .. } = error else {
        panic!("{error:?}");
    };
    assert!(
        detail.contains("the skill \"pdf-processing\" was refused"),
        "{detail}"
    );
    detail
}

#[tokio::test]
async fn a_skill_that_does_not_match_its_listing_is_refused() {
    assert!(refused(Tamper::Digest).await.contains("has digest sha256:"));
    assert!(
        refused(Tamper::Size)
            .await
            .contains("bytes, the manifest says")
    );
    let detail = refused(Tamper::Frontmatter).await;
    assert!(detail.contains("field \"description\""), "{detail}");
}
