//! Tests of the callback server, over real loopback HTTP.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{mpsc, oneshot},
};

use super::*;

const STATE: &str = "s7aTe-0123456789abcdef";

fn state() -> SecretString {
    SecretString::from(STATE.to_owned())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GETs `path_and_query` on the server; returns status, headers and body.
fn get(
    base: &Url,
    path_and_query: &str,
) -> impl Future<Output = (u16, reqwest::header::HeaderMap, String)> + 'static {
    let url = base.join(path_and_query).unwrap();
    async move {
        let response = http().get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }
}

fn code_of(response: &AuthorizationResponse) -> &str {
    response.code.expose_secret()
}

fn port_of(server: &CallbackServer) -> u16 {
    server.redirect_uri().port().unwrap()
}

async fn ipv6_available() -> bool {
    tokio::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0))
        .await
        .is_ok()
}

#[test]
fn constant_time_eq_compares_content_and_length() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(constant_time_eq(b"", b""));
    assert!(!constant_time_eq(b"abd", b"abc"));
    assert!(!constant_time_eq(b"ab", b"abc"));
    assert!(!constant_time_eq(b"abcd", b"abc"));
    assert!(!constant_time_eq(b"", b"abc"));
    // A received byte equal to the complement placeholder must not match.
    assert!(!constant_time_eq(&[!b'a'], b"ab"));
}

#[test]
fn parse_redirect_accepts_url_query_and_bare_query() {
    for input in [
        format!("http://127.0.0.1:1234/callback?code=c%2B1&state={STATE}&iss=https%3A%2F%2Fas"),
        format!("  ?code=c%2B1&state={STATE}&iss=https%3A%2F%2Fas\n"),
        format!("code=c%2B1&state={STATE}&iss=https%3A%2F%2Fas"),
        format!("/callback?code=c%2B1&state={STATE}&iss=https%3A%2F%2Fas#frag"),
    ] {
        match parse_redirect(&input, &state()) {
            ParsedCallback::Code { code, iss } => {
                assert_eq!(code.expose_secret(), "c+1", "{input}");
                assert_eq!(iss.as_deref(), Some("https://as"));
            }
            other => panic!("{input}: {other:?}"),
        }
    }
}

#[test]
fn parse_redirect_refuses_missing_wrong_or_repeated_parameters() {
    let cases = [
        ("code=c", "state parameter is missing"),
        ("code=c&state=other", "does not match"),
        (&format!("code=c&state={STATE}x") as &str, "does not match"),
        (&format!("state={STATE}"), "code parameter is missing"),
        (&format!("code=&state={STATE}"), "code parameter is missing"),
        (
            &format!("code=a&code=b&state={STATE}"),
            "code parameter appears more than once",
        ),
        (
            &format!("code=a&state={STATE}&state={STATE}"),
            "state parameter appears more than once",
        ),
        // An error without the right state is a stray request, not a denial.
        ("error=access_denied", "state parameter is missing"),
        ("error=access_denied&state=nope", "does not match"),
    ];
    for (query, expected) in cases {
        match parse_redirect(query, &state()) {
            ParsedCallback::Invalid(reason) => {
                assert!(reason.contains(expected), "{query}: {reason}");
                assert!(!reason.contains(STATE));
            }
            other => panic!("{query}: {other:?}"),
        }
    }
    // No state can match an empty expected state, not even an empty one.
    assert!(matches!(
        parse_redirect("code=c&state=", &SecretString::from(String::new())),
        ParsedCallback::Invalid(_)
    ));
}

