//! A public MCP server must not send the client to loopback, private or
//! link-local addresses. Tests only have loopback, so the MCP server is
//! named `mcp.example.com` and reached through `OAuthBuilder::resolve`
//! (curl's `--resolve`): the client treats it as the public server its URL
//! says it is. The decision itself is unit-tested in `auth/address.rs`.

use mcp_oauth::{Error, OAuthMiddleware};
use mcp_oauth_testkit::AuthServer;

use super::{
    SeededStore, bounded, middleware_error, oauth, prm,
    server::{Hostile, Reply},
};

/// A public-looking server whose PRM names `issuer`, reached on loopback.
async fn public_server(issuer: String) -> (Hostile, String) {
    let hostile = Hostile::start(move |request, _| {
        let host = request.header("host").unwrap_or_default().to_owned();
        match request.path() {
            "/.well-known/oauth-protected-resource/mcp" => {
                Reply::Json(200, prm(&format!("http://{host}/mcp"), &issuer))
            }
            _ => Reply::not_found(),
        }
    })
    .await;
    let url = format!("http://mcp.example.com:{}/mcp", hostile.addr().port());
    (hostile, url)
}

#[tokio::test]
async fn a_public_server_cannot_name_a_loopback_authorization_server() {
    let auth = AuthServer::builder().start().await.unwrap();
    for issuer in [
        auth.issuer(),
        auth.issuer().replace("127.0.0.1", "localhost"),
        auth.issuer().replace("127.0.0.1", "[::1]"),
    ] {
        let (hostile, url) = public_server(issuer.clone()).await;
        let store = SeededStore::new(&url).await;
        let login = oauth(&url, store.dir())
            .resolve("mcp.example.com", hostile.addr())
            .build()
            .unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        let Error::Insecure {
            url: refused,
            reason,
        } = &error
        else {
            panic!("{issuer}: {error:?}");
        };
        assert!(refused.starts_with(&issuer), "{refused}");
        assert!(reason.contains("loopback"), "{reason}");
        assert!(reason.contains("mcp.example.com"), "{reason}");
        // The PRM was read on the (resolved) public name; then nothing more.
        assert_eq!(
            hostile.paths(),
            ["/.well-known/oauth-protected-resource/mcp"]
        );
        store.assert_intact().await;
    }
    assert!(
        auth.requests().is_empty(),
        "a request reached the loopback authorization server: {:#?}",
        auth.requests()
    );
}

#[tokio::test]
async fn a_public_server_cannot_name_private_or_link_local_authorization_servers() {
    for (issuer, kind) in [
        ("https://10.0.0.7", "private"),
        ("https://172.16.0.3:8443", "private"),
        ("https://192.168.1.20/tenant", "private"),
        ("https://[fd00::7]", "private"),
        ("https://169.254.169.254", "link-local"),
        ("https://[fe80::1]", "link-local"),
        ("https://0.0.0.0", "not routable"),
        // Plain http to anything but loopback is refused first.
        ("http://10.0.0.7", "https"),
    ] {
        let (hostile, url) = public_server(issuer.to_owned()).await;
        let store = SeededStore::new(&url).await;
        let login = oauth(&url, store.dir())
            .resolve("mcp.example.com", hostile.addr())
            .build()
            .unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        assert!(
            matches!(error, Error::Insecure { .. }),
            "{issuer}: {error:?}"
        );
        assert!(error.to_string().contains(kind), "{issuer}: {error}");
        store.assert_intact().await;
    }
}

#[tokio::test]
async fn a_public_server_cannot_announce_metadata_on_loopback() {
    // The challenge names a metadata document on this machine.
    let local = Hostile::start(|_, _| Reply::not_found()).await;
    let announced = format!("{}/prm", local.base());
    let hostile = Hostile::start(move |_, _| {
        let challenge = format!(r#"Bearer resource_metadata="{announced}""#);
        Reply::Empty(401, vec![("www-authenticate".into(), challenge)])
    })
    .await;
    let url = format!("http://mcp.example.com:{}/mcp", hostile.addr().port());
    let store = SeededStore::new(&url).await;
    let oauth = oauth(&url, store.dir())
        .resolve("mcp.example.com", hostile.addr())
        .build()
        .unwrap();
    let resolving = reqwest::Client::builder()
        .no_proxy()
        .resolve("mcp.example.com", hostile.addr())
        .build()
        .unwrap();
    let http = reqwest_middleware::ClientBuilder::new(resolving)
        .with(OAuthMiddleware::new(oauth).unwrap())
        .build();
    let failed = bounded(http.get(&url).send()).await.unwrap_err();
    let error = middleware_error(&failed);
    assert!(matches!(error, Error::Insecure { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("protected resource metadata"), "{text}");
    assert!(text.contains("loopback"), "{text}");
    assert!(local.served().is_empty(), "{:?}", local.paths());
    store.assert_intact().await;
}
