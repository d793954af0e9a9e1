//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, off by
//! default; not part of the API, no stability promised).
//!
//! Each function hands its bytes to the code that reads what a server or a
//! browser sends, exactly as the client runs it, and panics when something
//! that must hold for any input does not: no panic inside, answers that read
//! back the same, secrets that never reach a message, pages that escape what
//! they show.

mod auth;
mod transport;

pub use self::{
    auth::{
        auth_server_metadata, callback_request, challenge, registration_response,
        resource_metadata, token_response,
    },
    transport::sse_stream,
};
