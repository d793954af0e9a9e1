//! A fleet on one identity: "hosts" of CLI processes (each host its own
//! process group) sharing one Redis. One refresh per expiry for all of
//! them, one sign-in after Redis forgot everything, and a lock holder
//! killed or stopped in the middle of its token request.
//!
//! The hosts are process groups, not network namespaces: the client
//! refuses plain-http authorization servers off loopback, so namespaces
//! would need TLS on the testkit's servers.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use mcp_oauth::TokenStorage as _;
use mcp_oauth_redis::{RedisStore, StoreKeys};
use mcp_oauth_testkit::{AuthFault, AuthRequestKind, AuthServer, RedisServer, signal};

use crate::{
    shared_store::{STORE_KEY, fleet_env},
    support::{BOUND, Run, cli, protected, scripted_browser, wait_until},
};

const PREFIX: &str = "fleet";

/// One process of the fleet, started.
struct Process {
    child: tokio::process::Child,
    started: Instant,
}

fn start(args: &[&str], env: &[(&str, &str)], group: i32) -> Process {
    let mut command = cli();
    command
        .args(args)
        .envs(env.iter().copied())
        .env("MCP_OAUTH_STORE_LEASE", "2")
        .process_group(group)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Process {
        child: command.spawn().unwrap(),
        started: Instant::now(),
    }
}

async fn finish(process: Process) -> (Run, Duration) {
    let output = tokio::time::timeout(BOUND, process.child.wait_with_output())
        .await
        .expect("every process ends in time")
        .unwrap();
    let took = process.started.elapsed();
    (
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        took,
    )
}

/// `hosts` × `each` processes running `args` together; each host's
/// processes share a process group.
async fn fleet(
    hosts: usize,
    each: usize,
    args: &[&str],
    env: &[(&str, &str)],
) -> Vec<(Run, Duration)> {
    let mut processes = Vec::new();
    for _ in 0..hosts {
        let leader = start(args, env, 0);
        let group = i32::try_from(leader.child.id().unwrap()).unwrap();
        processes.push(leader);
        for _ in 1..each {
            processes.push(start(args, env, group));
        }
    }
    let mut outcomes = Vec::new();
    for process in processes {
        outcomes.push(finish(process).await);
    }
    outcomes
}

async fn store(redis: &RedisServer) -> RedisStore {
    RedisStore::builder(redis.url())
        .prefix(PREFIX)
        .keys(StoreKeys::parse(STORE_KEY).unwrap())
        .connect()
        .await
        .unwrap()
}

/// Makes the stored access token look expired to every process.
async fn age_stored_tokens(redis: &RedisServer, url: &str) {
    let storage = store(redis).await.storage(url).unwrap();
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

fn refreshes(auth: &AuthServer) -> usize {
    auth.requests()
        .iter()
        .filter(|request| request.param("grant_type") == Some("refresh_token"))
        .count()
}

fn sign_ins(auth: &AuthServer) -> usize {
    auth.requests()
        .iter()
        .filter(|request| request.kind == AuthRequestKind::Authorize)
        .count()
}

fn revoked(auth: &AuthServer) -> usize {
    auth.tokens().iter().filter(|token| token.revoked).count()
}

async fn signed_in(
    dir: &Path,
) -> (
    RedisServer,
    AuthServer,
    mcp_oauth_testkit::TestServer,
    String,
) {
    let redis = RedisServer::start().unwrap();
    let (auth, server) = protected(AuthServer::builder()).await;
    let browser = scripted_browser(dir);
    let store = redis.url();
    let url = server.url();
    let login = crate::support::mcp_oauth_with_env(
        &["login", &url, "--login-timeout", "15"],
        &fleet_env(&store, PREFIX, &browser),
    )
    .await;
    login.success();
    (redis, auth, server, browser)
}

fn report(name: &str, outcomes: &[(Run, Duration)], refreshes: usize) {
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
        "{name}: {ok}/{} succeeded, {refreshes} refresh request(s), slowest {} ms",
        outcomes.len(),
        slowest.as_millis()
    );
}

