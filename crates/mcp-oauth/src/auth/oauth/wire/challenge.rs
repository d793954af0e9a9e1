//! The `WWW-Authenticate` header (RFC 9110 §11.6.1), as far as an OAuth
//! client needs it: the parameters of RFC 6750 §3 and RFC 9728 §5.1, in a
//! `Bearer` or a `DPoP` (RFC 9449 §7.1) challenge.

/// The parameters of the `Bearer` challenge in a `WWW-Authenticate` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BearerChallenge {
    pub(crate) realm: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) error_description: Option<String>,
    /// Space-separated scopes the resource asks for.
    pub(crate) scope: Option<String>,
    /// Where the protected resource metadata lives (RFC 9728).
    pub(crate) resource_metadata: Option<String>,
    /// The server offered a `DPoP` challenge (RFC 9449 §7.1).
    pub(crate) dpop: bool,
    /// The `error` of the `DPoP` challenge: `use_dpop_nonce` asks for the
    /// request again with the server's nonce.
    pub(crate) dpop_error: Option<String>,
}

impl BearerChallenge {
    /// Finds the `Bearer` or `DPoP` challenge in a header value that may
    /// hold several (`Basic realm="x", Bearer scope="a", DPoP algs="ES256"`).
    /// The parameters come from the `Bearer` challenge when there is one,
    /// else from the `DPoP` one. `None` when there is neither.
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let mut found: Option<Self> = None;
        let mut from_bearer = false;
        let (mut dpop, mut dpop_error) = (false, None);
        for (scheme, params) in challenges(header) {
            let is_bearer = scheme.eq_ignore_ascii_case("bearer");
            let is_dpop = scheme.eq_ignore_ascii_case("dpop");
            if !is_bearer && !is_dpop {
                continue;
            }
            let challenge = Self::from_params(params);
            if is_dpop && !dpop {
                dpop = true;
                dpop_error.clone_from(&challenge.error);
            }
            if is_bearer && !from_bearer {
                from_bearer = true;
                found = Some(challenge);
            } else if found.is_none() {
                found = Some(challenge);
            }
        }
        found.map(|challenge| Self {
            dpop,
            dpop_error,
            ..challenge
        })
    }

    fn from_params(params: Vec<(String, String)>) -> Self {
        let mut challenge = Self::default();
        for (name, value) in params {
            let slot = match name.to_ascii_lowercase().as_str() {
                "realm" => &mut challenge.realm,
                "error" => &mut challenge.error,
                "error_description" => &mut challenge.error_description,
                "scope" => &mut challenge.scope,
                "resource_metadata" => &mut challenge.resource_metadata,
                _ => continue,
            };
            // The first occurrence wins; a repeated parameter is malformed.
            slot.get_or_insert(value);
        }
        challenge
    }

    /// Whether the server asks for the request again with its DPoP nonce.
    pub(crate) fn wants_dpop_nonce(&self) -> bool {
        self.dpop_error.as_deref() == Some("use_dpop_nonce")
    }

    /// Whether this is a 403-style request for more scope.
    pub(crate) fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// Splits a header value into `(scheme, [(name, value)])` challenges.
fn challenges(header: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut lexer = Lexer { rest: header };
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    loop {
        lexer.skip_separators();
        let Some(scheme) = lexer.token() else { break };
        let mut params = Vec::new();
        loop {
            lexer.skip_whitespace();
            // `name=value`, or else the start of the next challenge.
            let checkpoint = lexer.rest;
            let Some(name) = lexer.token() else {
                // A token68 (e.g. `Basic dXNlcg==`) or junk: skip to the next comma.
                lexer.skip_to_comma();
                if lexer.rest.is_empty() {
                    break;
                }
                lexer.rest = &lexer.rest[1..];
                continue;
            };
            lexer.skip_whitespace();
            if !lexer.eat('=') {
                lexer.rest = checkpoint;
                break;
            }
            lexer.skip_whitespace();
            let value = if lexer.peek() == Some('"') {
                lexer.quoted()
            } else {
                lexer.token().map(str::to_owned)
            };
            params.push((name.to_owned(), value.unwrap_or_default()));
            lexer.skip_whitespace();
            if !lexer.eat(',') {
                // Lenient: parameters separated by spaces only still parse.
                if lexer.rest.is_empty() {
                    break;
                }
            }
        }
        out.push((scheme.to_owned(), params));
        if lexer.rest.is_empty() {
            break;
        }
    }
    out
}

struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.rest = &self.rest[expected.len_utf8()..];
            true
        } else {
            false
        }
    }

    fn skip_whitespace(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn skip_separators(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', ',']);
    }

    fn skip_to_comma(&mut self) {
        let end = self.rest.find(',').unwrap_or(self.rest.len());
        self.rest = &self.rest[end..];
    }

    /// An RFC 9110 token (`tchar`s), allowing `/` and `=`-free token68 tails.
    fn token(&mut self) -> Option<&'a str> {
        let end = self
            .rest
            .char_indices()
            .find(|(_, c)| !is_tchar(*c))
            .map_or(self.rest.len(), |(index, _)| index);
        if end == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(token)
    }

    /// A quoted-string with backslash escapes; an unterminated one takes the rest.
    fn quoted(&mut self) -> Option<String> {
        let body = self.rest.strip_prefix('"')?;
        let mut escaped = false;
        for (index, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    self.rest = &body[index + 1..];
                    return Some(unescape(&body[..index]));
                }
                _ => escaped = false,
            }
        }
        self.rest = "";
        Some(unescape(body))
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/:".contains(c)
}

/// Removes backslash escapes from a quoted value.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_mcp_challenges() {
        let challenge = BearerChallenge::parse(
            r#"Bearer error="invalid_token", error_description="Missing Authorization header", resource_metadata="http://localhost:3000/.well-known/oauth-protected-resource/mcp""#,
        )
        .unwrap();
        assert_eq!(challenge.error.as_deref(), Some("invalid_token"));
        assert_eq!(
            challenge.error_description.as_deref(),
            Some("Missing Authorization header")
        );
        assert_eq!(
            challenge.resource_metadata.as_deref(),
            Some("http://localhost:3000/.well-known/oauth-protected-resource/mcp")
        );

        let challenge = BearerChallenge::parse(
            r#"Bearer scope="mcp:basic mcp:write", error="insufficient_scope""#,
        )
        .unwrap();
        assert!(challenge.is_insufficient_scope());
        assert_eq!(challenge.scope.as_deref(), Some("mcp:basic mcp:write"));
    }

    #[test]
    fn scheme_and_names_are_case_insensitive_and_tokens_unquoted() {
        let challenge = BearerChallenge::parse("bearer Realm=mcp, SCOPE=read").unwrap();
        assert_eq!(challenge.realm.as_deref(), Some("mcp"));
        assert_eq!(challenge.scope.as_deref(), Some("read"));
    }

    #[test]
    fn finds_bearer_among_other_challenges() {
        let challenge = BearerChallenge::parse(
            r#"Basic realm="legacy", Negotiate, Bearer resource_metadata="https://x/.well-known/oauth-protected-resource""#,
        )
        .unwrap();
        assert_eq!(
            challenge.resource_metadata.as_deref(),
            Some("https://x/.well-known/oauth-protected-resource")
        );
        assert_eq!(challenge.realm, None, "Basic's realm is not Bearer's");
        assert!(BearerChallenge::parse(r#"Basic realm="x""#).is_none());
        assert!(BearerChallenge::parse("").is_none());
    }

    #[test]
    fn bare_bearer_and_junk_do_not_panic() {
        assert_eq!(
            BearerChallenge::parse("Bearer"),
            Some(BearerChallenge::default())
        );
        for junk in [
            "\"",
            "=",
            ",,,",
            "Bearer =\"",
            "Bearer a=\"unterminated",
            "Bearer ,=,",
            "Bearer x y z",
        ] {
            let _ = BearerChallenge::parse(junk);
        }
    }

    #[test]
    fn unescape_removes_backslashes() {
        assert_eq!(unescape(r#"a\"b\\c"#), r#"a"b\c"#);
    }

    #[test]
    fn a_dpop_challenge_is_read_too_and_its_nonce_request_seen() {
        let alone = BearerChallenge::parse(
            r#"DPoP resource_metadata="https://x/.well-known/oauth-protected-resource", algs="ES256""#,
        )
        .unwrap();
        assert!(alone.dpop);
        assert_eq!(
            alone.resource_metadata.as_deref(),
            Some("https://x/.well-known/oauth-protected-resource")
        );
        let nonce =
            BearerChallenge::parse(r#"DPoP error="use_dpop_nonce", error_description="fresh""#)
                .unwrap();
        assert!(nonce.wants_dpop_nonce());
        // Both: the Bearer parameters, and the DPoP offer and its error.
        let both = BearerChallenge::parse(
            r#"Bearer scope="a", DPoP error="use_dpop_nonce", algs="ES256""#,
        )
        .unwrap();
        assert_eq!(both.scope.as_deref(), Some("a"));
        assert!(both.dpop && both.wants_dpop_nonce());
        assert_eq!(both.error, None);
        let plain = BearerChallenge::parse(r#"Bearer error="invalid_token""#).unwrap();
        assert!(!plain.dpop && !plain.wants_dpop_nonce());
    }
}
