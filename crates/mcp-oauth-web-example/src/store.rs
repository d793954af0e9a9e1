//! The store every instance shares, opened as the `mcp-oauth` command opens
//! it (`--store redis://…`, a key from `--store-key-file` or
//! `MCP_OAUTH_STORE_KEY`, or `--store-plaintext`), or `--store memory` for
//! one instance; and the session cookies' key, derived from the same
//! secret so that every instance accepts the cookies of the others.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use mcp_oauth::{MemoryStore, WebFlow, WebFlowBuilder};
use mcp_oauth_redis::{DEFAULT_PREFIX, RedisStore, STORE_KEY_ENV, StoreKeys};

use crate::{Failure, session::SessionKey};

/// Where users' tokens and pending sign-ins are kept.
///
/// Not `Debug`: `--store` may carry the Redis password.
#[derive(Args)]
pub(crate) struct StoreArgs {
    /// The store every instance shares: redis://[USER:PASSWORD@]HOST[:PORT][/DB],
    /// rediss://… for TLS; or `memory` for a single instance (everything is
    /// lost when it stops).
    #[arg(
        long,
        env = "MCP_OAUTH_STORE",
        hide_env_values = true,
        value_name = "URL"
    )]
    store: String,

    /// The key that seals the store's records, and from which the session
    /// cookies' key is derived: a file holding 32 random bytes in base64
    /// (`openssl rand -base64 32`), readable only by its owner. The same on
    /// every instance. MCP_OAUTH_STORE_KEY holds the same.
    #[arg(long, value_name = "FILE")]
    store_key_file: Option<PathBuf>,

    /// Keep the records in Redis unsealed, with no key. For testing: the
    /// session cookies' key is then derived from the store URL.
    #[arg(long)]
    store_plaintext: bool,

    /// The prefix of the store's keys in Redis [default: mcp-oauth].
    #[arg(long, env = "MCP_OAUTH_STORE_PREFIX", value_name = "PREFIX")]
    store_prefix: Option<String>,

    /// The certificate authorities (PEM) a rediss:// store's certificate
    /// is checked against, instead of the system's.
    #[arg(long, env = "MCP_OAUTH_STORE_CA_FILE", value_name = "FILE")]
    store_ca_file: Option<PathBuf>,
}

/// The web flow over the store the options name, and the cookies' key.
pub(crate) async fn open(
    args: &StoreArgs,
    redirect_uri: &str,
    attempt_lifetime: Duration,
    secure: bool,
) -> Result<(WebFlow, SessionKey), Failure> {
    let key_text = store_key_text(args)?;
    let url = args.store.trim();
    let (builder, sessions) = if url == "memory" {
        if args.store_plaintext || args.store_prefix.is_some() || args.store_ca_file.is_some() {
            return Err(
                "--store-plaintext, --store-prefix and --store-ca-file are for a Redis store"
                    .into(),
            );
        }
        // One instance: a cookie key of its own will do, unless a key is given.
        let sessions = match &key_text {
            Some(text) => SessionKey::derive(active_key(text).as_bytes(), secure),
            None => SessionKey::random(secure)
                .map_err(|error| format!("no randomness for the cookies' key: {error}"))?,
        };
        (WebFlow::builder(MemoryStore::new(), redirect_uri), sessions)
    } else if url.starts_with("redis://") || url.starts_with("rediss://") {
        let prefix = args.store_prefix.as_deref().unwrap_or(DEFAULT_PREFIX);
        let mut redis = RedisStore::builder(url).prefix(prefix);
        if let Some(path) = &args.store_ca_file {
            redis = redis.ca_file(path);
        }
        let sessions = match (&key_text, args.store_plaintext) {
            (Some(_), true) => {
                return Err("--store-plaintext and a store key (--store-key-file or \
                            MCP_OAUTH_STORE_KEY) exclude each other"
                    .into());
            }
            (Some(text), false) => {
                redis = redis.keys(StoreKeys::parse(text)?);
                SessionKey::derive(active_key(text).as_bytes(), secure)
            }
            (None, true) => {
                redis = redis.plaintext();
                eprintln!(
                    "note: for testing only: the store keeps tokens unsealed, and the session \
                     cookies' key is derived from the store URL; whoever knows it can sign in \
                     as anyone"
                );
                // The URL (with its password, if any) and the prefix: the
                // same on every instance of this store, and nowhere else.
                SessionKey::derive(format!("{url}\n{prefix}").as_bytes(), secure)
            }
            (None, false) => {
                return Err(
                    "a shared store needs a key to seal the tokens it keeps: make one \
                            with `openssl rand -base64 32 > store.key; chmod 600 store.key` and \
                            pass --store-key-file store.key (or set MCP_OAUTH_STORE_KEY), the \
                            same on every instance; --store-plaintext is for testing"
                        .into(),
                );
            }
        };
        let store = redis.connect().await?;
        (WebFlow::builder(store, redirect_uri), sessions)
    } else {
        return Err("--store takes memory, redis://… or rediss://…".into());
    };
    let web = configure(builder, attempt_lifetime).build()?;
    Ok((web, sessions))
}

fn configure(builder: WebFlowBuilder, attempt_lifetime: Duration) -> WebFlowBuilder {
    builder
        .client_name("mcp-oauth web example")
        .attempt_lifetime(attempt_lifetime)
}

/// The keys' text from `--store-key-file` (checked as the store checks
/// it: readable by its owner only) or `MCP_OAUTH_STORE_KEY`.
fn store_key_text(args: &StoreArgs) -> Result<Option<String>, Failure> {
    match &args.store_key_file {
        Some(path) => {
            StoreKeys::from_file(path)?;
            Ok(Some(std::fs::read_to_string(path)?))
        }
        None => match std::env::var(STORE_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                StoreKeys::parse(&text)?;
                Ok(Some(text))
            }
            _ => Ok(None),
        },
    }
}

/// The active key (the first; the others only open older records), as
/// written: its base64 is as secret as its bytes. Without its `id:`, so
/// that naming a key does not sign everyone out.
fn active_key(text: &str) -> &str {
    let first = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .find(|item| !item.is_empty())
        .unwrap_or_default();
    first.rsplit_once(':').map_or(first, |(_, key)| key)
}

#[cfg(test)]
mod tests {
    use super::active_key;

    #[test]
    fn the_active_key_is_the_first_without_its_id() {
        assert_eq!(active_key("\n  2026-12:AAA=, old:BBB=\n"), "AAA=");
        assert_eq!(active_key("AAA= BBB="), "AAA=");
    }
}
