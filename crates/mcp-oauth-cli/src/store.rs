//! Where credentials are kept: `--store file:` (the default, one file per
//! server in the cache folder), `--store keyring` (the OS keychain, one item
//! per server and account, the lock files in the cache folder) or
//! `--store redis://…` (`rediss://` for TLS), shared by every process and
//! host that names the same Redis and prefix.

use std::{fmt, path::PathBuf};

use mcp_oauth::OAuthBuilder;
use mcp_oauth_keyring::KeyringStore;
use mcp_oauth_redis::{RedisStore, StoreKeys};

use crate::{
    failure::{Exit, Failure},
    options::GlobalArgs,
};

/// The store the command line names, opened.
#[derive(Default)]
pub(crate) enum Store {
    /// Files in this folder, or in the default one.
    #[default]
    Files,
    /// The OS keychain.
    Keyring(KeyringStore),
    Redis(RedisStore),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Files => f.write_str("Files"),
            Self::Keyring(store) => f.debug_tuple("Keyring").field(store).finish(),
            Self::Redis(store) => f.debug_tuple("Redis").field(store).finish(),
        }
    }
}

impl Store {
    /// Opens what `--store` names: the keychain and a Redis store are
    /// reached now, so that one unreachable (or a locked keychain) fails
    /// before anything else is done (exit 3).
    pub(crate) async fn open(global: &GlobalArgs) -> Result<Self, Failure> {
        let Some(url) = global.store.as_deref().map(str::trim) else {
            return Ok(Self::Files);
        };
        if url.is_empty() || url == "file:" || url == "file" {
            return Ok(Self::Files);
        }
        if url == "keyring" || url == "keyring:" {
            let store = KeyringStore::builder()
                .lock_dir(global.cache_dir()?)
                .open()
                .await?;
            return Ok(Self::Keyring(store));
        }
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(Failure::usage(
                "--store takes file:, keyring, redis://[USER:PASSWORD@]HOST[:PORT][/DB] or \
                 rediss://…",
            ));
        }
        let mut builder = RedisStore::builder(url);
        if let Some(prefix) = &global.store_prefix {
            builder = builder.prefix(prefix);
        }
        if let Some(path) = &global.store_ca_file {
            builder = builder.ca_file(path);
        }
        if let Some(seconds) = global.store_lease {
            let lease = std::time::Duration::from_secs(seconds);
            builder = builder.lease(lease).token_request_budget(lease);
        }
        let keys = match &global.store_key_file {
            Some(path) => Some(StoreKeys::from_file(path)?),
            None => StoreKeys::from_env()?,
        };
        builder = match (keys, global.store_plaintext) {
            (Some(_), true) => {
                return Err(Failure::usage(
                    "--store-plaintext and a store key (--store-key-file or \
                     MCP_OAUTH_STORE_KEY) exclude each other",
                ));
            }
            (Some(keys), false) => builder.keys(keys),
            (None, true) => builder.plaintext(),
            (None, false) => {
                return Err(Failure::new(
                    Exit::BadInput,
                    "a shared store needs a key to seal the credentials it keeps",
                )
                .hint(
                    "make one with `openssl rand -base64 32 > store.key; chmod 600 store.key` \
                     and pass --store-key-file store.key (or set MCP_OAUTH_STORE_KEY), the \
                     same on every host; --store-plaintext keeps tokens readable to whoever \
                     reads Redis",
                ));
            }
        };
        Ok(Self::Redis(builder.connect().await?))
    }

    /// `builder` with its tokens kept here (`cache_dir` for files), as the
    /// credentials of `account` (`None`: the default account).
    pub(crate) fn apply(
        &self,
        builder: OAuthBuilder,
        url: &str,
        cache_dir: Option<&PathBuf>,
        account: Option<&str>,
    ) -> Result<OAuthBuilder, Failure> {
        Ok(match self {
            // The library names the account's file.
            Self::Files => match cache_dir {
                Some(dir) => builder.token_storage_cache_dir(dir),
                None => builder,
            },
            Self::Keyring(store) => builder.token_storage(store.storage_for(url, account)?),
            Self::Redis(store) => builder.token_storage(store.storage_for(url, account)?),
        })
    }
}
