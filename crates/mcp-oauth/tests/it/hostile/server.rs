//! A scripted HTTP server on loopback that misbehaves on purpose: bodies of
//! 100 MiB, answers one byte a second, redirects without end. Written on
//! raw TCP so that every byte on the wire is under the test's control.

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};

/// The size of every huge body: 100 MiB.
pub(crate) const HUGE: u64 = 100 * 1024 * 1024;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Request {
    pub(crate) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first value of a query parameter, decoded.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        mcp_oauth::url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// A JSON body with this status.
    Json(u16, Value),
    /// A status with these headers and no body.
    Empty(u16, Vec<(String, String)>),
    /// `prefix`, then filler up to [`HUGE`] bytes. `declared`: with a
    /// `Content-Length`; else the body ends when the connection does.
    Huge {
        content_type: &'static str,
        prefix: String,
        declared: bool,
    },
    /// The whole answer, head included, one byte a second.
    TrickleHead,
    /// The head at once, then the body one byte a second.
    TrickleBody { content_type: &'static str },
}

impl Reply {
    /// A redirect to `location`.
    pub(crate) fn redirect(location: &str) -> Self {
        Self::Empty(302, vec![("location".into(), location.to_owned())])
    }

    pub(crate) fn not_found() -> Self {
        Self::Json(404, json!({ "error": "not_found" }))
    }
}

type Script = Arc<dyn Fn(&Request, &str) -> Reply + Send + Sync>;

/// What the server did for one request.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub(crate) path: String,
    /// Body bytes the server managed to write before the client hung up.
    pub(crate) written: Arc<AtomicU64>,
    pub(crate) done: Arc<AtomicBool>,
}

/// A running hostile server; dropping it stops it and every connection.
#[derive(Debug)]
pub(crate) struct Hostile {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<Served>>>,
    task: JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    /// Serves `script(request, base_url)` on `127.0.0.1`, any free port.
    pub(crate) async fn start(
        script: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let base = format!("http://{addr}");
        let log = Arc::clone(&served);
        let task = tokio::spawn(async move {
            // Owned here: aborting the server aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let (script, base, log) = (script.clone(), base.clone(), log.clone());
                        connections.spawn(serve(stream, script, base, log));
                    }
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        Self { addr, served, task }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn served(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }

    /// The paths asked for, in order.
    pub(crate) fn paths(&self) -> Vec<String> {
        self.served().into_iter().map(|s| s.path).collect()
    }

    /// The most body bytes written for `path`, once every answer to it has
    /// ended (bounded wait).
    pub(crate) async fn written_for(&self, path: &str) -> u64 {
        for _ in 0..200 {
            let served: Vec<Served> = self
                .served()
                .into_iter()
                .filter(|s| s.path == path)
                .collect();
            if !served.is_empty() && served.iter().all(|s| s.done.load(Ordering::SeqCst)) {
                return served
                    .iter()
                    .map(|s| s.written.load(Ordering::SeqCst))
                    .max()
                    .unwrap_or(0);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the answers to {path} did not end: {:?}", self.paths());
    }
}

async fn serve(mut stream: TcpStream, script: Script, base: String, log: Arc<Mutex<Vec<Served>>>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let reply = script(&request, &base);
    let served = Served {
        path: request.path().to_owned(),
        written: Arc::default(),
        done: Arc::default(),
    };
    log.lock().unwrap().push(served.clone());
    let _ = answer(&mut stream, reply, &served.written).await;
    served.done.store(true, Ordering::SeqCst);
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > 64 * 1024 {
            return None;
        }
        let read = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let request = Request {
        method,
        target,
        headers,
    };
    // The body is read and dropped: no script looks at it.
    let length: usize = request
        .header("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut have = buffer.len() - head_end;
    while have < length {
        have += stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
    }
    Some(request)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Status",
    }
}

async fn answer(stream: &mut TcpStream, reply: Reply, written: &AtomicU64) -> std::io::Result<()> {
    match reply {
        Reply::Json(status, body) => {
            let body = body.to_string();
            let head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                reason(status),
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
            written.store(body.len() as u64, Ordering::SeqCst);
        }
        Reply::Empty(status, headers) => {
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("content-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(head.as_bytes()).await?;
        }
        Reply::Huge {
            content_type,
            prefix,
            declared,
        } => {
            let length = if declared {
                format!("content-length: {HUGE}\r\n")
            } else {
                String::new()
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n{length}connection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(prefix.as_bytes()).await?;
            let mut total = prefix.len() as u64;
            let filler = vec![b'a'; 64 * 1024];
            while total < HUGE {
                let take = filler.len().min((HUGE - total) as usize);
                stream.write_all(&filler[..take]).await?;
                total += take as u64;
                written.store(total, Ordering::SeqCst);
            }
        }
        Reply::TrickleHead => {
            let whole =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
            for byte in whole.bytes() {
                stream.write_all(&[byte]).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Reply::TrickleBody { content_type } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: 100000\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            for sent in 1..=100_000u64 {
                stream.write_all(b" ").await?;
                written.store(sent, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    stream.shutdown().await
}
