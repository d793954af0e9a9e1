//! A `redis-server` of a test's own: Debian's package, on a free loopback
//! port (or an address given), with a password, keeping nothing on disk
//! unless asked, and stopped by its PID (never the system's service).
//! Speaking TLS if asked, with a certificate authority and a server
//! certificate made for it with the `openssl` command.

use std::{
    net::{IpAddr, Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Once,
    time::{Duration, Instant},
};

/// A running `redis-server`; dropping it kills it.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    ip: IpAddr,
    port: u16,
    password: String,
    dir: PathBuf,
    persistent: bool,
    /// Serving TLS only, with the certificates in `dir`.
    tls: bool,
}

impl RedisServer {
    /// Started on a free port of 127.0.0.1, with a password, no persistence.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), false)
    }

    /// Started on `ip` (an address other hosts reach, say), with an
    /// append-only file synced on every write when `persistent`.
    pub fn start_on(ip: IpAddr, persistent: bool) -> std::io::Result<Self> {
        Self::start_with(ip, persistent, false)
    }

    /// Started on a free port of 127.0.0.1 speaking only TLS (`rediss://`),
    /// with a certificate signed by a certificate authority made for it
    /// ([`ca_file`](Self::ca_file)): a leaf for `IP:127.0.0.1`, not itself
    /// a CA. Needs the `openssl` command (installed with apt-get when
    /// missing).
    pub fn start_tls() -> std::io::Result<Self> {
        Self::start_with(IpAddr::V4(Ipv4Addr::LOCALHOST), false, true)
    }

    fn start_with(ip: IpAddr, persistent: bool, tls: bool) -> std::io::Result<Self> {
        install_once();
        let port = TcpListener::bind((ip, 0))?.local_addr()?.port();
        let dir = std::env::temp_dir().join(format!(
            "mcp-oauth-redis-{}-{port}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut server = Self {
            child: None,
            ip,
            port,
            password: format!("pw-{}-{port}", std::process::id()),
            dir,
            persistent,
            tls,
        };
        if tls {
            make_certificates(&server.dir, ip)?;
        }
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let mut command = Command::new("redis-server");
        command.arg("--bind").arg(self.ip.to_string());
        if self.tls {
            command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(self.dir.join("server.pem"))
                .arg("--tls-key-file")
                .arg(self.dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(self.dir.join("ca.pem"))
                .args(["--tls-auth-clients", "no"]);
        } else {
            command.arg("--port").arg(self.port.to_string());
        }
        command
            .args(["--requirepass", &self.password])
            .args(["--save", "", "--daemonize", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&self.dir);
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        self.child = Some(
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((self.ip, self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other("redis-server did not come up"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `redis://:PASSWORD@IP:PORT/` (`rediss://` for TLS).
    pub fn url(&self) -> String {
        self.url_via(self.ip, self.port)
    }

    /// The URL with another address and port (a proxy in front of it).
    pub fn url_via(&self, ip: IpAddr, port: u16) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://:{}@{ip}:{port}/", self.password)
    }

    /// The certificate authority (PEM) that signed the server's
    /// certificate, when it speaks TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("ca.pem"))
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops it (SIGTERM to its PID) and waits until it has gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "CONT");
            signal(child.id(), "TERM");
            let _ = child.wait();
        }
    }

    /// Stops it and starts it again on the same port: without persistence,
    /// empty.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.spawn()
    }

    /// SIGSTOP: connections stay open, nothing answers.
    pub fn freeze(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, "STOP");
        }
    }

    /// SIGCONT after [`freeze`](Self::freeze).
    pub fn thaw(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, "CONT");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "CONT");
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `SIG<name>` to `pid` with kill(1).
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// A certificate authority (`ca.pem`) and a server certificate it signed
/// (`server.pem`, `server.key`) for `ip`, in `dir`: P-256 keys, a day of
/// validity. The leaf says it is no CA (webpki refuses a CA certificate as
/// a server's).
fn make_certificates(dir: &Path, ip: IpAddr) -> std::io::Result<()> {
    install_openssl_once();
    std::fs::write(
        dir.join("leaf.cnf"),
        format!(
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = IP:{ip}\n"
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
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
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
                "/CN=mcp-oauth test Redis",
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

/// Runs `openssl ARGS` in `dir`, bounded.
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> std::io::Result<()> {
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait()? {
            return if status.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "`openssl {}` failed ({status})",
                    args.join(" ")
                )))
            };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("openssl took more than 20 s"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Debian's openssl command, installed with apt-get when missing.
pub(crate) fn install_openssl_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let present = Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .status()
            .is_ok();
        if !present {
            let _ = Command::new("apt-get")
                .args(["install", "-y", "-qq", "openssl"])
                .status();
        }
    });
}

/// Debian's redis-server, installed with apt-get when missing (as `.ci/run`
/// does on a clean machine).
fn install_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let present = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok();
        if !present {
            let _ = Command::new("apt-get")
                .args(["install", "-y", "-qq", "redis-server"])
                .status();
        }
    });
}
