//! The `WWW-Authenticate` header of a 401 or 403 answer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::challenge(data));
