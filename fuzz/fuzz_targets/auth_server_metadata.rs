//! Authorization server metadata (RFC 8414 / OpenID Connect Discovery).

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::auth_server_metadata(data));
