//! `mcp-oauth man [COMMAND]`: a manual page, in roff, built from the
//! command-line definition itself (so it never says other than `--help`):
//! `mcp-oauth(1)`, or `mcp-oauth-<command>(1)` for one command, as git
//! has them. `mcp-oauth man > mcp-oauth.1 && man ./mcp-oauth.1`.

use clap::{Args, CommandFactory};

use crate::{
    cli::Cli,
    failure::{Exit, Failure},
    output::Output,
};

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The command whose page to print (default: the tool's own page).
    #[arg(value_name = "COMMAND")]
    pub(crate) command: Option<String>,
}

pub(crate) fn run(args: &ManArgs, out: &mut Output) -> Result<(), Failure> {
    let tool = Cli::command();
    let man = match &args.command {
        None => clap_mangen::Man::new(tool),
        Some(name) => {
            let Some(sub) = tool.find_subcommand(name).filter(|sub| !sub.is_hide_set()) else {
                return Err(Failure::usage(format!("no command named {name:?}")));
            };
            // The page of `mcp-oauth login` is mcp-oauth-login(1).
            let title = format!("mcp-oauth-{}", sub.get_name());
            clap_mangen::Man::new(sub.clone()).title(title)
        }
    };
    let mut page = Vec::new();
    man.render(&mut page).map_err(|error| {
        Failure::new(
            Exit::Local,
            format!("could not write the manual page: {error}"),
        )
    })?;
    out.text(&String::from_utf8_lossy(&page))
}
