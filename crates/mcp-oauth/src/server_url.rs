//! [`ServerUrl`]: the canonical form of an MCP server's URL.

use std::fmt;

use sha2::{Digest, Sha256};
use url::Url;

use crate::{Error, Result};

/// The canonical URL of an MCP server (RFC 8707 §2): the `resource` sent to
/// the authorization server and the key under which credentials are cached.
///
/// Scheme and host are lower-cased, a default port is dropped, the fragment
/// is removed, the path is kept (two servers on one host never share
/// credentials), and a bare origin has no trailing slash.
///
/// ```
/// use mcp_oauth::ServerUrl;
///
/// let url = ServerUrl::parse("HTTPS://Example.COM:443/mcp#top").unwrap();
/// assert_eq!(url.as_str(), "https://example.com/mcp");
/// assert_eq!(ServerUrl::parse("https://example.com/").unwrap().as_str(), "https://example.com");
/// assert!(ServerUrl::parse("ftp://example.com").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerUrl {
    url: Url,
    canonical: String,
    /// `scheme://host[:port]/`: a URL starting with it has this origin.
    origin_prefix: String,
}

impl ServerUrl {
    /// Parses and canonicalizes an absolute `http(s)` URL with a host.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::ServerUrl;
    /// let url = ServerUrl::parse("https://mcp.example.com/mcp")?;
    /// assert!(ServerUrl::parse("ftp://mcp.example.com").is_err());
    /// assert!(ServerUrl::parse("/mcp").is_err());
    /// # Ok(()) }
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut url = Url::parse(text.trim()).map_err(|error| match error {
            url::ParseError::RelativeUrlWithoutBase => {
                invalid("not an absolute URL; include the scheme, e.g. https://example.com/mcp")
            }
            other => invalid(&other.to_string()),
        })?;
        match url.scheme() {
            "http" | "https" => {}
            scheme => {
                return Err(invalid(&format!(
                    "the scheme {scheme:?} is not supported; use http:// or https://"
                )));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("the URL has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "credentials in the URL are not allowed; use the auth options",
            ));
        }
        url.set_fragment(None);
        let mut canonical = url.to_string();
        if url.path() == "/" && url.query().is_none() {
            canonical.pop();
        }
        let origin_prefix = format!("{}/", url.origin().ascii_serialization());
        Ok(Self {
            url,
            canonical,
            origin_prefix,
        })
    }

    /// The canonical URL as text.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let url = mcp_oauth::ServerUrl::parse("https://mcp.example.com/mcp")?;
    /// assert!(url.as_str().starts_with("https://mcp.example.com"));
    /// # Ok(()) }
    /// ```
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The parsed URL.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// let url = mcp_oauth::ServerUrl::parse("https://mcp.example.com:8443/mcp")?;
    /// assert_eq!(url.url().host_str(), Some("mcp.example.com"));
    /// assert_eq!(url.url().port(), Some(8443));
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether `url` plainly starts with this server's origin (no parsing);
    /// `false` says nothing, the URL may still be on the origin.
    pub(crate) fn is_same_origin_prefix(&self, url: &str) -> bool {
        url.starts_with(&self.origin_prefix)
    }

    /// Whether the host is a loopback address (`127.0.0.0/8`, `::1`, their
    /// IPv4-mapped forms, `localhost` and names under `.localhost`), where
    /// plain `http` is acceptable.
    ///
    /// ```
    /// # fn main() -> mcp_oauth::Result<()> {
    /// use mcp_oauth::ServerUrl;
    /// assert!(ServerUrl::parse("http://127.0.0.1:8000/mcp")?.is_loopback());
    /// assert!(ServerUrl::parse("http://localhost:8000/mcp")?.is_loopback());
    /// assert!(!ServerUrl::parse("https://mcp.example.com/mcp")?.is_loopback());
    /// # Ok(()) }
    /// ```
    pub fn is_loopback(&self) -> bool {
        crate::net::is_loopback(&self.url)
    }

    /// A file name for `account`'s cached credentials of this server:
    /// readable (host and port), and unique through a hash of the whole
    /// canonical URL for the default account (the name it has always had),
    /// or of the (URL, account) pair for a named one.
    pub(crate) fn cache_file_stem_for(&self, account: Option<&str>) -> String {
        let readable: String = format!(
            "{}_{}",
            self.url.host_str().unwrap_or("server"),
            self.url.port().map(|p| p.to_string()).unwrap_or_default()
        )
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
        let digest = match account {
            None => Sha256::digest(self.canonical.as_bytes()),
            Some(account) => Sha256::digest(account_pair(&self.canonical, account)),
        };
        let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("{}-{hash}", readable.trim_end_matches('_'))
    }
}

