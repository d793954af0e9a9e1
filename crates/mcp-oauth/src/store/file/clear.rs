//! Forgetting: one server's files or every server's, and only the store's
//! own. Every file is tried; what could not be removed is reported at the
//! end, each with its reason.

use std::{
    io,
    path::{Path, PathBuf},
};

use super::{
    folder::{check_existing_folder, remove_if_present, storage_error},
    names::{Kind, StoreFile, store_files},
    sidecar,
    temporary::{Swept, remove_if_abandoned},
};
use crate::{Cause, Error, Result};

/// Removes the files of the server of `stem` in `dir`: its document, its
/// temporary files, and its lock file unless a process holds it. Abandoned
/// temporary files of other servers go too.
pub(super) fn forget_server(dir: &Path, stem: &str, document: &Path) -> Result<()> {
    if !check_existing_folder(dir)? {
        return Ok(());
    }
    let mut left = NotRemoved::default();
    if let Err(error) = remove_if_present(document) {
        left.failed(document, error);
    }
    for file in store_files(dir).map_err(|error| storage_error(dir, error))? {
        let own = file.stem.as_deref() == Some(stem);
        match file.kind {
            Kind::Temporary | Kind::LegacyTemporary => {
                let outcome = remove_if_abandoned(&file);
                if own {
                    left.swept(&file.path, outcome);
                }
            }
            Kind::Lock if own => left.lock(&file.path, sidecar::remove_unless_held(&file.path)),
            Kind::Lock | Kind::Document => {}
        }
    }
    left.into_result(dir)
}

/// Removes every file of the store in `dir`: the documents, the abandoned
/// temporary files and the lock files nobody holds. A file named like a
/// document but holding JSON of another kind is not the store's, and stays.
pub(super) fn forget_all(dir: &Path) -> Result<()> {
    if !check_existing_folder(dir)? {
        return Ok(());
    }
    let mut left = NotRemoved::default();
    for file in store_files(dir).map_err(|error| storage_error(dir, error))? {
        match file.kind {
            Kind::Document if is_foreign(&file) => {
                tracing::debug!(path = %file.path.display(), "not a credentials document; left alone");
            }
            Kind::Document => {
                if let Err(error) = remove_if_present(&file.path) {
                    left.failed(&file.path, error);
                }
            }
            Kind::Temporary | Kind::LegacyTemporary => {
                left.swept(&file.path, remove_if_abandoned(&file));
            }
            Kind::Lock => left.lock(&file.path, sidecar::remove_unless_held(&file.path)),
        }
    }
    left.into_result(dir)
}

/// Whether a file named like a document holds JSON that is not one. What
/// cannot be read or parsed is taken for a damaged document of ours.
fn is_foreign(file: &StoreFile) -> bool {
    let Ok(bytes) = std::fs::read(&file.path) else {
        return false;
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value) => {
            !(value
                .get("server_url")
                .is_some_and(serde_json::Value::is_string)
                && value.get("version").is_some_and(serde_json::Value::is_u64))
        }
        Err(_) => false,
    }
}

/// The files that could not be removed, and why.
#[derive(Debug, Default)]
struct NotRemoved {
    files: Vec<(PathBuf, String)>,
    first_error: Option<io::Error>,
}

impl NotRemoved {
    fn failed(&mut self, path: &Path, error: io::Error) {
        self.files.push((path.to_owned(), error.to_string()));
        self.first_error.get_or_insert(error);
    }

    fn swept(&mut self, path: &Path, outcome: Swept) {
        match outcome {
            Swept::Removed | Swept::NotOurs => {}
            Swept::InUse => self.files.push((
                path.to_owned(),
                "being written by a running mcp-oauth, which may save credentials again; \
                 forget them again once it is done"
                    .into(),
            )),
            Swept::Failed(error) => self.failed(path, error),
        }
    }

    /// A lock file a process holds stays: it holds no secret, and removing
    /// it would let a second process lock a new one beside the first.
    fn lock(&mut self, path: &Path, outcome: io::Result<bool>) {
        if let Err(error) = outcome {
            self.failed(path, error);
        }
    }

    fn into_result(self, dir: &Path) -> Result<()> {
        if self.files.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = self
            .files
            .iter()
            .map(|(path, why)| format!("{} ({why})", path.display()))
            .collect();
        Err(Error::Storage {
            path: dir.display().to_string(),
            reason: format!(
                "could not remove {} of the stored files: {}",
                self.files.len(),
                list.join("; ")
            ),
            source: self.first_error.map(Cause::new),
        })
    }
}
