//! The lock: a key set only if absent, with a lease (Redis's single-node
//! recipe). It is renewed while held, given back only by its holder, and a
//! holder that dies is replaced once its lease runs out.
//!
//! The lock is for efficiency (one token request per expiry); correctness
//! (no older tokens over newer ones) comes from the fenced save, since no
//! lease can outlast every pause.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures::future::BoxFuture;
use mcp_oauth::{Error, LockRelease, Result, StorageLock};
use tokio::{task::JoinHandle, time::Instant};

use crate::{
    scripts,
    storage::{RedisTokenStorage, State, millis},
    store::RedisStore,
};

/// Takes the lock of `storage`'s server, waiting at most `wait` for the
/// holder to give it back (or for its lease to run out).
pub(crate) async fn acquire(storage: &RedisTokenStorage, wait: Duration) -> Result<StorageLock> {
    let store = &storage.store;
    let timings = store.inner.timings;
    let holder = holder_id()?;
    let deadline = Instant::now() + wait;
    loop {
        let holder = &holder;
        let taken: i64 = store
            .run("could not take the lock", |mut connection| async move {
                scripts::ACQUIRE
                    .key(&storage.lock_key)
                    .arg(holder)
                    .arg(millis(timings.lease))
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        if taken == 1 {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Storage {
                path: store.name().to_owned(),
                reason: format!(
                    "another process held the lock on {} for more than {} s",
                    storage.server,
                    wait.as_secs()
                ),
                source: None,
            });
        }
        // Jitter, so that waiters released together do not all ask at once.
        let pause = timings.poll + Duration::from_millis(u64::from(random_byte()) % 50);
        tokio::time::sleep(pause.min(deadline - now)).await;
    }
    storage.state().holder = Some(holder.clone());
    let renewal = tokio::spawn(renew(
        store.clone(),
        storage.lock_key.clone(),
        holder.clone(),
    ));
    Ok(StorageLock::leased(Lease {
        store: store.clone(),
        lock_key: storage.lock_key.clone(),
        record_key: storage.record_key.clone(),
        holder,
        state: Arc::clone(&storage.state),
        renewal: Some(renewal),
    }))
}

/// Renews the lease every third of it while it is held; stops when it is
/// lost (the holder then finds out at its next step: the save is fenced).
async fn renew(store: RedisStore, lock_key: String, holder: String) {
    let lease = store.inner.timings.lease;
    let mut connection = store.inner.connection.clone();
    loop {
        tokio::time::sleep(lease / 3).await;
        let renewed: redis::RedisResult<i64> = scripts::RENEW
            .key(&lock_key)
            .arg(&holder)
            .arg(millis(lease))
            .invoke_async(&mut connection)
            .await;
        match renewed {
            Ok(1) => {}
            Ok(_) => {
                tracing::warn!(store = %store.name(), "the lock's lease ran out before it could be renewed; another process may hold it now");
                return;
            }
            // Redis restarting, or slow: the next try may go through.
            Err(error) => tracing::debug!(%error, "could not renew the lock's lease"),
        }
    }
}

/// A held lease.
struct Lease {
    store: RedisStore,
    lock_key: String,
    record_key: String,
    holder: String,
    state: Arc<Mutex<State>>,
    renewal: Option<JoinHandle<()>>,
}

impl Lease {
    /// Stops renewing, forgets the holder; returns what the release needs.
    fn stop(&mut self) -> Option<Release> {
        let renewal = self.renewal.take()?;
        renewal.abort();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.holder.as_deref() == Some(self.holder.as_str()) {
            state.holder = None;
        }
        Some(Release {
            store: self.store.clone(),
            lock_key: self.lock_key.clone(),
            record_key: self.record_key.clone(),
            holder: self.holder.clone(),
        })
    }
}

struct Release {
    store: RedisStore,
    lock_key: String,
    record_key: String,
    holder: String,
}

impl Release {
    async fn run(self) {
        let mut connection = self.store.inner.connection.clone();
        let released: redis::RedisResult<i64> = scripts::RELEASE
            .key(&self.lock_key)
            .key(&self.record_key)
            .arg(&self.holder)
            .invoke_async(&mut connection)
            .await;
        if let Err(error) = released {
            // The lease runs out by itself.
            tracing::debug!(%error, "could not give the lock back");
        }
    }
}

impl LockRelease for Lease {
    fn release(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        let release = self.stop();
        Box::pin(async move {
            if let Some(release) = release {
                release.run().await;
            }
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Dropped without `release` (a cancelled future): given back in the
        // background if a runtime is there, else the lease runs out.
        if let Some(release) = self.stop()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(release.run());
        }
    }
}

/// 20 random bytes in hex: unique to this holder and this lock.
fn holder_id() -> Result<String> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|error| Error::InvalidConfig {
        reason: format!("no randomness for the lock's holder id: {error}"),
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn random_byte() -> u8 {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    byte[0]
}
