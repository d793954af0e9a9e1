//! The two-phase web flow: begun on one instance, completed on another,
//! refused for another session, a replay, an expired attempt, a forged
//! `iss`; the account's tokens used and refreshed on any instance.

use std::time::Duration;

use mcp_oauth::{Auth, CallbackRefusal, Client, Error, MemoryStore, WebFlow, WebFlowBuilder};
use mcp_oauth_testkit::{AuthRequestKind, AuthServer, IssMode, PreRegistered, TestServer};
use url::Url;

use crate::support::{TIMEOUT, count, protected};

const CALLBACK: &str = "http://127.0.0.1:9/oauth/callback";

fn platform(store: &MemoryStore) -> WebFlowBuilder {
    WebFlow::builder(store.clone(), CALLBACK).http_timeout(TIMEOUT)
}

/// The browser's part: opens the authorization URL (the testkit approves
/// at once) and returns the query its redirect to the callback carries.
async fn approve(url: &Url) -> String {
    let browser = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    let answer = browser.get(url.clone()).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{answer:?}");
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let location = Url::parse(&location).unwrap();
    assert!(location.as_str().starts_with(CALLBACK), "{location}");
    location.query().unwrap().to_owned()
}

fn state_of(url: &Url) -> String {
    url.query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap()
}

async fn tool_names(
    web: &WebFlow,
    server: &TestServer,
    account: &str,
) -> mcp_oauth::Result<Vec<String>> {
    let oauth = web.oauth(server.url().as_str(), account)?;
    let client = Client::builder(server.url())
        .timeout(TIMEOUT)
        .auth(Auth::from(oauth))
        .connect()
        .await?;
    let tools = client.list_tools().await;
    client.close().await;
    Ok(tools?
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect())
}

fn refusal(error: Error) -> CallbackRefusal {
    match error {
        Error::CallbackRefused { reason } => reason,
        other => panic!("expected a refused callback, got {other:?}"),
    }
}