#[tokio::test]
async fn three_hosts_of_eight_processes_refresh_once() {
    let dir = crate::support::tempdir().unwrap();
    let (redis, auth, server, _browser) = signed_in(dir.path()).await;
    let url = server.url();
    age_stored_tokens(&redis, &url).await;
    let before = refreshes(&auth);
    let store = redis.url();
    // No browser: a process that tried to sign in would fail.
    let outcomes = fleet(3, 8, &["tools", &url], &fleet_env(&store, PREFIX, "false")).await;
    report("3 x 8", &outcomes, refreshes(&auth) - before);
    for (run, _) in &outcomes {
        run.success();
    }
    assert_eq!(refreshes(&auth) - before, 1, "one refresh for the fleet");
    assert_eq!(revoked(&auth), 0, "no invalid_grant, no family revoked");
    assert_eq!(sign_ins(&auth), 1);
}

#[tokio::test]
async fn after_redis_restarts_empty_the_fleet_signs_in_once() {
    let dir = crate::support::tempdir().unwrap();
    let (mut redis, auth, server, browser) = signed_in(dir.path()).await;
    let url = server.url();
    // Redis comes back with nothing (no persistence): every process finds
    // no tokens, the server refuses them, and they queue on the lock.
    redis.restart().unwrap();
    let store = redis.url();
    let outcomes = fleet(
        3,
        8,
        &["tools", &url, "--login-timeout", "15"],
        &fleet_env(&store, PREFIX, &browser),
    )
    .await;
    report("restarted", &outcomes, refreshes(&auth));
    for (run, _) in &outcomes {
        run.success();
    }
    assert_eq!(sign_ins(&auth), 2, "one sign-in shared by the whole fleet");
    assert_eq!(revoked(&auth), 0);
}

/// A holder is sent `what` while its refresh request is with the
/// authorization server (which answers after 1.5 s); a second process
/// asks for a token meanwhile.
async fn holder_interrupted(kill: bool) {
    let dir = crate::support::tempdir().unwrap();
    let (redis, auth, server, _browser) = signed_in(dir.path()).await;
    let url = server.url();
    age_stored_tokens(&redis, &url).await;
    auth.set_fault(Some(AuthFault::SlowToken(Duration::from_millis(1500))));
    let store = redis.url();
    let env = fleet_env(&store, PREFIX, "false");
    let holder = start(&["token", &url], &env, 0);
    let pid = holder.child.id().unwrap();
    wait_until("the holder's refresh request", || refreshes(&auth) == 1).await;
    signal(pid, if kill { "KILL" } else { "STOP" });

    let started = Instant::now();
    let successor = start(&["token", &url], &env, 0);
    if !kill {
        // Stopped past its 2-second lease, then resumed while the
        // successor still waits for the answer the holder was sent.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        signal(pid, "CONT");
    }
    let (after, took) = finish(successor).await;
    let (first, _) = finish(holder).await;
    eprintln!(
        "holder {}: successor exit {:?} after {} ms, {} refresh request(s), {} revoked",
        if kill { "killed" } else { "stopped" },
        after.code,
        took.as_millis(),
        refreshes(&auth),
        revoked(&auth)
    );
    after.success();
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "bounded: {took:?}"
    );
    assert_eq!(revoked(&auth), 0, "no token spent twice");
    if kill {
        assert_eq!(first.code, None, "killed");
        assert!(refreshes(&auth) <= 2);
    } else {
        first.success();
        assert_eq!(
            refreshes(&auth),
            1,
            "the successor used the holder's answer"
        );
        assert_eq!(first.stdout, after.stdout, "one token for both");
    }
    // The stored tokens are the newest: a later process needs no request.
    let before = refreshes(&auth);
    crate::support::mcp_oauth_with_env(&["tools", &url], &env)
        .await
        .success();
    assert_eq!(refreshes(&auth), before);
}

#[tokio::test]
async fn a_holder_killed_during_its_refresh_is_replaced_in_bounded_time() {
    holder_interrupted(true).await;
}

#[tokio::test]
async fn a_holder_stopped_past_its_lease_neither_rolls_back_nor_burns_the_token() {
    holder_interrupted(false).await;
}
