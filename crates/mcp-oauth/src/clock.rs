//! The time tokens and registrations are measured against.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    now_ms() / 1000
}

/// Milliseconds since the Unix epoch: token lifetimes are judged at this
/// precision, so a short-lived token is not taken for expired up to a
/// second early wherever a second boundary happens to fall.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
