//! `mcp-oauth logout <URL>` / `logout --all`: forget cached credentials,
//! of one account of one server, or of every account of every server.

use clap::Args;
use mcp_oauth::{FileTokenStorage, TokenStorage as _, terminal_safe_line};

use crate::{failure::Failure, options::GlobalArgs, output::Output, store::Store};

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The server whose credentials to forget: those of the default account
    /// only, or of --account NAME only; other accounts stay signed in. A
    /// server's name (`servers add`) stands for its URL and account.
    #[arg(
        value_name = "URL",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub(crate) url: Option<String>,

    /// Forget every server, of every account (in a shared store: every
    /// server under its prefix; in the keychain: every item of mcp-oauth).
    #[arg(long)]
    pub(crate) all: bool,
}

pub(crate) async fn run(
    args: &LogoutArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let account = global.account.as_deref();
    if args.all && account.is_some() {
        return Err(Failure::usage(
            "logout --all forgets every account; to forget one account, name its server: \
             logout <URL> --account NAME",
        ));
    }
    let forgot = |url: &str| match account {
        Some(account) => format!(
            "Forgot the credentials of {url} for the account {:?}.",
            terminal_safe_line(account)
        ),
        None => format!("Forgot the credentials of {url}."),
    };
    if let Store::Redis(store) = &global.opened {
        return match &args.url {
            Some(url) => {
                store.storage_for(url, account)?.clear().await?;
                out.line(&forgot(url))
            }
            None => {
                let count = store.clear_all().await?;
                out.line(&format!(
                    "Forgot {count} server(s)' credentials in {}.",
                    store.name()
                ))
            }
        };
    }
    if let Store::Keyring(store) = &global.opened {
        return match &args.url {
            Some(url) => {
                store.storage_for(url, account)?.clear().await?;
                out.line(&forgot(url))
            }
            None => {
                let count = store.clear_all().await?;
                out.line(&format!(
                    "Forgot {count} credentials item(s) in the {}.",
                    store.name()
                ))
            }
        };
    }
    let dir = global.cache_dir()?;
    // A folder that cannot be used fails here, with its own hint: what
    // fails after this is a file that could not be removed.
    FileTokenStorage::list_in(&dir)?;
    let not_removed = |error: mcp_oauth::Error| {
        Failure::from(error).hint(
            "every other file was removed; remove those named by hand, or run logout again \
             once the process writing them is done",
        )
    };
    match &args.url {
        Some(url) => {
            let storage = FileTokenStorage::in_dir_for_account(url, account, &dir)?;
            storage.clear().await.map_err(not_removed)?;
            out.line(&forgot(url))
        }
        None => {
            FileTokenStorage::clear_all_in(&dir).map_err(not_removed)?;
            out.line(&format!(
                "Forgot every server's credentials in {}.",
                dir.display()
            ))
        }
    }
}
