//! Which redirects a request follows: within the origin first asked only,
//! so that requests, and the credentials they carry, never leave it.

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// Redirects within the origin first asked are followed, at most
/// [`MAX_REDIRECTS`] and never in a circle; any other is refused with an
/// error that says so: requests, and the credentials they carry, stay on
/// the origin they were meant for.
pub(crate) fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let previous = attempt.previous();
        let next = attempt.url();
        if previous
            .first()
            .is_some_and(|first| first.origin() != next.origin())
        {
            let origin = next.origin().ascii_serialization();
            return attempt.error(RedirectRefused::OtherOrigin(origin));
        }
        if previous.contains(next) {
            let next = next.to_string();
            return attempt.error(RedirectRefused::Loop(next));
        }
        if previous.len() > MAX_REDIRECTS {
            return attempt.error(RedirectRefused::TooMany);
        }
        attempt.follow()
    })
}

/// Why [`same_origin_redirects`] refused a redirect.
#[derive(Debug, thiserror::Error)]
pub(super) enum RedirectRefused {
    #[error(
        "it redirects to another origin ({0}); requests are not sent anywhere but where they were meant to go"
    )]
    OtherOrigin(String),
    #[error("it redirects in a circle (back to {0})")]
    Loop(String),
    #[error("it redirects more than {MAX_REDIRECTS} times")]
    TooMany,
}

/// The refusal behind a failed redirect, when it was ours.
pub(super) fn redirect_refused(error: &reqwest::Error) -> Option<&RedirectRefused> {
    if !error.is_redirect() {
        return None;
    }
    let mut current = std::error::Error::source(error);
    while let Some(cause) = current {
        if let Some(refused) = cause.downcast_ref::<RedirectRefused>() {
            return Some(refused);
        }
        current = cause.source();
    }
    None
}
