//! The fleet figures `scripts/bench-fleet` prints: a warm `ping` with the
//! Redis store beside the file store, and fleets of `mcp-oauth tools`
//! processes on one expired token: refresh requests per expiry, successes,
//! the slowest process's wall time, and Redis commands per process.
//! Figures, not a test: nothing fails.
//!
//! The warm pings run on loopback. Each host of a fleet is a network
//! namespace of its own (the testkit's `NetHosts`) when run as root with
//! `ip`; else a process group, and the figures say which.
//!
//! ```sh
//! cargo build --release -p mcp-oauth-cli --bin mcp-oauth --example fleet-bench
//! target/release/examples/fleet-bench target/release/mcp-oauth [RUNS] [FLEETS]
//! ```
//! FLEETS defaults to `3x8,3x32`; RUNS (warm pings per store) to 20.

#![allow(clippy::disallowed_macros, reason = "a bench prints its figures")]

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use mcp_oauth::TokenStorage as _;
use mcp_oauth_redis::{RedisStore, StoreKeys};
use mcp_oauth_testkit::{AuthServer, NetHosts, RedisServer, TestServer};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PREFIX: &str = "bench";

struct Bed {
    binary: String,
    redis: RedisServer,
    auth: AuthServer,
    server: TestServer,
    dir: std::path::PathBuf,
    /// The fleet's hosts as namespaces, with the servers on their hub.
    hosts: Option<NetHosts>,
}

impl Bed {
    /// Redis, an authorization server and an MCP server it protects: on
    /// loopback, or on the hub of `hosts` (relayed to each host's loopback).
    async fn new(binary: &str, dir: &std::path::Path, mut hosts: Option<NetHosts>) -> Self {
        let bind = hosts
            .as_ref()
            .map_or(std::net::Ipv4Addr::LOCALHOST.into(), NetHosts::hub);
        let redis = RedisServer::start_on(bind, false)
            .expect("redis-server (apt-get install -y redis-server)");
        let auth = AuthServer::builder()
            .bind_address(bind)
            .start()
            .await
            .unwrap();
        let server = TestServer::builder()
            .protected_by(&auth)
            .bind_address(bind)
            .start()
            .await
            .unwrap();
        if let Some(hosts) = &mut hosts {
            hosts
                .relay(&[auth.addr().port(), server.addr().port()])
                .unwrap();
        }
        Self {
            binary: binary.to_owned(),
            redis,
            auth,
            server,
            dir: dir.to_owned(),
            hosts,
        }
    }

