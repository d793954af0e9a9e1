//! Identity providers as they are: Microsoft Entra's refusal of the RFC 8707
//! `resource` parameter next to its own scopes (`api://…/.default`), and
//! servers that forget the clients registered with them.

use std::sync::{Arc, Mutex};

use mcp_oauth::{Auth, Client, MemoryTokenStorage, OAuth, OAuthBuilder};
use mcp_oauth_testkit::{
    AuthRequest, AuthRequestKind, AuthServer, RefreshMode, ResourceRefusal, TestServer,
    UnknownClient,
};

use crate::support::{TIMEOUT, oauth, protected};

const ENTRA_SCOPE: &str = "api://11111111-2222-3333-4444-555555555555/.default";

fn entra(refusal: ResourceRefusal) -> mcp_oauth_testkit::AuthServerBuilder {
    AuthServer::builder()
        .refuse_resource(refusal)
        .scopes_supported(&[ENTRA_SCOPE, "openid", "offline_access"])
}

fn of_kind(auth: &AuthServer, kind: AuthRequestKind) -> Vec<AuthRequest> {
    auth.requests()
        .into_iter()
        .filter(|r| r.kind == kind)
        .collect()
}

/// OAuth for `server` with Entra's scope, its notices kept in `notices`.
fn entra_oauth(server: &TestServer, notices: &Arc<Mutex<Vec<String>>>) -> OAuthBuilder {
    let kept = Arc::clone(notices);
    oauth(server)
        .scopes(format!("{ENTRA_SCOPE} openid"))
        .token_storage(MemoryTokenStorage::new())
        .on_notice(move |text| kept.lock().unwrap().push(text.to_owned()))
}

async fn call(server: &TestServer, oauth: &OAuth) {
    let client = Client::builder(server.url())
        .auth(Auth::from(oauth.clone()))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    client.list_tools().await.unwrap();
    client.close().await;
}

#[tokio::test]
async fn a_refused_resource_at_the_token_endpoint_is_left_out_from_then_on() {
    let (auth, server) = protected(entra(ResourceRefusal::AtToken)).await;
    let notices = Arc::default();
    let oauth = entra_oauth(&server, &notices).build().unwrap();
    call(&server, &oauth).await;

    // One sign-in; the code exchanged again, the same code, without it.
    assert_eq!(of_kind(&auth, AuthRequestKind::Authorize).len(), 1);
    let tokens = of_kind(&auth, AuthRequestKind::Token);
    assert_eq!(tokens.len(), 2, "{tokens:#?}");
    assert_eq!(tokens[0].param("resource"), Some(server.url().as_str()));
    assert_eq!(tokens[1].param("resource"), None);
    assert_eq!(tokens[0].param("code"), tokens[1].param("code"));
    let told = notices.lock().unwrap().join("\n");
    assert!(told.contains("refuses the resource parameter"), "{told}");
    let stored = oauth.stored().await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&stored).unwrap()["resource_refused"],
        true
    );

    // The access token is refused: the refresh leaves the resource out,
    // and keeps Entra's scopes exactly as granted.
    auth.expire_access_tokens();
    call(&server, &oauth).await;
    let tokens = of_kind(&auth, AuthRequestKind::Token);
    let refresh = tokens.last().unwrap();
    assert_eq!(refresh.param("grant_type"), Some("refresh_token"));
    assert_eq!(refresh.param("resource"), None);
    let asked = of_kind(&auth, AuthRequestKind::Authorize)[0]
        .param("scope")
        .map(str::to_owned);
    assert_eq!(
        asked.as_deref(),
        Some(&*format!("{ENTRA_SCOPE} openid offline_access"))
    );
    assert_eq!(
        refresh.param("scope"),
        asked.as_deref(),
        "nothing re-ordered or split"
    );
    assert_eq!(tokens.len(), 3, "one refresh, not refused: {tokens:#?}");
}

#[tokio::test]
async fn a_refusal_at_the_authorization_endpoint_signs_in_again_without_it() {
    let (auth, server) = protected(entra(ResourceRefusal::AtAuthorizeAndToken)).await;
    let notices = Arc::default();
    let oauth = entra_oauth(&server, &notices).build().unwrap();
    call(&server, &oauth).await;
    let authorizations = of_kind(&auth, AuthRequestKind::Authorize);
    assert_eq!(authorizations.len(), 2);
    assert_eq!(
        authorizations[0].param("resource"),
        Some(server.url().as_str())
    );
    assert_eq!(authorizations[1].param("resource"), None);
    let tokens = of_kind(&auth, AuthRequestKind::Token);
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].param("resource"), None);
    assert!(
        notices
            .lock()
            .unwrap()
            .join("\n")
            .contains("trying again without it")
    );
}

