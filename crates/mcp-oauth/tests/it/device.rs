//! The device authorization grant (RFC 8628) against the testkit's server.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use mcp_oauth::{Auth, Client, Error, MemoryTokenStorage, OAuth, OAuthBuilder, SignIn, UserAgent};
use mcp_oauth_testkit::{
    AuthFault, AuthRequestKind, AuthServer, DeviceStatus, LoginMode, TestServer,
};
use serde_json::json;
use tokio::task::JoinHandle;

use crate::support::{TIMEOUT, count, exercise_tools, protected};

/// Device codes are polled every second here.
const INTERVAL: Duration = Duration::from_secs(1);

/// Notices and sign-in states, as a program showing them would see them.
#[derive(Clone, Default)]
struct Seen {
    notices: Arc<Mutex<Vec<String>>>,
    states: Arc<Mutex<Vec<SignIn>>>,
}

fn device_oauth(server: &TestServer, seen: &Seen) -> OAuthBuilder {
    let notices = Arc::clone(&seen.notices);
    let states = Arc::clone(&seen.states);
    let no_browser = UserAgent::custom(|_| async { panic!("the device grant opens no browser") });
    OAuth::builder(server.url())
        .device_authorization()
        .user_agent(no_browser)
        .token_storage(MemoryTokenStorage::new())
        .timeout(TIMEOUT)
        .on_notice(move |text| notices.lock().unwrap().push(text.to_owned()))
        .on_sign_in(move |state| states.lock().unwrap().push(state))
}

async fn connect(server: &TestServer, oauth: OAuth) -> mcp_oauth::Result<Client> {
    Client::builder(server.url())
        .auth(Auth::from(oauth))
        .timeout(TIMEOUT)
        .connect()
        .await
}