/// The (canonical URL, account) pair as the bytes a key is hashed from:
/// each part preceded by its length (8 bytes, big-endian), so no two pairs
/// give the same bytes, and none gives a bare URL's (a URL never begins
/// with a zero byte).
pub(crate) fn account_pair(canonical_url: &str, account: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16 + canonical_url.len() + account.len());
    for part in [canonical_url, account] {
        bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerUrl({:?})", self.canonical)
    }
}

impl std::str::FromStr for ServerUrl {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("https://EXAMPLE.com/mcp", "https://example.com/mcp"),
            ("https://example.com:443/mcp", "https://example.com/mcp"),
            ("http://example.com:80", "http://example.com"),
            ("https://example.com:8443/", "https://example.com:8443"),
            (
                "https://example.com/a/b/?x=1#frag",
                "https://example.com/a/b/?x=1",
            ),
            ("http://[::1]:9000/mcp", "http://[::1]:9000/mcp"),
        ];
        for (input, canonical) in cases {
            assert_eq!(
                ServerUrl::parse(input).unwrap().as_str(),
                canonical,
                "{input}"
            );
        }
    }

    #[test]
    fn two_paths_on_one_host_never_share_a_cache_file() {
        let a = ServerUrl::parse("https://example.com/a/mcp").unwrap();
        let b = ServerUrl::parse("https://example.com/b/mcp").unwrap();
        assert_ne!(a.cache_file_stem_for(None), b.cache_file_stem_for(None));
        assert!(
            a.cache_file_stem_for(None).starts_with("example.com-"),
            "{}",
            a.cache_file_stem_for(None)
        );
        let same = ServerUrl::parse("HTTPS://example.com:443/a/mcp").unwrap();
        assert_eq!(a.cache_file_stem_for(None), same.cache_file_stem_for(None));
    }

    #[test]
    fn the_default_account_keeps_its_file_name_and_each_account_has_its_own() {
        let url = ServerUrl::parse("https://example.com/mcp").unwrap();
        // The name every earlier version gave: its files still read.
        assert_eq!(
            url.cache_file_stem_for(None),
            "example.com-c3d80a4ed901ee05"
        );
        // A named account: the same readable part, the pair's hash.
        assert_eq!(
            url.cache_file_stem_for(Some("work")),
            "example.com-be973f1e27729389"
        );
        assert_ne!(
            url.cache_file_stem_for(Some("work")),
            url.cache_file_stem_for(Some("home"))
        );
        // Lengths come first: moving a byte between the parts changes them.
        assert_ne!(account_pair("ab", "c"), account_pair("a", "bc"));
    }

    #[test]
    fn refuses_what_is_not_a_server_url() {
        for bad in [
            "ftp://x/y",
            "example.com/mcp",
            "http://",
            "https://user:pw@example.com/mcp",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_detection() {
        for (url, loopback) in [
            ("http://127.0.0.1:1/mcp", true),
            ("http://127.8.9.1/", true),
            ("http://[::1]/", true),
            ("http://LOCALHOST:3000", true),
            ("http://app.localhost:3000", true),
            ("http://[::ffff:127.0.0.1]/", true),
            ("http://example.com", false),
            ("http://10.0.0.1", false),
        ] {
            assert_eq!(
                ServerUrl::parse(url).unwrap().is_loopback(),
                loopback,
                "{url}"
            );
        }
    }
}
