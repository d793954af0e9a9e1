//! The loopback callback server under attack from this machine: a flood of
//! connections (idle, trickling, junk), a query of 8 KiB, states of the
//! wrong length. The real redirect still completes the sign-in. (The
//! callback server's own tests cover paths, methods, escaping, the first
//! valid callback winning, timeouts and longer queries.)

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::join_all;
use mcp_oauth::{OAuth, UserAgent, url::Url};
use mcp_oauth_testkit::AuthServer;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};

use super::bounded;
use crate::support::protected;

/// The callback server keeps at most this many connections (its
/// `MAX_CONNECTIONS`); older ones are closed.
const CALLBACK_MAX_CONNECTIONS: usize = 64;

/// The callback address the authorization URL redirects to.
fn callback_addr(authorization: &Url) -> SocketAddr {
    let redirect = authorization
        .query_pairs()
        .find(|(name, _)| name == "redirect_uri")
        .map(|(_, value)| Url::parse(&value).unwrap())
        .unwrap();
    SocketAddr::from((Ipv4Addr::LOCALHOST, redirect.port().unwrap()))
}

/// A GET on its own connection; the status, or 0 when the connection was
/// cut before an answer.
async fn raw_get(addr: SocketAddr, target: &str) -> u16 {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return 0;
    };
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    if !matches!(read, Ok(Ok(_))) {
        return 0;
    }
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0)
}

/// Whether the server closed `stream` (within a few seconds).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
    matches!(read, Ok(Ok(0) | Err(_)))
}

#[derive(Debug, Default)]
struct Flood {
    idle_closed: usize,
    junk: Vec<u16>,
    real: u16,
}

#[tokio::test]
async fn a_connection_flood_does_not_keep_the_real_redirect_out() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let report = Arc::new(Mutex::new(None::<Flood>));
    let seen = Arc::clone(&report);
    let agent = UserAgent::custom(move |url| {
        let seen = Arc::clone(&seen);
        async move {
            let addr = callback_addr(&url);
            // 200 connections that never send a byte.
            let mut idle = Vec::new();
            for _ in 0..200 {
                idle.push(TcpStream::connect(addr).await.unwrap());
            }
            // 50 that send a request one byte at a time.
            let mut trickling = JoinSet::new();
            for _ in 0..50 {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                trickling.spawn(async move {
                    for byte in b"GET /callback?code=slow&state=slow HTTP/1.1\r\n" {
                        if stream.write_all(&[*byte]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                });
            }
            // 100 junk requests, 20 at a time, that all get answers.
            let mut junk = Vec::new();
            for batch in 0..5 {
                let requests = (0..20).map(|i| {
                    let target = if (batch + i) % 2 == 0 {
                        "/favicon.ico"
                    } else {
                        "/callback?code=forged&state=forged"
                    };
                    raw_get(addr, target)
                });
                junk.extend(join_all(requests).await);
            }
            let idle_closed = join_all(idle.iter_mut().map(closed_by_server))
                .await
                .into_iter()
                .filter(|closed| *closed)
                .count();
            // The browser comes back at last.
            let browser = reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let real = browser
                .get(url)
                .send()
                .await
                .map(|answer| answer.status().as_u16())
                .unwrap_or(0);
            trickling.abort_all();
            *seen.lock().unwrap() = Some(Flood {
                idle_closed,
                junk,
                real,
            });
            Ok(())
        }
    });
    let dir = crate::support::tempdir().unwrap();
    let oauth = OAuth::builder(server.url())
        .token_storage_cache_dir(dir.path())
        .user_agent(agent)
        .timeout(Duration::from_secs(60))
        .on_notice(|_| {})
        .build()
        .unwrap();
    bounded(oauth.login()).await.unwrap();
    assert!(oauth.stored().await.unwrap().unwrap().can_refresh());
    assert_eq!(auth.issued_tokens(), 1);

    let flood = report.lock().unwrap().take().unwrap();
    assert_eq!(flood.real, 200, "{flood:?}");
    assert!(
        !flood.junk.is_empty() && flood.junk.iter().all(|status| [400, 404].contains(status)),
        "{:?}",
        flood.junk
    );
    // Idle connections beyond the limit were closed, oldest first.
    assert!(
        flood.idle_closed >= 200 - CALLBACK_MAX_CONNECTIONS,
        "only {} of 200 idle connections were closed",
        flood.idle_closed
    );
}

#[derive(Debug, Default)]
struct Probes {
    short_state: u16,
    long_state: u16,
    empty_state: u16,
    over_8_kib: u16,
    exactly_8_kib: u16,
}

#[tokio::test]
async fn an_8_kib_callback_completes_and_states_of_the_wrong_length_are_refused() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let report = Arc::new(Mutex::new(None::<Probes>));
    let seen = Arc::clone(&report);
    let agent = UserAgent::custom(move |url| {
        let seen = Arc::clone(&seen);
        async move {
            let no_redirects = reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let answer = no_redirects.get(url).send().await.unwrap();
            let location = answer.headers()["location"].to_str().unwrap().to_owned();
            let callback = Url::parse(&location).unwrap();
            let param = |name: &str| {
                callback
                    .query_pairs()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.into_owned())
                    .unwrap()
            };
            let (code, state) = (param("code"), param("state"));
            let query = |state: &str, pad: usize| {
                let mut query = mcp_oauth::url::form_urlencoded::Serializer::new(String::new());
                query.append_pair("code", &code).append_pair("state", state);
                let mut query = query.finish();
                if pad > 0 {
                    let prefix = "&pad=";
                    let fill = pad.saturating_sub(query.len() + prefix.len());
                    query.push_str(prefix);
                    query.push_str(&"a".repeat(fill));
                }
                query
            };
            let status = |query: String| {
                let mut target = callback.clone();
                target.set_query(Some(&query));
                let client = no_redirects.clone();
                async move { client.get(target).send().await.unwrap().status().as_u16() }
            };
            let probes = Probes {
                short_state: status(query(&state[..state.len() - 1], 0)).await,
                long_state: status(query(&format!("{state}A"), 0)).await,
                empty_state: status(query("", 0)).await,
                over_8_kib: status(query(&state, 8 * 1024 + 1)).await,
                exactly_8_kib: {
                    let exact = query(&state, 8 * 1024);
                    assert_eq!(exact.len(), 8 * 1024);
                    status(exact).await
                },
            };
            *seen.lock().unwrap() = Some(probes);
            Ok(())
        }
    });
    let dir = crate::support::tempdir().unwrap();
    let oauth = OAuth::builder(server.url())
        .token_storage_cache_dir(dir.path())
        .user_agent(agent)
        .timeout(Duration::from_secs(30))
        .on_notice(|_| {})
        .build()
        .unwrap();
    bounded(oauth.login()).await.unwrap();
    let probes = report.lock().unwrap().take().unwrap();
    // Wrong states are stray requests: refused, and the wait goes on.
    assert_eq!(probes.short_state, 400, "{probes:?}");
    assert_eq!(probes.long_state, 400, "{probes:?}");
    assert_eq!(probes.empty_state, 400, "{probes:?}");
    assert_eq!(probes.over_8_kib, 414, "{probes:?}");
    // The full 8 KiB is allowed, and it carried the real code.
    assert_eq!(probes.exactly_8_kib, 200, "{probes:?}");
    assert_eq!(auth.issued_tokens(), 1);
}
