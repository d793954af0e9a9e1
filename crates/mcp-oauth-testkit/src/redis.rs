//! A `redis-server` of a test's own: Debian's package, on a free loopback
//! port (or an address given), with a password, keeping nothing on disk
//! unless asked, and stopped by its PID (never the system's service).

use std::{
    net::{IpAddr, Ipv4Addr, TcpListener, TcpStream},
    path::PathBuf,
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
}

impl RedisServer {
    /// Started on a free port of 127.0.0.1, with a password, no persistence.
    pub fn start() -> std::io::Result<Self> {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), false)
    }

    /// Started on `ip` (an address other hosts reach, say), with an
    /// append-only file synced on every write when `persistent`.
    pub fn start_on(ip: IpAddr, persistent: bool) -> std::io::Result<Self> {
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
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let mut command = Command::new("redis-server");
        command
            .arg("--bind")
            .arg(self.ip.to_string())
            .arg("--port")
            .arg(self.port.to_string())
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

    /// `redis://:PASSWORD@IP:PORT/`
    pub fn url(&self) -> String {
        self.url_via(self.ip, self.port)
    }

    /// The URL with another address and port (a proxy in front of it).
    pub fn url_via(&self, ip: IpAddr, port: u16) -> String {
        format!("redis://:{}@{ip}:{port}/", self.password)
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
