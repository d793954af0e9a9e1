//! The guard of a store's lock, whatever holds it.

use std::fmt;

use futures::future::BoxFuture;

/// A held [`TokenStorage::lock`](super::TokenStorage::lock); dropping it
/// releases the lock, and [`release`](Self::release) does so and waits
/// until it is done.
///
/// The guard is whatever the store needs: an open file whose OS lock ends
/// when it closes, a lease in a shared database that must be given back
/// over the network ([`StorageLock::leased`]).
///
/// ```
/// use mcp_oauth::StorageLock;
///
/// struct Lease(&'static str);
/// impl Drop for Lease {
///     fn drop(&mut self) {
///         // Give the lease back here.
///     }
/// }
/// let held = StorageLock::holding(Lease("refresh"));
/// drop(held); // released
/// ```
pub struct StorageLock {
    guard: Guard,
}

enum Guard {
    None,
    Held(#[allow(dead_code, reason = "held for its Drop")] Box<dyn Send + Sync>),
    Leased(Box<dyn LockRelease>),
}

/// A lock that is given back by an asynchronous call, such as a lease in a
/// database: [`StorageLock::release`] awaits it, so that a process about to
/// exit gives the lock back before it goes instead of leaving the others to
/// wait out the lease. A guard dropped without `release` should give the
/// lock back as best it can (a spawned task, else the lease runs out).
///
/// ```
/// use mcp_oauth::{LockRelease, StorageLock};
/// use std::{future::Future, pin::Pin};
///
/// struct Lease;
/// impl LockRelease for Lease {
///     fn release(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
///         Box::pin(async { /* delete the lease row */ })
///     }
/// }
/// let lock = StorageLock::leased(Lease);
/// ```
pub trait LockRelease: Send + Sync {
    /// Gives the lock back.
    fn release(self: Box<Self>) -> BoxFuture<'static, ()>;
}

impl StorageLock {
    /// A guard that holds nothing.
    ///
    /// ```
    /// let lock = mcp_oauth::StorageLock::none();
    /// ```
    pub fn none() -> Self {
        Self { guard: Guard::None }
    }

    /// A guard that holds `guard` until it is dropped; the lock is
    /// released when `guard` is (an OS file lock when the file closes, a
    /// lease by `guard`'s own `Drop`).
    ///
    /// ```
    /// let file = std::fs::File::open(std::env::temp_dir())?;
    /// let lock = mcp_oauth::StorageLock::holding(file);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn holding(guard: impl Send + Sync + 'static) -> Self {
        Self {
            guard: Guard::Held(Box::new(guard)),
        }
    }

    /// A guard given back by `lease`'s [`LockRelease::release`].
    ///
    /// ```
    /// # use mcp_oauth::{LockRelease, StorageLock};
    /// # use std::{future::Future, pin::Pin};
    /// # struct Lease;
    /// # impl LockRelease for Lease {
    /// #     fn release(self: Box<Self>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    /// #         Box::pin(async {})
    /// #     }
    /// # }
    /// let lock = StorageLock::leased(Lease);
    /// ```
    pub fn leased(lease: impl LockRelease + 'static) -> Self {
        Self {
            guard: Guard::Leased(Box::new(lease)),
        }
    }

    /// Releases the lock and waits until it is given back.
    ///
    /// ```
    /// # async fn run() {
    /// let lock = mcp_oauth::StorageLock::none();
    /// lock.release().await;
    /// # }
    /// ```
    pub async fn release(self) {
        match self.guard {
            Guard::Leased(lease) => lease.release().await,
            Guard::None | Guard::Held(_) => {}
        }
    }
}

impl fmt::Debug for StorageLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.guard {
            Guard::None => "StorageLock(none)",
            Guard::Held(_) | Guard::Leased(_) => "StorageLock(held)",
        })
    }
}
