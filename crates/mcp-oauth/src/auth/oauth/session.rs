//! What OAuth keeps for one server between requests: the storage and its
//! cached credentials, the header of a fresh token, the count of token
//! generations, the brakes; and the tokens between sign-ins: the cached
//! token, refreshed before it expires and after a 401, one refresh at a
//! time in this process and across processes.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex as StdMutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Mutex, MutexGuard};

use super::{
    builder::Settings,
    dpop::{DpopContext, DpopMode},
    grants,
    http::OAuthHttp,
    pause::{RefusalKind, RenewalWatch},
    wire::{DPOP_TOKEN_TYPE, is_bearer_token},
};
use crate::{
    Error, FileTokenStorage, PreparedSave, Result, ServerUrl, StoredCredentials, TokenStorage,
    auth::{Rejection, token_header},
    clock::{now, now_ms},
    store::Tokens,
};

/// How long to wait for another process's refresh (a token request is
/// bounded well below this).
pub(super) const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(60);

/// OAuth's state for one server.
pub(super) struct Binding {
    pub(super) server: ServerUrl,
    /// Whose credentials: `None` for the default account.
    pub(super) account: Option<String>,
    pub(super) storage: Arc<dyn TokenStorage>,
    /// The OAuth requests' client, with this server's DPoP state.
    pub(super) http: OAuthHttp,
    /// The DPoP key in use and the nonces servers gave.
    pub(super) dpop: Arc<DpopContext>,
    pub(super) dpop_mode: DpopMode,
    session: Mutex<Session>,
    /// The header of the fresh token, for requests that need nothing else:
    /// they take it without waiting on `session`. Set and cleared only by
    /// holders of `session` (every lock clears it), so it never outlives the
    /// credentials it was built from.
    ready_header: StdMutex<Option<ReadyHeader>>,
    /// Bumped whenever new tokens are stored, so that callers refused at the
    /// same time run one authorization between them, not one each.
    generation: AtomicU64,
    brakes: Brakes,
    /// Renewals made because of a refusal, and the pause when the server
    /// refuses their tokens too.
    pub(super) renewals: RenewalWatch,
    /// Never send the `resource` parameter (the builder's `no_resource`).
    pub(super) omit_resource: bool,
}

/// The credentials as this process knows them, loaded on first use.
#[derive(Default)]
pub(super) struct Session {
    loaded: bool,
    pub(super) credentials: Option<StoredCredentials>,
}

/// What [`Binding::reread`] found in the store.
pub(super) enum Reread {
    /// Fresh tokens another process stored, now the session's.
    Newer(SecretString),
    /// The stored credentials, now the session's; their access token is
    /// not a fresh one we did not have.
    Adopted,
    /// Nothing: the session keeps what it had.
    Nothing,
}

/// An `Authorization` header and the moment (Unix milliseconds) its token
/// is due for a refresh.
struct ReadyHeader {
    header: HeaderValue,
    fresh_until_ms: u64,
}

impl Binding {
    /// The state for `server` and the account of `settings`, kept where
    /// they say.
    pub(super) fn new(server: ServerUrl, settings: &Settings) -> Result<Self> {
        let account = settings.account.as_deref();
        let storage: Arc<dyn TokenStorage> = match (&settings.storage, &settings.cache_dir) {
            (Some(storage), _) => storage.clone(),
            (None, Some(dir)) => Arc::new(FileTokenStorage::in_dir_for_account(
                server.as_str(),
                account,
                dir,
            )?),
            (None, None) => Arc::new(FileTokenStorage::for_account(server.as_str(), account)?),
        };
        let dpop = Arc::new(DpopContext::default());
        Ok(Self {
            server,
            account: settings.account.clone(),
            storage,
            http: OAuthHttp::new(settings.http.clone()).with_dpop(dpop.clone()),
            dpop,
            dpop_mode: settings.dpop,
            session: Mutex::new(Session::default()),
            ready_header: StdMutex::default(),
            generation: AtomicU64::new(0),
            brakes: Brakes::default(),
            renewals: RenewalWatch::default(),
            omit_resource: settings.omit_resource,
        })
    }

