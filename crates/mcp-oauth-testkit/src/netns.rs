//! Hosts on one machine as network namespaces: [`NetHosts`].

use std::{
    fmt,
    fs::File,
    io::{self, Read as _},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    os::{fd::AsFd as _, unix::fs::MetadataExt as _},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use tokio::{sync::oneshot, task::JoinSet};

/// The range hosts get their addresses from, in blocks of 32 (8 hosts of a
/// /30 each).
const RANGE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
const BLOCKS: u32 = (1 << 17) / 32;
const MAX_HOSTS: usize = 8;
/// Namespaces are named `mcp-oauth-<pid>-<seq>-h<host>`.
const NAMESPACE_PREFIX: &str = "mcp-oauth-";
/// How long any `ip` command may take.
const IP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a relay waits for the hub to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One host: a namespace and the veth pair that joins it to the root one.
#[derive(Debug)]
struct Host {
    namespace: String,
    root_link: String,
    root_ip: Ipv4Addr,
    ip: Ipv4Addr,
}

/// Hosts on one machine: each a network namespace of its own, with its own
/// address on 198.18.0.0/15 (RFC 2544's benchmarking range), joined to the
/// root namespace by a veth pair. A fleet test runs each "host"'s
/// processes in its namespace, as separate machines would run them.
///
/// The servers (an [`AuthServer`](crate::AuthServer), a
/// [`TestServer`](crate::TestServer), a [`RedisServer`](crate::RedisServer))
/// listen on [`hub`](Self::hub), the root side of the first pair, which
/// every namespace reaches through its default route. A client refuses a
/// plain-http authorization server anywhere but on loopback, so the
/// servers' URLs still name `127.0.0.1:PORT`, and [`relay`](Self::relay)
/// listens on each namespace's own loopback with the same ports and
/// forwards to the hub: the servers see each host's requests come from
/// that host's address.
///
/// Needs root and `ip` (iproute2). Everything made here (namespaces, veth
/// pairs, relays) goes when the `NetHosts` is dropped, also when a test
/// panics; names carry the process id, and namespaces left by a process
/// that was killed are removed by the next one. Every wait is bounded.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use mcp_oauth_testkit::{AuthServer, NetHosts};
/// let mut hosts = NetHosts::create(3)?; // root only
/// let auth = AuthServer::builder().bind_address(hosts.hub()).start().await?;
/// hosts.relay(&[auth.addr().port()])?;
/// // In host 1, 127.0.0.1:PORT is the authorization server:
/// let mut curl = hosts.command(1, "curl");
/// curl.arg(format!("{}/.well-known/oauth-authorization-server", auth.base_url()));
/// assert!(curl.status()?.success());
/// assert_eq!(auth.requests()[0].peer.unwrap().ip(), hosts.ip(1));
/// # Ok(()) }
/// ```
pub struct NetHosts {
    hosts: Vec<Host>,
    /// Per host: asks its connector thread, which lives in the namespace,
    /// for a connection to the hub from there.
    connectors: Vec<mpsc::Sender<Request>>,
    /// The relays' accept loops (each owning its connections).
    relays: Vec<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for NetHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetHosts")
            .field("hosts", &self.hosts)
            .field("relays", &self.relays.len())
            .finish_non_exhaustive()
    }
}

