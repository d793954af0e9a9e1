//! Redirects during discovery: within the origin they are followed (a few
//! times, never in a circle); to another origin they are refused with an
//! error, before any request goes there. RFC 8414 §3 and RFC 9728 §3 put
//! each document at its well-known place on its own origin, and the MCP
//! specification has clients follow only what PRM and metadata name: a
//! redirect elsewhere is not a document of this server, and quietly moving
//! on to the next candidate would end in guessed default endpoints instead
//! of the error the user needs to see.

use std::time::Duration;

use mcp_oauth::{Auth, Client, Error, TransportMode};

use super::{
    SeededStore, bounded, mini_as, oauth,
    server::{Hostile, Reply},
};

const PRM: &str = "/.well-known/oauth-protected-resource/mcp";
const AS_METADATA: &str = "/.well-known/oauth-authorization-server";

#[tokio::test]
async fn redirect_loops_during_discovery_end_with_a_clear_error() {
    for (looping, endless) in [(PRM, false), (PRM, true), (AS_METADATA, false)] {
        let hostile = Hostile::start(move |request, base| {
            let path = request.path();
            if path == looping {
                // Back to itself, or one step further each time.
                return if endless {
                    Reply::redirect(&format!("{base}/next/1"))
                } else {
                    Reply::redirect(&format!("{base}{looping}"))
                };
            }
            if let Some(step) = path.strip_prefix("/next/") {
                let step: u32 = step.parse().unwrap();
                return Reply::redirect(&format!("{base}/next/{}", step + 1));
            }
            mini_as(request, base)
        })
        .await;
        let url = format!("{}/mcp", hostile.base());
        let store = SeededStore::new(&url).await;
        let login = oauth(&url, store.dir()).build().unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        assert!(matches!(error, Error::Discovery { .. }), "{error:?}");
        let text = error.to_string();
        let expected = if endless {
            "redirects more than 5 times"
        } else {
            "redirects in a circle"
        };
        assert!(text.contains(expected), "{text}");
        assert!(text.contains(looping), "{text}");
        // Bounded: one request per hop, no retry of the loop.
        assert!(hostile.served().len() < 20, "{:?}", hostile.paths());
        assert!(!hostile.paths().iter().any(|p| p == "/register"));
        store.assert_intact().await;
    }
}

#[tokio::test]
async fn cross_origin_redirects_during_discovery_are_refused() {
    for moved in [PRM, AS_METADATA] {
        // The other origin would answer everything correctly.
        let elsewhere = Hostile::start(mini_as).await;
        let target = elsewhere.base();
        let hostile = Hostile::start(move |request, base| {
            if request.path() == moved {
                Reply::redirect(&format!("{target}{moved}"))
            } else {
                mini_as(request, base)
            }
        })
        .await;
        let url = format!("{}/mcp", hostile.base());
        let store = SeededStore::new(&url).await;
        let login = oauth(&url, store.dir()).build().unwrap();
        let error = bounded(login.login()).await.unwrap_err();
        let Error::Insecure { url: at, reason } = &error else {
            panic!("{moved}: {error:?}");
        };
        assert!(at.ends_with(moved), "{at}");
        assert!(reason.contains("another origin"), "{reason}");
        assert!(reason.contains(&elsewhere.base()), "{reason}");
        assert!(elsewhere.served().is_empty(), "{:?}", elsewhere.paths());
        store.assert_intact().await;
    }
}

#[tokio::test]
async fn redirects_within_the_origin_are_followed() {
    let hostile = Hostile::start(|request, base| match request.path() {
        PRM => Reply::redirect(&format!("{base}/moved/prm")),
        "/moved/prm" => mini_as(
            &super::server::Request {
                target: PRM.into(),
                ..request.clone()
            },
            base,
        ),
        _ => mini_as(request, base),
    })
    .await;
    let url = format!("{}/mcp", hostile.base());
    let store = SeededStore::new(&url).await;
    let login = oauth(&url, store.dir()).build().unwrap();
    bounded(login.login()).await.unwrap();
    let stored = login.stored().await.unwrap().unwrap();
    assert_eq!(stored.issuer(), Some(hostile.base().as_str()));
    assert!(hostile.paths().iter().any(|p| p == "/token"));
}

#[tokio::test]
async fn an_mcp_request_redirected_to_another_origin_is_refused_and_keeps_its_token() {
    let elsewhere = Hostile::start(|_, _| Reply::not_found()).await;
    let target = format!("{}/mcp", elsewhere.base());
    let hostile =
        Hostile::start(move |_, _| Reply::Empty(307, vec![("location".into(), target.clone())]))
            .await;
    let url = format!("{}/mcp", hostile.base());
    let store = SeededStore::new(&url).await;
    let connecting = Client::builder(&url)
        .auth(Auth::from(oauth(&url, store.dir()).build().unwrap()))
        .transport(TransportMode::StreamableHttp)
        .timeout(Duration::from_secs(10))
        .connect();
    let error = bounded(connecting).await.unwrap_err();
    assert!(matches!(error, Error::Insecure { .. }), "{error:?}");
    assert!(error.to_string().contains("another origin"), "{error}");
    assert!(elsewhere.served().is_empty(), "the token left its origin");
    store.assert_intact().await;
}
