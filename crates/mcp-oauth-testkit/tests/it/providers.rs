//! The behaviours of real identity providers: the `jwt-bearer` grant,
//! Entra's refusal of `resource`, the answers to an unknown client; and
//! the forward proxy.

use mcp_oauth_testkit::{
    AuthFault, AuthServer, ENTRA_RESOURCE_REFUSAL, ForwardProxy, ResourceRefusal, TestServer,
    UnknownClient,
};
use serde_json::Value;

use super::client;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

async fn token(auth: &AuthServer, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(auth.token_endpoint())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn a_workload_assertion_buys_a_token_without_a_client() {
    let auth = AuthServer::builder()
        .workload_identity(true)
        .start()
        .await
        .unwrap();
    let metadata: Value = client()
        .get(&auth.metadata_urls()[0])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&JWT_BEARER.into())
    );
    let assertion = auth.workload_assertion("job");
    let (status, body) = token(
        &auth,
        &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(auth.tokens()[0].grant_type, JWT_BEARER);
    let (status, body) = token(&auth, &[("grant_type", JWT_BEARER), ("assertion", "a.b.c")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    auth.set_fault(Some(AuthFault::AssertionRefused));
    let (status, body) = token(
        &auth,
        &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let off = AuthServer::builder().start().await.unwrap();
    let (_, body) = token(
        &off,
        &[("grant_type", JWT_BEARER), ("assertion", &assertion)],
    )
    .await;
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn an_entra_like_server_refuses_the_resource_parameter() {
    let auth = AuthServer::builder()
        .refuse_resource(ResourceRefusal::AtToken)
        .start()
        .await
        .unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", "https://mcp.example/mcp"),
    ];
    let (status, body) = token(&auth, &form).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_target");
    assert_eq!(body["error_description"], ENTRA_RESOURCE_REFUSAL);
}

#[tokio::test]
async fn an_unknown_client_gets_the_answer_the_server_is_set_to_give() {
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (answer, status) in [
        (UnknownClient::ErrorPage, 400),
        (UnknownClient::JsonError, 400),
        (UnknownClient::Redirect, 302),
    ] {
        let auth = AuthServer::builder()
            .unknown_client(answer)
            .start()
            .await
            .unwrap();
        let url = format!(
            "{}?client_id=gone&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=s",
            auth.authorization_endpoint()
        );
        let response = no_redirects.get(url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{answer:?}");
        if answer == UnknownClient::Redirect {
            let location = response.headers()["location"].to_str().unwrap();
            assert!(location.starts_with("http://127.0.0.1:9/callback?error=unauthorized_client"));
            assert!(location.ends_with("&state=s"), "{location}");
        }
    }
}

#[tokio::test]
async fn the_forward_proxy_carries_requests_for_the_names_it_knows() {
    let server = TestServer::builder()
        .host("mcp.proxied.test")
        .start()
        .await
        .unwrap();
    assert!(server.url().starts_with("http://mcp.proxied.test:"));
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    let proxy = ForwardProxy::start(&[("mcp.proxied.test", loopback)])
        .await
        .unwrap();
    let through = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(proxy.url()).unwrap())
        .build()
        .unwrap();
    let answer = through.get(server.url()).send().await.unwrap();
    // The MCP endpoint's own answer to a GET without a session.
    assert_eq!(answer.status().as_u16(), 400);
    assert_eq!(proxy.carried(), [format!("GET {} HTTP/1.1", server.url())]);
    let unknown = through.get("http://elsewhere.test/").send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 502);
    assert_eq!(proxy.carried().len(), 1);
}