#[test]
fn parse_redirect_reads_errors_on_one_line() {
    match parse_redirect(
        &format!("error=access_denied&error_description=no%0A%1B[31mway&state={STATE}&code=c"),
        &state(),
    ) {
        ParsedCallback::Denied { error, description } => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("no \\x1b[31mway"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn secrets_stay_out_of_debug() {
    let response = AuthorizationResponse {
        code: SecretString::from("the-code".to_owned()),
        iss: Some("https://as".into()),
    };
    let shown = format!("{response:?}");
    assert!(!shown.contains("the-code"), "{shown}");
    assert!(shown.contains("https://as"));
    let parsed = parse_redirect(&format!("code=the-code&state={STATE}"), &state());
    assert!(!format!("{parsed:?}").contains("the-code"));
}

#[test]
fn callback_host_parses_and_spells_the_uri_host() {
    assert_eq!(
        "localhost".parse::<CallbackHost>().unwrap(),
        CallbackHost::Localhost
    );
    assert_eq!(
        "127.0.0.1".parse::<CallbackHost>().unwrap(),
        CallbackHost::Loopback
    );
    assert_eq!("[::1]".parse::<CallbackHost>().unwrap(), CallbackHost::Ipv6);
    assert!(matches!(
        "0.0.0.0".parse::<CallbackHost>(),
        Err(Error::InvalidConfig { .. })
    ));
    assert_eq!(CallbackHost::default(), CallbackHost::Loopback);
}

#[tokio::test]
async fn valid_callback_ends_the_wait_with_code_and_iss() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let base = server.redirect_uri().clone();
    assert_eq!(
        base.as_str(),
        format!("http://127.0.0.1:{}/callback", port_of(&server))
    );
    let state = state();
    let (result, (status, headers, body)) = tokio::join!(
        server.wait(&state, Duration::from_secs(10), None),
        get(
            &base,
            &format!("/callback?code=abc&state={STATE}&iss=https%3A%2F%2Fas.example")
        )
    );
    let response = result.unwrap();
    assert_eq!(code_of(&response), "abc");
    assert_eq!(response.iss.as_deref(), Some("https://as.example"));
    assert_eq!(status, 200);
    assert!(body.contains("Signed in. You can close this window and return to the terminal."));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(!body.contains("<script") && !body.contains("http://") && !body.contains("https://"));
}

#[tokio::test]
async fn other_paths_methods_and_stray_requests_do_not_end_the_wait() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let base = server.redirect_uri().clone();
    let state = state();
    let client = async {
        let (status, _, _) = get(&base, "/favicon.ico").await;
        assert_eq!(status, 404);
        let (status, _, _) = get(&base, &format!("/callback/x?code=a&state={STATE}")).await;
        assert_eq!(status, 404);
        let post = http()
            .post(
                base.join(&format!("/callback?code=a&state={STATE}"))
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(post.status().as_u16(), 405);
        for query in [
            "code=forged".to_owned(),
            "code=forged&state=guess".to_owned(),
            "error=access_denied".to_owned(),
            "error=access_denied&state=guess".to_owned(),
        ] {
            let (status, headers, body) = get(&base, &format!("/callback?{query}")).await;
            assert_eq!(status, 400, "{query}");
            assert!(
                body.contains("This sign-in link is not the one mcp-oauth is waiting for"),
                "{body}"
            );
            assert_eq!(headers["cache-control"], "no-store");
        }
        get(&base, &format!("/callback?code=real&state={STATE}")).await
    };
    let (result, (status, _, _)) =
        tokio::join!(server.wait(&state, Duration::from_secs(10), None), client);
    assert_eq!(status, 200);
    assert_eq!(code_of(&result.unwrap()), "real");
}

#[tokio::test]
async fn error_with_matching_state_ends_the_wait_and_is_escaped() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let base = server.redirect_uri().clone();
    let state = state();
    let (result, (status, _, body)) = tokio::join!(
        server.wait(&state, Duration::from_secs(10), None),
        get(
            &base,
            &format!(
                "/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={STATE}"
            )
        )
    );
    match result.unwrap_err() {
        Error::AuthorizationDenied { error, description } => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("<script>alert(1)</script>"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(status, 200);
    assert!(body.contains("access_denied"));
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<script"), "{body}");
}

#[tokio::test]
async fn the_first_valid_callback_wins() {
    // Served without a waiter, so that the second request surely arrives
    // while the listener is still open.
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let base = server.redirect_uri().clone();
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let shared = Arc::new(Shared {
        path: CALLBACK_PATH.to_owned(),
        expected_state: state(),
        progress: Mutex::new(Progress::Waiting(outcome_tx)),
    });
    let router = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&shared));
    let running = Running::start(server.listeners, router);
    let (first, _, body) = get(&base, &format!("/callback?code=one&state={STATE}")).await;
    assert_eq!(first, 200);
    assert!(body.contains("Signed in."));
    let (second, _, body) = get(&base, &format!("/callback?code=two&state={STATE}")).await;
    assert_eq!(second, 200);
    assert!(body.contains("already complete"), "{body}");
    let (third, _, body) = get(&base, &format!("/callback?error=x&state={STATE}")).await;
    assert_eq!(third, 200);
    assert!(body.contains("already complete"), "{body}");
    running.stop().await;
    assert_eq!(code_of(&outcome_rx.await.unwrap().unwrap()), "one");
}

#[tokio::test]
async fn timeout_ends_the_wait() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let after = Duration::from_millis(200);
    // Bounded generously: this is about ending, not about speed.
    let waited = tokio::time::timeout(Duration::from_secs(30), server.wait(&state(), after, None))
        .await
        .expect("the wait ends at its timeout");
    match waited.unwrap_err() {
        Error::SignInTimeout { after: waited } => assert_eq!(waited, after),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_huge_timeout_does_not_overflow() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let state = state();
    let wait = server.wait(&state, Duration::MAX, None);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), wait)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn pasted_lines_are_checked_like_callbacks() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let redirect = server.redirect_uri().clone();
    let (lines, pasted) = mpsc::channel(4);
    lines.send(String::new()).await.unwrap();
    lines
        .send(format!("{redirect}?code=forged&state=wrong"))
        .await
        .unwrap();
    lines.send("not a url at all".into()).await.unwrap();
    lines
        .send(format!("{redirect}?code=pasted%2Fcode&state={STATE}\n"))
        .await
        .unwrap();
    let response = server
        .wait(&state(), Duration::from_secs(10), Some(pasted))
        .await
        .unwrap();
    assert_eq!(code_of(&response), "pasted/code");
}

