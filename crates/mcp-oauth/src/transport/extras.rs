//! What a user adds to every MCP request: headers of their own (an API
//! gateway's key, a tenant id), and certificate authorities to trust
//! besides the system's.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{Error, Result, net::TrustAnchors};

/// Headers the transports set themselves, or that would change what the
/// request means to the connection: refused, each with its reason.
const MANAGED: &[(&str, &str)] = &[
    (
        "authorization",
        "the credentials are the client's auth (a bearer token or OAuth)",
    ),
    (
        "proxy-authorization",
        "a proxy's credentials belong in its URL (HTTPS_PROXY)",
    ),
    ("host", "the host comes from the URL"),
    ("content-length", "the transport frames the body"),
    ("content-type", "the transport sets it"),
    ("transfer-encoding", "the transport frames the body"),
    ("connection", "the connection is the client's to manage"),
    ("keep-alive", "the connection is the client's to manage"),
    ("upgrade", "the connection is the client's to manage"),
    ("te", "the connection is the client's to manage"),
    ("trailer", "the transport frames the body"),
    ("accept", "the transport says what it accepts"),
    ("mcp-session-id", "the session is the transport's"),
    (
        "mcp-protocol-version",
        "the protocol revision is negotiated",
    ),
    ("last-event-id", "the transport resumes streams itself"),
];

/// The additions to every MCP request of one client.
#[derive(Clone, Default)]
pub(crate) struct Extras {
    /// Sent on every request to the MCP server's origin; never to an
    /// authorization server. Values are marked sensitive.
    pub(crate) headers: HeaderMap,
    pub(crate) roots: TrustAnchors,
    /// The first invalid addition, reported when the client connects.
    pub(crate) invalid: Option<Error>,
}

impl Extras {
    /// Adds the header `name: value`, or keeps why it cannot be.
    pub(crate) fn header(&mut self, name: &str, value: &str) {
        match parse_header(name, value) {
            Ok((name, value)) => {
                self.headers.append(name, value);
            }
            Err(error) => {
                self.invalid.get_or_insert(error);
            }
        }
    }

    /// Trusts the certificate authorities of a PEM bundle, or keeps why not.
    pub(crate) fn ca_certificates(&mut self, pem: &[u8]) {
        if let Err(error) = self.roots.add_pem(pem, "the CA certificate bundle") {
            self.invalid.get_or_insert(error);
        }
    }

    /// Fails with the first invalid addition.
    pub(crate) fn check(&self) -> Result<()> {
        match &self.invalid {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

/// Names the headers, never their values.
impl fmt::Debug for Extras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("Extras")
            .field("headers", &names)
            .field("roots", &self.roots)
            .finish_non_exhaustive()
    }
}

/// A header a user adds, checked: a valid name that is not the
/// transport's, a value a header can carry. The value is marked sensitive
/// (it often is a key): HTTP-level logging never prints it.
pub(crate) fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let invalid = |reason: String| Error::InvalidConfig { reason };
    let name = name.trim();
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        invalid(format!(
            "{:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
            crate::terminal_safe_line(name)
        ))
    })?;
    if let Some((_, why)) = MANAGED
        .iter()
        .find(|(managed, _)| *managed == parsed.as_str())
    {
        return Err(invalid(format!("the header {name} cannot be set: {why}")));
    }
    let value = value.trim();
    let checked = if value.is_ascii() {
        HeaderValue::from_str(value).ok()
    } else {
        None
    };
    let mut value = checked.ok_or_else(|| {
        invalid(format!(
            "the value of the header {name} has a character a header cannot carry (a line \
             break, a control character or one beyond ASCII)"
        ))
    })?;
    value.set_sensitive(true);
    Ok((parsed, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_and_their_values_hidden() {
        let (name, value) = parse_header("X-Api-Key", " s3cret ").unwrap();
        assert_eq!(name.as_str(), "x-api-key");
        assert_eq!(value.to_str().unwrap(), "s3cret");
        assert!(value.is_sensitive());
        for (name, value, says) in [
            ("X Bad", "v", "not a valid header name"),
            ("", "v", "not a valid header name"),
            ("Authorization", "Bearer x", "the client's auth"),
            ("mcp-session-id", "1", "the transport's"),
            ("X-Ok", "a\r\nX-Injected: 1", "cannot carry"),
            ("X-Ok", "caf\u{e9}", "cannot carry"),
        ] {
            let error = parse_header(name, value).unwrap_err().to_string();
            assert!(error.contains(says), "{name}: {error}");
            assert!(!error.contains("Bearer x"), "{error}");
        }
        let mut extras = Extras::default();
        extras.header("X-Tenant", "acme");
        extras.header("X-Api-Key", "s3cret");
        assert!(extras.check().is_ok());
        let shown = format!("{extras:?}");
        assert!(
            shown.contains("x-tenant") && !shown.contains("s3cret"),
            "{shown}"
        );
        extras.header("Host", "elsewhere");
        assert!(extras.check().is_err());
    }
}
