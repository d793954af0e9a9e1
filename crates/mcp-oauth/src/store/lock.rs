//! The guard of a store's lock, whatever holds it.

use std::fmt;

/// A held [`TokenStorage::lock`](super::TokenStorage::lock); dropping it
/// releases the lock.
///
/// The guard is whatever the store needs: an open file whose OS lock ends
/// when it closes, a lease in a shared database that its `Drop` gives back.
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
    _guard: Option<Box<dyn Send + Sync>>,
}

impl StorageLock {
    /// A guard that holds nothing.
    pub fn none() -> Self {
        Self { _guard: None }
    }

    /// A guard that holds `guard` until it is dropped; the lock is
    /// released when `guard` is (an OS file lock when the file closes, a
    /// lease by `guard`'s own `Drop`).
    pub fn holding(guard: impl Send + Sync + 'static) -> Self {
        Self {
            _guard: Some(Box::new(guard)),
        }
    }
}

impl fmt::Debug for StorageLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self._guard.is_some() {
            "StorageLock(held)"
        } else {
            "StorageLock(none)"
        })
    }
}