impl NetHosts {
    /// Makes `count` hosts (at most 8). Fails, saying why, where the
    /// machine does not allow it: not root, no `ip`, no namespaces.
    pub fn create(count: usize) -> io::Result<Self> {
        if count == 0 || count > MAX_HOSTS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("1 to {MAX_HOSTS} hosts, not {count}"),
            ));
        }
        if !rustix::process::geteuid().is_root() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "network namespaces need root",
            ));
        }
        ip(&["-V"]).map_err(|error| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no usable `ip` (iproute2): {error}"),
            )
        })?;
        sweep_leftovers();
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed) % 256;
        let pid = std::process::id();
        // One block per set of hosts: chosen under a lock shared by every
        // process on the machine, among the addresses nobody uses.
        let lock = File::create(std::env::temp_dir().join("mcp-oauth-netns.lock"))?;
        lock.lock()?;
        let used = ip(&["-o", "-4", "addr", "show"])?;
        let start = (pid.wrapping_mul(7919) ^ seq.wrapping_mul(104_729)) % BLOCKS;
        let in_use: Vec<u32> = used
            .split_whitespace()
            .filter_map(|word| word.split_once('/'))
            .filter_map(|(address, _)| address.parse::<Ipv4Addr>().ok())
            .map(u32::from)
            .collect();
        let block = (0..BLOCKS)
            .map(|offset| (start + offset) % BLOCKS)
            .find(|block| {
                let base = RANGE + block * 32;
                !in_use.iter().any(|&n| (base..base + 32).contains(&n))
            })
            .ok_or_else(|| io::Error::other("every block of 198.18.0.0/15 is in use"))?;
        let mut made = Self {
            hosts: Vec::new(),
            connectors: Vec::new(),
            relays: Vec::new(),
        };
        for index in 0..count {
            let base = RANGE + block * 32 + u32::try_from(index).unwrap_or(0) * 4;
            let host = Host {
                namespace: format!("{NAMESPACE_PREFIX}{pid}-{seq}-h{index}"),
                root_link: format!("mo{pid:x}-{seq:x}-{index}r"),
                root_ip: Ipv4Addr::from(base + 1),
                ip: Ipv4Addr::from(base + 2),
            };
            // Kept before the first command, so that a failure half-way
            // still removes what was made.
            made.hosts.push(host);
            let host = made.hosts.last().expect("just pushed");
            set_up(host, pid, seq, index)?;
        }
        drop(lock);
        Ok(made)
    }

    /// The address the servers listen on: reached from every host.
    pub fn hub(&self) -> IpAddr {
        IpAddr::V4(self.hosts[0].root_ip)
    }

    /// How many hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Never: [`create`](Self::create) makes at least one host.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Host `host`'s own address, which servers see its requests come from.
    pub fn ip(&self, host: usize) -> IpAddr {
        IpAddr::V4(self.hosts[host].ip)
    }

    /// The name of host `host`'s namespace (for `ip netns exec`).
    pub fn namespace(&self, host: usize) -> &str {
        &self.hosts[host].namespace
    }

    /// `program` run in host `host`'s namespace (`ip netns exec NAME
    /// program`, which runs it under the same process id).
    pub fn command(&self, host: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", self.namespace(host)])
            .arg(program);
        command
    }

    /// The host whose namespace process `pid` runs in, if any of them.
    pub fn host_of(&self, pid: u32) -> Option<usize> {
        let of_process = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
        self.hosts.iter().position(|host| {
            std::fs::metadata(format!("/run/netns/{}", host.namespace)).is_ok_and(|of_host| {
                of_host.ino() == of_process.ino() && of_host.dev() == of_process.dev()
            })
        })
    }

    /// In every host, listens on `127.0.0.1:PORT` for each of `ports` and
    /// forwards each connection to the same port of [`hub`](Self::hub),
    /// from the host's own address. Within a Tokio runtime.
    pub fn relay(&mut self, ports: &[u16]) -> io::Result<()> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| io::Error::other("NetHosts::relay needs a Tokio runtime"))?;
        let hub = self.hub();
        for (index, host) in self.hosts.iter().enumerate() {
            if self.connectors.len() <= index {
                self.connectors.push(connector(&host.namespace)?);
            }
            let connector = &self.connectors[index];
            let listeners = listen_in(connector, ports)?;
            for listener in listeners {
                let port = listener.local_addr()?.port();
                let listener = {
                    let _entered = runtime.enter();
                    tokio::net::TcpListener::from_std(listener)?
                };
                let target = SocketAddr::new(hub, port);
                let connector = connector.clone();
                self.relays
                    .push(runtime.spawn(forward(listener, target, connector)));
            }
        }
        Ok(())
    }
}

/// Makes host `host`: its namespace, the veth pair, addresses, routes.
fn set_up(host: &Host, pid: u32, seq: u32, index: usize) -> io::Result<()> {
    let ns = host.namespace.as_str();
    let inner = format!("mo{pid:x}-{seq:x}-{index}n");
    let root_ip = format!("{}/30", host.root_ip);
    let ns_ip = format!("{}/30", host.ip);
    let gateway = host.root_ip.to_string();
    ip(&["netns", "add", ns])?;
    ip(&[
        "link",
        "add",
        &host.root_link,
        "type",
        "veth",
        "peer",
        "name",
        &inner,
        "netns",
        ns,
    ])?;
    ip(&["addr", "add", &root_ip, "dev", &host.root_link])?;
    ip(&["link", "set", &host.root_link, "up"])?;
    ip(&["-n", ns, "link", "set", "lo", "up"])?;
    ip(&["-n", ns, "addr", "add", &ns_ip, "dev", &inner])?;
    ip(&["-n", ns, "link", "set", &inner, "up"])?;
    ip(&["-n", ns, "route", "add", "default", "via", &gateway])?;
    Ok(())
}

/// What a connector thread does, in its namespace.
enum Request {
    /// Binds `127.0.0.1:PORT` for each port.
    Listen(Vec<u16>, mpsc::Sender<io::Result<Vec<TcpListener>>>),
    /// Connects to the hub.
    Connect(SocketAddr, oneshot::Sender<io::Result<TcpStream>>),
}

/// A thread that enters `namespace` and, from there, binds listeners and
/// opens connections on request (a socket belongs to the namespace it was
/// made in); it ends when its last sender goes.
fn connector(namespace: &str) -> io::Result<mpsc::Sender<Request>> {
    let (requests, incoming) = mpsc::channel::<Request>();
    let (entered, result) = mpsc::channel();
    let path = format!("/run/netns/{namespace}");
    std::thread::Builder::new()
        .name(format!("relay {namespace}"))
        .spawn(move || {
            let outcome = File::open(&path).and_then(|file| {
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(io::Error::from)
            });
            let failed = outcome.is_err();
            let _ = entered.send(outcome);
            if failed {
                return;
            }
            while let Ok(request) = incoming.recv() {
                match request {
                    Request::Listen(ports, reply) => {
                        let bound = ports
                            .iter()
                            .map(|&port| {
                                let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
                                listener.set_nonblocking(true)?;
                                Ok(listener)
                            })
                            .collect();
                        let _ = reply.send(bound);
                    }
                    Request::Connect(target, reply) => {
                        let connected = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)
                            .and_then(|stream| {
                                stream.set_nonblocking(true)?;
                                Ok(stream)
                            });
                        let _ = reply.send(connected);
                    }
                }
            }
        })?;
    result
        .recv_timeout(IP_TIMEOUT)
        .map_err(|_| io::Error::other(format!("could not enter {namespace} in time")))??;
    Ok(requests)
}

