//! The authorization server on its own: metadata, registration, the code
//! flow with PKCE, authorization errors, resource indicators.

use mcp_oauth_testkit::{AuthFault, AuthRequestKind, AuthServer, IssMode, MetadataLocation};
use serde_json::json;

use crate::oauth_support::{
    REDIRECT, authorize, browser, code_of, error_of, get_json, location, pkce, redeem, register,
    register_raw, token, token_with,
};

/// Parameters to override in a request.
type Params<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn default_metadata() {
    let auth = AuthServer::builder().start().await.unwrap();
    let base = auth.base_url();
    assert_eq!(auth.issuer(), base);
    let (status, doc) = get_json(&format!("{base}/.well-known/oauth-authorization-server")).await;
    assert_eq!(status, 200);
    assert_eq!(doc["issuer"], base);
    assert_eq!(doc["authorization_endpoint"], format!("{base}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{base}/token"));
    assert_eq!(doc["registration_endpoint"], format!("{base}/register"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        doc["scopes_supported"],
        json!(["mcp:read", "mcp:write", "offline_access"])
    );
    assert_eq!(doc["client_id_metadata_document_supported"], false);
    assert!(
        doc.get("authorization_response_iss_parameter_supported")
            .is_none()
    );
    let (status, _) = get_json(&format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(status, 404);
    let kinds: Vec<_> = auth.requests().iter().map(|r| (r.kind, r.status)).collect();
    assert_eq!(
        kinds,
        [
            (AuthRequestKind::Metadata, 200),
            (AuthRequestKind::Metadata, 404)
        ]
    );
    auth.clear_requests();
    assert!(auth.requests().is_empty());
    auth.stop().await;
}

#[tokio::test]
async fn metadata_locations_under_an_issuer_path() {
    let auth = AuthServer::builder()
        .issuer_path("/tenant1")
        .metadata(&[
            MetadataLocation::OAuthInsert,
            MetadataLocation::OidcInsert,
            MetadataLocation::OidcAppend,
            MetadataLocation::OAuthRoot,
        ])
        .start()
        .await
        .unwrap();
    let base = auth.base_url();
    assert_eq!(auth.issuer(), format!("{base}/tenant1"));
    let served = [
        "/.well-known/oauth-authorization-server/tenant1",
        "/.well-known/openid-configuration/tenant1",
        "/tenant1/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ];
    let urls: Vec<String> = served.iter().map(|p| format!("{base}{p}")).collect();
    assert_eq!(auth.metadata_urls(), urls);
    for url in &urls {
        let (status, doc) = get_json(url).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(doc["issuer"], auth.issuer());
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{base}/tenant1/authorize")
        );
        assert_eq!(doc["token_endpoint"], format!("{base}/tenant1/token"));
    }
    let (status, _) = get_json(&format!(
        "{base}/tenant1/.well-known/oauth-authorization-server"
    ))
    .await;
    assert_eq!(status, 404, "OAuthAppend not configured");
    // Endpoints live under the path only.
    let client_id = register(&auth).await;
    let response = authorize(&auth, &client_id, &pkce("p"), &[]).await;
    assert_eq!(response.status(), 302);
    let (status, _) = get_json(&format!("{base}/authorize")).await;
    assert_eq!(status, 404);
    auth.stop().await;
}

#[tokio::test]
async fn metadata_variants() {
    let auth = AuthServer::builder()
        .issuer_trailing_slash(true)
        .pkce_methods(None)
        .dynamic_registration(false)
        .client_id_metadata_documents(true)
        .iss_parameter(IssMode::On)
        .token_auth_methods(&["client_secret_post"])
        .scopes_supported(&["files:read"])
        .start()
        .await
        .unwrap();
    let base = auth.base_url();
    assert_eq!(auth.issuer(), format!("{base}/"));
    let (_, doc) = get_json(&auth.metadata_urls()[0]).await;
    assert_eq!(doc["issuer"], format!("{base}/"));
    assert_eq!(doc["authorization_endpoint"], format!("{base}/authorize"));
    assert!(doc.get("code_challenge_methods_supported").is_none());
    assert!(doc.get("registration_endpoint").is_none());
    assert_eq!(doc["client_id_metadata_document_supported"], true);
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post"])
    );
    assert_eq!(doc["scopes_supported"], json!(["files:read"]));
    let (status, _) = register_raw(&auth, &json!({ "redirect_uris": [REDIRECT] })).await;
    assert_eq!(status, 404, "no registration endpoint");
    auth.stop().await;

    let auth = AuthServer::builder()
        .metadata_issuer("https://evil.example.com")
        .metadata(&[MetadataLocation::OidcInsert])
        .iss_parameter(IssMode::Unadvertised)
        .start()
        .await
        .unwrap();
    let (_, doc) = get_json(&format!(
        "{}/.well-known/openid-configuration",
        auth.base_url()
    ))
    .await;
    assert_eq!(doc["issuer"], "https://evil.example.com");
    assert!(
        doc.get("authorization_response_iss_parameter_supported")
            .is_none()
    );
    auth.stop().await;
}

#[tokio::test]
async fn metadata_server_error_can_be_switched_at_run_time() {
    let auth = AuthServer::builder()
        .fault(AuthFault::MetadataServerError)
        .start()
        .await
        .unwrap();
    let url = auth.metadata_urls()[0].clone();
    assert_eq!(get_json(&url).await.0, 500);
    auth.set_fault(None);
    assert_eq!(get_json(&url).await.0, 200);
    auth.stop().await;
}

#[tokio::test]
async fn dynamic_registration() {
    let auth = AuthServer::builder().start().await.unwrap();
    // Requested and listed: honoured, with a secret for confidential methods.
    let (status, body) = register_raw(
        &auth,
        &json!({
            "client_name": "Confidential",
            "redirect_uris": [REDIRECT, "https://app.example.com/cb"],
            "token_endpoint_auth_method": "client_secret_post",
            "software_id": "x-1",
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
    assert!(body["client_secret"].is_string());
    assert_eq!(body["client_secret_expires_at"], 0);
    assert!(body["client_id_issued_at"].is_u64());
    assert_eq!(body["software_id"], "x-1", "metadata echoed");
    // Not requested: the first listed (`none`), no secret.
    let (status, body) = register_raw(
        &auth,
        &json!({ "redirect_uris": ["http://localhost:1234/cb"] }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert!(body.get("client_secret").is_none());
    // Bad redirect URIs.
    for uris in [
        json!([]),
        json!(["http://example.com/cb"]),
        json!(["myapp://cb"]),
        json!("x"),
    ] {
        let (status, body) = register_raw(&auth, &json!({ "redirect_uris": uris })).await;
        assert_eq!(status, 400);
        assert_eq!(error_of(&body), "invalid_redirect_uri", "{uris}");
    }
    let clients = auth.registered_clients();
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[0].client_name.as_deref(), Some("Confidential"));
    assert_eq!(clients[0].token_endpoint_auth_method, "client_secret_post");
    assert_eq!(clients[0].metadata["software_id"], "x-1");
    assert!(
        clients[0].metadata.get("client_id").is_none(),
        "as submitted"
    );
    assert_eq!(clients[1].redirect_uris, ["http://localhost:1234/cb"]);
    assert_eq!(
        auth.requests()
            .iter()
            .filter(|r| r.kind == AuthRequestKind::Register)
            .count(),
        6
    );
    auth.stop().await;

    // An unlisted request gets the first listed method.
    let auth = AuthServer::builder()
        .token_auth_methods(&["client_secret_basic"])
        .start()
        .await
        .unwrap();
    let (_, body) = register_raw(
        &auth,
        &json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" }),
    )
    .await;
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert!(body["client_secret"].is_string());
    auth.stop().await;
}

#[tokio::test]
async fn registration_faults() {
    let auth = AuthServer::builder()
        .fault(AuthFault::RegistrationRequiresClientName)
        .start()
        .await
        .unwrap();
    let (status, body) = register_raw(&auth, &json!({ "redirect_uris": [REDIRECT] })).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_client_metadata"));
    let named = json!({ "redirect_uris": [REDIRECT], "client_name": "n" });
    assert_eq!(register_raw(&auth, &named).await.0, 201);
    auth.set_fault(Some(AuthFault::RegistrationRejected));
    let (status, body) = register_raw(&auth, &named).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_client_metadata"));
    auth.stop().await;
}

#[tokio::test]
async fn code_flow_with_pkce_and_single_use_codes() {
    let auth = AuthServer::builder().start().await.unwrap();
    let client_id = register(&auth).await;
    let pkce = pkce("one");
    let response = authorize(&auth, &client_id, &pkce, &[("scope", "mcp:read")]).await;
    assert_eq!(response.status(), 302);
    let (_, params) = location(&response);
    assert_eq!(params["state"], "st-1");
    assert!(!params.contains_key("iss"), "IssMode::Off");
    let code = code_of(&response);

    let (status, body) = redeem(&auth, &client_id, &code, &pkce.verifier, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "mcp:read");
    assert!(body["access_token"].is_string());
    assert!(body["refresh_token"].is_string());
    assert_eq!(auth.issued_tokens(), 1);
    let issued = &auth.tokens()[0];
    assert_eq!(issued.client_id, client_id);
    assert_eq!(issued.scopes, ["mcp:read"]);
    assert_eq!(issued.resource, None);
    assert_eq!(issued.grant_type, "authorization_code");

    // Replaying the code fails and revokes what it produced.
    let (status, body) = redeem(&auth, &client_id, &code, &pkce.verifier, &[]).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_grant"));
    assert!(auth.tokens()[0].revoked);

    let kinds: Vec<_> = auth.requests().iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            AuthRequestKind::Register,
            AuthRequestKind::Authorize,
            AuthRequestKind::Token,
            AuthRequestKind::Token
        ]
    );
    let token_request = &auth.requests()[2];
    assert_eq!(
        token_request.param("code_verifier"),
        Some(pkce.verifier.as_str())
    );
    assert_eq!(
        token_request.param("grant_type"),
        Some("authorization_code")
    );
    assert_eq!(
        auth.requests()[1].param("code_challenge_method"),
        Some("S256")
    );
    auth.stop().await;
}

#[tokio::test]
async fn token_request_checks() {
    let auth = AuthServer::builder().start().await.unwrap();
    let client_id = register(&auth).await;
    let other_id = register(&auth).await;
    let pkce_ = pkce("two");
    let cases: [(&str, Params, &str); 4] = [
        (
            "wrong verifier",
            &[("code_verifier", &"z".repeat(50))],
            "invalid_grant",
        ),
        (
            "other redirect_uri",
            &[("redirect_uri", "http://127.0.0.1:9/other")],
            "invalid_grant",
        ),
        ("other client", &[("client_id", &other_id)], "invalid_grant"),
        (
            "bad resource",
            &[("resource", "not a uri")],
            "invalid_target",
        ),
    ];
    for (name, overrides, expected) in cases {
        let code = code_of(&authorize(&auth, &client_id, &pkce_, &[]).await);
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", &pkce_.verifier),
        ];
        for (key, value) in overrides {
            form.retain(|(k, _)| k != key);
            form.push((key, value));
        }
        let (status, body) = token(&auth, &form).await;
        assert_eq!((status, error_of(&body)), (400, expected), "{name}: {body}");
    }
    let (status, body) = token(
        &auth,
        &[("grant_type", "password"), ("client_id", &client_id)],
    )
    .await;
    assert_eq!((status, error_of(&body)), (400, "unsupported_grant_type"));
    let (status, body) = token(&auth, &[("grant_type", "authorization_code")]).await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"));
    // JSON instead of a form.
    let json_body = json!({ "grant_type": "authorization_code", "client_id": client_id });
    let (status, body) = token_with(browser().post(auth.token_endpoint()).json(&json_body)).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_request"));
    assert_eq!(auth.issued_tokens(), 0);
    auth.stop().await;
}

#[tokio::test]
async fn authorization_errors() {
    let auth = AuthServer::builder().start().await.unwrap();
    let client_id = register(&auth).await;
    let p = pkce("three");
    // Untrusted client or redirect: an error page, never a redirect.
    for extra in [
        vec![("client_id", "unknown")],
        vec![("redirect_uri", "http://127.0.0.1:9/elsewhere")],
    ] {
        let response = authorize(&auth, &client_id, &p, &extra).await;
        assert_eq!(response.status(), 400);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with("text/html"));
    }
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge", "short")], "invalid_request"),
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("scope", "mcp:read admin")], "invalid_scope"),
        (
            &[("resource", "http://127.0.0.1/mcp#frag")],
            "invalid_target",
        ),
        (&[("resource", "/relative")], "invalid_target"),
        (&[("state", "a"), ("state", "b")], "invalid_request"),
    ];
    for (extra, expected) in cases {
        let response = if extra.len() == 2 {
            // Repeated parameters need a hand-built query.
            let url = format!(
                "{}?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=a&state=b",
                auth.authorization_endpoint(),
                url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
                p.challenge
            );
            browser().get(url).send().await.unwrap()
        } else {
            authorize(&auth, &client_id, &p, extra).await
        };
        let (_, params) = location(&response);
        assert_eq!(params["error"], expected, "{extra:?}");
        assert!(params.contains_key("error_description"));
        assert!(!params.contains_key("code"));
    }
    // Without a challenge at all.
    let url = format!(
        "{}?response_type=code&client_id={client_id}&state=s",
        auth.authorization_endpoint()
    );
    let response = browser().get(url).send().await.unwrap();
    let (url, params) = location(&response);
    assert!(
        url.as_str().starts_with(REDIRECT),
        "the only registered URI"
    );
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], "s");
    auth.stop().await;
}

#[tokio::test]
async fn resource_indicators() {
    let auth = AuthServer::builder().start().await.unwrap();
    let resource = "http://127.0.0.1:1/mcp";
    let client_id = register(&auth).await;
    let p = pkce("four");
    let code = code_of(&authorize(&auth, &client_id, &p, &[("resource", resource)]).await);
    let other = [("resource", "http://127.0.0.1:2/mcp")];
    let (status, body) = redeem(&auth, &client_id, &code, &p.verifier, &other).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_target"));

    let code = code_of(&authorize(&auth, &client_id, &p, &[("resource", resource)]).await);
    let (status, body) = redeem(&auth, &client_id, &code, &p.verifier, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        auth.tokens()[0].resource.as_deref(),
        Some(resource),
        "kept from /authorize"
    );
    let refresh = body["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", &client_id),
        ("resource", "http://127.0.0.1:2/mcp"),
    ];
    let (status, body) = token(&auth, &form).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_target"));
    auth.stop().await;
}
