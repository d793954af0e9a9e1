//! A real `redis-server` per test (a free loopback port, a password, no
//! persistence unless asked, stopped by its PID), a TCP proxy that delays
//! what it forwards, and the servers and clients the tests share.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use mcp_oauth::{Client, OAuth, OAuthBuilder, StoredCredentials, TokenStorage, UserAgent};
use mcp_oauth_redis::{RedisStore, RedisStoreBuilder, StoreKeys};
use mcp_oauth_testkit::{AuthServer, AuthServerBuilder, RedisServer, TestServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Every wait in these tests is bounded by this.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub(crate) const KEY_B: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

/// The test's own `redis-server`.
pub(crate) struct Redis(pub(crate) RedisServer);

impl Redis {
    pub(crate) fn start() -> Self {
        Self(RedisServer::start().expect("redis-server starts (apt-get install -y redis-server)"))
    }

    pub(crate) fn start_persistent() -> Self {
        Self(RedisServer::start_on(Ipv4Addr::LOCALHOST.into(), true).expect("redis-server starts"))
    }

    pub(crate) fn url(&self) -> String {
        self.0.url()
    }

    pub(crate) fn url_via(&self, port: u16) -> String {
        self.0.url_via(Ipv4Addr::LOCALHOST.into(), port)
    }

    pub(crate) fn port(&self) -> u16 {
        self.0.port()
    }

    pub(crate) fn stop(&mut self) {
        self.0.stop();
    }

    pub(crate) fn restart(&mut self) {
        self.0.restart().expect("redis-server starts again");
    }

    pub(crate) fn freeze(&self) {
        self.0.freeze();
    }

    pub(crate) fn thaw(&self) {
        self.0.thaw();
    }

    /// A raw connection, for looking at what is stored.
    pub(crate) fn raw(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap()
    }
}

/// A store builder for `redis`, sealing with key A, with short leases.
pub(crate) fn store_builder(url: &str) -> RedisStoreBuilder {
    RedisStore::builder(url)
        .keys(StoreKeys::parse(KEY_A).unwrap())
        .lease(Duration::from_secs(3))
        .token_request_budget(Duration::from_secs(3))
}

pub(crate) async fn store(redis: &Redis) -> RedisStore {
    store_builder(&redis.url()).connect().await.unwrap()
}

/// A TCP proxy in front of `target` that holds every chunk `delay` before
/// forwarding it, both ways: a slow link (this kernel has no `tc netem`).
pub(crate) async fn delaying_proxy(target: u16, delay: Duration) -> u16 {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) =
                tokio::net::TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, target)))
                    .await
            else {
                continue;
            };
            let (client_read, client_write) = client.into_split();
            let (upstream_read, upstream_write) = upstream.into_split();
            tokio::spawn(forward(client_read, upstream_write, delay));
            tokio::spawn(forward(upstream_read, client_write, delay));
        }
    });
    port
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        tokio::time::sleep(delay).await;
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// An authorization server with rotating refresh tokens, and an MCP server
/// it protects.
pub(crate) async fn protected(auth: AuthServerBuilder) -> (AuthServer, TestServer) {
    let auth = auth.start().await.unwrap();
    let server = TestServer::builder()
        .protected_by(&auth)
        .start()
        .await
        .unwrap();
    (auth, server)
}

/// A browser that follows the authorization redirect into the callback, as
/// a person approving at once would.
pub(crate) fn scripted_browser() -> UserAgent {
    UserAgent::custom(|url| async move {
        let browser = reqwest::Client::builder()
            .no_proxy()
            .timeout(TIMEOUT)
            .build()
            .unwrap();
        let _ = browser.get(url).send().await;
        Ok(())
    })
}

/// OAuth for `server` with its tokens in `store`.
pub(crate) fn oauth(server: &TestServer, store: &RedisStore) -> OAuthBuilder {
    OAuth::builder(server.url())
        .token_storage(store.storage(&server.url()).unwrap())
        .user_agent(scripted_browser())
        .timeout(TIMEOUT)
        .on_notice(|_| {})
}

/// Makes the stored access token look expired to every client, as if its
/// lifetime had passed.
/// A client of `server` whose credentials `store` keeps, connected (and
/// signed in by the scripted browser when the store holds nothing yet).
pub(crate) async fn connect(server: &TestServer, store: &RedisStore) -> Client {
    Client::builder(server.url())
        .auth(mcp_oauth::Auth::from(oauth(server, store).build().unwrap()))
        .timeout(TIMEOUT)
        .connect()
        .await
        .unwrap()
}

/// Signs in to `server` once: afterwards `store` holds its credentials.
pub(crate) async fn sign_in(server: &TestServer, store: &RedisStore) {
    connect(server, store).await.close().await;
}

pub(crate) async fn age_stored_tokens(storage: &dyn TokenStorage) {
    let stored = storage.load().await.unwrap().expect("signed in");
    let mut document = serde_json::to_value(&stored).unwrap();
    let tokens = &mut document["tokens"];
    tokens["expires_at"] = 1.into();
    tokens["expires_at_ms"] = 1000.into();
    tokens["received_at"] = 0.into();
    tokens["received_at_ms"] = 0.into();
    let aged: StoredCredentials = serde_json::from_value(document).unwrap();
    storage.save(&aged).await.unwrap();
}

/// The refresh requests the authorization server answered.
pub(crate) fn refresh_requests(auth: &AuthServer) -> usize {
    auth.requests()
        .iter()
        .filter(|request| request.param("grant_type") == Some("refresh_token"))
        .count()
}

pub(crate) fn invalid_grants(auth: &AuthServer) -> usize {
    auth.tokens().iter().filter(|token| token.revoked).count()
}
