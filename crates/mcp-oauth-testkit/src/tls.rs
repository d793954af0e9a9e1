//! TLS for the test servers: a certificate authority of a test's own
//! ([`TestCa`]), made with the `openssl` command, whose certificate the
//! client trusts only when told to; and the names the servers' URLs use
//! instead of `127.0.0.1`, as a server on a real network has.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        crypto::aws_lc_rs,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    },
    server::TlsStream,
};

use crate::redis::{install_openssl_once, openssl};

/// A certificate authority made for one test, and a server certificate it
/// signed for the names (DNS names or IP addresses) given: what a server
/// behind a company's private CA presents. Needs the `openssl` command
/// (installed with apt-get when missing). Its folder goes when it is dropped.
#[derive(Debug)]
pub struct TestCa {
    dir: PathBuf,
    config: Arc<ServerConfig>,
}

impl TestCa {
    /// A CA and a server certificate for `names` (e.g. `["mcp.test",
    /// "auth.test", "127.0.0.1"]`): P-256 keys, a day of validity.
    pub fn new(names: &[&str]) -> io::Result<Self> {
        install_openssl_once();
        let dir = std::env::temp_dir().join(format!(
            "mcp-oauth-test-ca-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir)?;
        let made = make(&dir, names).and_then(|()| server_config(&dir));
        match made {
            Ok(config) => Ok(Self {
                dir,
                config: Arc::new(config),
            }),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(error)
            }
        }
    }

    /// The CA's certificate, PEM: what a client must be told to trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make(dir: &Path, names: &[&str]) -> io::Result<()> {
    let alt_names: Vec<String> = names
        .iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(ip) => format!("IP:{ip}"),
            Err(_) => format!("DNS:{name}"),
        })
        .collect();
    std::fs::write(
        dir.join("leaf.cnf"),
        format!(
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = {}\n",
            alt_names.join(", ")
        ),
    )?;
    let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        dir,
        &[
            &["req", "-x509", "-nodes", "-days", "1"],
            &key[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=mcp-oauth test CA",
            ],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    )?;
    openssl(
        dir,
        &[
            &["req", "-nodes"],
            &key[..],
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=mcp-oauth test server",
            ],
        ]
        .concat(),
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.cnf",
            "-out",
            "server.pem",
        ],
    )
}

fn server_config(dir: &Path) -> io::Result<ServerConfig> {
    let invalid = |error: String| io::Error::new(io::ErrorKind::InvalidData, error);
    let chain = std::fs::read(dir.join("server.pem"))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain)
        .collect::<Result<_, _>>()
        .map_err(|error| invalid(error.to_string()))?;
    let key = std::fs::read(dir.join("server.key"))?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|error| invalid(error.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| invalid(error.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A number no other call in this process gets.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// How a server's URLs name it: the scheme (https with a [`TestCa`]'s
/// certificate) and the host (`127.0.0.1` unless a name is given).
#[derive(Clone, Default)]
pub(crate) struct Public {
    pub(crate) host: Option<String>,
    pub(crate) tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Public {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Public")
            .field("host", &self.host)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Public {
    /// `scheme://host:port` for a server listening on `addr`.
    pub(crate) fn origin(&self, addr: SocketAddr) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match &self.host {
            Some(host) if host.parse::<std::net::Ipv6Addr>().is_ok() => {
                format!("{scheme}://[{host}]:{}", addr.port())
            }
            Some(host) => format!("{scheme}://{host}:{}", addr.port()),
            None => format!("{scheme}://{addr}"),
        }
    }
}

/// Accepts TLS connections: each handshake is done before the next
/// connection is taken (a test's clients are few); one that fails (a
/// client that does not trust the certificate) is dropped.
pub(crate) struct TlsListener {
    pub(crate) tcp: TcpListener,
    pub(crate) acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, peer)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (tls, peer);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `router` on `listener` (TLS when `tls` is given) until `stopped`.
/// Connections over TLS carry no peer address.
pub(crate) fn spawn(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
    what: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let served = match tls {
            None => {
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                axum::serve(listener, service)
                    .with_graceful_shutdown(stopped)
                    .await
            }
            Some(acceptor) => {
                let listener = TlsListener {
                    tcp: listener,
                    acceptor,
                };
                axum::serve(listener, router.into_make_service())
                    .with_graceful_shutdown(stopped)
                    .await
            }
        };
        if let Err(error) = served {
            tracing::warn!(%error, "mcp-oauth-testkit {what} failed");
        }
    })
}
