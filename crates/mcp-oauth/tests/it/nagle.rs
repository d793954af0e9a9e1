//! A server that leaves Nagle's algorithm on and writes each answer's head
//! and body separately (FastMCP under `uvicorn --workers`, for one): the
//! client keeps one connection for all its requests and gets every answer.
//!
//! Without the client's immediate acknowledgements, every answer after the
//! first would wait ~40 ms for a delayed ACK before its body left the
//! server. How long it takes is for the figures, not for a test on a busy
//! machine; the unit test in `net/client/io.rs` checks the mechanism.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use mcp_oauth::{Client, ConnectedVia};
use mcp_oauth_testkit::{ResponseStyle, TestServer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::support::{TIMEOUT, rpc_methods};

/// Stands between the client and `upstream` as a server with Nagle on:
/// the accepted sockets keep it (no `TCP_NODELAY`), and every chunk from
/// upstream that holds the end of a head goes out in two writes, the head
/// and then the rest.
struct NagleServer {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl NagleServer {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                assert!(!client.nodelay().unwrap(), "Nagle is on");
                tokio::spawn(relay(client, upstream));
            }
        });
        Self { address, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr) {
    let upstream = TcpStream::connect(upstream).await.unwrap();
    upstream.set_nodelay(true).unwrap();
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_upstream, mut to_upstream) = upstream.into_split();
    tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_upstream).await });
    let mut buf = vec![0; 64 * 1024];
    loop {
        let read = match from_upstream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let chunk = &buf[..read];
        let split = chunk
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map_or(chunk.len(), |head_end| head_end + 4);
        for part in [&chunk[..split], &chunk[split..]] {
            if !part.is_empty() && to_client.write_all(part).await.is_err() {
                return;
            }
        }
    }
}

async fn pings_on_one_connection(style: ResponseStyle) {
    // A server of 2025 (as FastMCP is): the handshake, then the pings.
    let server = TestServer::builder()
        .responses(style)
        .protocol_versions(&["2025-06-18", "2025-11-25"])
        .start()
        .await
        .unwrap();
    let nagle = NagleServer::start(server.addr()).await;
    let url = server
        .url()
        .replace(&server.addr().to_string(), &nagle.address.to_string());
    let client = Client::builder(&url)
        .timeout(TIMEOUT)
        .listen_for_server_messages(false)
        .connect()
        .await
        .unwrap();
    assert_eq!(client.connected_via(), ConnectedVia::StreamableHttp);
    for _ in 0..10 {
        client.ping().await.unwrap();
    }
    client.close().await;

    assert_eq!(nagle.accepted(), 1, "one kept-alive connection for all");
    let requests = server.requests();
    let methods = rpc_methods(&requests);
    assert!(methods.contains(&"initialize".to_owned()), "{methods:?}");
    assert_eq!(
        methods.iter().filter(|method| *method == "ping").count(),
        10
    );
    assert!(
        requests
            .iter()
            .any(|request| request.http_method == "DELETE")
    );
    server.stop().await;
}

#[tokio::test]
async fn json_answers_from_a_server_with_nagle_on_all_arrive_on_one_connection() {
    pings_on_one_connection(ResponseStyle::Json).await;
}

#[tokio::test]
async fn event_stream_answers_from_a_server_with_nagle_on_all_arrive_on_one_connection() {
    pings_on_one_connection(ResponseStyle::Sse).await;
}