/// Listeners on `127.0.0.1:PORT` for each of `ports`, made in the
/// connector's namespace.
fn listen_in(connector: &mpsc::Sender<Request>, ports: &[u16]) -> io::Result<Vec<TcpListener>> {
    let (reply, answer) = mpsc::channel();
    let ended = || io::Error::other("the relay's thread has ended");
    connector
        .send(Request::Listen(ports.to_vec(), reply))
        .map_err(|_| ended())?;
    answer.recv_timeout(IP_TIMEOUT).map_err(|_| ended())?
}

/// Accepts on `listener` and forwards each connection to `target`, from a
/// socket the connector makes in the namespace. Connections end with this
/// task (their set is dropped with it).
async fn forward(
    listener: tokio::net::TcpListener,
    target: SocketAddr,
    connector: mpsc::Sender<Request>,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            // Out of descriptors, say: try again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let connector = connector.clone();
        connections.spawn(async move {
            let (reply, answer) = oneshot::channel();
            if connector.send(Request::Connect(target, reply)).is_err() {
                return;
            }
            let Ok(Ok(outbound)) = answer.await else {
                return;
            };
            let Ok(mut outbound) = tokio::net::TcpStream::from_std(outbound) else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
        // Reap the finished ones.
        while connections.try_join_next().is_some() {}
    }
}

impl Drop for NetHosts {
    fn drop(&mut self) {
        for relay in self.relays.drain(..) {
            relay.abort();
        }
        // Their threads end with their last sender.
        self.connectors.clear();
        for host in &self.hosts {
            remove(&host.namespace, Some(&host.root_link));
        }
    }
}

/// Removes a namespace (after killing whatever still runs in it) and the
/// root side of its veth pair, which goes with the namespace anyway once
/// nothing holds it; errors are ignored (half-made hosts).
fn remove(namespace: &str, root_link: Option<&str>) {
    if let Ok(pids) = ip(&["netns", "pids", namespace]) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill")
                .args(["-KILL", pid])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _ = ip(&["netns", "del", namespace]);
    if let Some(link) = root_link {
        let _ = ip(&["link", "del", link]);
    }
}

/// Removes the namespaces and links of processes that are gone (a test
/// killed before its `Drop` ran).
fn sweep_leftovers() {
    let gone = |pid: &str| {
        pid.parse::<u32>()
            .is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    if let Ok(list) = ip(&["netns", "list"]) {
        for name in list
            .lines()
            .filter_map(|line| line.split_whitespace().next())
        {
            if let Some(rest) = name.strip_prefix(NAMESPACE_PREFIX)
                && rest.split('-').next().is_some_and(gone)
            {
                remove(name, None);
            }
        }
    }
    if let Ok(links) = ip(&["-o", "link", "show"]) {
        for link in links.lines().filter_map(|line| line.split(": ").nth(1)) {
            let link = link.split('@').next().unwrap_or(link);
            if let Some(pid) = link_owner(link)
                && gone(&pid.to_string())
            {
                let _ = ip(&["link", "del", link]);
            }
        }
    }
}

/// The process that made link `name`, if it is one of ours:
/// `mo<pid:x>-<seq:x>-<host><r|n>`.
fn link_owner(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix("mo")?.split('-');
    let (pid, seq, host) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_hexdigit());
    let side = host.strip_suffix(['r', 'n'])?;
    let ours = parts.next().is_none()
        && hex(pid)
        && hex(seq)
        && side.len() == 1
        && side.chars().all(|c| c.is_ascii_digit());
    ours.then(|| u32::from_str_radix(pid, 16).ok()).flatten()
}

/// Runs `ip ARGS`, for at most [`IP_TIMEOUT`]; its output, or its error.
fn ip(args: &[&str]) -> io::Result<String> {
    let mut child = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + IP_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("`ip {}` took more than {IP_TIMEOUT:?}", args.join(" ")),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut err)?;
    }
    if status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            err.trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::link_owner;

    #[test]
    fn only_links_named_as_ours_are_ours() {
        assert_eq!(link_owner("mo1f2a-3-0r"), Some(0x1f2a));
        assert_eq!(link_owner("mo1f2a-3-2n"), Some(0x1f2a));
        for other in [
            "mode-1-2",
            "mo1f2a-3-0",
            "mo1f2a-3-0rx",
            "mo-3-0r",
            "eth0",
            "mo12-3-4r-5",
        ] {
            assert_eq!(link_owner(other), None, "{other}");
        }
    }
}
