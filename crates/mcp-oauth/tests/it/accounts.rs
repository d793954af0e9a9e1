//! Accounts: one server used under several identities, each with its own
//! tokens and its own document; the default account's file as it always
//! was; a document under another account's name refused.

use std::path::{Path, PathBuf};

use mcp_oauth::{
    Error, FileTokenStorage, MemoryTokenStorage, OAuth, TokenStorage, UserAgent,
    secrecy::ExposeSecret,
};
use mcp_oauth_testkit::{AuthRequestKind, AuthServer, TestServer};
use sha2::{Digest, Sha256};

use crate::support::{TIMEOUT, connect, count, oauth, protected};

/// A helper that may not open a browser: its tokens must come from the cache.
fn cached_only(server: &TestServer, cache: &Path) -> mcp_oauth::OAuthBuilder {
    let never = UserAgent::custom(|_| async { panic!("no sign-in may start here") });
    OAuth::builder(server.url())
        .token_storage_cache_dir(cache)
        .user_agent(never)
        .timeout(TIMEOUT)
        .on_notice(|_| {})
}

/// Connects with `builder` (signing in when nothing is cached), pings, and
/// returns the access token every request to `/mcp` carried.
async fn ping_and_token(server: &TestServer, builder: mcp_oauth::OAuthBuilder) -> String {
    server.clear_requests();
    let client = connect(server, builder).await.unwrap();
    client.ping().await.unwrap();
    client.close().await;
    let sent: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|request| request.path == "/mcp" && request.status != 401)
        .filter_map(|request| request.authorization)
        .collect();
    assert!(!sent.is_empty(), "requests with a token");
    assert!(sent.iter().all(|header| *header == sent[0]), "{sent:?}");
    sent[0]
        .strip_prefix("Bearer ")
        .expect("a bearer token")
        .to_owned()
}

#[tokio::test]
async fn two_accounts_on_one_server_get_separate_tokens() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let cache = crate::support::tempdir().unwrap();
    let url = server.url();

    let work = ping_and_token(
        &server,
        oauth(&server)
            .token_storage_cache_dir(cache.path())
            .account("work"),
    )
    .await;
    let home = ping_and_token(
        &server,
        oauth(&server)
            .token_storage_cache_dir(cache.path())
            .account("home"),
    )
    .await;
    assert_ne!(work, home, "each account signed in on its own");
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 2);
    let issued: Vec<String> = auth
        .tokens()
        .into_iter()
        .map(|token| token.access_token)
        .collect();
    assert!(
        issued.contains(&work) && issued.contains(&home),
        "{issued:?}"
    );

    // Later runs: each account's requests carry its own token, from the
    // cache, with no request to the authorization server.
    auth.clear_requests();
    for (account, token) in [("work", &work), ("home", &home)] {
        let sent =
            ping_and_token(&server, cached_only(&server, cache.path()).account(account)).await;
        assert_eq!(&sent, token, "{account}'s requests");
        let oauth = cached_only(&server, cache.path())
            .account(account)
            .build()
            .unwrap();
        assert_eq!(oauth.account(), Some(account));
        assert_eq!(oauth.token().await.unwrap().expose_secret(), token);
    }
    assert!(auth.requests().is_empty(), "{:#?}", auth.requests());

    // Each document on its own: its own file, naming its account; nothing
    // for the default account, which signed in to nothing here.
    let file_of = |account: Option<&str>| {
        FileTokenStorage::in_dir_for_account(&url, account, cache.path()).unwrap()
    };
    assert_ne!(file_of(Some("work")).path(), file_of(Some("home")).path());
    for (account, token) in [("work", &work), ("home", &home)] {
        let stored = file_of(Some(account)).load().await.unwrap().unwrap();
        assert_eq!(stored.account(), Some(account));
        let document = serde_json::to_value(&stored).unwrap();
        assert_eq!(document["tokens"]["access_token"], token.as_str());
    }
    assert!(file_of(None).load().await.unwrap().is_none());
    let listed = FileTokenStorage::list_in(cache.path()).unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");

    // Logging one account out leaves the other signed in.
    cached_only(&server, cache.path())
        .account("work")
        .build()
        .unwrap()
        .logout()
        .await
        .unwrap();
    assert!(file_of(Some("work")).load().await.unwrap().is_none());
    let kept = cached_only(&server, cache.path())
        .account("home")
        .build()
        .unwrap();
    assert_eq!(kept.token().await.unwrap().expose_secret(), &home);
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn an_account_name_is_checked_when_the_helper_is_built() {
    for bad in ["", " padded", "line\nbreak"] {
        let error = OAuth::builder("https://example.com/mcp")
            .account(bad)
            .build()
            .unwrap_err();
        assert!(matches!(error, Error::InvalidConfig { .. }), "{error:?}");
        assert!(error.to_string().contains("account name"), "{error}");
    }
}

