//! `mcp-oauth logout <URL>` / `logout --all`: forget cached credentials.

use clap::Args;
use mcp_oauth::FileTokenStorage;

use crate::{failure::Failure, options::GlobalArgs, output::Output};

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// The server to forget.
    #[arg(
        value_name = "URL",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub(crate) url: Option<String>,

    /// Forget every server.
    #[arg(long)]
    pub(crate) all: bool,
}

pub(crate) async fn run(
    args: &LogoutArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let dir = global.cache_dir()?;
    match &args.url {
        Some(url) => {
            FileTokenStorage::in_dir(url, &dir)?.clear().await?;
            out.line(&format!("Forgot the credentials of {url}."))
        }
        None => {
            FileTokenStorage::clear_all_in(&dir)?;
            out.line(&format!(
                "Forgot every server's credentials in {}.",
                dir.display()
            ))
        }
    }
}
