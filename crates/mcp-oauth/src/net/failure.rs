//! A failed exchange, as an [`Error`] a person can act on.

use std::time::Duration;

use super::{HttpError, redirect::RedirectRefused};
use crate::{Cause, Error};

/// [`network_error`], except that a request that ran out of `after` (not
/// while connecting) is an [`Error::Timeout`].
pub(crate) fn timed_out(url: &str, error: HttpError, after: Duration) -> Error {
    if error.is_timeout() && !error.is_connect() {
        return Error::Timeout {
            url: url.to_owned(),
            after,
        };
    }
    network_error(url, error)
}

/// Turns a failed exchange into [`Error::Connect`] / [`Error::Timeout`],
/// keeping the innermost cause ("Connection refused") that a person needs.
/// A refused redirect says why: to another origin is [`Error::Insecure`],
/// a circle or too many is [`Error::Protocol`].
fn network_error(url: &str, error: HttpError) -> Error {
    if let Some(refused) = error.redirect_refused() {
        return match refused {
            RedirectRefused::OtherOrigin(_) => Error::Insecure {
                url: url.to_owned(),
                reason: refused.to_string(),
            },
            RedirectRefused::Loop(_) | RedirectRefused::TooMany => Error::Protocol {
                url: url.to_owned(),
                detail: refused.to_string(),
            },
        };
    }
    if error.is_timeout() {
        return Error::Connect {
            url: url.to_owned(),
            reason: "timed out while connecting".into(),
            source: Some(Cause::new(error)),
        };
    }
    if error.is_connect() || error.is_request() {
        return Error::Connect {
            url: url.to_owned(),
            reason: root_cause(&error),
            source: Some(Cause::new(error)),
        };
    }
    Error::Protocol {
        url: url.to_owned(),
        detail: root_cause(&error),
    }
}

/// The innermost message of an error chain.
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    let message = current.to_string();
    // hyper's innermost message can be bare; the outer one then says more.
    if message.is_empty() {
        error.to_string()
    } else {
        message
    }
}
