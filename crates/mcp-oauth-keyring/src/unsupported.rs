//! An OS whose keychain this crate does not speak to: opening fails.

use mcp_oauth::Result;

use crate::{
    Options,
    item::{ItemId, unreachable},
};

/// No backend: never made.
#[derive(Debug)]
pub(crate) enum Backend {}

pub(crate) struct Found {
    pub(crate) id: Option<ItemId>,
    pub(crate) secret: Result<Vec<u8>>,
}

impl Backend {
    pub(crate) async fn open(_options: &Options) -> Result<Self> {
        Err(unreachable(
            "mcp-oauth-keyring supports no keychain on this OS; keep credentials in files".into(),
            None,
        ))
    }

    pub(crate) async fn check(&self) -> Result<()> {
        match *self {}
    }

    pub(crate) async fn read(&self, _id: &ItemId) -> Result<Option<Vec<u8>>> {
        match *self {}
    }

    pub(crate) async fn write(&self, _id: &ItemId, _secret: &[u8]) -> Result<()> {
        match *self {}
    }

    pub(crate) async fn delete(&self, _id: &ItemId) -> Result<bool> {
        match *self {}
    }

    pub(crate) async fn list(&self) -> Result<Vec<Found>> {
        match *self {}
    }

    pub(crate) async fn delete_all(&self) -> Result<Vec<Option<ItemId>>> {
        match *self {}
    }
}
