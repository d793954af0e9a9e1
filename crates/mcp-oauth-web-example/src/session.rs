//! The example's only notion of users: `GET /login?user=NAME` hands out a
//! cookie naming the user and a random session nonce, signed with
//! HMAC-SHA256. A real platform has its own sign-in and session store; this
//! stands in for them.
//!
//! The cookie is self-contained, so every instance that derives the same
//! key (see store.rs) accepts what any other set, with nothing kept
//! server-side. The nonce is what the web flow binds a sign-in to: a
//! callback is completed only for the browser session that began it.

use aws_lc_rs::hmac;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

/// What the key of the cookies is derived for: a key made for one purpose
/// (sealing the store's records) is never used as is for another.
const PURPOSE: &[u8] = b"mcp-oauth-web-example session cookie v1";
/// The version of the cookie's layout, signed with it.
const VERSION: &str = "v1";
/// Random bytes in a session nonce.
const NONCE_LEN: usize = 32;

/// A signed-in user, as the cookie says.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The platform's name for the user: the web flow's account.
    pub(crate) user: String,
    /// A random value per sign-in, the web flow's session.
    pub(crate) nonce: String,
}

/// The key that signs and checks session cookies.
pub(crate) struct SessionKey {
    key: hmac::Key,
    /// Whether the public URL is https: the cookie is then `Secure` and
    /// takes the `__Host-` prefix (no Domain, Path=/, set over https only).
    secure: bool,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey").finish_non_exhaustive()
    }
}

impl SessionKey {
    /// The cookie key derived from `secret`: HMAC-SHA256(secret, purpose),
    /// so that every instance given the same secret signs alike.
    pub(crate) fn derive(secret: &[u8], secure: bool) -> Self {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), PURPOSE);
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            secure,
        }
    }

    /// A key of this process only: its cookies work on no other instance
    /// and die with it (enough for one instance on a memory store).
    pub(crate) fn random(secure: bool) -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self::derive(&secret, secure))
    }

    /// The cookie's name: `__Host-session` over https, else `session`.
    pub(crate) fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-session"
        } else {
            "session"
        }
    }

    /// A new session for `user`, with the `Set-Cookie` value that carries it.
    pub(crate) fn sign_in(&self, user: &str) -> Result<(Session, String), getrandom::Error> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        // base64url has no '.', so the signed text splits one way only.
        let payload = format!("{VERSION}.{}.{nonce}", URL_SAFE_NO_PAD.encode(user));
        let tag = hmac::sign(&self.key, payload.as_bytes());
        let value = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag));
        // Lax, not Strict: the authorization server's redirect back to the
        // callback is a cross-site top-level navigation, and must carry the
        // cookie. HttpOnly: no script needs it.
        let mut cookie = format!(
            "{}={value}; HttpOnly; SameSite=Lax; Path=/",
            self.cookie_name()
        );
        if self.secure {
            cookie.push_str("; Secure");
        }
        let session = Session {
            user: user.to_owned(),
            nonce,
        };
        Ok((session, cookie))
    }

    /// The session a request's `Cookie` headers carry, if one is validly
    /// signed; anything else (absent, altered, another key's) is `None`.
    pub(crate) fn session<'a>(&self, headers: impl Iterator<Item = &'a str>) -> Option<Session> {
        let name = self.cookie_name();
        headers
            .flat_map(|header| header.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(key, _)| *key == name)
            .find_map(|(_, value)| self.verify(value))
    }

    fn verify(&self, value: &str) -> Option<Session> {
        let (payload, tag) = value.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        // Constant time: aws-lc-rs compares the tags.
        hmac::verify(&self.key, payload.as_bytes(), &tag).ok()?;
        let mut parts = payload.split('.');
        let (Some(VERSION), Some(user), Some(nonce), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let user = String::from_utf8(URL_SAFE_NO_PAD.decode(user).ok()?).ok()?;
        Some(Session {
            user,
            nonce: nonce.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_opens_with_the_same_secret_only_and_unaltered() {
        let a = SessionKey::derive(b"the store's key", false);
        let b = SessionKey::derive(b"the store's key", false);
        let (session, cookie) = a.sign_in("Zoë <z@example.com>").unwrap();
        assert!(
            cookie.ends_with("; HttpOnly; SameSite=Lax; Path=/"),
            "{cookie}"
        );
        let value = cookie.split(';').next().unwrap();
        let read = b.session(["other=1; ".to_owned() + value].iter().map(String::as_str));
        let read = read.unwrap();
        assert_eq!(
            (read.user.as_str(), read.nonce),
            (session.user.as_str(), session.nonce)
        );

        let other = SessionKey::derive(b"another key", false);
        assert!(other.session([value].into_iter()).is_none());
        let forged = value.replacen("session=v1.", "session=v1.A", 1);
        assert!(a.session([forged.as_str()].into_iter()).is_none());
        assert!(a.session(["session=v1.x.y"].into_iter()).is_none());
    }

    #[test]
    fn over_https_the_cookie_is_secure_and_host_only() {
        let key = SessionKey::derive(b"k", true);
        let (_, cookie) = key.sign_in("alice").unwrap();
        assert!(cookie.starts_with("__Host-session="), "{cookie}");
        assert!(cookie.ends_with("; Secure"), "{cookie}");
        let value = cookie.split(';').next().unwrap();
        assert!(key.session([value].into_iter()).is_some());
        // A plain-http cookie of the same value is not read.
        let plain = value.replacen("__Host-session", "session", 1);
        assert!(key.session([plain.as_str()].into_iter()).is_none());
    }
}
