//! A server that is never satisfied with the scope it gets.

use std::time::Duration;

use mcp_oauth::{Auth, Client, Error};

use super::{
    bounded, mini_as,
    server::{Hostile, Reply},
};

/// Every request is refused for more scope, each time a new one: the client
/// asks for it (a step-up) three times at most, then reports the refusal.
/// A server that asks for the same scope it was just granted gets one
/// step-up, then renewals pause.
#[tokio::test]
async fn a_server_that_always_wants_more_scope_gets_three_step_ups_then_a_clear_error() {
    for growing in [true, false] {
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = asked.clone();
        // Sign-ins: authorization pages a browser opened, not the client's
        // prefetch of a cached registration's page.
        let signed_in = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sign_in_counter = signed_in.clone();
        let hostile = Hostile::start(move |request, base| {
            if request.path() == "/authorize" && request.header("sec-purpose").is_none() {
                sign_in_counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            match (request.method.as_str(), request.path()) {
                ("POST", "/mcp") => {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let scope = if growing { format!("more{n}") } else { "more".into() };
                    let challenge = format!(
                        r#"Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{base}/.well-known/oauth-protected-resource/mcp""#
                    );
                    Reply::Empty(403, vec![("www-authenticate".into(), challenge)])
                }
                _ => mini_as(request, base),
            }
        })
        .await;
        let url = format!("{}/mcp", hostile.base());
        let dir = crate::support::tempdir().unwrap();
        let oauth = super::oauth(&url, dir.path().to_owned()).build().unwrap();
        let error = bounded(
            Client::builder(&url)
                .auth(Auth::from(oauth))
                .timeout(Duration::from_secs(20))
                .connect(),
        )
        .await
        .unwrap_err();
        let sign_ins = signed_in.load(std::sync::atomic::Ordering::SeqCst);
        if growing {
            assert!(
                matches!(error, Error::Unauthorized { status: 403, .. }),
                "{error:?}"
            );
            assert_eq!(sign_ins, 3, "{:?}", hostile.paths());
        } else {
            assert!(
                matches!(error, Error::RenewalsPaused { status: 403, .. }),
                "{error:?}"
            );
            assert_eq!(sign_ins, 1, "{:?}", hostile.paths());
        }
    }
}
