//! The static bearer token: sent on every request of every transport, never
//! shown, and a refusal reaches the caller with its challenge.

use mcp_oauth::{Auth, Error};
use mcp_oauth_testkit::{ServerMode, TestServer};

use crate::support::{builder, exercise_tools};

#[tokio::test]
async fn a_missing_token_is_unauthorized_with_the_challenge_intact() {
    let server = TestServer::builder()
        .bearer("s3cret")
        .start()
        .await
        .unwrap();
    let error = builder(&server).connect().await.unwrap_err();
    match &error {
        Error::Unauthorized {
            status,
            www_authenticate,
            ..
        } => {
            assert_eq!(*status, 401);
            assert_eq!(
                www_authenticate.as_deref(),
                Some(r#"Bearer realm="mcp-testkit""#)
            );
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_never_printed() {
    let server = TestServer::builder()
        .bearer("s3cret")
        .start()
        .await
        .unwrap();
    let error = builder(&server)
        .auth(Auth::bearer("wr0ng-token"))
        .connect()
        .await
        .unwrap_err();
    assert!(error.is_unauthorized(), "{error:?}");
    assert!(error.to_string().contains("invalid_token"), "{error}");
    assert!(!format!("{error} {error:?}").contains("wr0ng-token"));
    server.stop().await;
}

#[tokio::test]
async fn the_token_goes_on_every_request_of_both_http_transports() {
    for mode in [
        ServerMode::Stateful,
        ServerMode::Stateless,
        ServerMode::LegacySse,
    ] {
        let server = TestServer::builder()
            .mode(mode)
            .bearer("s3cret")
            .start()
            .await
            .unwrap();
        let builder = builder(&server).auth(Auth::bearer("s3cret"));
        assert!(
            !format!("{builder:?}").contains("s3cret"),
            "Debug hides the token"
        );
        let client = builder.connect().await.unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
        client.ping().await.unwrap();
        exercise_tools(&client).await;
        client.close().await;
        let requests = server.requests();
        // POST probes that the legacy server refuses with 405 also carried it.
        assert!(requests.len() >= 4, "{mode:?}: {requests:?}");
        for request in &requests {
            assert_eq!(
                request.authorization.as_deref(),
                Some("Bearer s3cret"),
                "{request:?}"
            );
        }
        server.stop().await;
    }
}