#[tokio::test]
async fn begun_on_one_instance_completed_on_another_used_on_both() {
    let (auth, server) = protected(AuthServer::builder().iss_parameter(IssMode::On)).await;
    let store = MemoryStore::new();
    let (a, b) = (
        platform(&store).build().unwrap(),
        platform(&store).build().unwrap(),
    );
    let url = server.url().to_string();

    // Nothing stored yet: the platform learns it must connect the user.
    let error = tool_names(&a, &server, "alice").await.unwrap_err();
    assert!(
        matches!(&error, Error::NotConnected { account: Some(name), .. } if name == "alice"),
        "{error:?}"
    );

    for user in ["alice", "bob"] {
        let authorize = a
            .begin(&url, user, &format!("{user}-session"))
            .await
            .unwrap();
        assert_eq!(
            authorize
                .query_pairs()
                .find(|(n, _)| n == "redirect_uri")
                .unwrap()
                .1,
            CALLBACK
        );
        let query = approve(&authorize).await;
        let connected = b
            .complete(&query, user, &format!("{user}-session"))
            .await
            .unwrap();
        assert_eq!(
            (connected.server_url(), connected.account()),
            (url.as_str(), user)
        );
    }
    // One registration serves every account of the platform, and one
    // discovery every sign-in begun on an instance.
    assert_eq!(count(&auth, AuthRequestKind::Register), 1);
    assert_eq!(
        count(&auth, AuthRequestKind::Metadata),
        1,
        "{:#?}",
        auth.requests()
    );
    let registered = &auth.registered_clients()[0];
    assert_eq!(registered.metadata["redirect_uris"][0], CALLBACK);

    for web in [&a, &b] {
        for user in ["alice", "bob"] {
            let names = tool_names(web, &server, user).await.unwrap();
            assert!(names.contains(&"echo".to_owned()), "{names:?}");
        }
    }
    // Each account sent its own token.
    let alice = a.oauth(&url, "alice").unwrap().token().await.unwrap();
    let bob = a.oauth(&url, "bob").unwrap().token().await.unwrap();
    use secrecy::ExposeSecret;
    assert_ne!(alice.expose_secret(), bob.expose_secret());
    let stored = b
        .oauth(&url, "bob")
        .unwrap()
        .stored()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.account(), Some("bob"));
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_callback_is_refused_for_another_session_a_replay_an_unknown_state_and_when_expired() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let store = MemoryStore::new();
    let web = platform(&store).build().unwrap();
    let url = server.url().to_string();
    let authorize = web.begin(&url, "alice", "alice-session").await.unwrap();
    let query = approve(&authorize).await;

    // Bob's session (or Bob) presenting Alice's callback: refused, and
    // Alice's attempt stays for her.
    let other = web
        .complete(&query, "alice", "bob-session")
        .await
        .unwrap_err();
    assert_eq!(refusal(other), CallbackRefusal::OtherSession);
    let other = web
        .complete(&query, "bob", "alice-session")
        .await
        .unwrap_err();
    assert_eq!(refusal(other), CallbackRefusal::OtherSession);
    assert!(
        web.oauth(&url, "bob")
            .unwrap()
            .stored()
            .await
            .unwrap()
            .is_none()
    );
    web.complete(&query, "alice", "alice-session")
        .await
        .unwrap();

    let replay = web
        .complete(&query, "alice", "alice-session")
        .await
        .unwrap_err();
    assert_eq!(refusal(replay), CallbackRefusal::AlreadyUsed);
    let unknown = web
        .complete("code=x&state=never-begun", "alice", "alice-session")
        .await
        .unwrap_err();
    assert_eq!(refusal(unknown), CallbackRefusal::UnknownState);
    let malformed = web
        .complete("code=x", "alice", "alice-session")
        .await
        .unwrap_err();
    assert!(matches!(refusal(malformed), CallbackRefusal::Malformed(_)));
    // Only the one completed attempt reached the token endpoint.
    assert_eq!(count(&auth, AuthRequestKind::Token), 1);

    let brief = platform(&store)
        .attempt_lifetime(Duration::from_millis(300))
        .build()
        .unwrap();
    let authorize = brief.begin(&url, "carol", "carol-session").await.unwrap();
    let query = approve(&authorize).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let late = brief
        .complete(&query, "carol", "carol-session")
        .await
        .unwrap_err();
    assert_eq!(refusal(late), CallbackRefusal::Expired);
    assert!(
        brief
            .oauth(&url, "carol")
            .unwrap()
            .stored()
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count(&auth, AuthRequestKind::Token), 1);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_forged_iss_and_an_error_answer_end_the_attempt_with_nothing_stored() {
    let (auth, server) = protected(AuthServer::builder().iss_parameter(IssMode::Wrong)).await;
    let store = MemoryStore::new();
    let web = platform(&store).build().unwrap();
    let url = server.url().to_string();
    let authorize = web.begin(&url, "alice", "s").await.unwrap();
    let query = approve(&authorize).await;
    let error = web.complete(&query, "alice", "s").await.unwrap_err();
    assert!(
        matches!(&error, Error::Insecure { reason, .. } if reason.contains("mix-up")),
        "{error:?}"
    );
    assert!(
        web.oauth(&url, "alice")
            .unwrap()
            .stored()
            .await
            .unwrap()
            .is_none()
    );
    // The attempt is over: presenting it again is a replay.
    let again = web.complete(&query, "alice", "s").await.unwrap_err();
    assert_eq!(refusal(again), CallbackRefusal::AlreadyUsed);

    // The authorization server's refusal, as it comes back to the callback.
    let authorize = web.begin(&url, "bob", "s").await.unwrap();
    let state = state_of(&authorize);
    let query = format!(
        "error=access_denied&error_description=The+user+said+no&state={state}&iss={}",
        "https%3A%2F%2Fwrong-issuer.example.com"
    );
    let denied = web.complete(&query, "bob", "s").await.unwrap_err();
    // The forged issuer is caught before the error is believed.
    assert!(matches!(denied, Error::Insecure { .. }), "{denied:?}");
    assert_eq!(count(&auth, AuthRequestKind::Token), 0);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn the_servers_error_answer_ends_the_attempt() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let web = platform(&MemoryStore::new()).build().unwrap();
    let url = server.url().to_string();
    let authorize = web.begin(&url, "bob", "s").await.unwrap();
    let query = format!(
        "error=access_denied&error_description=The+user+said+no&state={}",
        state_of(&authorize)
    );
    let denied = web.complete(&query, "bob", "s").await.unwrap_err();
    match denied {
        Error::AuthorizationDenied { error, description } => {
            assert_eq!(error.as_str(), "access_denied");
            assert_eq!(description.as_deref(), Some("The user said no"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        web.oauth(&url, "bob")
            .unwrap()
            .stored()
            .await
            .unwrap()
            .is_none()
    );
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn expired_tokens_are_refreshed_on_use_once_for_many_requests() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let store = MemoryStore::new();
    let web = platform(&store).build().unwrap();
    let url = server.url().to_string();
    let authorize = web.begin(&url, "alice", "s").await.unwrap();
    web.complete(&approve(&authorize).await, "alice", "s")
        .await
        .unwrap();
    auth.expire_access_tokens();
    auth.clear_requests();
    let calls = (0..8).map(|_| tool_names(&web, &server, "alice"));
    for names in futures::future::join_all(calls).await {
        assert!(names.unwrap().contains(&"echo".to_owned()));
    }
    assert_eq!(
        count(&auth, AuthRequestKind::Token),
        1,
        "{:#?}",
        auth.requests()
    );
    auth.stop().await;
    server.stop().await;
}

#[test]
fn the_redirect_uri_must_be_https_or_loopback() {
    for bad in [
        "http://platform.example.com/cb",
        "https://p.example.com/cb#x",
        "not a url",
    ] {
        let error = WebFlow::builder(MemoryStore::new(), bad)
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("redirect URI"), "{error}");
    }
    WebFlow::builder(MemoryStore::new(), "https://p.example.com/cb")
        .build()
        .unwrap();
}

#[tokio::test]
async fn a_client_registered_beforehand_with_the_platforms_callback_is_used_as_is() {
    let client =
        PreRegistered::confidential("platform", "platform-secret").redirect_uris(&[CALLBACK]);
    let (auth, server) = protected(AuthServer::builder().pre_registered(client)).await;
    let web = platform(&MemoryStore::new())
        .client_id("platform")
        .client_secret("platform-secret")
        .build()
        .unwrap();
    let url = server.url().to_string();
    let authorize = web.begin(&url, "alice", "s").await.unwrap();
    web.complete(&approve(&authorize).await, "alice", "s")
        .await
        .unwrap();
    assert_eq!(count(&auth, AuthRequestKind::Register), 0);
    let token = auth
        .requests()
        .into_iter()
        .find(|r| r.kind == AuthRequestKind::Token)
        .unwrap();
    assert!(
        token
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "{token:?}"
    );
    let names = tool_names(&web, &server, "alice").await.unwrap();
    assert!(names.contains(&"echo".to_owned()));
    auth.stop().await;
    server.stop().await;
}
