//! How an exchange failed, with the causes kept for the person reading it
//! (`net::failure` turns it into an [`Error`](crate::Error)).

use std::fmt;

use super::connect::{BoxError, ConnectTimedOut};
use crate::net::redirect::RedirectRefused;

/// A failed exchange: the request could not be made or sent, a redirect was
/// refused, time ran out, or the body broke off.
#[derive(Debug)]
pub(crate) struct HttpError {
    kind: Kind,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The request itself is unusable (its URL, a header).
    Builder,
    /// Connecting or sending failed, or the answer's head never came.
    Request,
    Redirect,
    /// The whole exchange took longer than the request allowed.
    Timeout,
    Body,
}

impl HttpError {
    pub(super) fn builder(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Builder, Some(source.into()))
    }

    pub(super) fn request(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Request, Some(source.into()))
    }

    pub(super) fn redirect(refused: RedirectRefused) -> Self {
        Self::new(Kind::Redirect, Some(Box::new(refused)))
    }

    pub(super) fn timeout() -> Self {
        Self::new(Kind::Timeout, None)
    }

    pub(super) fn body(source: impl Into<BoxError>) -> Self {
        Self::new(Kind::Body, Some(source.into()))
    }

    fn new(kind: Kind, source: Option<BoxError>) -> Self {
        Self { kind, source }
    }

    /// Time ran out: for the exchange, or for connecting.
    pub(crate) fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
            || self.causes().any(|cause| {
                cause.is::<ConnectTimedOut>()
                    || cause
                        .downcast_ref::<std::io::Error>()
                        .is_some_and(|error| error.kind() == std::io::ErrorKind::TimedOut)
            })
    }

    /// No connection was made (refused, DNS, TLS, the proxy).
    pub(crate) fn is_connect(&self) -> bool {
        self.causes().any(|cause| {
            cause
                .downcast_ref::<hyper_util::client::legacy::Error>()
                .is_some_and(hyper_util::client::legacy::Error::is_connect)
        })
    }

    /// The request could not be sent, or its answer never began.
    pub(crate) fn is_request(&self) -> bool {
        self.kind == Kind::Request
    }

    /// Our refusal of a redirect, if that is what this is.
    pub(crate) fn redirect_refused(&self) -> Option<&RedirectRefused> {
        if self.kind != Kind::Redirect {
            return None;
        }
        self.source.as_ref()?.downcast_ref()
    }

    fn causes(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        let first = self
            .source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static));
        std::iter::successors(first, |cause| cause.source())
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Builder => "the request cannot be made",
            Kind::Request => "the request could not be sent",
            Kind::Redirect => "a redirect was refused",
            Kind::Timeout => "the exchange timed out",
            Kind::Body => "reading the response body failed",
        })
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}
