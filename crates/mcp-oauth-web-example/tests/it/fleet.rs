//! Instances sharing a real Redis: a sign-in begun on one is completed on
//! another, and the user's tools are listed on every instance, including
//! one started afterwards.

use std::os::unix::fs::PermissionsExt as _;

use mcp_oauth_testkit::{AuthServer, IssMode, RedisServer};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{browser, connect, fleet, get, login, protected, tools};

/// A store key, as `openssl rand -base64 32` prints one.
pub(crate) const STORE_KEY: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

#[tokio::test]
async fn begun_on_one_instance_completed_on_another_used_on_both() {
    let (_auth, server) = protected(AuthServer::builder().iss_parameter(IssMode::On)).await;
    let server = server.url();
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("store.key");
    std::fs::write(&key_file, STORE_KEY).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let store = [
        "--store",
        &redis.url(),
        "--store-key-file",
        key_file.to_str().unwrap(),
    ];
    let instances = fleet(2, &store, &[]);
    let (a, b) = (&instances[0], &instances[1]);
    let http = browser();

    // Signed in on A, known on B: the cookie is self-contained.
    let alice = login(&http, a, "alice").await;
    let page = get(&http, b, Some(&alice), "/", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Signed in as <b>alice</b>"), "{page}");
    assert_eq!(
        tools(&http, b, &alice, &server).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({ "error": "not_connected" })
        )
    );

    connect(&http, (a, b), &alice, &server).await;
    let bob = login(&http, b, "bob").await;
    connect(&http, (b, a), &bob, &server).await;

    let later = fleet(1, &store, &[]);
    for instance in [a, b, &later[0]] {
        for user in [&alice, &bob] {
            let (status, names) = tools(&http, instance, user, &server).await;
            assert_eq!(status, StatusCode::OK, "{names}");
            assert!(
                names.as_array().unwrap().contains(&json!("echo")),
                "{names}"
            );
        }
    }
}
