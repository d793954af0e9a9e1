//! The test bed of a fleet: "hosts" of CLI processes sharing one Redis, an
//! authorization server and an MCP server.
//!
//! Each host is a network namespace of its own, with its own address on
//! 198.18.0.0/15, where the machine allows it (root and `ip netns`); else
//! a process group, and the bed says so. In namespaces the servers listen
//! on the hub address every host reaches; the client refuses plain-http
//! authorization servers off loopback, so the servers' URLs still name
//! `127.0.0.1:PORT`, and a relay on each host's own loopback forwards those
//! ports to the hub. Redis is reached directly at the hub address.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    process::Stdio,
    time::{Duration, Instant},
};

use mcp_oauth::TokenStorage as _;
use mcp_oauth_redis::{RedisStore, RedisTokenStorage, StoreKeys};
use mcp_oauth_testkit::{
    AuthRequestKind, AuthServer, AuthServerBuilder, NetHosts, RedisServer, TestServer,
};

use crate::{
    shared_store::{STORE_KEY, fleet_env},
    support::{BOUND, Run, cli, scripted_browser, without_settings},
};

pub(crate) const PREFIX: &str = "fleet";
/// The hosts of every fleet here.
pub(crate) const HOSTS: usize = 3;

/// Where a bed's hosts run.
enum Hosts {
    Namespaces(NetHosts),
    /// Process groups on this machine's network: namespaces were not
    /// allowed, for the reason printed.
    Groups,
}

/// One process of the fleet, started.
pub(crate) struct Process {
    pub(crate) child: tokio::process::Child,
    started: Instant,
}

impl Process {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Its outcome, and how long it ran; bounded.
    pub(crate) async fn finish(self) -> (Run, Duration) {
        let output = tokio::time::timeout(BOUND, self.child.wait_with_output())
            .await
            .expect("every process ends in time")
            .unwrap();
        let took = self.started.elapsed();
        (
            Run {
                code: output.status.code(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            },
            took,
        )
    }
}

pub(crate) struct Bed {
    hosts: Hosts,
    pub(crate) redis: RedisServer,
    pub(crate) auth: AuthServer,
    pub(crate) server: TestServer,
    pub(crate) browser: String,
    _dir: tempfile::TempDir,
}

impl Bed {
    /// Hosts, Redis, `auth` and an MCP server it protects; nobody signed in.
    pub(crate) async fn new(auth: AuthServerBuilder) -> Self {
        let mut hosts = match NetHosts::create(HOSTS) {
            Ok(hosts) => Hosts::Namespaces(hosts),
            Err(why) => {
                eprintln!("hosts as process groups, not network namespaces: {why}");
                Hosts::Groups
            }
        };
        let bind = match &hosts {
            Hosts::Namespaces(hosts) => hosts.hub(),
            Hosts::Groups => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let redis = RedisServer::start_on(bind, false).unwrap();
        let auth = auth.bind_address(bind).start().await.unwrap();
        let server = TestServer::builder()
            .protected_by(&auth)
            .bind_address(bind)
            .start()
            .await
            .unwrap();
        if let Hosts::Namespaces(hosts) = &mut hosts {
            hosts
                .relay(&[auth.addr().port(), server.addr().port()])
                .unwrap();
        }
        let dir = crate::support::tempdir().unwrap();
        let browser = scripted_browser(dir.path());
        Self {
            hosts,
            redis,
            auth,
            server,
            browser,
            _dir: dir,
        }
    }

    /// The bed, with the fleet signed in once (from the first host).
    pub(crate) async fn signed_in(auth: AuthServerBuilder) -> Self {
        let bed = Self::new(auth).await;
        let url = bed.url();
        let store = bed.redis.url();
        let login = bed.start(
            0,
            None,
            &["login", &url, "--login-timeout", "15"],
            &fleet_env(&store, PREFIX, &bed.browser),
        );
        login.finish().await.0.success();
        bed
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }

    /// Where the hosts run, for the test's notes.
    pub(crate) fn placement(&self) -> &'static str {
        match &self.hosts {
            Hosts::Namespaces(_) => "network namespaces",
            Hosts::Groups => "process groups",
        }
    }

    /// Checks, where hosts are namespaces, that process `pid` runs in
    /// host `host`'s.
    pub(crate) fn assert_runs_in(&self, pid: u32, host: usize) {
        if let Hosts::Namespaces(hosts) = &self.hosts {
            assert_eq!(hosts.host_of(pid), Some(host), "process {pid}'s namespace");
        }
    }

