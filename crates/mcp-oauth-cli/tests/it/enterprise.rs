//! Enterprise networks: a private CA (`--ca-cert`, `MCP_OAUTH_CA_BUNDLE`),
//! a forward proxy (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`) for MCP and
//! OAuth requests alike, and headers of the user's own (`--header`).

use std::net::{IpAddr, Ipv4Addr};

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, ForwardProxy, TestCa, TestServer};

use crate::support::{mcp_oauth_with_env, tempdir};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// An https MCP server and an https authorization server whose
/// certificates `ca` signed, named `host` (and reached where they listen).
async fn https_servers(ca: &TestCa, host: Option<&str>) -> (AuthServer, TestServer) {
    let mut auth = AuthServer::builder()
        .tls(ca)
        .workload_identity(true)
        .dynamic_registration(false);
    let mut server = TestServer::builder().tls(ca);
    if let Some(host) = host {
        auth = auth.host(&format!("auth.{host}"));
        server = server.host(&format!("mcp.{host}"));
    }
    let auth = auth.start().await.unwrap();
    let server = server.protected_by(&auth).start().await.unwrap();
    (auth, server)
}

/// `tools URL` signing in as a workload, with `extra` arguments.
async fn tools(
    url: &str,
    auth: &AuthServer,
    extra: &[&str],
    env: &[(&str, &str)],
) -> crate::support::Run {
    let dir = tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut args = vec!["tools", url, "--timeout", "20", "--grant", "jwt-bearer"];
    args.extend([
        "--assertion-env",
        "WORKLOAD_JWT",
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    args.extend(extra);
    let assertion = auth.workload_assertion("job");
    let mut env = env.to_vec();
    env.push(("WORKLOAD_JWT", &assertion));
    mcp_oauth_with_env(&args, &env).await
}

#[tokio::test]
async fn a_private_ca_is_trusted_with_ca_cert_for_mcp_and_oauth_alike() {
    let ca = TestCa::new(&["127.0.0.1"]).unwrap();
    let (auth, server) = https_servers(&ca, None).await;
    let ca_file = ca.ca_file();
    let ca_file = ca_file.to_str().unwrap();

    let untrusted = tools(&server.url(), &auth, &[], &[]).await;
    untrusted.exit(3);
    assert!(
        untrusted.stderr.contains("127.0.0.1"),
        "{}",
        untrusted.stderr
    );
    assert!(
        untrusted.stderr.contains("certificate"),
        "{}",
        untrusted.stderr
    );
    assert!(
        untrusted.stderr.contains("--ca-cert"),
        "what to do: {}",
        untrusted.stderr
    );

    let trusted = tools(&server.url(), &auth, &["--ca-cert", ca_file], &[]).await;
    assert!(trusted.success().stdout.contains("echo"));
    let from_env = tools(
        &server.url(),
        &auth,
        &[],
        &[("MCP_OAUTH_CA_BUNDLE", ca_file)],
    )
    .await;
    from_env.success();
    let tokens = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token);
    assert_eq!(
        tokens.count(),
        2,
        "the authorization server was reached over TLS too"
    );

    let not_pem = tools(&server.url(), &auth, &["--ca-cert", "/etc/hostname"], &[]).await;
    assert!(
        not_pem.exit(2).stderr.contains("no certificate"),
        "{}",
        not_pem.stderr
    );
}

#[tokio::test]
async fn https_proxy_carries_the_mcp_and_the_oauth_requests() {
    let ca = TestCa::new(&["mcp.corp.test", "auth.corp.test"]).unwrap();
    let (auth, server) = https_servers(&ca, Some("corp.test")).await;
    let proxy = ForwardProxy::start(&[("mcp.corp.test", LOOPBACK), ("auth.corp.test", LOOPBACK)])
        .await
        .unwrap();
    let ca_file = ca.ca_file();
    let run = tools(
        &server.url(),
        &auth,
        &["--ca-cert", ca_file.to_str().unwrap()],
        &[("HTTPS_PROXY", &proxy.url())],
    )
    .await;
    assert!(run.success().stdout.contains("echo"), "{run:?}");
    let carried = proxy.carried();
    let (mcp_port, auth_port) = (server.addr().port(), auth.addr().port());
    assert!(
        carried.contains(&format!("CONNECT mcp.corp.test:{mcp_port} HTTP/1.1")),
        "{carried:?}"
    );
    assert!(
        carried.contains(&format!("CONNECT auth.corp.test:{auth_port} HTTP/1.1")),
        "{carried:?}"
    );
}

#[tokio::test]
async fn plain_http_goes_through_the_proxy_with_the_users_headers() {
    let server = TestServer::builder()
        .host("mcp.corp.test")
        .bearer("t0k")
        .start()
        .await
        .unwrap();
    let proxy = ForwardProxy::start(&[("mcp.corp.test", LOOPBACK)])
        .await
        .unwrap();
    let env = [("HTTP_PROXY", proxy.url()), ("TENANT", "acme".to_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = server.url();
    let args = [
        "tools",
        &url,
        "--bearer",
        "t0k",
        "--header",
        "X-Tenant: ${TENANT}",
        "-vv",
    ];
    let run = mcp_oauth_with_env(&args, &env).await;
    run.success();
    let carried = proxy.carried();
    assert!(
        carried
            .iter()
            .any(|line| line.starts_with(&format!("POST {url} "))),
        "{carried:?}"
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.header("x-tenant") == Some("acme")),
        "{requests:#?}"
    );
    assert!(
        !run.stderr.contains("acme"),
        "a header's value is never logged"
    );

    let unset = mcp_oauth_with_env(
        &["tools", &url, "--header", "X-Key: ${MCP_OAUTH_UNSET_KEY}"],
        &env,
    )
    .await;
    assert!(
        unset.exit(2).stderr.contains("MCP_OAUTH_UNSET_KEY"),
        "{}",
        unset.stderr
    );
    let managed = mcp_oauth_with_env(&["tools", &url, "--header", "Host: x"], &env).await;
    assert!(
        managed.exit(2).stderr.contains("Host"),
        "{}",
        managed.stderr
    );
}

/// NO_PROXY: servers on an address of this machine that is not loopback
/// (the root side of a network namespace's link), reached directly when
/// NO_PROXY names it, through the proxy otherwise. Needs root.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn no_proxy_sends_the_named_hosts_direct() {
    let hosts = match mcp_oauth_testkit::NetHosts::create(1) {
        Ok(hosts) => hosts,
        Err(error) => {
            eprintln!("skipped: {error}");
            return;
        }
    };
    let hub = hosts.hub();
    let ca = TestCa::new(&[&hub.to_string()]).unwrap();
    let auth = AuthServer::builder()
        .tls(&ca)
        .bind_address(hub)
        .host(&hub.to_string())
        .workload_identity(true)
        .dynamic_registration(false)
        .start()
        .await
        .unwrap();
    let server = TestServer::builder()
        .tls(&ca)
        .bind_address(hub)
        .host(&hub.to_string())
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    let proxy = ForwardProxy::start(&[(&hub.to_string(), hub)])
        .await
        .unwrap();
    let ca_file = ca.ca_file();
    let trust = ["--ca-cert", ca_file.to_str().unwrap()];
    let hub_text = hub.to_string();
    let direct = tools(
        &server.url(),
        &auth,
        &trust,
        &[("HTTPS_PROXY", &proxy.url()), ("NO_PROXY", &hub_text)],
    )
    .await;
    direct.success();
    assert_eq!(
        proxy.carried(),
        Vec::<String>::new(),
        "NO_PROXY names the host"
    );
    let proxied = tools(
        &server.url(),
        &auth,
        &trust,
        &[("HTTPS_PROXY", &proxy.url())],
    )
    .await;
    proxied.success();
    assert!(
        proxy
            .carried()
            .iter()
            .any(|l| l.starts_with(&format!("CONNECT {hub}:")))
    );
}
