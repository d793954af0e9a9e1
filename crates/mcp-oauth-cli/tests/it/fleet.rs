//! A fleet on one identity: "hosts" of CLI processes (each host a network
//! namespace of its own where the machine allows it, else a process group;
//! see [`crate::fleet_bed`]) sharing one Redis. One refresh per expiry for
//! all of them; one sign-in after Redis forgot everything, also while they
//! wait on a refresh; a lock holder killed or stopped in the middle of its
//! token request.

use std::time::{Duration, Instant};

use mcp_oauth_testkit::{AuthFault, AuthServer, RefreshMode, signal};

use crate::{
    fleet_bed::{Bed, PREFIX, finish_all, report},
    shared_store::fleet_env,
    support::wait_until,
};

#[tokio::test]
async fn three_hosts_of_eight_processes_refresh_once() {
    let bed = Bed::signed_in(AuthServer::builder()).await;
    let url = bed.url();
    bed.age_stored_tokens().await;
    let before = bed.refreshes();
    let store = bed.redis.url();
    bed.server.clear_requests();
    // No browser: a process that tried to sign in would fail.
    let outcomes = bed
        .fleet(8, &["tools", &url], &fleet_env(&store, PREFIX, "false"))
        .await;
    let hosts = bed.assert_hosts_apart(8);
    report("3 x 8", hosts, &outcomes, bed.refreshes() - before);
    for (run, _) in &outcomes {
        run.success();
    }
    assert_eq!(bed.refreshes() - before, 1, "one refresh for the fleet");
    assert_eq!(bed.revoked(), 0, "no invalid_grant, no family revoked");
    assert_eq!(bed.sign_ins(), 1);
}

#[tokio::test]
async fn after_redis_restarts_empty_the_fleet_signs_in_once() {
    let mut bed = Bed::signed_in(AuthServer::builder()).await;
    let url = bed.url();
    // Redis comes back with nothing (no persistence): every process finds
    // no tokens, the server refuses them, and they queue on the lock.
    bed.redis.restart().unwrap();
    let store = bed.redis.url();
    bed.server.clear_requests();
    let outcomes = bed
        .fleet(
            8,
            &["tools", &url, "--login-timeout", "15"],
            &fleet_env(&store, PREFIX, &bed.browser),
        )
        .await;
    let hosts = bed.assert_hosts_apart(8);
    report("restarted", hosts, &outcomes, bed.refreshes());
    for (run, _) in &outcomes {
        run.success();
    }
    assert_eq!(bed.sign_ins(), 2, "one sign-in shared by the whole fleet");
    assert_eq!(bed.revoked(), 0);
}

/// Redis restarts empty while the fleet is at work: one process's refresh
/// request is with the authorization server (slow to answer), the others
/// wait for the lock. Nobody spends the refresh token they hold in memory
/// (its spend mark went with Redis: it may be spent, and a second spend
/// would revoke the family); the holder's answer cannot be saved over a
/// record that is gone. One sign-in, shared by every process.
#[tokio::test]
async fn redis_restarting_empty_mid_refresh_costs_the_fleet_one_sign_in() {
    let mut bed = Bed::signed_in(AuthServer::builder()).await;
    let url = bed.url();
    bed.age_stored_tokens().await;
    bed.auth
        .set_fault(Some(AuthFault::SlowToken(Duration::from_millis(1500))));
    let store = bed.redis.url();
    let env = fleet_env(&store, PREFIX, &bed.browser);
    bed.server.clear_requests();
    let processes = bed.start_fleet(8, &["tools", &url, "--login-timeout", "15"], &env);
    wait_until("the holder's refresh request", || bed.refreshes() == 1).await;
    // The others are waiting for the lock by now (or about to load).
    tokio::time::sleep(Duration::from_millis(200)).await;
    bed.redis.restart().unwrap();
    bed.auth.set_fault(None);
    let outcomes = finish_all(processes).await;
    let hosts = bed.assert_hosts_apart(8);
    report("restarted mid-refresh", hosts, &outcomes, bed.refreshes());
    for (run, _) in &outcomes {
        run.success();
    }
    assert_eq!(
        bed.refreshes(),
        1,
        "no refresh token spent after the restart"
    );
    assert_eq!(
        bed.sign_ins(),
        2,
        "one sign-in (after the first) shared by every waiting process"
    );
    assert_eq!(bed.revoked(), 0, "no refresh token spent twice");
    // The store holds what the new sign-in brought; the answer to the
    // holder's request (its save refused: the record it read was gone) is
    // not kept.
    let (token, _) = bed.stored().await;
    let issued = bed.auth.tokens();
    let signed_in = issued
        .iter()
        .rfind(|token| token.grant_type == "authorization_code")
        .unwrap();
    assert_eq!(token, signed_in.access_token);
    let refreshed = issued
        .iter()
        .find(|token| token.grant_type == "refresh_token")
        .unwrap();
    assert_ne!(token, refreshed.access_token);
}

