//! Making a connection for hyper's pool: names resolved (or overridden),
//! TCP, TLS for `https`, through the environment's proxy where it applies
//! (plain requests to it for `http`, a `CONNECT` tunnel for `https`).

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderMap, HeaderValue, Uri, header::USER_AGENT, uri::Scheme};
use hyper_util::client::{
    legacy::connect::{
        HttpConnector,
        dns::{GaiResolver, Name},
        proxy::Tunnel,
    },
    proxy::matcher::{Intercept, Matcher},
};
use tokio_rustls::{TlsConnector, rustls::pki_types::ServerName};
use tower_service::Service;

use super::{
    io::{Conn, Io, Tcp},
    tls::Tls,
};

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Connecting = Pin<Box<dyn Future<Output = Result<Io, BoxError>> + Send>>;

/// Connects to what a URI names, as a client was set up to.
#[derive(Debug, Clone)]
pub(super) struct Connector {
    tcp: HttpConnector<Resolver>,
    /// `None` for a client that only ever speaks plain `http`.
    tls: Option<Tls>,
    /// `None` for a client that never goes through a proxy.
    proxies: Option<Arc<Matcher>>,
    /// Bounds all of it, TLS and tunnel included.
    timeout: Option<Duration>,
    user_agent: HeaderValue,
}

impl Connector {
    pub(super) fn new(
        resolver: Resolver,
        tls: Option<Tls>,
        proxies: Option<Arc<Matcher>>,
        timeout: Option<Duration>,
        user_agent: HeaderValue,
    ) -> Self {
        let mut tcp = HttpConnector::new_with_resolver(resolver);
        // `https` URIs come here too: TLS is ours, on top.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(timeout);
        // reqwest's defaults: a dead peer is noticed within a minute or so.
        tcp.set_keepalive(Some(Duration::from_secs(15)));
        tcp.set_keepalive_interval(Some(Duration::from_secs(15)));
        tcp.set_keepalive_retries(Some(3));
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        tcp.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        Self {
            tcp,
            tls,
            proxies,
            timeout,
            user_agent,
        }
    }

    async fn connect(self, dst: Uri) -> Result<Io, BoxError> {
        let proxy = self
            .proxies
            .as_ref()
            .and_then(|proxies| proxies.intercept(&dst));
        let https = dst.scheme() == Some(&Scheme::HTTPS);
        match proxy {
            None => {
                let tcp = self.tcp(dst.clone()).await?;
                if https {
                    self.tls_over(&dst, tcp).await
                } else {
                    Ok(Io::new(tcp))
                }
            }
            // Plain requests go to the proxy, in absolute form.
            Some(proxy) if !https => Ok(self.to_proxy(proxy.uri().clone()).await?.proxied()),
            Some(proxy) => {
                let mut headers = HeaderMap::new();
                headers.insert(USER_AGENT, self.user_agent.clone());
                let mut tunnel =
                    Tunnel::new(proxy.uri().clone(), ToProxy(self.clone())).with_headers(headers);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let tunneled = tunnel.call(dst.clone()).await?;
                self.tls_over(&dst, tunneled.into_conn()).await
            }
        }
    }

    async fn tcp(&self, dst: Uri) -> Result<Conn, BoxError> {
        let stream = self.tcp.clone().call(dst).await?.into_inner();
        Ok(Conn::Tcp(Tcp::new(stream)))
    }

    /// A connection to the proxy at `proxy`, with TLS for an `https` one.
    async fn to_proxy(&self, proxy: Uri) -> Result<Io, BoxError> {
        match proxy.scheme_str() {
            Some("http") => Ok(Io::new(self.tcp(proxy).await?)),
            Some("https") => {
                let tls = self.tls()?.proxy.clone();
                let tcp = self.tcp(proxy.clone()).await?;
                Ok(Io::new(handshake(tls, &proxy, tcp).await?))
            }
            _ => Err(format!("proxies other than http(s) are not supported: {proxy}").into()),
        }
    }

    async fn tls_over(&self, dst: &Uri, conn: Conn) -> Result<Io, BoxError> {
        let tls = self.tls()?.server.clone();
        Ok(Io::new(handshake(tls, dst, conn).await?))
    }

    fn tls(&self) -> Result<&Tls, BoxError> {
        self.tls
            .as_ref()
            .ok_or_else(|| "this client was set up for plain http only".into())
    }
}

async fn handshake(
    config: Arc<tokio_rustls::rustls::ClientConfig>,
    dst: &Uri,
    conn: Conn,
) -> Result<Conn, BoxError> {
    let host = dst.host().ok_or("the URL has no host")?;
    // An IPv6 literal comes bracketed.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())?;
    let tls = TlsConnector::from(config).connect(name, conn).await?;
    Ok(Conn::Tls(Box::new(tls)))
}

impl Service<Uri> for Connector {
    type Response = Io;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let Some(limit) = this.timeout else {
                return this.connect(dst).await;
            };
            tokio::time::timeout(limit, this.connect(dst))
                .await
                .map_err(|_| Box::new(ConnectTimedOut) as BoxError)?
        })
    }
}

/// The connector a tunnel uses to reach its proxy.
#[derive(Debug, Clone)]
struct ToProxy(Connector);

impl Service<Uri> for ToProxy {
    type Response = Io;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, proxy: Uri) -> Self::Future {
        let connector = self.0.clone();
        Box::pin(async move { connector.to_proxy(proxy).await })
    }
}

/// Connecting (TLS and tunnel included) took longer than allowed.
#[derive(Debug, thiserror::Error)]
#[error("timed out while connecting")]
pub(super) struct ConnectTimedOut;

/// DNS, except for the names given a fixed address (curl's `--resolve`).
#[derive(Debug, Clone)]
pub(super) struct Resolver {
    fixed: Arc<[(String, SocketAddr)]>,
    system: GaiResolver,
}

impl Resolver {
    pub(super) fn new(fixed: Vec<(String, SocketAddr)>) -> Self {
        Self {
            fixed: fixed.into(),
            system: GaiResolver::new(),
        }
    }
}

type Addresses = std::vec::IntoIter<SocketAddr>;

impl Service<Name> for Resolver {
    type Response = Addresses;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Addresses>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let fixed = self
            .fixed
            .iter()
            .find(|(domain, _)| domain.eq_ignore_ascii_case(name.as_str()))
            .map(|(_, address)| *address);
        if let Some(address) = fixed {
            return Box::pin(std::future::ready(Ok(vec![address].into_iter())));
        }
        let resolving = self.system.call(name);
        Box::pin(async move { Ok(resolving.await?.collect::<Vec<_>>().into_iter()) })
    }
}

/// The proxy `proxies` sends a plain `http` request to `dst` through, and
/// the `Proxy-Authorization` it must carry (a tunnel carries its own).
pub(super) fn forward_proxy_auth(proxies: &Matcher, dst: &Uri) -> Option<HeaderValue> {
    if dst.scheme() != Some(&Scheme::HTTP) {
        return None;
    }
    proxies
        .intercept(dst)
        .as_ref()
        .and_then(Intercept::basic_auth)
        .cloned()
}
