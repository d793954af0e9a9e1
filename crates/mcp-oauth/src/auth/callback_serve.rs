//! Serving the callback: the bound sockets as one `axum` listener, and
//! connections that can be cut, so that the listener closes and no client
//! keeps the server alive once the wait is over.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::Router;
use futures::future::BoxFuture;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{oneshot, watch},
    task::JoinHandle,
};

/// How long connections still open when the wait ends may take to finish
/// their answer before they are cut.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The serving task, with the switches that stop it.
pub(super) struct Running {
    serve: Option<JoinHandle<()>>,
    /// Dropping it starts the graceful shutdown (the listener closes at once).
    shutdown: Option<oneshot::Sender<()>>,
    /// `true` cuts every connection still open.
    kill: watch::Sender<bool>,
}

impl Running {
    /// Serves `router` on `listeners` until [`Running::stop`].
    pub(super) fn start(listeners: Vec<TcpListener>, router: Router) -> Self {
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let (kill, kill_rx) = watch::channel(false);
        let listener = Listeners {
            listeners,
            kill: kill_rx,
        };
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = shutdown_rx.await;
        });
        let serve = tokio::spawn(async move {
            if let Err(error) = serve.await {
                tracing::debug!("callback server stopped: {error}");
            }
        });
        Self {
            serve: Some(serve),
            shutdown: Some(shutdown),
            kill,
        }
    }

    /// Closes the listener, lets open connections finish their answer for a
    /// bounded time, then cuts them.
    pub(super) async fn stop(mut self) {
        drop(self.shutdown.take());
        let Some(mut serve) = self.serve.take() else {
            return;
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut serve)
            .await
            .is_err()
        {
            tracing::debug!("cutting callback connections still open");
            self.kill.send_replace(true);
            if tokio::time::timeout(Duration::from_secs(1), &mut serve)
                .await
                .is_err()
            {
                serve.abort();
            }
        }
    }
}

impl Drop for Running {
    /// A wait that is cancelled takes its server down with it.
    fn drop(&mut self) {
        self.kill.send_replace(true);
    }
}

/// The bound sockets, as one `axum` listener whose connections can be cut.
struct Listeners {
    listeners: Vec<TcpListener>,
    kill: watch::Receiver<bool>,
}

impl axum::serve::Listener for Listeners {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let accepted = std::future::poll_fn(|cx| {
                for listener in &self.listeners {
                    if let Poll::Ready(result) = listener.poll_accept(cx) {
                        return Poll::Ready(result);
                    }
                }
                Poll::Pending
            })
            .await;
            match accepted {
                Ok((stream, peer)) => return (Connection::new(stream, self.kill.clone()), peer),
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    // Out of file descriptors and the like: retrying at once
                    // would spin.
                    tracing::warn!("callback server cannot accept: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listeners
            .first()
            .ok_or_else(|| io::Error::other("no listener"))?
            .local_addr()
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP connection that fails every read and write once the kill switch
/// is set, so that a client holding a connection open cannot keep the
/// server alive.
struct Connection {
    stream: TcpStream,
    killed: BoxFuture<'static, ()>,
    is_killed: bool,
}

impl Connection {
    fn new(stream: TcpStream, mut kill: watch::Receiver<bool>) -> Self {
        Self {
            stream,
            killed: Box::pin(async move {
                // An error means the switch itself is gone: cut too.
                let _ = kill.wait_for(|killed| *killed).await;
            }),
            is_killed: false,
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.is_killed && self.killed.as_mut().poll(cx).is_ready() {
            self.is_killed = true;
        }
        if self.is_killed {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the callback server has stopped",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(error) = this.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(error) = this.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(error) = this.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
