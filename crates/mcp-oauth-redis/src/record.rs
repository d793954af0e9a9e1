//! A server's record as Redis holds it: one hash with the generation, the
//! server's URL (so that a store can be listed), and the document, sealed
//! or not, with the id of its key and its nonce.

use redis::aio::ConnectionManager;

/// The key id of a document kept unsealed.
pub(crate) const PLAINTEXT_KEY_ID: &str = "plaintext";

/// The fields of a record.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// How many times the record was written; 0 when it never was.
    pub(crate) generation: u64,
    pub(crate) url: Option<String>,
    pub(crate) key_id: Option<String>,
    pub(crate) nonce: Option<Vec<u8>>,
    /// The document; `None` for an empty record (never written, or logged
    /// out of).
    pub(crate) document: Option<Vec<u8>>,
}

/// The record at `key`; `None` when there is no such key.
pub(crate) async fn read_record(
    connection: &mut ConnectionManager,
    key: &str,
) -> redis::RedisResult<Option<Record>> {
    type Fields = (
        Option<u64>,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let (generation, url, key_id, nonce, document): Fields = redis::cmd("HMGET")
        .arg(key)
        .arg(&["gen", "url", "kid", "nonce", "doc"])
        .query_async(connection)
        .await?;
    if generation.is_none() && document.is_none() && url.is_none() {
        return Ok(None);
    }
    Ok(Some(Record {
        generation: generation.unwrap_or(0),
        url,
        key_id,
        nonce,
        document,
    }))
}