/// The file an earlier version kept `url`'s credentials in, named by hand
/// as it named them: host and port, and 16 hex digits of the SHA-256 of the
/// canonical URL.
fn earlier_file_name(url: &str, cache: &Path) -> PathBuf {
    let parsed = mcp_oauth::url::Url::parse(url).unwrap();
    let readable = format!("{}_{}", parsed.host_str().unwrap(), parsed.port().unwrap());
    let hash: String = Sha256::digest(url.as_bytes())[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    cache.join(format!("{readable}-{hash}.json"))
}

#[tokio::test]
async fn a_default_account_file_of_an_earlier_version_still_reads() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let url = server.url();
    // A sign-in whose document is then written where, and as, an earlier
    // version wrote it: that name, no `account` field.
    let memory = MemoryTokenStorage::new();
    let token = ping_and_token(&server, oauth(&server).token_storage(memory.clone())).await;
    let document = serde_json::to_value(memory.load().await.unwrap().unwrap()).unwrap();
    assert!(document.get("account").is_none(), "{document}");
    let cache = crate::support::tempdir().unwrap();
    let path = earlier_file_name(&url, cache.path());
    std::fs::write(&path, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(
        FileTokenStorage::in_dir(&url, cache.path()).unwrap().path(),
        path
    );

    auth.clear_requests();
    let sent = ping_and_token(&server, cached_only(&server, cache.path())).await;
    assert_eq!(sent, token, "the earlier file's token, used as it is");
    assert!(auth.requests().is_empty(), "{:#?}", auth.requests());
    // A named account does not see it.
    let work = cached_only(&server, cache.path())
        .account("work")
        .build()
        .unwrap();
    assert!(work.stored().await.unwrap().is_none());
    auth.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_file_moved_to_another_accounts_name_is_refused() {
    let (auth, server) = protected(AuthServer::builder()).await;
    let cache = crate::support::tempdir().unwrap();
    let url = server.url();
    ping_and_token(
        &server,
        oauth(&server)
            .token_storage_cache_dir(cache.path())
            .account("work"),
    )
    .await;
    let work = FileTokenStorage::in_dir_for_account(&url, Some("work"), cache.path()).unwrap();
    let home = FileTokenStorage::in_dir_for_account(&url, Some("home"), cache.path()).unwrap();
    let default = FileTokenStorage::in_dir(&url, cache.path()).unwrap();
    std::fs::copy(work.path(), home.path()).unwrap();
    std::fs::copy(work.path(), default.path()).unwrap();

    for (account, path, named) in [
        (Some("home"), home.path(), "account \"home\""),
        (None, default.path(), "the default account"),
    ] {
        let builder = || {
            let builder = cached_only(&server, cache.path());
            match account {
                Some(account) => builder.account(account),
                None => builder,
            }
        };
        let oauth = builder().build().unwrap();
        let error = oauth.stored().await.unwrap_err();
        assert!(matches!(error, Error::Storage { .. }), "{error:?}");
        let message = error.to_string();
        for part in [
            path.display().to_string().as_str(),
            named,
            "account \"work\"",
        ] {
            assert!(message.contains(part), "{part} in {message}");
        }
        // Nothing is sent with it, and no sign-in overwrites it.
        let refused = connect(&server, builder()).await.err();
        assert!(
            matches!(refused, Some(Error::Storage { .. })),
            "{refused:?}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(work.path()).unwrap()
        );
    }
    assert_eq!(count(&auth, AuthRequestKind::Authorize), 1);
    auth.stop().await;
    server.stop().await;
}