/// A holder is sent `what` while its refresh request is with the
/// authorization server (which answers after 1.5 s); a second process, on
/// another host, asks for a token meanwhile.
async fn holder_interrupted(kill: bool) {
    let bed = Bed::signed_in(AuthServer::builder()).await;
    let url = bed.url();
    bed.age_stored_tokens().await;
    bed.auth
        .set_fault(Some(AuthFault::SlowToken(Duration::from_millis(1500))));
    let store = bed.redis.url();
    let env = fleet_env(&store, PREFIX, "false");
    let holder = bed.start(0, None, &["token", &url], &env);
    let pid = holder.pid();
    wait_until("the holder's refresh request", || bed.refreshes() == 1).await;
    bed.assert_runs_in(pid, 0);
    signal(pid, if kill { "KILL" } else { "STOP" });

    let started = Instant::now();
    let successor = bed.start(1, None, &["token", &url], &env);
    if !kill {
        // Stopped past its 2-second lease, then resumed while the
        // successor still waits for the answer the holder was sent.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        signal(pid, "CONT");
    }
    let (after, took) = successor.finish().await;
    let (first, _) = holder.finish().await;
    eprintln!(
        "holder {} ({}): successor exit {:?} after {} ms, {} refresh request(s), {} revoked",
        if kill { "killed" } else { "stopped" },
        bed.placement(),
        after.code,
        took.as_millis(),
        bed.refreshes(),
        bed.revoked()
    );
    after.success();
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "bounded: {took:?}"
    );
    assert_eq!(bed.revoked(), 0, "no token spent twice");
    if kill {
        assert_eq!(first.code, None, "killed");
        assert!(bed.refreshes() <= 2);
    } else {
        first.success();
        assert_eq!(bed.refreshes(), 1, "the successor used the holder's answer");
        assert_eq!(first.stdout, after.stdout, "one token for both");
    }
    // The stored tokens are the newest: a later process needs no request.
    let before = bed.refreshes();
    bed.start(2, None, &["tools", &url], &env)
        .finish()
        .await
        .0
        .success();
    assert_eq!(bed.refreshes(), before);
}

#[tokio::test]
async fn a_holder_killed_during_its_refresh_is_replaced_in_bounded_time() {
    holder_interrupted(true).await;
}

#[tokio::test]
async fn a_holder_stopped_past_its_lease_neither_rolls_back_nor_burns_the_token() {
    holder_interrupted(false).await;
}

/// With a refresh token that does not rotate, a successor may refresh while
/// a stopped holder's request is still unanswered. The holder is stopped
/// (SIGSTOP) with its request sent, its lease runs out, a process on
/// another host refreshes and saves; then the holder resumes with its
/// answer, older than the successor's: its save is refused (the
/// generation moved), it uses the newer tokens, and they stay stored.
#[tokio::test]
async fn a_resumed_holder_s_save_is_refused_and_the_newer_tokens_stay() {
    let bed = Bed::signed_in(AuthServer::builder().refresh_tokens(RefreshMode::Stable)).await;
    let url = bed.url();
    bed.age_stored_tokens().await;
    let (_, generation) = bed.stored().await;
    bed.auth
        .set_fault(Some(AuthFault::SlowToken(Duration::from_millis(1500))));
    let store = bed.redis.url();
    let env = fleet_env(&store, PREFIX, "false");
    let holder = bed.start(0, None, &["token", &url], &env);
    let pid = holder.pid();
    wait_until("the holder's refresh request", || bed.refreshes() == 1).await;
    signal(pid, "STOP");
    bed.assert_runs_in(pid, 0);
    // The holder's answer will be issued while it is stopped; the
    // successor's comes at once.
    bed.auth.set_fault(None);

    let started = Instant::now();
    let successor = bed.start(1, None, &["token", &url], &env);
    let (after, took) = successor.finish().await;
    after.success();
    let newer = after.stdout.trim().to_owned();
    assert_eq!(bed.refreshes(), 2, "the successor refreshed");
    assert_eq!(bed.stored().await, (newer.clone(), generation + 1));
    signal(pid, "CONT");
    let (first, _) = holder.finish().await;
    eprintln!(
        "resumed holder ({}): successor took {} ms; holder exit {:?}",
        bed.placement(),
        took.as_millis(),
        first.code
    );
    first.success();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded: {took:?}"
    );
    let issued = bed.auth.tokens();
    let (holders, successors) = (&issued[1].access_token, &issued[2].access_token);
    assert_eq!(successors, &newer, "issued last: the successor's");
    assert_ne!(holders, &newer);
    assert_eq!(
        first.stdout.trim(),
        newer,
        "the holder uses the newer tokens"
    );
    assert!(
        first.stderr.contains("a save was refused"),
        "{}",
        first.stderr
    );
    assert_eq!(
        bed.stored().await,
        (newer, generation + 1),
        "no rollback: the holder's save was refused"
    );
    assert_eq!(bed.revoked(), 0);
}
