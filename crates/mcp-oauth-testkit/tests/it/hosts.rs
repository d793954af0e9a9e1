//! Hosts as network namespaces ([`NetHosts`]): each reaches the servers on
//! the hub through the relay on its own loopback, from its own address;
//! nothing is left behind, even by a test that panics. Skipped, saying so,
//! where the machine does not allow namespaces (not root, no `ip`).

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
};

use mcp_oauth_testkit::{NetHosts, TestServer};

fn create(count: usize) -> Option<NetHosts> {
    match NetHosts::create(count) {
        Ok(hosts) => Some(hosts),
        Err(why) => {
            eprintln!("skipped, no network namespaces here: {why}");
            None
        }
    }
}

/// What `ip` lists of `names`: namespaces and links still there.
fn still_there(names: &[String]) -> Vec<String> {
    let listed = |args: &[&str]| {
        let output = std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let all = listed(&["netns", "list"]) + &listed(&["-o", "link", "show"]);
    names
        .iter()
        .filter(|name| all.contains(name.as_str()))
        .cloned()
        .collect()
}

fn names(hosts: &NetHosts) -> Vec<String> {
    (0..hosts.len())
        .map(|host| hosts.namespace(host).to_owned())
        .collect()
}

#[tokio::test]
async fn each_host_reaches_the_servers_from_its_own_address() {
    let Some(mut hosts) = create(2) else { return };
    let server = TestServer::builder()
        .bind_address(hosts.hub())
        .start()
        .await
        .unwrap();
    hosts.relay(&[server.addr().port()]).unwrap();
    for host in 0..hosts.len() {
        let mut curl = tokio::process::Command::from(hosts.command(host, "curl"));
        curl.args([
            "-s",
            "--noproxy",
            "*",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
        ])
        .arg(server.url())
        .kill_on_drop(true);
        let status = tokio::time::timeout(crate::STEP, curl.status())
            .await
            .expect("curl ends in time")
            .expect("curl runs (apt-get install -y curl)");
        assert!(status.success(), "host {host} reached the server");
    }
    let peers: Vec<IpAddr> = server
        .requests()
        .iter()
        .map(|request| request.peer.unwrap().ip())
        .collect();
    assert_eq!(peers, [hosts.ip(0), hosts.ip(1)]);

    let made = names(&hosts);
    assert_eq!(still_there(&made).len(), made.len());
    drop(hosts);
    assert_eq!(still_there(&made), Vec::<String>::new());
}

#[test]
fn a_test_that_panics_leaves_no_namespace_behind() {
    let made = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&made);
    let outcome = std::panic::catch_unwind(move || {
        let Some(hosts) = create(3) else { return };
        *seen.lock().unwrap() = names(&hosts);
        panic!("a failing test");
    });
    let made = made.lock().unwrap().clone();
    if made.is_empty() {
        return;
    }
    assert!(outcome.is_err());
    assert_eq!(still_there(&made), Vec::<String>::new());
}
