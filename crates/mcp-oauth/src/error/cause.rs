//! [`Cause`]: the lower-level error kept behind an [`Error`](super::Error)(super::Error).

use std::{fmt, sync::Arc};

/// The lower-level error behind an [`Error`](super::Error) (an I/O error, the HTTP
/// client's), which [`source()`](std::error::Error::source) returns.
/// Shared, so that errors stay cheap to clone.
///
/// ```
/// use std::error::Error as _;
/// let cause = mcp_oauth::Cause::new(std::io::Error::other("disk full"));
/// let error = mcp_oauth::Error::Connect { url: "file:///cache".into(), reason: "disk full".into(), source: Some(cause) };
/// assert!(error.source().is_some());
/// ```
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Wraps a lower-level error; for stores and other extensions that
    /// report through [`Error`](super::Error).
    ///
    /// ```
    /// use mcp_oauth::{Cause, Error};
    /// let io = std::io::Error::other("the store is down");
    /// let error = Error::Connect {
    ///     url: "redis://store.example".into(),
    ///     reason: "the store is down".into(),
    ///     source: Some(Cause::new(io)),
    /// };
    /// assert!(error.is_connect());
    /// ```
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }
}

/// The error itself, for `source()` to hand out as it is (so that it can be
/// downcast to its own type).
impl std::ops::Deref for Cause {
    type Target = dyn std::error::Error + Send + Sync;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}
