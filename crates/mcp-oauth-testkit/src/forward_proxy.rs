//! [`ForwardProxy`]: an HTTP proxy of a test's own, as enterprise networks
//! have, that knows the test's host names and logs what it carried.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::server::lock;

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// A forward proxy on loopback: `CONNECT host:port` opens a tunnel (for
/// https), a request in absolute form (`GET http://host:port/path`) is
/// passed on (for plain http). It reaches the hosts it was given an
/// address for, at the port the request names, and answers 502 for any
/// other. Every request it carried is logged as its request line
/// ([`carried`](Self::carried)). Stopped when dropped.
#[derive(Debug)]
pub struct ForwardProxy {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl ForwardProxy {
    /// Starts on a free port of 127.0.0.1; `hosts` maps each name the
    /// proxy knows to the address it stands for (e.g. `mcp.test` to
    /// `127.0.0.1`).
    pub async fn start(hosts: &[(&str, IpAddr)]) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let hosts: Arc<HashMap<String, IpAddr>> = Arc::new(
            hosts
                .iter()
                .map(|(name, ip)| (name.to_ascii_lowercase(), *ip))
                .collect(),
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let logged = Arc::clone(&log);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (hosts, log) = (Arc::clone(&hosts), Arc::clone(&logged));
                tokio::spawn(async move {
                    let _ = carry(client, &hosts, &log).await;
                });
            }
        });
        Ok(Self { addr, log, task })
    }

    /// `http://127.0.0.1:PORT`: the value for `HTTPS_PROXY` and `HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request line of every request carried so far, in order, e.g.
    /// `CONNECT mcp.test:4431 HTTP/1.1` or `POST http://mcp.test:8080/mcp HTTP/1.1`.
    pub fn carried(&self) -> Vec<String> {
        lock(&self.log).clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one client connection: the first request decides where it goes,
/// and everything after flows both ways.
async fn carry(
    client: TcpStream,
    hosts: &HashMap<String, IpAddr>,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if client.read_until(b'\n', &mut head).await? == 0 || head.len() > MAX_HEAD {
            return Ok(());
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next().unwrap_or_default().to_owned();
    let mut words = line.split(' ');
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let authority = if method == "CONNECT" {
        target.to_owned()
    } else {
        let rest = target.strip_prefix("http://").unwrap_or_default();
        rest.split('/').next().unwrap_or_default().to_owned()
    };
    let (host, port) = authority.rsplit_once(':').unwrap_or((&authority, "80"));
    let address = hosts
        .get(&host.trim_matches(['[', ']']).to_ascii_lowercase())
        .zip(port.parse::<u16>().ok());
    let Some((ip, port)) = address else {
        client
            .get_mut()
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    lock(log).push(line.clone());
    let mut upstream = TcpStream::connect((*ip, port)).await?;
    if method == "CONNECT" {
        client
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
    } else {
        upstream.write_all(&head).await?;
    }
    // What the client sent past the head is still in the buffer.
    let buffered = client.buffer().to_vec();
    upstream.write_all(&buffered).await?;
    let mut client = client.into_inner();
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
