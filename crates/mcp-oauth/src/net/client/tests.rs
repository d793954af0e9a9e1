//! The client against servers of the tests' own on loopback: proxies (plain
//! and tunnelled), TLS with HTTP/2, redirects, the timeout of a body.
//!
//! `testdata/` holds a test-only CA and a certificate it signed for
//! `example.test`, `localhost` and `127.0.0.1` (valid until 2126), with its key.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::Full;
use hyper_util::{
    client::proxy::matcher::Matcher,
    rt::{TokioExecutor, TokioIo},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        RootCertStore, ServerConfig,
        crypto::aws_lc_rs,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

use super::{HttpClient, HttpClientBuilder, tls::Tls};
use crate::{Error, net::timed_out};

/// What tests set that the environment would otherwise decide.
#[derive(Debug, Default)]
pub(super) struct Setup {
    pub(super) tls: Option<Tls>,
    pub(super) proxies: Option<Matcher>,
}

impl HttpClientBuilder {
    fn trusting_test_ca(mut self) -> Self {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(&include_bytes!("testdata/ca.der")[..]))
            .unwrap();
        self.tests.tls = Some(Tls::trusting(roots));
        self
    }

    fn trusting_nothing(mut self) -> Self {
        self.tests.tls = Some(Tls::trusting(RootCertStore::empty()));
        self
    }

    fn proxy(mut self, url: &str) -> Self {
        self.tests.proxies = Some(Matcher::builder().all(url.to_owned()).build());
        self
    }
}

/// TLS as `example.test`, offering `alpn`.
fn acceptor(alpn: &[&[u8]]) -> TlsAcceptor {
    let certificate = CertificateDer::from(include_bytes!("testdata/leaf.der").to_vec());
    let key = PrivatePkcs8KeyDer::from(include_bytes!("testdata/leaf.key.der").to_vec());
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate], PrivateKeyDer::Pkcs8(key))
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    TlsAcceptor::from(Arc::new(config))
}

/// One HTTP/1.1 request as read: its head (lines, lower-cased names) and body.
#[derive(Debug)]
struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

async fn read_request<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> Option<Request> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        head.push(match line.split_once(": ") {
            Some((name, value)) if !head.is_empty() => {
                format!("{}: {value}", name.to_ascii_lowercase())
            }
            _ => line,
        });
    }
    let length = head
        .iter()
        .find_map(|line| line.strip_prefix("content-length: "))
        .map_or(0, |length| length.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request { head, body })
}