#[tokio::test]
async fn no_resource_never_sends_it() {
    let (auth, server) = protected(entra(ResourceRefusal::AtAuthorizeAndToken)).await;
    let notices = Arc::default();
    let oauth = entra_oauth(&server, &notices)
        .no_resource()
        .build()
        .unwrap();
    call(&server, &oauth).await;
    auth.expire_access_tokens();
    call(&server, &oauth).await;
    let requests = auth.requests();
    assert!(
        requests.iter().all(|r| r.param("resource").is_none()),
        "{requests:#?}"
    );
    assert_eq!(of_kind(&auth, AuthRequestKind::Authorize).len(), 1);
    assert_eq!(
        of_kind(&auth, AuthRequestKind::Token).len(),
        2,
        "a code, then a refresh"
    );
    assert!(
        notices
            .lock()
            .unwrap()
            .iter()
            .all(|n| !n.contains("resource"))
    );
}

/// A browser that follows the sign-in and remembers each URL it was given.
fn counting_browser(opened: &Arc<Mutex<Vec<String>>>) -> mcp_oauth::UserAgent {
    let opened = Arc::clone(opened);
    mcp_oauth::UserAgent::custom(move |url| {
        opened.lock().unwrap().push(url.to_string());
        async move {
            let browser = reqwest::Client::builder()
                .no_proxy()
                .timeout(TIMEOUT)
                .build()
                .unwrap();
            let _ = browser.get(url).send().await;
            Ok(())
        }
    })
}

#[tokio::test]
async fn a_forgotten_registration_is_found_before_the_browser_opens() {
    for answer in [
        UnknownClient::ErrorPage,
        UnknownClient::JsonError,
        UnknownClient::Redirect,
    ] {
        // No refresh tokens: the registration is not tried at the token
        // endpoint before the next sign-in.
        let builder = AuthServer::builder()
            .unknown_client(answer)
            .refresh_tokens(RefreshMode::Off);
        let (auth, server) = protected(builder).await;
        let dir = tempfile::tempdir().unwrap();
        let opened = Arc::new(Mutex::new(Vec::new()));
        let sign_in = || {
            oauth(&server)
                .user_agent(counting_browser(&opened))
                .token_storage_cache_dir(dir.path())
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap()
        };
        call(&server, &sign_in()).await;
        let first = auth.registered_clients()[0].client_id.clone();
        // The server restarts and forgets its clients and their tokens.
        auth.forget_clients();
        auth.expire_access_tokens();
        call(&server, &sign_in()).await;

        let clients = auth.registered_clients();
        assert_eq!(clients.len(), 1, "{answer:?}: registered again");
        assert_ne!(clients[0].client_id, first);
        let opened = opened.lock().unwrap().clone();
        assert_eq!(
            opened.len(),
            2,
            "{answer:?}: one browser per sign-in: {opened:#?}"
        );
        assert!(
            opened[1].contains(&clients[0].client_id),
            "{answer:?}: the new client"
        );
    }
}

#[tokio::test]
async fn a_client_registered_with_a_fixed_redirect_path_signs_in_there() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redirect = format!("http://127.0.0.1:{port}/oauth/callback");
    let client = mcp_oauth_testkit::PreRegistered::public("fixed").redirect_uris(&[&redirect]);
    let (auth, server) = protected(AuthServer::builder().pre_registered(client)).await;
    let oauth = oauth(&server)
        .client_id("fixed")
        .callback_port(port)
        .callback_path("/oauth/callback")
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    call(&server, &oauth).await;
    let authorize = &of_kind(&auth, AuthRequestKind::Authorize)[0];
    assert_eq!(authorize.param("redirect_uri"), Some(redirect.as_str()));
    assert_eq!(of_kind(&auth, AuthRequestKind::Token).len(), 1);
    let bad = OAuth::builder(server.url())
        .callback_path("oauth/callback")
        .build();
    assert!(bad.is_err());
}