    /// The account whose credentials these are; `None` for the default one.
    pub(super) fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// How many times new tokens were stored (or adopted) so far.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The session, locked and loaded. Whoever holds it may change the
    /// credentials, so the ready header goes: the next request builds it
    /// again.
    pub(super) async fn session(&self) -> Result<MutexGuard<'_, Session>> {
        let mut session = self.session.lock().await;
        self.set_ready_header(None);
        if !session.loaded {
            session.credentials = self.storage.load().await?;
            self.adopt_dpop_key(&mut session.credentials);
            session.loaded = true;
        }
        Ok(session)
    }

    /// Forgets the stored credentials.
    pub(super) async fn forget(&self) -> Result<()> {
        let mut session = self.session.lock().await;
        self.set_ready_header(None);
        self.storage.clear().await?;
        *session = Session {
            loaded: true,
            credentials: None,
        };
        Ok(())
    }

    /// Saves `credentials` as they are now.
    pub(super) async fn save(&self, credentials: &mut StoredCredentials) -> Result<()> {
        prepare_document(credentials);
        self.storage.save(credentials).await
    }

    /// Makes ready the save of what a token request will bring, before the
    /// request: a full disk then stops the request instead of losing its
    /// answer (a spent refresh token, a used authorization code).
    pub(super) async fn prepare_save(
        &self,
        credentials: &StoredCredentials,
    ) -> Result<PreparedSave> {
        self.storage.prepare_save(credentials).await
    }

    /// Saves `credentials` as they are now, with what was `prepared`.
    pub(super) async fn save_prepared(
        &self,
        prepared: PreparedSave,
        credentials: &mut StoredCredentials,
    ) -> Result<()> {
        prepare_document(credentials);
        self.storage.save_prepared(prepared, credentials).await
    }

    /// Stores new tokens, and only once they are stored puts them in
    /// `credentials` for use: a token that could not be saved is never sent
    /// (its rotated refresh token would be lost with the process).
    pub(super) async fn save_tokens(
        &self,
        prepared: PreparedSave,
        credentials: &mut StoredCredentials,
        tokens: Tokens,
    ) -> Result<()> {
        let mut updated = credentials.clone();
        self.bind_key(&mut updated, &tokens)?;
        updated.tokens = Some(tokens);
        self.save_prepared(prepared, &mut updated).await?;
        *credentials = updated;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Re-reads the stored credentials (another process may have refreshed
    /// or logged in while we waited for the lock) and adopts them; returns
    /// their access token when it is fresh and not the one we had.
    pub(super) async fn adopt_newer_tokens(
        &self,
        session: &mut Session,
    ) -> Result<Option<SecretString>> {
        Ok(match self.reread(session).await? {
            Reread::Newer(token) => Some(token),
            Reread::Adopted | Reread::Nothing => None,
        })
    }

    /// Re-reads the stored credentials and adopts them, if there are any.
    pub(super) async fn reread(&self, session: &mut Session) -> Result<Reread> {
        let had = access_token_text(session);
        let Some(stored) = self.storage.load().await? else {
            return Ok(Reread::Nothing);
        };
        let newer = stored
            .tokens
            .as_ref()
            .filter(|tokens| {
                tokens.is_fresh(now_ms())
                    && is_sendable(tokens)
                    && Some(tokens.access_token.expose_secret()) != had.as_deref()
            })
            .map(|tokens| tokens.access_token.clone());
        session.credentials = Some(stored);
        self.adopt_dpop_key(&mut session.credentials);
        Ok(match newer {
            Some(token) => {
                tracing::debug!(server = %self.server, "another process renewed the tokens; using them");
                self.generation.fetch_add(1, Ordering::SeqCst);
                Reread::Newer(token)
            }
            None => Reread::Adopted,
        })
    }

    /// The `Authorization` header for the next request: the access token as
    /// a header, built once per token. While the token is fresh, requests
    /// take the header without waiting on the session.
    pub(super) async fn access_header(&self) -> Result<Option<HeaderValue>> {
        if let Some(header) = self.ready_header(now_ms()) {
            return Ok(Some(header));
        }
        match self.access_token().await? {
            Some(token) => token_header(&token, self.dpop.key().is_some()).map(Some),
            None => Ok(None),
        }
    }

    /// The access token for the next request: from memory or storage, and
    /// refreshed first when it is about to expire, or when it cannot be sent
    /// (see [`is_sendable`]). `None` when there is none (the server's 401
    /// will start the flow). A fresh token's header is kept ready for the
    /// requests that follow.
    pub(super) async fn access_token(&self) -> Result<Option<SecretString>> {
        let mut session = self.session().await?;
        let Some(tokens) = session.credentials.as_ref().and_then(|c| c.tokens.as_ref()) else {
            return Ok(None);
        };
        if tokens.is_fresh(now_ms()) {
            if is_sendable(tokens) {
                let token = tokens.access_token.clone();
                self.keep_ready_header(&session);
                return Ok(Some(token));
            }
            tracing::warn!(
                server = %self.server,
                "the stored access token has characters a bearer token may not contain; \
                 it is never sent: a refresh or a new sign-in replaces it"
            );
        }
        if tokens.refresh_token.is_none() {
            return Ok(None);
        }
        match grants::refresh(self, &mut session).await {
            Ok(token) => {
                self.keep_ready_header(&session);
                Ok(Some(token))
            }
            // Dropped tokens: the server's 401 starts a new authorization.
            Err(error) if grants::refresh_dropped_tokens(&error, &session) => {
                tracing::debug!(%error, "sending without a token");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// After a 401/403: `true` when the request should be sent again because
    /// the token changed meanwhile or a refresh succeeded.
    pub(super) async fn renew_after_rejection(
        &self,
        sent: Option<&HeaderValue>,
        rejection: &Rejection,
    ) -> bool {
        let Ok(mut session) = self.session().await else {
            return false;
        };
        let sent_token = sent
            .and_then(|header| header.to_str().ok())
            .and_then(sent_token);
        let current = access_token_text(&session);
        if current.is_some() && current.as_deref() != sent_token {
            return true;
        }
        let refreshable = session
            .credentials
            .as_ref()
            .and_then(|c| c.tokens.as_ref())
            .is_some_and(|tokens| tokens.refresh_token.is_some());
        if rejection.status != 401 || !refreshable {
            return false;
        }
        match grants::refresh(self, &mut session).await {
            Ok(_) => {
                self.watch_renewal(&session, rejection);
                true
            }
            Err(error) => {
                tracing::debug!(%error, "refresh after a 401 failed");
                false
            }
        }
    }

    /// The session's token was just renewed because of `rejection`: watched
    /// until the server accepts it (see [`RenewalWatch`]).
    pub(super) fn watch_renewal(&self, session: &Session, rejection: &Rejection) {
        let tokens = session.credentials.as_ref().and_then(|c| c.tokens.as_ref());
        if let Some(header) = tokens.and_then(|tokens| header_of(tokens).ok()) {
            self.renewals.renewed(header, RefusalKind::of(rejection));
        }
    }

    /// How long renewals stay paused after `rejection` (see
    /// [`RenewalWatch::pause_for`]); `None` when they may go on, and when
    /// new tokens were stored meanwhile (a person signed in), which ends
    /// the pause: the request is then sent again with them.
    pub(super) async fn paused(
        &self,
        rejection: &Rejection,
        sent: Option<&HeaderValue>,
    ) -> Option<Duration> {
        let pause = self.renewals.pause_for(rejection, sent, Instant::now())?;
        let mut session = self.session().await.ok()?;
        if let Ok(Some(_)) = self.adopt_newer_tokens(&mut session).await {
            self.renewals.reset();
            return None;
        }
        Some(pause)
    }

    /// The ready header, if its token is fresh at `now_ms`.
    pub(super) fn ready_header(&self, now_ms: u64) -> Option<HeaderValue> {
        let ready = self
            .ready_header
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ready
            .as_ref()
            .filter(|ready| now_ms < ready.fresh_until_ms)
            .map(|ready| ready.header.clone())
    }

    /// Keeps the header of the session's token ready while that token is
    /// fresh. Only with the session locked (`session` comes from its guard).
    fn keep_ready_header(&self, session: &Session) {
        let tokens = session.credentials.as_ref().and_then(|c| c.tokens.as_ref());
        let Some(tokens) = tokens.filter(|tokens| tokens.is_fresh(now_ms())) else {
            return;
        };
        if let Ok(header) = header_of(tokens) {
            let fresh_until_ms = tokens.fresh_until_ms();
            self.set_ready_header(Some(ReadyHeader {
                header,
                fresh_until_ms,
            }));
        }
    }

    fn set_ready_header(&self, ready: Option<ReadyHeader>) {
        *self
            .ready_header
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = ready;
    }

    /// Counts a token request, or refuses it past the limit.
    pub(super) fn brake_token_request(&self) -> Result<()> {
        self.brakes.count(&self.server, Brake::TokenRequest)
    }

    /// Counts a sign-in (a browser launch, a device code), or refuses it past
    /// the limit.
    pub(super) fn brake_sign_in(&self) -> Result<()> {
        self.brakes.count(&self.server, Brake::SignIn)
    }
}

/// The `Authorization` header of `tokens`, in the scheme their type says.
fn header_of(tokens: &Tokens) -> Result<HeaderValue> {
    token_header(&tokens.access_token, tokens.token_type == DPOP_TOKEN_TYPE)
}

/// The token of an `Authorization` header this client sent.
pub(crate) fn sent_token(header: &str) -> Option<&str> {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("DPoP "))
}

/// Makes a document ready to be written: its time, its schema version, and
/// no DPoP key without tokens (the key is replaced with the tokens).
fn prepare_document(credentials: &mut StoredCredentials) {
    credentials.updated_at = now();
    if credentials.tokens.is_none() {
        credentials.dpop_key = None;
    }
    credentials.stamp_schema();
}

/// The session's access token, if it can be sent: one that cannot never
/// counts as a token in hand.
fn access_token_text(session: &Session) -> Option<String> {
    session
        .credentials
        .as_ref()
        .and_then(|c| c.tokens.as_ref())
        .filter(|tokens| is_sendable(tokens))
        .map(|tokens| tokens.access_token.expose_secret().to_owned())
}

/// Whether the stored access token can go into an `Authorization` header.
/// Token answers are checked before anything is stored, but a document
/// written by an older version (or by hand) may hold a token with a line
/// break: sent, it would inject a header; handed out, a script would paste
/// it into one. Such a token is treated as expired: refreshed, or else the
/// server's 401 starts a new sign-in.
fn is_sendable(tokens: &Tokens) -> bool {
    is_bearer_token(tokens.access_token.expose_secret())
}

/// What a brake counts.
#[derive(Debug, Clone, Copy)]
enum Brake {
    TokenRequest,
    SignIn,
}

impl Brake {
    const WINDOW: Duration = Duration::from_secs(60);

    fn limit(self) -> usize {
        match self {
            Self::TokenRequest => 20,
            Self::SignIn => 5,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::TokenRequest => "token requests",
            Self::SignIn => "sign-ins",
        }
    }
}

/// Token requests and sign-ins in the last minute, for one server: a brake
/// against loops that would hammer the authorization server or open browser
/// tabs without end.
#[derive(Debug, Default)]
struct Brakes {
    recent: StdMutex<[VecDeque<Instant>; 2]>,
}

impl Brakes {
    fn count(&self, server: &ServerUrl, brake: Brake) -> Result<()> {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let recent = &mut recent[brake as usize];
        let now = Instant::now();
        while recent
            .front()
            .is_some_and(|at| now.duration_since(*at) > Brake::WINDOW)
        {
            recent.pop_front();
        }
        if recent.len() >= brake.limit() {
            return Err(Error::Throttled {
                url: server.to_string(),
                reason: format!("more than {} {} in a minute", brake.limit(), brake.name()),
            });
        }
        recent.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryTokenStorage;

    const SERVER: &str = "http://127.0.0.1:9/mcp";

    async fn signed_in(access_token: &str, received_ms: u64, lifetime: Option<u64>) -> Binding {
        let storage = MemoryTokenStorage::new();
        let mut credentials = StoredCredentials::new(SERVER);
        let token = SecretString::from(access_token.to_owned());
        credentials.tokens = Some(Tokens::new(token, None, None, received_ms, lifetime));
        storage.save(&credentials).await.unwrap();
        let settings = Settings {
            storage: Some(Arc::new(storage)),
            ..Settings::default()
        };
        Binding::new(ServerUrl::parse(SERVER).unwrap(), &settings).unwrap()
    }

    async fn header_text(binding: &Binding) -> Option<String> {
        let header = binding.access_header().await.unwrap()?;
        Some(header.to_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn the_ready_header_goes_with_the_credentials() {
        let binding = signed_in("first", now_ms(), None).await;
        assert_eq!(header_text(&binding).await.as_deref(), Some("Bearer first"));
        // Served again without the session: still the same token.
        assert_eq!(header_text(&binding).await.as_deref(), Some("Bearer first"));
        binding.forget().await.unwrap();
        assert_eq!(header_text(&binding).await, None, "no header after logout");
    }

    #[tokio::test]
    async fn a_token_due_for_refresh_is_not_served_ready() {
        // A 30-second token is due for a refresh 3 s (a tenth) before expiry.
        let received = now_ms();
        let binding = signed_in("short", received, Some(30)).await;
        assert_eq!(header_text(&binding).await.as_deref(), Some("Bearer short"));
        assert!(binding.ready_header(received + 26_999).is_some());
        assert!(binding.ready_header(received + 27_000).is_none());
    }

    #[tokio::test]
    async fn a_stored_token_a_header_cannot_carry_is_never_sent() {
        let binding = signed_in("a\r\nX-Injected: 1", now_ms(), None).await;
        assert_eq!(header_text(&binding).await, None);
        assert!(binding.access_token().await.unwrap().is_none());
    }

    #[test]
    fn brakes_count_each_kind_within_its_limit() {
        let brakes = Brakes::default();
        let server = ServerUrl::parse(SERVER).unwrap();
        for _ in 0..5 {
            brakes.count(&server, Brake::SignIn).unwrap();
        }
        let refused = brakes.count(&server, Brake::SignIn).unwrap_err();
        assert!(
            refused.to_string().contains("more than 5 sign-ins"),
            "{refused}"
        );
        // The other kind has its own count.
        brakes.count(&server, Brake::TokenRequest).unwrap();
    }
}
