//! Skills a server offers (the `io.modelcontextprotocol/skills` extension,
//! SEP-2640): listing them reads no file; loading one reads its `SKILL.md`
//! and checks it against the listing (byte size, `sha256:` digest, and the
//! YAML frontmatter field by field) before anything of it is used; a
//! skill's other files are read one at a time, when asked for, and checked
//! the same way. Content that fails a check is refused, and nothing more of
//! that skill is read.

use rmcp::model::{ResourceContents, Skill, SkillResource, SkillResources};

use super::{Connection, frontmatter};
use crate::{Error, Result};

/// A skill whose `SKILL.md` was read and matched its listing.
///
/// ```no_run
/// # async fn run(client: mcp_oauth::Client) -> mcp_oauth::Result<()> {
/// let skills = client.list_skills().await?;
/// if let Some(skill) = skills.first() {
///     let loaded = client.load_skill(skill).await?;
///     println!("{}: {} file(s)", loaded.name(), loaded.files().len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LoadedSkill {
    skill: Skill,
    instructions: String,
}

impl LoadedSkill {
    /// The skill's name (from its frontmatter).
    ///
    /// ```
    /// # fn run(skill: &mcp_oauth::LoadedSkill) {
    /// println!("loaded {}", skill.name());
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        self.skill.name()
    }

    /// The skill as the server listed it: name, description, files.
    ///
    /// ```
    /// # fn run(loaded: &mcp_oauth::LoadedSkill) {
    /// let listed = loaded.skill();
    /// # }
    /// ```
    pub fn skill(&self) -> &Skill {
        &self.skill
    }

    /// The whole `SKILL.md`, frontmatter included, exactly as verified.
    ///
    /// ```
    /// # fn run(skill: &mcp_oauth::LoadedSkill) {
    /// let prompt = format!("Follow these instructions:\n{}", skill.instructions());
    /// # }
    /// ```
    pub fn instructions(&self) -> &str {
        &self.instructions
    }

    /// The listed files of the skill other than `SKILL.md`, by URI.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_oauth::Client, skill: mcp_oauth::LoadedSkill) -> mcp_oauth::Result<()> {
    /// for file in skill.files() {
    ///     let text = client.read_skill_file(&skill, file).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn files(&self) -> Vec<&str> {
        match &self.skill.resources {
            SkillResources::Files(files) => files
                .iter()
                .map(|file| file.uri.as_str())
                .filter(|uri| *uri != self.skill.uri)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The listing's entry for `file`: a full URI, or a path relative to
    /// the folder of `SKILL.md` (`references/FORMS.md`).
    fn entry(&self, file: &str) -> Option<&SkillResource> {
        let SkillResources::Files(files) = &self.skill.resources else {
            return None;
        };
        let base = self
            .skill
            .uri
            .strip_suffix("SKILL.md")
            .unwrap_or(&self.skill.uri);
        let wanted = if file.contains("://") {
            file.to_owned()
        } else {
            format!("{base}{}", file.trim_start_matches('/'))
        };
        files.iter().find(|entry| entry.uri == wanted)
    }
}

impl Connection {
    pub(crate) async fn list_skills(&self) -> Result<Vec<Skill>> {
        self.peer.list_all_skills().await.map_err(|e| self.error(e))
    }

    /// Reads the `SKILL.md` of a listed skill and checks it.
    pub(crate) async fn load_skill(&self, skill: &Skill) -> Result<LoadedSkill> {
        let name = skill.name();
        let instructions = match &skill.resources {
            SkillResources::Files(files) => {
                let entry = files
                    .iter()
                    .find(|file| file.uri == skill.uri)
                    .ok_or_else(|| {
                        self.refusal(name, &format!("its listing has no entry for {}", skill.uri))
                    })?;
                self.read_verified(name, entry).await?
            }
            // Nothing to check the bytes against; the frontmatter still is.
            _ => self.read_text(&skill.uri).await?,
        };
        frontmatter::check(&instructions, &skill.frontmatter)
            .map_err(|why| self.refusal(name, &format!("{}: {why}", skill.uri)))?;
        Ok(LoadedSkill {
            skill: skill.clone(),
            instructions,
        })
    }

    /// Reads one file of a loaded skill, checked against the listing.
    pub(crate) async fn read_skill_file(&self, skill: &LoadedSkill, file: &str) -> Result<String> {
        let Some(entry) = skill.entry(file) else {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "the skill {:?} lists no file {file:?} (it lists: {})",
                    skill.name(),
                    skill.files().join(", ")
                ),
            });
        };
        self.read_verified(skill.name(), entry).await
    }

    /// Reads `entry`'s URI; its bytes must have the listed size and digest.
    async fn read_verified(&self, skill: &str, entry: &SkillResource) -> Result<String> {
        let text = self.read_text(&entry.uri).await?;
        entry
            .verify(text.as_bytes())
            .map_err(|why| self.refusal(skill, &why.to_string()))?;
        Ok(text)
    }

    /// The text of the resource at `uri`, which must be one text content.
    async fn read_text(&self, uri: &str) -> Result<String> {
        let result = self.read_resource(uri).await?;
        match result.contents.as_slice() {
            [ResourceContents::TextResourceContents { text, .. }] => Ok(text.clone()),
            _ => Err(Error::Protocol {
                url: self.target.clone(),
                detail: format!("{uri} did not come back as one text"),
            }),
        }
    }

    fn refusal(&self, skill: &str, why: &str) -> Error {
        Error::Protocol {
            url: self.target.clone(),
            detail: format!("the skill {skill:?} was refused: {why}"),
        }
    }
}
