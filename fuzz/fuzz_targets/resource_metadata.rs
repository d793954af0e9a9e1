//! Protected resource metadata (RFC 9728); an optional first line `NNN` gives the HTTP status.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::resource_metadata(data));
