//! The pending sign-ins of the two-phase web flow: kept once, taken once
//! and only by their own session, told apart when unknown, used or
//! expired, sealed, and failing in time when Redis is down.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use mcp_oauth::{PendingAttempt, PendingStore, Taken};
use mcp_oauth_redis::RedisStore;
use redis::AsyncCommands as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{Redis, TIMEOUT, store, store_builder};

const BINDING: &str = "5d41402abc4b2a76b9719d911017c592";
const OTHER_BINDING: &str = "7d793037a0760186574b0282f2f435e7";
const MARKER: &str = "pkce-verifier-MARKER-9f86d081884c7d65";

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A fresh id, as the web flow makes one: a base64url SHA-256-sized value.
fn new_id() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn document() -> Vec<u8> {
    format!(r#"{{"verifier":"{MARKER}","return_to":"/settings"}}"#).into_bytes()
}

/// An attempt of `BINDING`'s, expiring in `ttl`.
fn attempt(id: &str, ttl: Duration) -> PendingAttempt {
    let exp = now_ms() + u64::try_from(ttl.as_millis()).unwrap();
    PendingAttempt::from_parts(id.to_owned(), BINDING.to_owned(), exp, document())
}

fn taken(outcome: Taken) -> PendingAttempt {
    match outcome {
        Taken::Attempt(attempt) => attempt,
        other => panic!("expected the attempt, got {other:?}"),
    }
}

async fn raw(redis: &Redis) -> redis::aio::MultiplexedConnection {
    redis
        .raw()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Every key in Redis, found with `SCAN`, and its hash.
async fn every_hash(redis: &Redis) -> HashMap<String, HashMap<String, Vec<u8>>> {
    let mut connection = raw(redis).await;
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .query_async(&mut connection)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut hashes = HashMap::new();
    for key in keys {
        let hash: HashMap<String, Vec<u8>> = connection.hgetall(&key).await.unwrap();
        hashes.insert(key, hash);
    }
    hashes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn an_attempt_is_taken_once_and_only_by_the_session_that_began_it() {
    let redis = Redis::start();
    let store = store(&redis).await;
    let id = new_id();
    let kept = attempt(&id, Duration::from_secs(600));
    store.put(&kept).await.unwrap();

    // Another session is refused, and the attempt stays for its own.
    let other = store.take(&id, OTHER_BINDING, now_ms()).await.unwrap();
    assert!(matches!(other, Taken::OtherSession), "{other:?}");

    let attempt = taken(store.take(&id, BINDING, now_ms()).await.unwrap());
    assert_eq!(attempt.id(), id);
    assert_eq!(attempt.binding(), BINDING);
    assert_eq!(attempt.expires_at_ms(), kept.expires_at_ms());
    assert_eq!(attempt.document(), document());

    // A replay, by the same session or another.
    for binding in [BINDING, OTHER_BINDING] {
        let again = store.take(&id, binding, now_ms()).await.unwrap();
        assert!(matches!(again, Taken::AlreadyUsed), "{again:?}");
    }
}

#[tokio::test]
async fn an_unknown_id_is_unknown_and_an_id_is_never_kept_twice() {
    let redis = Redis::start();
    let store = store(&redis).await;
    let unknown = store.take(&new_id(), BINDING, now_ms()).await.unwrap();
    assert!(matches!(unknown, Taken::Unknown), "{unknown:?}");
    let malformed = store.take("no:such{id}", BINDING, now_ms()).await.unwrap();
    assert!(matches!(malformed, Taken::Unknown), "{malformed:?}");

    let id = new_id();
    store
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();
    let error = store
        .put(&attempt(&id, Duration::from_secs(900)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("exists already"), "{error}");
    // Nor once it is taken: the first stays what it was.
    let first = taken(store.take(&id, BINDING, now_ms()).await.unwrap());
    assert!(first.expires_at_ms() <= now_ms() + 600_000);
    store
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap_err();
    let again = store.take(&id, BINDING, now_ms()).await.unwrap();
    assert!(matches!(again, Taken::AlreadyUsed), "{again:?}");
}

#[tokio::test]
async fn an_expired_attempt_is_expired_changes_nothing_and_is_forgotten_ten_minutes_later() {
    let redis = Redis::start();
    let store = store(&redis).await;
    let id = new_id();
    let kept = attempt(&id, Duration::from_millis(300));
    store.put(&kept).await.unwrap();

    let key = format!("mcp-oauth:pending:{id}");
    let mut connection = raw(&redis).await;
    let forget_at: i64 = redis::cmd("PEXPIRETIME")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        u64::try_from(forget_at).unwrap(),
        kept.expires_at_ms() + 600_000
    );

    let deadline = Instant::now() + TIMEOUT;
    while now_ms() <= kept.expires_at_ms() {
        assert!(Instant::now() < deadline, "the clock did not move");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for binding in [BINDING, BINDING, OTHER_BINDING] {
        let expired = store.take(&id, binding, now_ms()).await.unwrap();
        assert!(matches!(expired, Taken::Expired), "{expired:?}");
    }
    let fields: HashMap<String, Vec<u8>> = connection.hgetall(&key).await.unwrap();
    assert!(fields.contains_key("ct") && !fields.contains_key("used"));

    // The expiry is the caller's clock: a take that says it is earlier
    // still gets the attempt.
    let attempt = taken(
        store
            .take(&id, BINDING, kept.expires_at_ms() - 1)
            .await
            .unwrap(),
    );
    assert_eq!(attempt.document(), document());
}

#[tokio::test]
async fn of_sixteen_takes_from_four_hosts_at_once_exactly_one_gets_the_attempt() {
    let redis = Redis::start();
    let mut stores: Vec<RedisStore> = Vec::new();
    for _ in 0..4 {
        stores.push(store(&redis).await);
    }
    let id = new_id();
    stores[0]
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();

    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let mut takes = Vec::new();
    for index in 0..16 {
        let store = stores[index % 4].clone();
        let (id, barrier) = (id.clone(), barrier.clone());
        takes.push(tokio::spawn(async move {
            barrier.wait().await;
            store.take(&id, BINDING, now_ms()).await.unwrap()
        }));
    }
    let (mut attempts, mut used) = (0, 0);
    for take in takes {
        match tokio::time::timeout(TIMEOUT, take).await.unwrap().unwrap() {
            Taken::Attempt(attempt) => {
                assert_eq!(attempt.document(), document());
                attempts += 1;
            }
            Taken::AlreadyUsed => used += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((attempts, used), (1, 15));
}

#[tokio::test]
async fn no_byte_of_a_pending_document_is_readable_in_redis() {
    let redis = Redis::start();
    let store = store(&redis).await;
    let id = new_id();
    store
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();

    let hashes = every_hash(&redis).await;
    let key = format!("mcp-oauth:pending:{id}");
    let mut fields: Vec<&str> = hashes[&key].keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["binding", "ct", "exp", "kid", "nonce"]);
    for (key, hash) in &hashes {
        assert!(!contains(key.as_bytes(), MARKER));
        for (field, value) in hash {
            assert!(!contains(field.as_bytes(), MARKER));
            assert!(!contains(value, MARKER), "the document in the clear");
            // Nor any of it: a shorter piece of the marker.
            assert!(!contains(value, &MARKER[..12]));
        }
    }

    // Taken: the sealed document leaves Redis, a mark stays.
    taken(store.take(&id, BINDING, now_ms()).await.unwrap());
    let hashes = every_hash(&redis).await;
    let mut fields: Vec<&str> = hashes[&key].keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["binding", "exp", "used"]);
}

#[tokio::test]
async fn a_record_moved_to_another_id_or_rebound_does_not_open() {
    let redis = Redis::start();
    let store = store(&redis).await;
    let mut connection = raw(&redis).await;
    let key = |id: &str| format!("mcp-oauth:pending:{id}");

    // Moved under another id (as if another state's hash).
    let (id, moved) = (new_id(), new_id());
    store
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();
    let _: () = connection.rename(key(&id), key(&moved)).await.unwrap();
    let error = store.take(&moved, BINDING, now_ms()).await.unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("does not open"), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{}", redis.port())),
        "{message}"
    );
    assert!(
        !message.contains(MARKER) && !message.contains("pw-"),
        "{message}"
    );
    assert!(!error.is_store_unreachable());
    // Used up: it is not taken a second time.
    let again = store.take(&moved, BINDING, now_ms()).await.unwrap();
    assert!(matches!(again, Taken::AlreadyUsed), "{again:?}");

    // Given to another session, or a later expiry.
    let (rebound, extended) = (new_id(), new_id());
    for id in [&rebound, &extended] {
        store
            .put(&attempt(id, Duration::from_secs(600)))
            .await
            .unwrap();
    }
    let _: () = connection
        .hset(key(&rebound), "binding", OTHER_BINDING)
        .await
        .unwrap();
    let error = store
        .take(&rebound, OTHER_BINDING, now_ms())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("does not open"), "{error}");
    let later = (now_ms() + 3_600_000).to_string();
    let _: () = connection.hset(key(&extended), "exp", later).await.unwrap();
    let error = store.take(&extended, BINDING, now_ms()).await.unwrap_err();
    assert!(error.to_string().contains("does not open"), "{error}");
}

#[tokio::test]
async fn a_plaintext_store_keeps_the_document_as_is_and_sealed_and_plain_never_mix() {
    let redis = Redis::start();
    let sealed = store(&redis).await;
    let plain = RedisStore::builder(redis.url())
        .plaintext()
        .connect()
        .await
        .unwrap();

    let id = new_id();
    plain
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();
    let hashes = every_hash(&redis).await;
    let hash = &hashes[&format!("mcp-oauth:pending:{id}")];
    assert_eq!(hash["doc"], document());
    assert!(!hash.contains_key("ct") && !hash.contains_key("kid"));
    let attempt_back = taken(plain.take(&id, BINDING, now_ms()).await.unwrap());
    assert_eq!(attempt_back.document(), document());

    // Unsealed in a store that seals: whoever writes to Redis could have
    // planted it.
    let id = new_id();
    plain
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();
    let error = sealed.take(&id, BINDING, now_ms()).await.unwrap_err();
    assert!(error.to_string().contains("unsealed"), "{error}");

    // Sealed, in a store with no key.
    let id = new_id();
    sealed
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();
    let error = plain.take(&id, BINDING, now_ms()).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("no store key was given"), "{message}");
    assert!(!message.contains(MARKER), "{message}");
}

#[tokio::test]
async fn a_stopped_redis_fails_put_and_take_within_two_seconds() {
    let mut redis = Redis::start();
    let store = store(&redis).await;
    let id = new_id();
    store
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();
    redis.stop();

    let started = Instant::now();
    let error = store
        .put(&attempt(&new_id(), Duration::from_secs(600)))
        .await
        .unwrap_err();
    assert!(error.is_store_unreachable(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let error = store.take(&id, BINDING, now_ms()).await.unwrap_err();
    assert!(error.is_store_unreachable(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{}", redis.port())),
        "{message}"
    );
    assert!(!message.contains("pw-"), "no password in {message}");
}

/// A proxy in front of `target` that, once `cut` is set, throws away the
/// next answer from Redis and closes that connection: a command that ran
/// and whose answer was lost.
async fn cutting_proxy(target: u16, cut: Arc<AtomicBool>) -> u16 {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, target));
            let Ok(upstream) = tokio::net::TcpStream::connect(address).await else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut upstream_read, mut upstream_write) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
            });
            let cut = cut.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                loop {
                    let read = match upstream_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => read,
                    };
                    if cut.swap(false, Ordering::SeqCst) {
                        // Dropping both halves closes the client's side.
                        return;
                    }
                    if client_write.write_all(&buffer[..read]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_put_or_take_whose_answer_is_lost_knows_its_own_work_when_tried_again() {
    let redis = Redis::start();
    let cut = Arc::new(AtomicBool::new(false));
    let port = cutting_proxy(redis.port(), cut.clone()).await;
    let store = store_builder(&redis.url_via(port)).connect().await.unwrap();
    // Each script once, so that Redis knows it and the cut answer is the
    // script's own, not a request to load it.
    let loaded = new_id();
    store
        .put(&attempt(&loaded, Duration::from_secs(600)))
        .await
        .unwrap();
    taken(store.take(&loaded, BINDING, now_ms()).await.unwrap());

    // The put ran, its answer was lost: tried again, it finds its own write.
    let id = new_id();
    cut.store(true, Ordering::SeqCst);
    store
        .put(&attempt(&id, Duration::from_secs(600)))
        .await
        .unwrap();
    assert!(!cut.load(Ordering::SeqCst), "an answer was cut");

    // The take ran, its answer (the document) was lost: tried again, it
    // knows the attempt is used up by itself, not by a replay.
    cut.store(true, Ordering::SeqCst);
    let error = store.take(&id, BINDING, now_ms()).await.unwrap_err();
    assert!(!cut.load(Ordering::SeqCst), "an answer was cut");
    assert!(error.is_store_unreachable(), "{error}");
    assert!(
        error.to_string().contains("begin the sign-in again"),
        "{error}"
    );
    let again = store.take(&id, BINDING, now_ms()).await.unwrap();
    assert!(matches!(again, Taken::AlreadyUsed), "{again:?}");
}
