//! `mcp-oauth logout <URL>` / `logout --all`: forget cached credentials.

use clap::Args;
use mcp_oauth::FileTokenStorage;
use mcp_oauth::TokenStorage as _;

use crate::{failure::Failure, options::GlobalArgs, output::Output, store::Store};

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The server to forget.
    #[arg(
        value_name = "URL",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub(crate) url: Option<String>,

    /// Forget every server (in a shared store: every server under its prefix).
    #[arg(long)]
    pub(crate) all: bool,
}

pub(crate) async fn run(
    args: &LogoutArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    if let Store::Redis(store) = &global.opened {
        return match &args.url {
            Some(url) => {
                store.storage(url)?.clear().await?;
                out.line(&format!("Forgot the credentials of {url}."))
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
            let storage = FileTokenStorage::in_dir(url, &dir)?;
            storage.clear().await.map_err(not_removed)?;
            out.line(&format!("Forgot the credentials of {url}."))
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
