//! Serving the callback: the bound sockets as one `axum` listener, and
//! connections that can be cut, so that the listener closes and no client
//! keeps the server alive once the wait is over, and so that a flood of
//! connections cannot use up the process's resources.

use std::{
    collections::VecDeque,
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

/// At most this many connections are open at once; a new one pushes out
/// the oldest. Clients that connect and send nothing, or a byte now and
/// then, can neither use up file descriptors nor keep the browser out: its
/// connection is the newest when it comes.
pub(super) const MAX_CONNECTIONS: usize = 64;

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
            open: VecDeque::new(),
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
    /// One switch per connection still open, oldest first; dropping it
    /// cuts that connection.
    open: VecDeque<oneshot::Sender<()>>,
}

impl Listeners {
    /// A switch for a new connection, after making room for it.
    fn admit(&mut self) -> oneshot::Receiver<()> {
        // A connection that ended dropped its end of the switch.
        self.open.retain(|evict| !evict.is_closed());
        while self.open.len() >= MAX_CONNECTIONS {
            tracing::debug!("too many callback connections; closing the oldest");
            self.open.pop_front();
        }
        let (evict, evicted) = oneshot::channel();
        self.open.push_back(evict);
        evicted
    }
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
                Ok((stream, peer)) => {
                    let evicted = self.admit();
                    return (Connection::new(stream, self.kill.clone(), evicted), peer);
                }
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
/// is set (or it is pushed out by newer ones), so that a client holding a
/// connection open cannot keep the server alive.
struct Connection {
    stream: TcpStream,
    killed: BoxFuture<'static, ()>,
    is_killed: bool,
}

impl Connection {
    fn new(
        stream: TcpStream,
        mut kill: watch::Receiver<bool>,
        evicted: oneshot::Receiver<()>,
    ) -> Self {
        Self {
            stream,
            killed: Box::pin(async move {
                // An error means the switch itself is gone: cut too.
                tokio::select! {
                    _ = kill.wait_for(|killed| *killed) => {}
                    _ = evicted => {}
                }
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
