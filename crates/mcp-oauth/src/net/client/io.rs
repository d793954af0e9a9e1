//! The connection under every request: a TCP stream that asks the kernel
//! for an immediate acknowledgement after each read, TLS on top of it where
//! the URL says `https`, and what hyper needs to know about the result.
//!
//! Why the acknowledgement. Many servers leave Nagle's algorithm on (every
//! uvicorn app run with `--workers`, for one) and write an answer's head and
//! body separately: Nagle then holds the body until the head is
//! acknowledged. Linux, once a connection has seen one request and answer,
//! treats it as interactive and delays that acknowledgement by up to 40 ms,
//! hoping to carry it on the next request. Every answer after the first on
//! a kept-alive connection would wait those 40 ms. `TCP_QUICKACK` sends
//! the pending acknowledgement at once, but the kernel drops it again by
//! itself, so it is set after every read that brought data.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::{
    client::legacy::connect::{Connected, Connection},
    rt::TokioIo,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::client::TlsStream;

/// A TCP stream that acknowledges what it reads at once (on Linux; on other
/// systems it is the stream as it is). `TCP_NODELAY` stays on, as the
/// connector set it: our own requests are never held back either.
#[derive(Debug)]
pub(super) struct Tcp(TcpStream);

impl Tcp {
    pub(super) fn new(stream: TcpStream) -> Self {
        quick_ack(&stream);
        Self(stream)
    }

    #[cfg(test)]
    pub(super) fn stream(&self) -> &TcpStream {
        &self.0
    }
}

/// Asks for an immediate acknowledgement of what has arrived, and of what
/// arrives next. Failing that, the connection works as it would have
/// without: nothing to report.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn quick_ack(stream: &TcpStream) {
    let _ = rustix::net::sockopt::set_tcp_quickack(stream, true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn quick_ack(_: &TcpStream) {}

impl AsyncRead for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            quick_ack(&this.0);
        }
        polled
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// A connection to a server or a proxy: TCP, or TLS over a connection
/// (over TCP, or over the TLS to an `https` proxy).
#[derive(Debug)]
pub(super) enum Conn {
    Tcp(Tcp),
    Tls(Box<TlsStream<Conn>>),
}

impl Conn {
    /// Whether TLS agreed on HTTP/2 (ALPN).
    fn negotiated_h2(&self) -> bool {
        match self {
            Self::Tcp(_) => false,
            Self::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Tcp(tcp) => tcp.is_write_vectored(),
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connection as hyper takes it, with what it must know: whether requests
/// go to a proxy (then in absolute form), and whether to speak HTTP/2.
#[derive(Debug)]
pub(super) struct Io {
    conn: TokioIo<Conn>,
    proxied: bool,
}

impl Io {
    pub(super) fn new(conn: Conn) -> Self {
        Self {
            conn: TokioIo::new(conn),
            proxied: false,
        }
    }

    /// This connection, carrying plain `http` requests to a proxy.
    pub(super) fn proxied(mut self) -> Self {
        self.proxied = true;
        self
    }

    pub(super) fn into_conn(self) -> Conn {
        self.conn.into_inner()
    }
}

impl Connection for Io {
    fn connected(&self) -> Connected {
        let connected = Connected::new().proxy(self.proxied);
        if self.conn.inner().negotiated_h2() {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl Read for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().conn).poll_read(cx, buf)
    }
}

impl Write for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().conn).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().conn).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.conn.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().conn).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().conn).poll_shutdown(cx)
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn quick_ack_on(tcp: &Tcp) -> bool {
        rustix::net::sockopt::tcp_quickack(tcp.stream()).expect("TCP_QUICKACK reads back")
    }

    #[tokio::test]
    async fn every_read_that_brings_data_asks_for_an_immediate_ack_again() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (connected, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
        let mut tcp = Tcp::new(connected.unwrap());
        let (mut server, _) = accepted.unwrap();
        assert!(quick_ack_on(&tcp), "set from the start");

        for answer in [&b"HTTP/1.1 200 OK\r\n\r\n"[..], b"body", b"more"] {
            // As the kernel does after a delayed acknowledgement...
            rustix::net::sockopt::set_tcp_quickack(tcp.stream(), false).unwrap();
            assert!(!quick_ack_on(&tcp));
            server.write_all(answer).await.unwrap();
            let mut buf = vec![0u8; answer.len()];
            tcp.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf, answer);
            // ...and as the wrapper undoes after each read.
            assert!(
                quick_ack_on(&tcp),
                "re-armed after reading {}",
                answer.escape_ascii()
            );
        }
    }
}
