//! The authorization server's state: configuration, clients, codes and tokens.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::watch;
use url::Url;

use super::{AuthConfig, AuthFault, AuthRequest, IssuedToken, RegisteredClient};
use crate::log::RequestLog;
use crate::server::lock;

/// Which redirect URIs a client may use.
#[derive(Debug, Clone)]
pub(crate) enum Redirects {
    /// Exactly one of these.
    Exact(Vec<String>),
    /// Any `http` loopback URI, any port (pre-registered without a list).
    AnyLoopback,
    /// Any loopback or https URI (a Client ID Metadata Document we do not fetch).
    AnyLoopbackOrHttps,
}

/// A client the server knows.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) method: String,
    pub(crate) redirects: Redirects,
    pub(crate) name: Option<String>,
    /// What the client submitted at registration (`Null` for the others).
    pub(crate) metadata: Value,
}

impl Client {
    pub(crate) fn allows_redirect(&self, uri: &str) -> bool {
        match &self.redirects {
            Redirects::Exact(uris) => uris.iter().any(|u| u == uri),
            Redirects::AnyLoopback => is_loopback_uri(uri),
            Redirects::AnyLoopbackOrHttps => valid_redirect_uri(uri),
        }
    }

    /// The redirect URI to use when the request names none (only one registered).
    pub(crate) fn sole_redirect(&self) -> Option<&str> {
        match &self.redirects {
            Redirects::Exact(uris) if uris.len() == 1 => Some(&uris[0]),
            _ => None,
        }
    }

    pub(crate) fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.client_id)
    }
}

/// An authorization request waiting for login or consent (Interactive), or
/// being approved (AutoApprove).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_given: bool,
    pub(crate) challenge: String,
    pub(crate) resource: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) state: Option<String>,
    pub(crate) logged_in: bool,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub(crate) grant: Pending,
    pub(crate) expires_at: Instant,
    pub(crate) used: bool,
    /// Tokens from this code share it, so a replayed code revokes them.
    pub(crate) family: u64,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub(crate) token: String,
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource: Option<String>,
    pub(crate) grant_type: &'static str,
    pub(crate) expires_at: Instant,
    pub(crate) revoked: bool,
    pub(crate) family: Option<u64>,
    /// The DPoP key it is bound to.
    pub(crate) jkt: Option<String>,
}

/// An issued refresh token.
#[derive(Debug, Clone)]
pub(crate) struct Refresh {
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) resource: Option<String>,
    pub(crate) family: u64,
    /// Rotated away: presenting it again revokes the family.
    pub(crate) rotated: bool,
    /// The DPoP key it is bound to (a public client's, RFC 9449 §5).
    pub(crate) jkt: Option<String>,
}

/// The mutable part of the server.
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Dynamically registered clients, in registration order.
    pub(crate) clients: Vec<Client>,
    /// Pre-registered clients are unknown too (as after a misconfiguration).
    pub(crate) pre_registered_forgotten: bool,
    pub(crate) pending: HashMap<String, Pending>,
    /// Login sessions (Interactive), by cookie value.
    pub(crate) sessions: HashSet<String>,
    pub(crate) codes: HashMap<String, Code>,
    /// In issue order.
    pub(crate) access: Vec<Access>,
    pub(crate) refresh: HashMap<String, Refresh>,
    /// Device authorization requests, by device code.
    pub(crate) devices: HashMap<String, super::device::DeviceGrant>,
    pub(crate) next_family: u64,
}

impl Store {
    pub(crate) fn new_family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    /// Revokes every access and refresh token of a family.
    pub(crate) fn revoke_family(&mut self, family: u64) {
        for token in &mut self.access {
            if token.family == Some(family) {
                token.revoked = true;
            }
        }
        self.refresh.retain(|_, r| r.family != family);
    }
}

/// What the MCP server learns about a presented access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid {
        scopes: Vec<String>,
        resource: Option<String>,
        jkt: Option<String>,
    },
    Unknown,
    Expired,
    Revoked,
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AuthState {
    pub(crate) cfg: AuthConfig,
    pub(crate) addr: SocketAddr,
    pub(crate) log: RequestLog<AuthRequest>,
    pub(crate) store: Mutex<Store>,
    pub(crate) faults: Mutex<Vec<AuthFault>>,
    shutdown: watch::Receiver<bool>,
    counter: AtomicU64,
    random: RandomState,
    /// Every DPoP proof `jti` the token endpoint accepted.
    pub(crate) dpop_jtis: Mutex<HashSet<String>>,
}

