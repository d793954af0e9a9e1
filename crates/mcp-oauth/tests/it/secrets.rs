//! No secret ever reaches a log: every path of the library runs with all
//! logging on (ours, rmcp's, the HTTP stack's, at TRACE), and the captured
//! output is searched for every secret the authorization server handed out
//! or received.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use mcp_oauth::{Auth, Bridge, Client, MemoryTokenStorage, OAuth};
use mcp_oauth_testkit::{AuthServer, PreRegistered, TestServer};
use serde_json::json;

use crate::support::{TIMEOUT, connect, oauth, protected, with_expired_tokens};

/// Everything logged while the test runs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every secret `auth` issued or was sent: tokens, codes, verifiers,
/// device codes, client secrets; named by kind, for failure messages that
/// never show the secret itself.
fn secrets_of(auth: &AuthServer) -> Vec<(&'static str, String)> {
    let mut secrets: Vec<(&'static str, String)> = auth
        .tokens()
        .into_iter()
        .map(|token| ("access token", token.access_token))
        .collect();
    for request in auth.requests() {
        for kind in [
            "code",
            "code_verifier",
            "refresh_token",
            "device_code",
            "client_secret",
            "client_assertion",
        ] {
            if let Some(value) = request.param(kind) {
                secrets.push((kind, value.to_owned()));
            }
        }
    }
    secrets.retain(|(_, secret)| secret.len() >= 8);
    secrets
}

fn assert_absent(log: &str, secrets: &[(&'static str, String)]) {
    assert!(!log.is_empty(), "nothing was captured");
    for (kind, secret) in secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret ({kind}) reached the log"
        );
    }
}

/// Runs `paths` with every log on, captured (one thread: the spawned tasks
/// of the servers and the client log into the capture too).
#[test]
fn secrets_never_reach_the_logs_on_any_path() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secrets = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let mut secrets = code_flow_and_refresh().await;
            secrets.extend(device_grant().await);
            secrets.extend(client_credentials().await);
            secrets.extend(refused_refresh().await);
            secrets.extend(bridge().await);
            secrets
        })
    });
    assert!(secrets.len() > 10, "the paths handed out secrets");
    let log = captured.text();
    assert!(log.contains("TRACE"), "logging was at its most verbose");
    assert_absent(&log, &secrets);
}

async fn code_flow_and_refresh() -> Vec<(&'static str, String)> {
    let (auth, server, cache) = with_expired_tokens().await;
    let client = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap();
    client.ping().await.unwrap();
    client.close().await;
    let secrets = secrets_of(&auth);
    assert!(
        secrets.iter().any(|(kind, _)| *kind == "refresh_token"),
        "a refresh ran"
    );
    stop(auth, server).await;
    secrets
}

async fn device_grant() -> Vec<(&'static str, String)> {
    let (auth, server) =
        protected(AuthServer::builder().device_authorization(Duration::from_secs(1))).await;
    let oauth = OAuth::builder(server.url())
        .device_authorization()
        .token_storage(MemoryTokenStorage::new())
        .timeout(TIMEOUT)
        .on_notice(|_| {})
        .build()
        .unwrap();
    let client = Client::builder(server.url())
        .auth(Auth::from(oauth))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    client.close().await;
    let secrets = secrets_of(&auth);
    assert!(secrets.iter().any(|(kind, _)| *kind == "device_code"));
    stop(auth, server).await;
    secrets
}

async fn client_credentials() -> Vec<(&'static str, String)> {
    let secret = "machine-client-secret-0123456789";
    let (auth, server) = protected(
        AuthServer::builder().pre_registered(PreRegistered::confidential("machine", secret)),
    )
    .await;
    let client = connect(
        &server,
        oauth(&server)
            .token_storage(MemoryTokenStorage::new())
            .client_id("machine")
            .client_secret(secret)
            .client_credentials(),
    )
    .await
    .unwrap();
    client.close().await;
    let mut secrets = secrets_of(&auth);
    secrets.push(("client secret", secret.to_owned()));
    stop(auth, server).await;
    secrets
}

/// A refresh token the server revoked: refused, then a new sign-in.
async fn refused_refresh() -> Vec<(&'static str, String)> {
    let (auth, server, cache) = with_expired_tokens().await;
    auth.revoke_refresh_tokens();
    let client = connect(
        &server,
        oauth(&server).token_storage_cache_dir(cache.path()),
    )
    .await
    .unwrap();
    client.close().await;
    let secrets = secrets_of(&auth);
    stop(auth, server).await;
    secrets
}

/// The stdio bridge signs in and forwards a host's messages.
async fn bridge() -> Vec<(&'static str, String)> {
    let (auth, server) = protected(AuthServer::builder()).await;
    let oauth = oauth(&server)
        .token_storage(MemoryTokenStorage::new())
        .build()
        .unwrap();
    let host = format!(
        "{}\n",
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": { "name": "host", "version": "1" } } })
    );
    let mut output = Vec::new();
    tokio::time::timeout(
        TIMEOUT,
        Bridge::new(server.url(), Auth::from(oauth)).run(host.as_bytes(), &mut output),
    )
    .await
    .expect("the bridge ends with its input")
    .unwrap();
    assert!(String::from_utf8_lossy(&output).contains("\"id\":1"));
    let secrets = secrets_of(&auth);
    stop(auth, server).await;
    secrets
}

async fn stop(auth: AuthServer, server: TestServer) {
    auth.stop().await;
    server.stop().await;
}
