//! Which redirects a request follows: within the origin first asked only,
//! so that requests, and the credentials they carry, never leave it.

use url::Url;

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// What a client does with a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redirects {
    /// Redirects within the origin first asked are followed, at most
    /// [`MAX_REDIRECTS`] and never in a circle; any other is refused with an
    /// error that says so: requests, and the credentials they carry, stay
    /// on the origin they were meant for.
    SameOrigin,
    /// The redirect is the answer (token requests: a code or secret reaches
    /// the exact endpoint or nothing).
    None,
}

/// Whether [`Redirects::SameOrigin`] follows a redirect to `next`, after
/// the URLs requested so far (`previous`, the first one first).
pub(super) fn check(previous: &[Url], next: &Url) -> Result<(), RedirectRefused> {
    if previous
        .first()
        .is_some_and(|first| first.origin() != next.origin())
    {
        return Err(RedirectRefused::OtherOrigin(
            next.origin().ascii_serialization(),
        ));
    }
    if previous.contains(next) {
        return Err(RedirectRefused::Loop(next.to_string()));
    }
    if previous.len() > MAX_REDIRECTS {
        return Err(RedirectRefused::TooMany);
    }
    Ok(())
}

/// Why [`Redirects::SameOrigin`] refused a redirect.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedirectRefused {
    #[error(
        "it redirects to another origin ({0}); requests are not sent anywhere but where they were meant to go"
    )]
    OtherOrigin(String),
    #[error("it redirects in a circle (back to {0})")]
    Loop(String),
    #[error("it redirects more than {MAX_REDIRECTS} times")]
    TooMany,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn only_new_places_on_the_first_origin_and_at_most_five() {
        let mut previous = vec![url("http://h/a")];
        assert!(check(&previous, &url("http://h/b")).is_ok());
        assert!(matches!(
            check(&previous, &url("http://h:81/b")),
            Err(RedirectRefused::OtherOrigin(origin)) if origin == "http://h:81"
        ));
        assert!(matches!(
            check(&previous, &url("https://h/b")),
            Err(RedirectRefused::OtherOrigin(_))
        ));
        assert!(matches!(
            check(&previous, &url("http://h/a")),
            Err(RedirectRefused::Loop(_))
        ));
        for step in 1..=MAX_REDIRECTS {
            previous.push(url(&format!("http://h/{step}")));
        }
        assert!(matches!(
            check(&previous, &url("http://h/next")),
            Err(RedirectRefused::TooMany)
        ));
    }
}