impl AuthState {
    pub(crate) fn new(
        cfg: AuthConfig,
        faults: Vec<AuthFault>,
        addr: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            cfg,
            addr,
            log: RequestLog::default(),
            store: Mutex::default(),
            faults: Mutex::new(faults),
            shutdown,
            counter: AtomicU64::new(0),
            random: RandomState::new(),
            dpop_jtis: Mutex::default(),
        }
    }

    pub(crate) fn base_url(&self) -> String {
        self.cfg.public.origin(self.addr)
    }

    /// Origin plus issuer path, without a trailing slash: the endpoints' prefix.
    pub(crate) fn endpoint_base(&self) -> String {
        format!("{}{}", self.base_url(), self.cfg.issuer_path)
    }

    pub(crate) fn issuer(&self) -> String {
        let mut issuer = self.endpoint_base();
        if self.cfg.trailing_slash {
            issuer.push('/');
        }
        issuer
    }

    /// An unguessable, unique id (the hasher is randomly keyed per server).
    pub(crate) fn new_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let a = self.random.hash_one((n, 0u8));
        let b = self.random.hash_one((n, 1u8));
        format!("{a:016x}{b:016x}")
    }

    pub(crate) fn has_fault(&self, fault: AuthFault) -> bool {
        lock(&self.faults).contains(&fault)
    }

    pub(crate) fn faults(&self) -> Vec<AuthFault> {
        lock(&self.faults).clone()
    }

    /// Completes when the server is stopping (or its handle was dropped).
    pub(crate) fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.clone();
        async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
        }
    }

    /// A registered, pre-registered or (CIMD) URL-named client.
    pub(crate) fn client(&self, client_id: &str) -> Option<Client> {
        let store = lock(&self.store);
        if let Some(client) = store.clients.iter().find(|c| c.client_id == client_id) {
            return Some(client.clone());
        }
        let pre_registered_forgotten = store.pre_registered_forgotten;
        drop(store);
        if let Some(pre) = self
            .cfg
            .pre_registered
            .iter()
            .filter(|_| !pre_registered_forgotten)
            .find(|c| c.client_id == client_id)
        {
            return Some(Client {
                client_id: pre.client_id.clone(),
                secret: pre.secret.clone(),
                method: pre.auth_method.clone(),
                redirects: if pre.redirect_uris.is_empty() {
                    Redirects::AnyLoopback
                } else {
                    Redirects::Exact(pre.redirect_uris.clone())
                },
                name: pre.name.clone(),
                metadata: Value::Null,
            });
        }
        if self.cfg.cimd && is_cimd_url(client_id) {
            return Some(Client {
                client_id: client_id.to_owned(),
                secret: None,
                method: "none".to_owned(),
                redirects: Redirects::AnyLoopbackOrHttps,
                name: None,
                metadata: Value::Null,
            });
        }
        None
    }

    pub(crate) fn registered_clients(&self) -> Vec<RegisteredClient> {
        let store = lock(&self.store);
        store
            .clients
            .iter()
            .map(|c| RegisteredClient {
                client_id: c.client_id.clone(),
                client_secret: c.secret.clone(),
                token_endpoint_auth_method: c.method.clone(),
                redirect_uris: match &c.redirects {
                    Redirects::Exact(uris) => uris.clone(),
                    _ => Vec::new(),
                },
                client_name: c.name.clone(),
                metadata: c.metadata.clone(),
            })
            .collect()
    }

    pub(crate) fn tokens(&self) -> Vec<IssuedToken> {
        let now = Instant::now();
        let store = lock(&self.store);
        store
            .access
            .iter()
            .map(|t| IssuedToken {
                access_token: t.token.clone(),
                client_id: t.client_id.clone(),
                scopes: t.scopes.clone(),
                resource: t.resource.clone(),
                grant_type: t.grant_type.to_owned(),
                revoked: t.revoked,
                expired: t.expires_at <= now,
                jkt: t.jkt.clone(),
            })
            .collect()
    }

    /// Looks up a presented access token.
    pub(crate) fn check_access_token(&self, token: &str) -> TokenCheck {
        let store = lock(&self.store);
        match store.access.iter().find(|t| t.token == token) {
            None => TokenCheck::Unknown,
            Some(t) if t.revoked => TokenCheck::Revoked,
            Some(t) if t.expires_at <= Instant::now() => TokenCheck::Expired,
            Some(t) => TokenCheck::Valid {
                scopes: t.scopes.clone(),
                resource: t.resource.clone(),
                jkt: t.jkt.clone(),
            },
        }
    }
}

/// `http` on 127.0.0.1, localhost or [::1], any port.
pub(crate) fn is_loopback_uri(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|url| {
        url.scheme() == "http"
            && url.fragment().is_none()
            && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    })
}

/// What registration accepts: a loopback `http` URI or any `https` URI, no fragment.
pub(crate) fn valid_redirect_uri(uri: &str) -> bool {
    is_loopback_uri(uri)
        || Url::parse(uri).is_ok_and(|url| {
            url.scheme() == "https" && url.host_str().is_some() && url.fragment().is_none()
        })
}

/// A Client ID Metadata Document URL: https with a path.
fn is_cimd_url(client_id: &str) -> bool {
    Url::parse(client_id)
        .is_ok_and(|url| url.scheme() == "https" && url.host_str().is_some() && url.path() != "/")
}

/// An absolute URI without a fragment (RFC 8707 `resource`).
pub(crate) fn valid_resource(resource: &str) -> bool {
    Url::parse(resource).is_ok_and(|url| url.fragment().is_none())
}
