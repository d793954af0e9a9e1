//! The pending sign-ins of the two-phase web flow: a [`RedisStore`] is a
//! [`PendingStore`], so that `begin` on one instance of a platform and
//! `complete` on another meet in Redis.
//!
//! An attempt is one hash, `<prefix>:pending:<id>`, where the id is already
//! a hash of the sign-in's `state`: `binding` (a hash of the account and
//! session that began it), `exp` (Unix ms) and the document, sealed with
//! the store's keys (`kid`, `nonce`, `ct`) or, in a plaintext store, as it
//! is (`doc`). The associated data binds the sealed document to the key
//! name, the key id, the binding and the expiry, so a record moved under
//! another id, or given another binding or expiry, does not open.
//!
//! Both steps are one script each. A take checks and marks in one go, so of
//! any number of takes of one attempt, on any number of hosts, one gets it;
//! the document leaves Redis with it. Redis forgets the key ten minutes
//! after the attempt expires, so until then a replayed or late callback is
//! told apart from one nobody began.

use std::sync::atomic::{AtomicBool, Ordering};

use aws_lc_rs::aead::{Aad, NONCE_LEN, Nonce};
use futures::future::BoxFuture;
use mcp_oauth::{Error, PendingAttempt, PendingStore, Result, Taken};

use crate::{
    scripts,
    store::{RedisStore, Sealing},
};

/// How long after its expiry Redis keeps an attempt, taken or not.
const REMEMBER_MS: u64 = 10 * 60 * 1000;

/// The longest id taken: a base64url SHA-256 is 43 characters.
const MAX_ID_LEN: usize = 64;

/// The longest binding taken: a hex SHA-512 is 128 characters.
const MAX_BINDING_LEN: usize = 256;

impl PendingStore for RedisStore {
    fn put<'a>(&'a self, attempt: &'a PendingAttempt) -> BoxFuture<'a, Result<()>> {
        Box::pin(put(self, attempt))
    }

    fn take<'a>(
        &'a self,
        id: &'a str,
        binding: &'a str,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Taken>> {
        Box::pin(take(self, id, binding, now_ms))
    }
}

async fn put(store: &RedisStore, attempt: &PendingAttempt) -> Result<()> {
    if !is_id(attempt.id()) {
        return Err(Error::InvalidConfig {
            reason: format!(
                "the id of a pending sign-in must be 1 to {MAX_ID_LEN} base64url characters (a \
                 hash of its state)"
            ),
        });
    }
    if !is_binding(attempt.binding()) {
        return Err(Error::InvalidConfig {
            reason: format!(
                "the binding of a pending sign-in must be 1 to {MAX_BINDING_LEN} printable ASCII \
                 characters (a hash of its account and session)"
            ),
        });
    }
    let key = key_name(store, attempt.id());
    let binding = attempt.binding();
    let exp = attempt.expires_at_ms();
    let mut fields: Vec<(&str, Vec<u8>)> = vec![
        ("binding", binding.as_bytes().to_vec()),
        ("exp", exp.to_string().into_bytes()),
    ];
    match &store.inner.sealing {
        Sealing::Sealed(keys) => {
            let (key_id, sealing_key) = keys.sealing_key();
            let mut sealed = attempt.document().to_vec();
            let nonce = sealing_key
                .seal_in_place_append_tag(
                    Aad::from(associated_data(&key, key_id, binding, exp)),
                    &mut sealed,
                )
                .map_err(|_| Error::InvalidConfig {
                    reason: "the store key could not seal a pending sign-in".into(),
                })?;
            fields.push(("kid", key_id.as_bytes().to_vec()));
            fields.push(("nonce", nonce.as_ref().to_vec()));
            fields.push(("ct", sealed));
        }
        Sealing::Plaintext => fields.push(("doc", attempt.document().to_vec())),
    }
    let forget_at = exp.saturating_add(REMEMBER_MS);
    // A call repeated after a dropped connection may find its own write.
    let repeat = AtomicBool::new(false);
    let kept: i64 = store
        .run("could not keep a pending sign-in", |mut connection| {
            let repeat = repeat.swap(true, Ordering::Relaxed);
            let (key, fields) = (&key, &fields);
            async move {
                let mut invocation = scripts::PENDING_PUT.key(key);
                invocation.arg(u8::from(repeat)).arg(forget_at);
                for (name, value) in fields {
                    invocation.arg(*name).arg(value.as_slice());
                }
                invocation.invoke_async(&mut connection).await
            }
        })
        .await?;
    if kept == 1 {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            reason: format!(
                "a pending sign-in with this id exists already in {}",
                store.name()
            ),
        })
    }
}

async fn take(store: &RedisStore, id: &str, binding: &str, now_ms: u64) -> Result<Taken> {
    if !is_id(id) {
        // No attempt can have been kept under it.
        return Ok(Taken::Unknown);
    }
    let key = key_name(store, id);
    let mark = take_mark()?;
    let (key, mark) = (&key, &mark);
    let answer: Vec<Vec<u8>> = store
        .run(
            "could not take a pending sign-in",
            |mut connection| async move {
                scripts::PENDING_TAKE
                    .key(key)
                    .arg(binding)
                    .arg(now_ms)
                    .arg(mark)
                    .invoke_async(&mut connection)
                    .await
            },
        )
        .await?;
    let field = |index: usize| answer.get(index).map_or(&[][..], Vec::as_slice);
    match field(0) {
        b"unknown" => Ok(Taken::Unknown),
        b"used" => Ok(Taken::AlreadyUsed),
        b"expired" => Ok(Taken::Expired),
        b"other" => Ok(Taken::OtherSession),
        b"mine" => Err(Error::StoreUnreachable {
            store: store.name().to_owned(),
            reason: "the connection dropped while a pending sign-in was taken: it is used up and \
                     its answer was lost; begin the sign-in again"
                .into(),
            source: None,
        }),
        b"taken" => {
            let exp = std::str::from_utf8(field(1))
                .ok()
                .and_then(|exp| exp.parse::<u64>().ok())
                .ok_or_else(|| malformed(store))?;
            let document = open(
                store,
                Held {
                    key,
                    binding,
                    exp,
                    form: field(2),
                    key_id: field(3),
                    nonce: field(4),
                    body: field(5),
                },
            )?;
            Ok(Taken::Attempt(PendingAttempt::from_parts(
                id.to_owned(),
                binding.to_owned(),
                exp,
                document,
            )))
        }
        _ => Err(malformed(store)),
    }
}

