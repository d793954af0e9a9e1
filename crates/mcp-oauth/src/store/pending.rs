//! Where the two-phase web flow keeps a sign-in between its two halves:
//! the [`PendingStore`] trait and what it keeps, a [`PendingAttempt`].
//!
//! `begin` and `complete` may run on different instances of a platform, so
//! the attempt (PKCE verifier, issuer, redirect URI, …) cannot stay in the
//! memory of the one that began it. A store keeps it under a hash of its
//! `state`, hands it out once, and only to the session that began it.

use std::fmt;

use futures::future::BoxFuture;

use crate::Result;

/// One sign-in begun and not yet completed, as a [`PendingStore`] keeps it.
///
/// The store sees no `state` and no session id: [`id`](Self::id) and
/// [`binding`](Self::binding) are hashes of them. The
/// [`document`](Self::document) holds the PKCE verifier: a store that
/// encrypts what it keeps encrypts it too.
///
/// ```
/// use mcp_oauth::PendingAttempt;
/// let attempt = PendingAttempt::from_parts("…id…".into(), "…binding…".into(), 1_900_000_000_000, b"{}".to_vec());
/// assert_eq!(attempt.expires_at_ms(), 1_900_000_000_000);
/// assert!(!format!("{attempt:?}").contains("document"));
/// ```
#[derive(Clone)]
pub struct PendingAttempt {
    pub(crate) id: String,
    pub(crate) binding: String,
    pub(crate) expires_at_ms: u64,
    pub(crate) document: Vec<u8>,
}

impl PendingAttempt {
    /// The key to keep it under: the unpadded base64url SHA-256 of its
    /// `state` (43 characters).
    ///
    /// ```
    /// let attempt = mcp_oauth::PendingAttempt::from_parts("abc".into(), "def".into(), 0, Vec::new());
    /// assert_eq!(attempt.id(), "abc");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whom it belongs to: a hash of the account and the session that
    /// began it, in hex. [`PendingStore::take`] hands the attempt only to
    /// the same binding.
    ///
    /// ```
    /// let attempt = mcp_oauth::PendingAttempt::from_parts("abc".into(), "def".into(), 0, Vec::new());
    /// assert_eq!(attempt.binding(), "def");
    /// ```
    pub fn binding(&self) -> &str {
        &self.binding
    }

    /// When it expires, in Unix milliseconds.
    ///
    /// ```
    /// let attempt = mcp_oauth::PendingAttempt::from_parts("abc".into(), "def".into(), 1_900_000_000_000, Vec::new());
    /// let expires = std::time::UNIX_EPOCH + std::time::Duration::from_millis(attempt.expires_at_ms());
    /// ```
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms
    }

    /// What to keep, opaque to the store (JSON); secret.
    ///
    /// ```
    /// let attempt = mcp_oauth::PendingAttempt::from_parts("abc".into(), "def".into(), 0, b"{}".to_vec());
    /// assert_eq!(attempt.document(), b"{}");
    /// ```
    pub fn document(&self) -> &[u8] {
        &self.document
    }

    /// An attempt as a store read it back, for stores written outside this
    /// crate: [`PendingStore::take`] returns it in [`Taken::Attempt`].
    ///
    /// ```
    /// use mcp_oauth::{PendingAttempt, Taken};
    /// // What a store of its own returns from `take`, once it read the row back.
    /// let row = ("abc".to_string(), "def".to_string(), 1_900_000_000_000_u64, b"{}".to_vec());
    /// let taken = Taken::Attempt(PendingAttempt::from_parts(row.0, row.1, row.2, row.3));
    /// ```
    pub fn from_parts(id: String, binding: String, expires_at_ms: u64, document: Vec<u8>) -> Self {
        Self {
            id,
            binding,
            expires_at_ms,
            document,
        }
    }
}

/// Never shows the document.
impl fmt::Debug for PendingAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAttempt")
            .field("id", &self.id)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// What [`PendingStore::take`] found.
///
/// ```
/// # fn describe(taken: &mcp_oauth::Taken) -> &'static str {
/// use mcp_oauth::Taken;
/// match taken {
///     Taken::Attempt(_) => "found",
///     Taken::AlreadyUsed => "replayed",
///     Taken::Expired => "expired",
///     _ => "refused",
/// }
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Taken {
    /// The attempt, now removed: no one can take it again.
    Attempt(PendingAttempt),
    /// No attempt has this id (never begun, or forgotten long ago).
    Unknown,
    /// It was taken already: a callback replayed.
    AlreadyUsed,
    /// It expired before it was taken.
    Expired,
    /// It belongs to another session (or account); it stays for its own.
    OtherSession,
}

/// Keeps the pending attempts of the two-phase web flow, shared by every
/// instance of a platform.
///
/// A store must keep an attempt at least until it expires and, so that a
/// replay or a late callback gets a precise answer, remember for a while
/// after (ten minutes is plenty) that it was taken or that it expired.
/// `take` must be atomic: of two takes of one attempt, one gets it.
///
/// ```
/// use mcp_oauth::{MemoryStore, PendingStore};
/// fn keeps_sign_ins(store: &dyn PendingStore) {}
/// keeps_sign_ins(&MemoryStore::new());
/// ```
pub trait PendingStore: Send + Sync + fmt::Debug {
    /// Keeps `attempt`. An attempt with the same id already there is an
    /// error (ids are hashes of 256 random bits: it means a bug).
    fn put<'a>(&'a self, attempt: &'a PendingAttempt) -> BoxFuture<'a, Result<()>>;

    /// Takes the attempt `id` for `binding`, at `now_ms` (Unix
    /// milliseconds): removes and returns it when it is there, unexpired
    /// and `binding`'s. Otherwise says why not, and changes nothing: an
    /// attempt presented with another binding stays for its own session.
    fn take<'a>(
        &'a self,
        id: &'a str,
        binding: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Taken>>;
}
