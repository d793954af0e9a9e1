//! `mcp-oauth skills`: the skills a server offers; `--load NAME` reads one
//! skill's SKILL.md (and `--file PATH` more of its files), each checked
//! against the listing before it is printed.

use clap::Args;
use mcp_oauth::{Client, model::Skill, terminal_safe_line};
use serde_json::{Value, json};

use crate::{
    failure::{Exit, Failure},
    options::{GlobalArgs, ServerArgs},
    output::{Output, to_stderr},
};

#[derive(Args)]
pub(crate) struct SkillsArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,

    /// Load the skill NAME: read its SKILL.md, check its size, digest and
    /// frontmatter against the listing, and print it. Nothing that fails a
    /// check is printed, and no further file of the skill is read.
    #[arg(long, value_name = "NAME")]
    pub(crate) load: Option<String>,

    /// With --load, also read this file of the skill (a path beside
    /// SKILL.md, e.g. references/FORMS.md, or its URI), checked the same
    /// way; repeatable.
    #[arg(long, value_name = "PATH", requires = "load")]
    pub(crate) file: Vec<String>,
}

pub(crate) async fn run(
    args: &SkillsArgs,
    global: &GlobalArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let client = args.server.connect(global).await?;
    let result = match &args.load {
        Some(name) => load(&client, out, global.json, name, &args.file).await,
        None => list(&client, out, global.json).await,
    };
    client.close().await;
    result
}

async fn list(client: &Client, out: &mut Output, json: bool) -> Result<(), Failure> {
    let skills = client.list_skills().await?;
    if json {
        return out.json(&serde_json::to_value(&skills).unwrap_or(Value::Null));
    }
    if skills.is_empty() {
        to_stderr("the server offers no skills");
        return Ok(());
    }
    out.text(&skill_table(&skills))
}

async fn load(
    client: &Client,
    out: &mut Output,
    json: bool,
    name: &str,
    files: &[String],
) -> Result<(), Failure> {
    let skills = client.list_skills().await?;
    let Some(skill) = skills.iter().find(|skill| skill.name() == name) else {
        let names: Vec<&str> = skills.iter().map(Skill::name).collect();
        let hint = if names.is_empty() {
            "the server offers no skills".to_owned()
        } else {
            format!("it offers: {}", terminal_safe_line(&names.join(", ")))
        };
        return Err(Failure::new(
            Exit::BadInput,
            format!(
                "the server offers no skill named {:?}",
                terminal_safe_line(name)
            ),
        )
        .hint(hint));
    };
    let loaded = client.load_skill(skill).await?;
    let mut read = Vec::new();
    for file in files {
        read.push((file, client.read_skill_file(&loaded, file).await?));
    }
    if json {
        let files: serde_json::Map<String, Value> = read
            .into_iter()
            .map(|(file, text)| (file.clone(), Value::String(text)))
            .collect();
        return out.json(&json!({
            "skill": loaded.skill(),
            "instructions": loaded.instructions(),
            "files": files,
        }));
    }
    out.text(loaded.instructions())?;
    for (file, text) in read {
        out.text(&format!("\n--- {}\n", terminal_safe_line(file)))?;
        out.text(&text)?;
    }
    Ok(())
}

/// Name and description, in two aligned columns, one line per skill.
fn skill_table(skills: &[Skill]) -> String {
    let rows: Vec<(String, String)> = skills
        .iter()
        .map(|skill| {
            (
                terminal_safe_line(skill.name()),
                terminal_safe_line(&skill.frontmatter.description),
            )
        })
        .collect();
    let width = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut table = format!("{:width$}  DESCRIPTION\n", "NAME");
    for (name, description) in rows {
        table.push_str(format!("{name:width$}  {description}").trim_end());
        table.push('\n');
    }
    table
}