/// A taken record as the script handed it back.
#[derive(Clone, Copy)]
struct Held<'a> {
    key: &'a str,
    binding: &'a str,
    exp: u64,
    /// `sealed` (`kid`, `nonce`, `ct`), `plain` (`doc`) or `none`.
    form: &'a [u8],
    key_id: &'a [u8],
    nonce: &'a [u8],
    /// The ciphertext and its tag, or the plain document.
    body: &'a [u8],
}

/// The document of a taken record. An error names the store and the key
/// id, never what the record holds; the attempt is used up either way.
fn open(store: &RedisStore, held: Held<'_>) -> Result<Vec<u8>> {
    let key_id = String::from_utf8_lossy(held.key_id);
    match (held.form, &store.inner.sealing) {
        (b"plain", Sealing::Plaintext) => Ok(held.body.to_vec()),
        (b"plain", Sealing::Sealed(_)) => Err(store.unusable(
            "a pending sign-in was kept unsealed in a store that seals, so anyone who can write \
             to Redis could have put it there; it is refused and used up: begin the sign-in again"
                .into(),
        )),
        (b"sealed", Sealing::Plaintext) => Err(store.unusable(format!(
            "a pending sign-in is sealed with key {key_id} and no store key was given; give the \
             store's key (this sign-in is used up: begin it again)"
        ))),
        (b"sealed", Sealing::Sealed(keys)) => {
            let Some(opening_key) = keys.opening_key(&key_id) else {
                return Err(store.unusable(format!(
                    "a pending sign-in is sealed with key {key_id}, which is not among the keys \
                     given ({}); give that key too (this sign-in is used up: begin it again)",
                    keys.sealing_key().0
                )));
            };
            let does_not_open = || {
                store.unusable(format!(
                    "a pending sign-in does not open with key {key_id}: a wrong key under that id, \
                     or a record altered or moved from another id; it is refused and used up"
                ))
            };
            let nonce = <[u8; NONCE_LEN]>::try_from(held.nonce)
                .map(Nonce::assume_unique_for_key)
                .map_err(|_| does_not_open())?;
            let mut buffer = held.body.to_vec();
            let length = opening_key
                .open_in_place(
                    nonce,
                    Aad::from(associated_data(held.key, &key_id, held.binding, held.exp)),
                    &mut buffer,
                )
                .map_err(|_| does_not_open())?
                .len();
            buffer.truncate(length);
            Ok(buffer)
        }
        _ => Err(malformed(store)),
    }
}

fn malformed(store: &RedisStore) -> Error {
    store.unusable(
        "a pending sign-in's record is not one this store writes (no binding, expiry or \
         document); it is refused"
            .into(),
    )
}

/// `<prefix>:pending:<id>`.
fn key_name(store: &RedisStore, id: &str) -> String {
    format!("{}:pending:{id}", store.inner.prefix)
}

/// `mcp-oauth/v1`, the kind `pending`, the key name, the key id, the
/// binding and the expiry, each ended by a zero byte (none of them holds
/// one), so that no two different tuples give the same bytes.
fn associated_data(key: &str, key_id: &str, binding: &str, exp: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(key.len() + binding.len() + 64);
    for part in [
        "mcp-oauth/v1",
        "pending",
        key,
        key_id,
        binding,
        &exp.to_string(),
    ] {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
    aad
}

/// Whether `id` may name a key: base64url, as a hash of a state is.
fn is_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
}

/// Whether `binding` may be kept: printable ASCII, so no zero byte in the
/// associated data.
fn is_binding(binding: &str) -> bool {
    (1..=MAX_BINDING_LEN).contains(&binding.len()) && binding.bytes().all(|b| b.is_ascii_graphic())
}

/// What a take writes into the record it takes, so that the same take,
/// repeated after a dropped connection, knows its own work.
fn take_mark() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| Error::InvalidConfig {
        reason: format!("no randomness to take a pending sign-in: {error}"),
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_bindings_are_checked_before_they_reach_a_key_or_the_associated_data() {
        assert!(is_id("n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg"));
        for id in ["", "a:b", "{x}", "a b", &"a".repeat(MAX_ID_LEN + 1)] {
            assert!(!is_id(id), "{id}");
        }
        assert!(is_binding("0f3a9c"));
        for binding in ["", "a\0b", "a b", "é", &"a".repeat(MAX_BINDING_LEN + 1)] {
            assert!(!is_binding(binding), "{binding}");
        }
    }

    #[test]
    fn the_associated_data_tells_every_part_apart() {
        let base = associated_data("p:pending:a", "k1", "b1", 5);
        for other in [
            associated_data("p:pending:b", "k1", "b1", 5),
            associated_data("p:pending:a", "k2", "b1", 5),
            associated_data("p:pending:a", "k1", "b2", 5),
            associated_data("p:pending:a", "k1", "b1", 6),
            associated_data("p:pending:a", "k1b", "1", 5),
        ] {
            assert_ne!(base, other);
        }
        assert!(base.starts_with(b"mcp-oauth/v1\0pending\0"));
    }
}
