//! Encryption at rest: the keys a store seals its documents with, and the
//! sealing itself (AES-256-GCM from aws-lc-rs, which the tree already
//! builds for rustls).
//!
//! A record keeps the id of the key that sealed it, so keys can be rotated:
//! the first key seals, every key given opens. The associated data binds a
//! record to its server's canonical URL, its account (a named one; the
//! default account's records are bound as they always were), its key id
//! and its generation, so a record copied under another server's or
//! account's name, or paired with another generation, does not open.

use std::{fmt, path::Path};

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey},
    digest,
};
use base64::Engine as _;
use mcp_oauth::{Error, Result};
use secrecy::{ExposeSecret, SecretString};

/// The environment variable the CLI reads keys from, as [`StoreKeys::parse`]
/// takes them.
pub const STORE_KEY_ENV: &str = "MCP_OAUTH_STORE_KEY";

/// The length of a key: AES-256.
const KEY_LEN: usize = 32;

/// The keys that seal and open a store's documents: the first seals, all
/// open. Each is 32 random bytes in base64, as `openssl rand -base64 32`
/// prints them, optionally named `id:` in front (else its id is derived from
/// the key itself).
///
/// ```
/// use mcp_oauth_redis::StoreKeys;
///
/// // A new key first, the one it replaces after: records sealed with the
/// // old one still open, every save seals with the new one.
/// let keys = StoreKeys::parse(
///     "2026-12:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=,\
///      2026-06:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
/// )?;
/// assert_eq!(keys.active_id(), "2026-12");
/// assert!(StoreKeys::parse("too short").is_err());
/// # Ok::<(), mcp_oauth::Error>(())
/// ```
pub struct StoreKeys {
    keys: Vec<Key>,
}

struct Key {
    id: String,
    key: RandomizedNonceKey,
}

