//! The example's instances as child processes, and a browser's part
//! (sign in, follow the redirects by hand, present the callback).

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use mcp_oauth_testkit::{AuthServer, AuthServerBuilder, TestServer};
use reqwest::{StatusCode, header};
use serde_json::Value;
use url::Url;

/// Every wait in these tests is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// One running instance of the example; killed by its PID when dropped.
pub(crate) struct Instance {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Instances sharing one public URL (the first's address, as if a load
/// balancer answered there) and one store.
pub(crate) fn fleet(count: usize, store: &[&str], env: &[(&str, &str)]) -> Vec<Instance> {
    let first_port = free_port();
    let public_url = format!("http://127.0.0.1:{first_port}");
    let mut instances = vec![start_on(first_port, &public_url, store, env)];
    while instances.len() < count {
        instances.push(start_on(free_port(), &public_url, store, env));
    }
    instances
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts an instance on `port` and waits for its "listening on" line.
fn start_on(port: u16, public_url: &str, args: &[&str], env: &[(&str, &str)]) -> Instance {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-oauth-web-example"));
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", public_url])
        .args(args)
        .env_remove("MCP_OAUTH_STORE_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command.spawn().expect("the example's binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let instance = Instance {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let line = rx
        .recv_timeout(TIMEOUT)
        .expect("the instance starts in time");
    assert!(
        line.starts_with("listening on http://127.0.0.1:"),
        "the instance did not start: {line:?}"
    );
    instance
}

/// An authorization server from `auth` and an MCP server it protects.
pub(crate) async fn protected(auth: AuthServerBuilder) -> (AuthServer, TestServer) {
    let auth = auth.start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    (auth, server)
}

/// An HTTP client that follows no redirect and keeps no cookie: the tests
/// look at each hop and hand cookies over themselves.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// A signed-in user: the `name=value` of their session cookie.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) cookie: String,
}

/// `GET /login?user=NAME`: 302 home with the session cookie.
pub(crate) async fn login(http: &reqwest::Client, instance: &Instance, name: &str) -> User {
    let answer = http
        .get(format!("{}/login", instance.base))
        .query(&[("user", name)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    let cookie = answer.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    User { cookie }
}

/// `GET <path>` with the user's cookie (or none) and `query`.
pub(crate) async fn get(
    http: &reqwest::Client,
    instance: &Instance,
    user: Option<&User>,
    path: &str,
    query: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = http.get(format!("{}{path}", instance.base)).query(query);
    if let Some(user) = user {
        request = request.header(header::COOKIE, &user.cookie);
    }
    request.send().await.unwrap()
}

/// `GET /connect?server=…`: the authorization URL it redirects to.
pub(crate) async fn begin(
    http: &reqwest::Client,
    instance: &Instance,
    user: &User,
    server: &str,
) -> Url {
    let answer = get(
        http,
        instance,
        Some(user),
        "/connect",
        &[("server", server)],
    )
    .await;
    assert_eq!(
        answer.status(),
        StatusCode::FOUND,
        "{:?}",
        answer.text().await
    );
    Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap()
}

/// The person approving at the authorization server (the testkit approves
/// at once): the query its redirect to the platform's callback carries.
pub(crate) async fn approve(http: &reqwest::Client, authorize: &Url) -> String {
    let answer = http.get(authorize.clone()).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    let location = Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/oauth/callback");
    location.query().unwrap().to_owned()
}

/// The browser arriving at the callback with `query`, on `instance`.
pub(crate) async fn callback(
    http: &reqwest::Client,
    instance: &Instance,
    user: &User,
    query: &str,
) -> reqwest::Response {
    http.get(format!("{}/oauth/callback?{query}", instance.base))
        .header(header::COOKIE, &user.cookie)
        .send()
        .await
        .unwrap()
}

/// Begin on one instance, approve, callback on another: connected.
pub(crate) async fn connect(
    http: &reqwest::Client,
    (begin_on, complete_on): (&Instance, &Instance),
    user: &User,
    server: &str,
) {
    let authorize = begin(http, begin_on, user, server).await;
    let query = approve(http, &authorize).await;
    let answer = callback(http, complete_on, user, &query).await;
    assert_eq!(
        answer.status(),
        StatusCode::FOUND,
        "{:?}",
        answer.text().await
    );
    assert_eq!(answer.headers()[header::LOCATION], "/");
}

/// `GET /tools?server=…`: the status and the JSON body.
pub(crate) async fn tools(
    http: &reqwest::Client,
    instance: &Instance,
    user: &User,
    server: &str,
) -> (StatusCode, Value) {
    let answer = get(http, instance, Some(user), "/tools", &[("server", server)]).await;
    json_of(answer).await
}

/// The status and the JSON body of an answer.
pub(crate) async fn json_of(answer: reqwest::Response) -> (StatusCode, Value) {
    let status = answer.status();
    let text = answer.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, body)
}