#[tokio::test]
async fn a_closed_paste_channel_leaves_the_server_waiting() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let base = server.redirect_uri().clone();
    let (lines, pasted) = mpsc::channel::<String>(1);
    drop(lines);
    let state = state();
    let (result, _) = tokio::join!(
        server.wait(&state, Duration::from_secs(10), Some(pasted)),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            get(&base, &format!("/callback?code=http&state={STATE}")).await
        }
    );
    assert_eq!(code_of(&result.unwrap()), "http");
}

#[tokio::test]
async fn long_queries_are_refused_unparsed() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let base = server.redirect_uri().clone();
    let state = state();
    let client = async {
        let long = format!(
            "/callback?code=c&state={STATE}&pad={}",
            "a".repeat(9 * 1024)
        );
        let (status, _, _) = get(&base, &long).await;
        assert_eq!(status, 414);
        get(&base, &format!("/callback?code=short&state={STATE}")).await
    };
    let (result, _) = tokio::join!(server.wait(&state, Duration::from_secs(10), None), client);
    assert_eq!(code_of(&result.unwrap()), "short");
    assert!(matches!(
        parse_redirect(
            &format!("code=c&state={STATE}&pad={}", "a".repeat(9 * 1024)),
            &state
        ),
        ParsedCallback::Invalid(_)
    ));
}

#[tokio::test]
async fn listener_closes_in_bounded_time_despite_a_slow_client() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let base = server.redirect_uri().clone();
    let port = port_of(&server);
    // Half a request, never finished.
    let mut slow = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    slow.write_all(b"GET /callback?code=x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // An idle connection, as browsers open ahead of time.
    let _idle = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    let state = state();
    // The slow and the idle connection stay open all along: the wait must
    // end anyway (bounded generously; a hang would last forever).
    let (result, _) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(
            server.wait(&state, Duration::from_secs(120), None),
            get(&base, &format!("/callback?code=ok&state={STATE}"))
        )
    })
    .await
    .expect("the wait ends despite a slow client");
    assert_eq!(code_of(&result.unwrap()), "ok");
    let refused = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await;
    assert!(refused.is_err(), "the listener is still open");
    // The slow connection has been cut.
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(2), slow.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
}