#[tokio::test]
async fn a_device_sign_in_shows_the_code_polls_and_then_refreshes() {
    let (auth, server) = protected(AuthServer::builder().device_authorization(INTERVAL)).await;
    let seen = Seen::default();
    let oauth = device_oauth(&server, &seen).build().unwrap();
    let client = connect(&server, oauth.clone()).await.unwrap();
    exercise_tools(&client).await;

    // The person was told where to go and which code to enter.
    let requests = auth.device_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].status, DeviceStatus::Redeemed);
    let notices = seen.notices.lock().unwrap().join("\n");
    assert!(notices.contains(&requests[0].user_code), "{notices}");
    assert!(
        notices.contains(&format!("{}/device", auth.issuer())),
        "{notices}"
    );
    assert_eq!(
        *seen.states.lock().unwrap(),
        [SignIn::Waiting, SignIn::Done]
    );
    // The resource is named, as on every authorization request.
    assert_eq!(requests[0].resource.as_deref(), Some(server.url().as_str()));

    // Registered for this grant, without a redirect URI; no browser redirect at all.
    let clients = auth.registered_clients();
    assert_eq!(clients.len(), 1);
    assert!(clients[0].redirect_uris.is_empty());
    assert_eq!(
        clients[0].metadata["grant_types"],
        json!([
            "urn:ietf:params:oauth:grant-type:device_code",
            "refresh_token"
        ])
    );
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 0);
    assert_eq!(count(&auth, AuthRequestKind::DeviceAuthorization), 1);
    // The first poll is pending (the server approves then), the second gets tokens.
    let polls: Vec<_> = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token)
        .collect();
    assert_eq!(polls.len(), 2, "{polls:#?}");
    assert_eq!(
        polls[0].param("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    assert_eq!(polls[0].status, 400);
    assert_eq!(polls[1].status, 200);

    // Expired later: refreshed with the same client, without a new device code.
    auth.clear_requests();
    auth.expire_access_tokens();
    exercise_tools(&client).await;
    let refreshes: Vec<_> = auth.requests();
    assert_eq!(refreshes.len(), 1, "{refreshes:#?}");
    assert_eq!(refreshes[0].param("grant_type"), Some("refresh_token"));
    assert_eq!(
        refreshes[0].param("client_id"),
        Some(clients[0].client_id.as_str())
    );
    client.close().await;
}

#[tokio::test]
async fn slow_down_adds_five_seconds_to_the_interval() {
    let (auth, server) = protected(
        AuthServer::builder()
            .device_authorization(INTERVAL)
            .fault(AuthFault::DeviceSlowDown),
    )
    .await;
    let oauth = device_oauth(&server, &Seen::default())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let client = connect(&server, oauth).await.unwrap();
    // Polls: slow_down at 1 s, pending at 1 + 6 s, tokens at 1 + 6 + 6 s. A
    // sleep never ends early, so this lower bound cannot flake.
    assert!(
        started.elapsed() >= Duration::from_secs(13),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(auth.device_requests()[0].polls, 3);
    let slow_downs = auth
        .requests()
        .iter()
        .filter(|r| r.kind == AuthRequestKind::Token && r.status == 400)
        .count();
    assert_eq!(slow_downs, 2, "one slow_down, one authorization_pending");
    client.close().await;
}

/// Servers where a person approves or denies device codes by hand, and a
/// device sign-in connecting on its own task, left waiting for them.
async fn waiting_device_sign_in() -> (
    AuthServer,
    TestServer,
    JoinHandle<mcp_oauth::Result<Client>>,
) {
    let (auth, server) = protected(
        AuthServer::builder()
            .login(LoginMode::Interactive)
            .device_authorization(INTERVAL),
    )
    .await;
    let oauth = device_oauth(&server, &Seen::default()).build().unwrap();
    let connecting = tokio::spawn({
        let server_url = server.url();
        async move {
            Client::builder(server_url)
                .auth(Auth::from(oauth))
                .timeout(TIMEOUT)
                .connect()
                .await
        }
    });
    (auth, server, connecting)
}

/// Waits (bounded) until the server has a device request polled at least once.
async fn first_device_request(auth: &AuthServer) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(request) = auth.device_requests().into_iter().find(|r| r.polls > 0) {
            return request.user_code;
        }
        assert!(Instant::now() < deadline, "no device request was polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_denied_request_is_refused_with_the_servers_reason() {
    // The server is kept (not dropped) until the test ends.
    let (auth, _server, connecting) = waiting_device_sign_in().await;
    let user_code = first_device_request(&auth).await;
    assert!(auth.deny_device(&user_code));
    let error = connecting.await.unwrap().unwrap_err();
    match &error {
        Error::AuthorizationDenied { error, description } => {
            assert_eq!(error, "access_denied");
            assert!(description.as_deref().unwrap_or("").contains("denied"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(auth.issued_tokens(), 0);
}

#[tokio::test]
async fn an_expired_device_code_ends_the_wait() {
    let (auth, server, connecting) = waiting_device_sign_in().await;
    first_device_request(&auth).await;
    auth.expire_device_codes();
    let error = connecting.await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::AuthorizationDenied { error, .. } if error == "expired_token"),
        "{error:?}"
    );

    // A code that outlives our patience: the wait ends at the sign-in timeout.
    let seen = Seen::default();
    let oauth = device_oauth(&server, &seen)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = connect(&server, oauth).await.unwrap_err();
    assert!(matches!(error, Error::SignInTimeout { .. }), "{error:?}");
    assert!(started.elapsed() < crate::support::NO_HANG);
    assert_eq!(
        *seen.states.lock().unwrap(),
        [SignIn::Waiting, SignIn::Done],
        "a spinner would stop"
    );
}

#[tokio::test]
async fn a_server_without_the_device_grant_is_named_before_any_registration() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let error = connect(
        &server,
        device_oauth(&server, &Seen::default()).build().unwrap(),
    )
    .await
    .unwrap_err();
    match &error {
        Error::Discovery { reason, .. } => {
            assert!(reason.contains("device_authorization_endpoint"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(auth.registered_clients().is_empty());
}