    /// The CLI with `args`, in host `host`'s namespace when there are some.
    fn command_on(&self, host: usize, args: &[&str], store: bool) -> tokio::process::Command {
        let mut command = match &self.hosts {
            Some(hosts) => tokio::process::Command::from(hosts.command(host, &self.binary)),
            None => tokio::process::Command::new(&self.binary),
        };
        command
            .args(args)
            .env("BROWSER", self.dir.join("browser.sh"))
            .env("MCP_OAUTH_CACHE_DIR", self.dir.join("cache"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if store {
            command
                .env("MCP_OAUTH_STORE", self.redis.url())
                .env("MCP_OAUTH_STORE_KEY", KEY)
                .env("MCP_OAUTH_STORE_PREFIX", PREFIX);
        }
        command
    }

    async fn run(&self, args: &[&str], store: bool) -> (bool, Duration) {
        let started = Instant::now();
        let ok = self
            .command_on(0, args, store)
            .status()
            .await
            .is_ok_and(|status| status.success());
        (ok, started.elapsed())
    }

    async fn redis_commands(&self) -> u64 {
        let client = redis::Client::open(self.redis.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query_async(&mut connection)
            .await
            .unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("total_commands_processed:"))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    }

    async fn age_tokens(&self) {
        let store = RedisStore::builder(self.redis.url())
            .prefix(PREFIX)
            .keys(StoreKeys::parse(KEY).unwrap())
            .connect()
            .await
            .unwrap();
        let storage = store.storage(&self.server.url()).unwrap();
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

    fn refreshes(&self) -> usize {
        self.auth
            .requests()
            .iter()
            .filter(|request| request.param("grant_type") == Some("refresh_token"))
            .count()
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args.next().expect("the mcp-oauth binary to run");
    let runs: usize = args.next().map_or(20, |runs| runs.parse().expect("RUNS"));
    let fleets = args.next().unwrap_or_else(|| "3x8,3x32".to_owned());

    let dir = std::env::temp_dir().join(format!("mcp-oauth-fleet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("browser.sh"),
        "#!/bin/sh\nexec curl -s -L --noproxy '*' --max-time 10 -o /dev/null \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        dir.join("browser.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let bed = Bed::new(&binary, &dir, None).await;
    let url = bed.server.url();

    // Warm ping: each store signed in once, then timed.
    for store in [false, true] {
        assert!(bed.run(&["login", &url], store).await.0, "login");
    }
    let mut file = Vec::new();
    let mut shared = Vec::new();
    let before = bed.redis_commands().await;
    for _ in 0..runs {
        file.push(bed.run(&["ping", &url], false).await.1);
        shared.push(bed.run(&["ping", &url], true).await.1);
    }
    let per_ping = (bed.redis_commands().await - before) as f64 / runs as f64;
    let (file, shared) = (median(file), median(shared));
    println!("warm ping, median of {runs}:");
    println!("  file store   {:>7.2} ms", file.as_secs_f64() * 1e3);
    println!(
        "  redis store  {:>7.2} ms  ({:+.2} ms; target within 1 ms; {per_ping:.1} Redis commands)",
        shared.as_secs_f64() * 1e3,
        (shared.as_secs_f64() - file.as_secs_f64()) * 1e3
    );

    drop(bed);

    let hosts = fleets
        .split(',')
        .filter_map(|fleet| fleet.split_once('x')?.0.parse::<usize>().ok())
        .max()
        .unwrap_or(3);
    let (hosts, placement) = match NetHosts::create(hosts) {
        Ok(hosts) => (Some(hosts), "network namespaces".to_owned()),
        Err(why) => (None, format!("process groups: {why}")),
    };
    let bed = Bed::new(&binary, &dir, hosts).await;
    let url = bed.server.url();
    assert!(bed.run(&["login", &url], true).await.0, "login");
    println!("fleets on one expired token (hosts = {placement}), `mcp-oauth tools`:");
    for fleet in fleets.split(',') {
        let (hosts, each) = fleet.split_once('x').expect("HOSTSxPROCESSES");
        let (hosts, each): (usize, usize) = (hosts.parse().unwrap(), each.parse().unwrap());
        bed.age_tokens().await;
        let refreshes = bed.refreshes();
        let commands = bed.redis_commands().await;
        let revoked = bed
            .auth
            .tokens()
            .iter()
            .filter(|token| token.revoked)
            .count();
        let mut children = Vec::new();
        for host in 0..hosts {
            let mut group = 0;
            for _ in 0..each {
                let mut command = bed.command_on(host, &["tools", &url], true);
                if bed.hosts.is_none() {
                    command.process_group(group);
                }
                let started = Instant::now();
                let child = command.spawn().unwrap();
                if group == 0 {
                    group = i32::try_from(child.id().unwrap()).unwrap();
                }
                children.push((child, started));
            }
        }
        let mut ok = 0;
        let mut slowest = Duration::ZERO;
        for (mut child, started) in children {
            if child.wait().await.is_ok_and(|status| status.success()) {
                ok += 1;
            }
            slowest = slowest.max(started.elapsed());
        }
        let processes = hosts * each;
        let spent = bed.redis_commands().await - commands;
        println!(
            "  {hosts} x {each}: {} refresh request(s), {ok}/{processes} succeeded, {} revoked, \
             slowest {} ms, {:.1} Redis commands per process",
            bed.refreshes() - refreshes,
            bed.auth
                .tokens()
                .iter()
                .filter(|token| token.revoked)
                .count()
                - revoked,
            slowest.as_millis(),
            spent as f64 / processes as f64
        );
    }
    drop(bed);
    let _ = std::fs::remove_dir_all(dir);
}
