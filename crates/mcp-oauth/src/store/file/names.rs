//! Which files of the cache folder are the store's, told by their names:
//! `<stem>.json` documents, `<stem>.lock` locks, `.<stem>.<random>.tmp`
//! temporary files, and the `.tmpXXXXXX` temporary files of earlier
//! versions. A stem is the readable part of a server's URL and 16 hex
//! digits of a hash (of the URL, or of the URL and a named account:
//! `ServerUrl::cache_file_stem_for`), so a file of someone else's is not
//! taken for one of ours, and every account's files are.

use std::path::{Path, PathBuf};

pub(super) const DOCUMENT_EXTENSION: &str = "json";
pub(super) const LOCK_EXTENSION: &str = "lock";
pub(super) const TEMPORARY_SUFFIX: &str = ".tmp";
/// Earlier versions left `tempfile`'s default names: `.tmp` and six letters.
const LEGACY_TEMPORARY_PREFIX: &str = ".tmp";
const LEGACY_RANDOM_LEN: usize = 6;
/// The longest readable part of a stem, and the length of its hash.
const READABLE_MAX_LEN: usize = 60;
const HASH_LEN: usize = 16;

/// What a file of the store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Document,
    Lock,
    Temporary,
    /// A temporary file of an earlier version: its name does not say whose.
    LegacyTemporary,
}

/// One file of the store in its folder.
#[derive(Debug)]
pub(super) struct StoreFile {
    pub(super) path: PathBuf,
    pub(super) kind: Kind,
    /// The stem of the server it belongs to, when its name says.
    pub(super) stem: Option<String>,
}

/// The prefix of a temporary document of `stem`, before its random part.
pub(super) fn temporary_prefix(stem: &str) -> String {
    format!(".{stem}.")
}

/// What the file called `name` is to the store; `None` when it is not the
/// store's.
pub(super) fn classify(name: &str) -> Option<(Kind, Option<&str>)> {
    if let Some((stem, random)) = name
        .strip_prefix('.')
        .and_then(|inner| inner.strip_suffix(TEMPORARY_SUFFIX))
        .and_then(|inner| inner.rsplit_once('.'))
        && is_random(random)
        && is_stem(stem)
    {
        return Some((Kind::Temporary, Some(stem)));
    }
    if name
        .strip_prefix(LEGACY_TEMPORARY_PREFIX)
        .is_some_and(|random| random.len() == LEGACY_RANDOM_LEN && is_random(random))
    {
        return Some((Kind::LegacyTemporary, None));
    }
    let (stem, extension) = name.rsplit_once('.')?;
    let kind = match extension {
        DOCUMENT_EXTENSION => Kind::Document,
        LOCK_EXTENSION => Kind::Lock,
        _ => return None,
    };
    is_stem(stem).then_some((kind, Some(stem)))
}

/// The store's files in `dir`; none when there is no such folder.
pub(super) fn store_files(dir: &Path) -> std::io::Result<Vec<StoreFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((kind, stem)) = name.to_str().and_then(classify) else {
            continue;
        };
        found.push(StoreFile {
            path: entry.path(),
            kind,
            stem: stem.map(str::to_owned),
        });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// `<readable>-<16 hex digits>`, as `ServerUrl::cache_file_stem_for` makes them.
fn is_stem(text: &str) -> bool {
    let Some((readable, hash)) = text.rsplit_once('-') else {
        return false;
    };
    let readable_ok = readable.len() <= READABLE_MAX_LEN
        && readable
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let hash_ok = hash.len() == HASH_LEN
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    readable_ok && hash_ok
}

fn is_random(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerUrl;

    #[test]
    fn the_store_knows_its_own_names_and_only_those() {
        let stem = ServerUrl::parse("https://my-host.example:8443/mcp")
            .unwrap()
            .cache_file_stem_for(Some("work"));
        let document = format!("{stem}.json");
        let lock = format!("{stem}.lock");
        let temporary = format!("{}Xy12ab34Cd{TEMPORARY_SUFFIX}", temporary_prefix(&stem));
        let own = Some(stem.as_str());
        assert_eq!(classify(&document), Some((Kind::Document, own)));
        assert_eq!(classify(&lock), Some((Kind::Lock, own)));
        assert_eq!(classify(&temporary), Some((Kind::Temporary, own)));
        assert_eq!(classify(".tmpAb3xQ9"), Some((Kind::LegacyTemporary, None)));
        for foreign in [
            "notes.json",
            "config.lock",
            "my-host.example-0123456789ABCDEF.json",
            "x-0123456789abcde.json",
            "x-0123456789abcdef.json.bak",
            ".tmpAb3xQ9z",
            ".tmp",
            ".notes.tmp",
            &format!(".{stem}..tmp"),
        ] {
            assert_eq!(classify(foreign), None, "{foreign}");
        }
    }
}
