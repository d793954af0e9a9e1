//! Identity providers as they are: a fixed redirect path (`--callback-path`),
//! a server that refuses the `resource` parameter (`--no-resource`).

use mcp_oauth_testkit::{AuthRequestKind, AuthServer, PreRegistered, ResourceRefusal};

use crate::support::{mcp_oauth_with_env, protected, scripted_browser, tempdir};

#[tokio::test]
async fn a_client_registered_with_a_fixed_redirect_path_signs_in_with_callback_path() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redirect = format!("http://127.0.0.1:{port}/oauth/callback");
    let client = PreRegistered::public("fixed-path").redirect_uris(&[&redirect]);
    let (auth, server) = protected(AuthServer::builder().pre_registered(client)).await;
    let dir = tempdir().unwrap();
    let (cache, port) = (dir.path().join("cache"), port.to_string());
    let url = server.url();
    let args = [
        "login",
        &url,
        "--client-id",
        "fixed-path",
        "--callback-port",
        &port,
        "--callback-path",
        "/oauth/callback",
        "--login-timeout",
        "15",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    let browser = scripted_browser(dir.path());
    mcp_oauth_with_env(&args, &[("BROWSER", &browser)])
        .await
        .success();
    let requests = auth.requests();
    let authorize = requests
        .iter()
        .find(|r| r.kind == AuthRequestKind::Authorize)
        .unwrap();
    assert_eq!(authorize.param("redirect_uri"), Some(redirect.as_str()));

    let bad = mcp_oauth_with_env(&["login", &url, "--callback-path", "oauth"], &[]).await;
    assert!(
        bad.exit(2).stderr.contains("callback path"),
        "{}",
        bad.stderr
    );
}

#[tokio::test]
async fn no_resource_leaves_the_parameter_out_of_every_request() {
    let builder = AuthServer::builder().refuse_resource(ResourceRefusal::AtAuthorizeAndToken);
    let (auth, server) = protected(builder).await;
    let dir = tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let args = [
        "login",
        &url,
        "--no-resource",
        "--login-timeout",
        "15",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    let browser = scripted_browser(dir.path());
    let run = mcp_oauth_with_env(&args, &[("BROWSER", &browser)]).await;
    run.success();
    assert!(
        !run.stderr.contains("refuses the resource"),
        "{}",
        run.stderr
    );
    let requests = auth.requests();
    assert!(
        requests.iter().all(|r| r.param("resource").is_none()),
        "{requests:#?}"
    );
    let authorizations = requests
        .iter()
        .filter(|r| r.kind == AuthRequestKind::Authorize);
    assert_eq!(authorizations.count(), 1);
}

#[tokio::test]
async fn a_refused_resource_is_noticed_and_the_person_told() {
    let builder = AuthServer::builder().refuse_resource(ResourceRefusal::AtToken);
    let (auth, server) = protected(builder).await;
    let dir = tempdir().unwrap();
    let cache = dir.path().join("cache");
    let url = server.url();
    let args = [
        "login",
        &url,
        "--login-timeout",
        "15",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    let browser = scripted_browser(dir.path());
    let run = mcp_oauth_with_env(&args, &[("BROWSER", &browser)]).await;
    run.success();
    assert!(
        run.stderr.contains("refuses the resource parameter"),
        "{}",
        run.stderr
    );
    let tokens = auth
        .requests()
        .into_iter()
        .filter(|r| r.kind == AuthRequestKind::Token);
    assert_eq!(tokens.count(), 2);
}