fn answer(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut answer = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for header in headers {
        answer.push_str(header);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    answer.push_str(body);
    answer.into_bytes()
}

/// Answers every request on every connection with `handle`; keeps what it
/// was sent and counts the connections.
struct Server {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    async fn start(handle: impl Fn(&Request) -> Vec<u8> + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let handle = Arc::new(handle);
        let (kept, counted) = (requests.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let (kept, handle) = (kept.clone(), handle.clone());
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    while let Some(request) = read_request(&mut reader).await {
                        let answer = handle(&request);
                        kept.lock().unwrap().push(request);
                        if reader.get_mut().write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            address,
            requests,
            accepted,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn heads(&self) -> Vec<Vec<String>> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .map(|request| request.head.clone())
            .collect()
    }
}

async fn text(response: super::Response) -> String {
    let chunks: Vec<_> = response.bytes_stream().collect().await;
    let body: Vec<u8> = chunks
        .into_iter()
        .flat_map(|chunk| chunk.unwrap())
        .collect();
    String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn plain_requests_go_to_the_proxy_in_absolute_form_with_its_credentials() {
    let proxy = Server::start(|_| answer("200 OK", &[], "via proxy")).await;
    let client = HttpClient::builder()
        .tls(false)
        .proxy(&format!("http://user:pa%20ss@{}", proxy.address))
        .build()
        .unwrap();
    let response = client
        .get("http://mcp.example.test/mcp")
        .send()
        .await
        .unwrap();
    assert_eq!(text(response).await, "via proxy");
    let head = &proxy.heads()[0];
    assert_eq!(head[0], "GET http://mcp.example.test/mcp HTTP/1.1");
    // "user:pa ss" in base64.
    assert!(
        head.contains(&"proxy-authorization: Basic dXNlcjpwYSBzcw==".to_owned()),
        "{head:?}"
    );
    assert!(
        head.iter()
            .any(|line| line.starts_with("user-agent: mcp-oauth/"))
    );
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_then_tls_to_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let proxy = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut reader = BufReader::new(stream);
        let connect = read_request(&mut reader).await.unwrap();
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\n\r\n")
            .await
            .unwrap();
        // The tunnel's far end: the server itself, as `example.test`.
        let tls = acceptor(&[b"http/1.1"])
            .accept(reader.into_inner())
            .await
            .unwrap();
        let mut reader = BufReader::new(tls);
        let request = read_request(&mut reader).await.unwrap();
        let body = answer("200 OK", &[], "tunnelled");
        reader.get_mut().write_all(&body).await.unwrap();
        reader.get_mut().flush().await.unwrap();
        (connect.head, request.head)
    });
    let client = HttpClient::builder()
        .trusting_test_ca()
        .proxy(&format!("http://user:secret@{address}"))
        .build()
        .unwrap();
    let response = client.get("https://example.test/mcp").send().await.unwrap();
    assert_eq!(text(response).await, "tunnelled");
    let (connect, request) = proxy.await.unwrap();
    assert_eq!(connect[0], "CONNECT example.test:443 HTTP/1.1");
    assert!(
        connect
            .iter()
            .any(|line| line.starts_with("proxy-authorization: Basic "))
    );
    assert!(
        connect
            .iter()
            .any(|line| line.starts_with("user-agent: mcp-oauth/"))
    );
    // Inside the tunnel: an ordinary request, without the proxy's credentials.
    assert_eq!(request[0], "GET /mcp HTTP/1.1");
    assert!(
        !request
            .iter()
            .any(|line| line.starts_with("proxy-authorization"))
    );
}

#[tokio::test]
async fn https_speaks_http2_when_offered_and_keeps_one_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        let acceptor = acceptor(&[b"h2", b"http/1.1"]);
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let tls = acceptor.accept(stream).await.unwrap();
            let service = hyper::service::service_fn(|request: http::Request<_>| async move {
                let version = format!("{:?}", request.version());
                Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(version))))
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service),
            );
        }
    });
    let client = HttpClient::builder()
        .trusting_test_ca()
        .resolve("example.test", address)
        .direct(true)
        .build()
        .unwrap();
    let url = format!("https://example.test:{}/mcp", address.port());
    for _ in 0..3 {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(text(response).await, "HTTP/2.0");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_connect_error_naming_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = acceptor(&[b"http/1.1"]).accept(stream).await;
    });
    let client = HttpClient::builder().trusting_nothing().build().unwrap();
    let url = format!("https://127.0.0.1:{}/mcp", address.port());
    let failed = client.get(&url).send().await.unwrap_err();
    let error = timed_out(&url, failed, Duration::from_secs(5));
    let Error::Connect { reason, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(reason.contains("certificate"), "{reason}");
}

#[tokio::test]
async fn a_plain_http_client_does_not_speak_tls() {
    let server = Server::start(|_| answer("200 OK", &[], "")).await;
    let client = HttpClient::builder().tls(false).build().unwrap();
    let url = format!("https://{}/mcp", server.address);
    let error = timed_out(
        &url,
        client.get(&url).send().await.unwrap_err(),
        Duration::ZERO,
    );
    assert!(error.to_string().contains("plain http only"), "{error}");
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirects_keep_or_drop_the_body_as_their_status_says() {
    let server = Server::start(|request| match request.head[0].split(' ').nth(1).unwrap() {
        "/temporary" => answer("307 Temporary Redirect", &["location: /echo"], ""),
        "/see-other" => answer("303 See Other", &["location: /echo"], ""),
        _ => {
            let body = format!(
                "{} {}",
                request.head[0],
                String::from_utf8_lossy(&request.body)
            );
            answer("200 OK", &[], &body)
        }
    })
    .await;
    let client = HttpClient::builder()
        .tls(false)
        .direct(true)
        .build()
        .unwrap();
    let kept = client
        .post(server.url("/temporary"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(text(kept).await, "POST /echo HTTP/1.1 {}");
    let dropped = client
        .post(server.url("/see-other"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(text(dropped).await, "GET /echo HTTP/1.1 ");
    // All of it on one kept-alive connection.
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_timeout_covers_the_body() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0; 1024];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12")
            .await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(stream);
    });
    let client = HttpClient::builder()
        .tls(false)
        .direct(true)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let response = client
        .get(format!("http://{address}/"))
        .send()
        .await
        .unwrap();
    let mut chunks = response.bytes_stream();
    let mut failure = None;
    while let Some(chunk) = chunks.next().await {
        if let Err(error) = chunk {
            failure = Some(error);
        }
    }
    let failure = failure.expect("the body fails");
    assert!(failure.is_timeout() && !failure.is_connect(), "{failure:?}");
}