impl StoreKeys {
    /// Keys from text: separated by commas, spaces or line breaks, each
    /// `base64` or `id:base64`. The error never repeats the text.
    ///
    /// ```
    /// use mcp_oauth_redis::StoreKeys;
    ///
    /// // 32 zero bytes, named `k1`: a placeholder, never a key to use.
    /// let keys = StoreKeys::parse("k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")?;
    /// assert_eq!(keys.active_id(), "k1");
    /// assert!(StoreKeys::parse("k1:AAAA").is_err()); // 3 bytes, not 32
    /// # Ok::<(), mcp_oauth::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let text = SecretString::from(text.to_owned());
        let mut keys = Vec::new();
        for (index, item) in text
            .expose_secret()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .enumerate()
        {
            let (id, encoded) = match item.split_once(':') {
                Some((id, encoded)) => (Some(id), encoded),
                None => (None, item),
            };
            let bad = |why: &str| Error::InvalidConfig {
                reason: format!("store key {} {why}", index + 1),
            };
            let bytes = secrecy::SecretBox::new(Box::new(
                decode_base64(encoded)
                    .ok_or_else(|| bad("is not base64 (`openssl rand -base64 32` makes one)"))?,
            ));
            if bytes.expose_secret().len() != KEY_LEN {
                return Err(bad(&format!(
                    "is {} bytes, not {KEY_LEN} (`openssl rand -base64 32` makes one)",
                    bytes.expose_secret().len()
                )));
            }
            let id = match id {
                Some(id) if is_key_id(id) => id.to_owned(),
                Some(_) => {
                    return Err(bad(
                        "has an id that is not 1 to 32 letters, digits, '-', '_' or '.'",
                    ));
                }
                None => derived_id(bytes.expose_secret()),
            };
            if keys.iter().any(|key: &Key| key.id == id) {
                return Err(bad(&format!("repeats the key id {id}")));
            }
            let key = RandomizedNonceKey::new(&AES_256_GCM, bytes.expose_secret())
                .map_err(|_| bad("cannot be used as an AES-256 key"))?;
            keys.push(Key { id, key });
        }
        if keys.is_empty() {
            return Err(Error::InvalidConfig {
                reason: "no store key given (`openssl rand -base64 32` makes one)".into(),
            });
        }
        Ok(Self { keys })
    }

    /// Keys from a file that only its owner may read (the file holds what
    /// [`parse`](Self::parse) takes).
    ///
    /// ```no_run
    /// use mcp_oauth_redis::StoreKeys;
    ///
    /// // Made with `openssl rand -base64 32 > store.key && chmod 600 store.key`.
    /// let keys = StoreKeys::from_file("/etc/mcp-oauth/store.key")?;
    /// println!("sealing with key {}", keys.active_id());
    /// # Ok::<(), mcp_oauth::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let failed = |reason: String, source: Option<mcp_oauth::Cause>| Error::Storage {
            path: path.display().to_string(),
            reason,
            source,
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            failed(
                format!("cannot read the store key file: {error}"),
                Some(mcp_oauth::Cause::new(error)),
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path)
                .map_err(|error| failed(error.to_string(), Some(mcp_oauth::Cause::new(error))))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(failed(
                    format!(
                        "the store key file may be read by others (mode {:o}); `chmod 600` it",
                        mode & 0o777
                    ),
                    None,
                ));
            }
        }
        Self::parse(&text)
    }

    /// Keys from [`STORE_KEY_ENV`], if it is set and not empty.
    ///
    /// ```
    /// use mcp_oauth_redis::StoreKeys;
    ///
    /// match StoreKeys::from_env()? {
    ///     Some(keys) => println!("sealing with key {}", keys.active_id()),
    ///     None => println!("MCP_OAUTH_STORE_KEY is not set"),
    /// }
    /// # Ok::<(), mcp_oauth::Error>(())
    /// ```
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(STORE_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::parse(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// The id of the key that seals.
    ///
    /// ```
    /// use mcp_oauth_redis::StoreKeys;
    ///
    /// // Placeholders: 32 zero bytes, and 31 zero bytes and a 1.
    /// let keys = StoreKeys::parse(
    ///     "new:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,\
    ///      old:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=",
    /// )?;
    /// assert_eq!(keys.active_id(), "new");
    /// # Ok::<(), mcp_oauth::Error>(())
    /// ```
    pub fn active_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plain` for the record of `account`'s credentials for
    /// `server_url` at `generation`; returns the key id, the nonce and the
    /// ciphertext with its tag.
    pub(crate) fn seal(
        &self,
        server_url: &str,
        account: Option<&str>,
        generation: u64,
        plain: Vec<u8>,
    ) -> Result<(String, Vec<u8>, Vec<u8>)> {
        let key = &self.keys[0];
        let mut sealed = plain;
        let nonce = key
            .key
            .seal_in_place_append_tag(
                Aad::from(associated_data(server_url, account, &key.id, generation)),
                &mut sealed,
            )
            .map_err(|_| Error::InvalidConfig {
                reason: "the store key could not seal a record".into(),
            })?;
        Ok((key.id.clone(), nonce.as_ref().to_vec(), sealed))
    }

    /// Opens a record sealed by [`seal`](Self::seal); `None` when no key has
    /// its id, or it does not open (another key under that id, a record
    /// moved or altered).
    pub(crate) fn open(&self, record: Sealed<'_>) -> std::result::Result<Vec<u8>, OpenFailure> {
        let key = self
            .keys
            .iter()
            .find(|key| key.id == record.key_id)
            .ok_or(OpenFailure::UnknownKey)?;
        let nonce = <[u8; NONCE_LEN]>::try_from(record.nonce)
            .map(Nonce::assume_unique_for_key)
            .map_err(|_| OpenFailure::DoesNotOpen)?;
        let mut buffer = record.sealed.to_vec();
        let plain = key
            .key
            .open_in_place(
                nonce,
                Aad::from(associated_data(
                    record.server_url,
                    record.account,
                    record.key_id,
                    record.generation,
                )),
                &mut buffer,
            )
            .map_err(|_| OpenFailure::DoesNotOpen)?;
        let length = plain.len();
        buffer.truncate(length);
        Ok(buffer)
    }
}

/// The keys themselves, for records sealed elsewhere in the crate with
/// associated data of their own (the pending sign-ins).
impl StoreKeys {
    /// The key that seals, with its id.
    pub(crate) fn sealing_key(&self) -> (&str, &RandomizedNonceKey) {
        (&self.keys[0].id, &self.keys[0].key)
    }

    /// The key named `id`, to open with.
    pub(crate) fn opening_key(&self, id: &str) -> Option<&RandomizedNonceKey> {
        self.keys
            .iter()
            .find(|key| key.id == id)
            .map(|key| &key.key)
    }
}

impl fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreKeys")
            .field(
                "ids",
                &self
                    .keys
                    .iter()
                    .map(|key| key.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A sealed record as stored.
#[derive(Clone, Copy)]
pub(crate) struct Sealed<'a> {
    pub(crate) server_url: &'a str,
    /// `None` for the default account.
    pub(crate) account: Option<&'a str>,
    pub(crate) generation: u64,
    pub(crate) key_id: &'a str,
    pub(crate) nonce: &'a [u8],
    pub(crate) sealed: &'a [u8],
}

/// Why a record did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenFailure {
    UnknownKey,
    DoesNotOpen,
}

/// `mcp-oauth/v1`, the kind of record, the server's canonical URL, the key
/// id and the generation, each ended by a zero byte (none of them holds
/// one), so that no two different tuples give the same bytes. A named
/// account's record is another kind, `account-cred`, with the account after
/// the URL (an account name holds no control character); the default
/// account's is exactly what it always was, so its records open.
fn associated_data(
    server_url: &str,
    account: Option<&str>,
    key_id: &str,
    generation: u64,
) -> Vec<u8> {
    let generation = generation.to_string();
    let parts: &[&str] = match account {
        None => &["mcp-oauth/v1", "cred", server_url, key_id, &generation],
        Some(account) => &[
            "mcp-oauth/v1",
            "account-cred",
            server_url,
            account,
            key_id,
            &generation,
        ],
    };
    let mut aad = Vec::with_capacity(server_url.len() + 64);
    for part in parts {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
    aad
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|engine| engine.decode(text.trim()).ok())
}

fn is_key_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A key named by 32 bits of a hash of itself: stable across hosts and
/// restarts, and telling nothing useful about the key.
fn derived_id(key: &[u8]) -> String {
    let mut input = b"mcp-oauth store key id\0".to_vec();
    input.extend_from_slice(key);
    let hash = digest::digest(&digest::SHA256, &input);
    let mut id = String::from("k");
    for byte in &hash.as_ref()[..4] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const B: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

    fn sealed<'a>(
        url: &'a str,
        generation: u64,
        parts: &'a (String, Vec<u8>, Vec<u8>),
    ) -> Sealed<'a> {
        Sealed {
            server_url: url,
            account: None,
            generation,
            key_id: &parts.0,
            nonce: &parts.1,
            sealed: &parts.2,
        }
    }

    #[test]
    fn a_record_opens_only_for_its_server_and_generation() {
        let keys = StoreKeys::parse(A).unwrap();
        let parts = keys
            .seal("https://a.example/mcp", None, 3, b"{}".to_vec())
            .unwrap();
        assert_eq!(
            keys.open(sealed("https://a.example/mcp", 3, &parts))
                .unwrap(),
            b"{}"
        );
        assert_eq!(
            keys.open(sealed("https://b.example/mcp", 3, &parts)),
            Err(OpenFailure::DoesNotOpen)
        );
        assert_eq!(
            keys.open(sealed("https://a.example/mcp", 2, &parts)),
            Err(OpenFailure::DoesNotOpen)
        );
    }

    #[test]
    fn a_record_opens_only_for_its_account() {
        let keys = StoreKeys::parse(A).unwrap();
        let url = "https://a.example/mcp";
        let work = keys.seal(url, Some("work"), 3, b"{}".to_vec()).unwrap();
        let as_account = |account| Sealed {
            account,
            ..sealed(url, 3, &work)
        };
        assert_eq!(keys.open(as_account(Some("work"))).unwrap(), b"{}");
        for other in [None, Some("home"), Some("work ")] {
            assert_eq!(keys.open(as_account(other)), Err(OpenFailure::DoesNotOpen));
        }
        let default = keys.seal(url, None, 3, b"{}".to_vec()).unwrap();
        assert_eq!(
            keys.open(Sealed {
                account: Some("work"),
                ..sealed(url, 3, &default)
            }),
            Err(OpenFailure::DoesNotOpen)
        );
    }

    #[test]
    fn the_default_accounts_associated_data_is_what_it_always_was() {
        // Records sealed before accounts existed open only with these bytes.
        assert_eq!(
            associated_data("https://a.example/mcp", None, "k1", 7),
            b"mcp-oauth/v1\0cred\0https://a.example/mcp\0k1\x007\0"
        );
        assert_eq!(
            associated_data("https://a.example/mcp", Some("work"), "k1", 7),
            b"mcp-oauth/v1\0account-cred\0https://a.example/mcp\0work\0k1\x007\0"
        );
    }

    #[test]
    fn rotation_opens_old_records_and_seals_with_the_first_key() {
        let old = StoreKeys::parse(A).unwrap();
        let parts = old
            .seal("https://a.example/mcp", None, 1, b"old".to_vec())
            .unwrap();
        let rotated = StoreKeys::parse(&format!("new:{B}\n{A}")).unwrap();
        assert_eq!(rotated.active_id(), "new");
        assert_eq!(
            rotated
                .open(sealed("https://a.example/mcp", 1, &parts))
                .unwrap(),
            b"old"
        );
        let new_parts = rotated
            .seal("https://a.example/mcp", None, 2, b"new".to_vec())
            .unwrap();
        assert_eq!(new_parts.0, "new");
        assert_eq!(
            old.open(sealed("https://a.example/mcp", 2, &new_parts)),
            Err(OpenFailure::UnknownKey)
        );
    }

    #[test]
    fn bad_keys_are_refused_without_repeating_them() {
        for text in [
            "",
            "c2hvcnQ=",
            "not base64 at all!",
            &format!("bad id!:{A}"),
        ] {
            let error = StoreKeys::parse(text).unwrap_err().to_string();
            assert!(
                !text.is_empty() && !error.contains(text) || text.is_empty(),
                "{error}"
            );
        }
        assert!(
            StoreKeys::parse(&format!("x:{A},x:{B}")).is_err(),
            "a repeated id"
        );
        let debug = format!("{:?}", StoreKeys::parse(A).unwrap());
        assert!(!debug.contains(A) && debug.contains("ids"), "{debug}");
    }
}
