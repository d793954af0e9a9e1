//! The interactive login and consent pages.

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, LoginMode};
use serde_json::json;

use crate::oauth_support::{
    REDIRECT, authorize, browser, code_of, location, pkce, redeem, register_raw, send,
};

/// The value of the hidden `request` field of a login or consent page.
fn request_id(page: &str) -> String {
    let marker = r#"name="request" value=""#;
    let start = page.find(marker).expect("request field") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn interactive_login_and_consent() {
    let auth = AuthServer::builder()
        .login(LoginMode::Interactive)
        .start()
        .await
        .unwrap();
    let nasty = r#"<script>alert("x")</script> & Co"#;
    let (status, body) = register_raw(
        &auth,
        &json!({ "client_name": nasty, "redirect_uris": [REDIRECT] }),
    )
    .await;
    assert_eq!(status, 201);
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let p = pkce("interactive");
    let resource = "http://127.0.0.1:1/mcp";
    let extra = [("scope", "mcp:read mcp:write"), ("resource", resource)];

    let response = authorize(&auth, &client_id, &p, &extra).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"));
    assert!(!page.contains("<script>"), "escaped");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "self-contained"
    );
    assert!(page.contains(r#"name="username""#) && page.contains(r#"name="password""#));
    let id = request_id(&page);

    let login = format!("{}/login", auth.base_url());
    let wrong = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "nope"),
    ];
    let response = send(browser().post(&login).form(&wrong)).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Invalid username or password")
    );

    let right = [
        ("request", id.as_str()),
        ("username", "demo"),
        ("password", "demo"),
    ];
    let response = send(browser().post(&login).form(&right)).await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = response.text().await.unwrap();
    for shown in [
        "mcp:read",
        "mcp:write",
        resource,
        "&lt;script&gt;",
        "Approve",
        "Deny",
    ] {
        assert!(page.contains(shown), "consent page shows {shown}");
    }
    let consent = format!("{}/consent", auth.base_url());
    let approve = [("request", id.as_str()), ("decision", "approve")];
    let response = send(browser().post(&consent).form(&approve)).await;
    assert_eq!(response.status(), 303);
    let code = code_of(&response);
    assert_eq!(location(&response).1["state"], "st-1");
    let (status, body) = redeem(&auth, &client_id, &code, &p.verifier, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "mcp:read mcp:write");
    // The request id is spent.
    let response = send(browser().post(&consent).form(&approve)).await;
    assert_eq!(response.status(), 400);

    // Signed in: straight to consent; this time deny.
    let response = send(
        browser()
            .get(auth.authorization_endpoint())
            .header("cookie", &cookie)
            .query(&[
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_challenge", p.challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "st-2"),
            ]),
    )
    .await;
    let page = response.text().await.unwrap();
    assert!(page.contains("Approve") && !page.contains(r#"name="password""#));
    let deny = [
        ("request", request_id(&page)),
        ("decision", "deny".to_owned()),
    ];
    let response = send(browser().post(&consent).form(&deny)).await;
    let (_, params) = location(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st-2");
    assert!(params.contains_key("error_description"));

    // Consent before signing in is refused.
    let page = authorize(&auth, &client_id, &p, &[])
        .await
        .text()
        .await
        .unwrap();
    let early = [
        ("request", request_id(&page)),
        ("decision", "approve".to_owned()),
    ];
    assert_eq!(
        send(browser().post(&consent).form(&early)).await.status(),
        400
    );

    let interactions = auth
        .requests()
        .iter()
        .filter(|r| r.kind == AuthRequestKind::Interaction)
        .count();
    assert_eq!(interactions, 6);
    assert_eq!(auth.issued_tokens(), 1);
    auth.stop().await;
}
