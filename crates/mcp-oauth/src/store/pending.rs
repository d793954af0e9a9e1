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
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whom it belongs to: a hash of the account and the session that
    /// began it, in hex. [`PendingStore::take`] hands the attempt only to
    /// the same binding.
    pub fn binding(&self) -> &str {
        &self.binding
    }

    /// When it expires, in Unix milliseconds.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms
    }

    /// What to keep, opaque to the store (JSON); secret.
    pub fn document(&self) -> &[u8] {
        &self.document
    }

    /// An attempt as a store read it back, for stores written outside this
    /// crate: [`PendingStore::take`] returns it in [`Taken::Attempt`].
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