#[tokio::test]
async fn a_cancelled_wait_closes_the_listener() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let port = port_of(&server);
    let state = state();
    let wait = server.wait(&state, Duration::from_secs(60), None);
    let _ = tokio::time::timeout(Duration::from_millis(100), wait).await;
    // The serving task notices on its next poll (within 10 s, however busy
    // the machine).
    let mut refused = false;
    for _ in 0..500 {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused);
}

#[tokio::test]
async fn port_in_use_is_reported_with_advice() {
    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    match CallbackServer::bind(CallbackHost::Loopback, port)
        .await
        .unwrap_err()
    {
        Error::CallbackUnavailable {
            host,
            port: reported,
            reason,
        } => {
            assert_eq!(host, "127.0.0.1");
            assert_eq!(reported, port);
            assert_eq!(reason, "the port is in use; pick another callback port");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_bind_errors_keep_the_os_reason() {
    let denied = io::Error::from(io::ErrorKind::PermissionDenied);
    match bind_error(CallbackHost::Loopback, 80, &denied) {
        Error::CallbackUnavailable { reason, port, .. } => {
            assert_eq!(port, 80);
            assert!(reason.starts_with(&denied.to_string()), "{reason}");
            assert!(reason.contains("another callback port"));
        }
        other => panic!("{other:?}"),
    }
    let os = io::Error::from_raw_os_error(13);
    match bind_error(CallbackHost::Ipv6, 8080, &os) {
        Error::CallbackUnavailable { reason, host, .. } => {
            assert_eq!(reason, os.to_string());
            assert_eq!(host, "[::1]");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_fixed_port_is_bound_and_kept() {
    // A port found free a moment ago; another process may take it in
    // between, so a few are tried.
    let mut bound = None;
    for _ in 0..5 {
        let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        if let Ok(server) = CallbackServer::bind(CallbackHost::Loopback, port).await {
            bound = Some((server, port));
            break;
        }
    }
    let (server, port) = bound.expect("a free port could be bound");
    assert_eq!(port_of(&server), port);
    assert_eq!(server.redirect_uri().port(), Some(port));
    // Bound from now on: nobody else can take it.
    assert!(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err());
}

#[tokio::test]
async fn localhost_serves_both_loopback_addresses() {
    let server = CallbackServer::bind(CallbackHost::Localhost, 0)
        .await
        .unwrap();
    let port = port_of(&server);
    assert_eq!(
        server.redirect_uri().as_str(),
        format!("http://localhost:{port}/callback")
    );
    let v4 = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let v6 = Url::parse(&format!("http://[::1]:{port}/")).unwrap();
    let with_v6 = ipv6_available().await;
    let state = state();
    let client = async {
        let (status, _, _) = get(&v4, "/callback?code=x&state=wrong").await;
        assert_eq!(status, 400);
        let target = if with_v6 { &v6 } else { &v4 };
        get(
            target,
            &format!("/callback?code=via-localhost&state={STATE}"),
        )
        .await
    };
    let (result, _) = tokio::join!(server.wait(&state, Duration::from_secs(10), None), client);
    assert_eq!(code_of(&result.unwrap()), "via-localhost");
}

#[tokio::test]
async fn ipv6_host_binds_only_the_ipv6_loopback() {
    if !ipv6_available().await {
        return;
    }
    let server = CallbackServer::bind(CallbackHost::Ipv6, 0).await.unwrap();
    let port = port_of(&server);
    assert_eq!(
        server.redirect_uri().as_str(),
        format!("http://[::1]:{port}/callback")
    );
    // Only the IPv6 loopback: nothing answers on 127.0.0.1 at that port.
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err(),
        "the IPv4 loopback is not bound"
    );
    let base = server.redirect_uri().clone();
    let state = state();
    let (result, _) = tokio::join!(
        server.wait(&state, Duration::from_secs(10), None),
        get(&base, &format!("/callback?code=v6&state={STATE}"))
    );
    assert_eq!(code_of(&result.unwrap()), "v6");
}

#[tokio::test]
async fn empty_expected_state_is_refused() {
    let server = CallbackServer::bind(CallbackHost::Loopback, 0)
        .await
        .unwrap();
    let empty = SecretString::from(String::new());
    assert!(matches!(
        server.wait(&empty, Duration::from_secs(1), None).await,
        Err(Error::InvalidConfig { .. })
    ));
}