    /// A process of `host` running the CLI with `args`: in the host's
    /// namespace, or in process group `group` (0: a new one).
    pub(crate) fn start(
        &self,
        host: usize,
        group: Option<i32>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Process {
        let mut command = match &self.hosts {
            Hosts::Namespaces(hosts) => without_settings(tokio::process::Command::from(
                hosts.command(host, env!("CARGO_BIN_EXE_mcp-oauth")),
            )),
            Hosts::Groups => {
                let mut command = cli();
                command.process_group(group.unwrap_or(0));
                command
            }
        };
        command
            .args(args)
            .envs(env.iter().copied())
            .env("MCP_OAUTH_STORE_LEASE", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Process {
            child: command.spawn().unwrap(),
            started: Instant::now(),
        }
    }

    /// [`HOSTS`] × `each` processes running `args` together, each host's
    /// in its namespace (or process group).
    pub(crate) fn start_fleet(
        &self,
        each: usize,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Vec<Process> {
        let mut processes = Vec::new();
        for host in 0..HOSTS {
            let leader = self.start(host, None, args, env);
            let group = i32::try_from(leader.pid()).unwrap();
            processes.push(leader);
            for _ in 1..each {
                processes.push(self.start(host, Some(group), args, env));
            }
        }
        processes
    }

    /// [`start_fleet`](Self::start_fleet), to the end of every process.
    pub(crate) async fn fleet(
        &self,
        each: usize,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Vec<(Run, Duration)> {
        finish_all(self.start_fleet(each, args, env)).await
    }

    /// The fleet's store, as a process of it opens it.
    pub(crate) async fn storage(&self) -> RedisTokenStorage {
        RedisStore::builder(self.redis.url())
            .prefix(PREFIX)
            .keys(StoreKeys::parse(STORE_KEY).unwrap())
            .connect()
            .await
            .unwrap()
            .storage(&self.url())
            .unwrap()
    }

    /// Makes the stored access token look expired to every process.
    pub(crate) async fn age_stored_tokens(&self) {
        let storage = self.storage().await;
        let stored = storage.load().await.unwrap().expect("signed in");
        let mut document = serde_json::to_value(&stored).unwrap();
        for (field, value) in [
            ("expires_at", 1),
            ("expires_at_ms", 1000),
            ("received_at", 0),
            ("received_at_ms", 0),
        ] {
            document["tokens"][field] = value.into();
        }
        storage
            .save(&serde_json::from_value(document).unwrap())
            .await
            .unwrap();
    }

    /// The stored access token and the record's generation.
    pub(crate) async fn stored(&self) -> (String, u64) {
        let storage = self.storage().await;
        let stored = storage.load().await.unwrap().expect("signed in");
        let document = serde_json::to_value(&stored).unwrap();
        let token = document["tokens"]["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned();
        (token, storage.generation().unwrap())
    }

    pub(crate) fn refreshes(&self) -> usize {
        self.auth
            .requests()
            .iter()
            .filter(|request| request.param("grant_type") == Some("refresh_token"))
            .count()
    }

    pub(crate) fn sign_ins(&self) -> usize {
        self.auth
            .requests()
            .iter()
            .filter(|request| request.kind == AuthRequestKind::Authorize)
            .count()
    }

    pub(crate) fn revoked(&self) -> usize {
        self.auth
            .tokens()
            .iter()
            .filter(|token| token.revoked)
            .count()
    }

    /// Checks that the MCP requests since the server's log was cleared came
    /// from every host's own address, at least `each` from each: the
    /// processes ran in distinct namespaces (from the root one they would
    /// come from 127.0.0.1, if anything listened there on the port). Says
    /// where the hosts ran.
    pub(crate) fn assert_hosts_apart(&self, each: usize) -> &'static str {
        let Hosts::Namespaces(hosts) = &self.hosts else {
            return self.placement();
        };
        let mut from: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for request in self.server.requests() {
            let peer = request.peer.expect("the server knows each request's peer");
            *from.entry(peer.ip()).or_default() += 1;
        }
        let expected: Vec<IpAddr> = (0..hosts.len()).map(|host| hosts.ip(host)).collect();
        assert_eq!(
            from.keys().copied().collect::<Vec<_>>(),
            expected,
            "requests came from each host's address, and only from them: {from:?}"
        );
        for (address, count) in &from {
            assert!(*count >= each, "{count} requests from {address}: {from:?}");
        }
        self.placement()
    }
}

pub(crate) async fn finish_all(processes: Vec<Process>) -> Vec<(Run, Duration)> {
    let mut outcomes = Vec::new();
    for process in processes {
        outcomes.push(process.finish().await);
    }
    outcomes
}

pub(crate) fn report(name: &str, hosts: &str, outcomes: &[(Run, Duration)], refreshes: usize) {
    let slowest = outcomes
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    let ok = outcomes
        .iter()
        .filter(|(run, _)| run.code == Some(0))
        .count();
    eprintln!(
        "{name} ({hosts}): {ok}/{} succeeded, {refreshes} refresh request(s), slowest {} ms",
        outcomes.len(),
        slowest.as_millis()
    );
}
