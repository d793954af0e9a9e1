//! The path of the loopback redirect URI: `/callback`, or one configured
//! for a client whose registered redirect URI has a fixed path.

use url::Url;

use crate::{Error, Result};

/// Whether `path` can be a redirect URI's path as given: absolute, no
/// query or fragment, nothing a URL would rewrite.
pub(crate) fn check_callback_path(path: &str) -> Result<()> {
    let rewritten = Url::parse(&format!("http://127.0.0.1{path}")).map_or(true, |url| {
        url.path() != path || url.query().is_some() || url.fragment().is_some()
    });
    if !path.starts_with('/') || path.starts_with("//") || rewritten {
        return Err(Error::InvalidConfig {
            reason: format!(
                "the callback path {:?} must be an absolute URL path such as /oauth/callback \
                 (no query, fragment, spaces or dot segments)",
                crate::terminal_safe_line(path)
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_path_is_an_absolute_path_kept_as_given() {
        for good in ["/callback", "/oauth/callback", "/a-b_c.d~e"] {
            assert!(check_callback_path(good).is_ok(), "{good}");
        }
        for bad in [
            "oauth/cb", "/a?b", "/a#b", "/a b", "/a/../b", "//host/x", "",
        ] {
            assert!(
                matches!(check_callback_path(bad), Err(Error::InvalidConfig { .. })),
                "{bad}"
            );
        }
    }
}
