//! A token endpoint answer (RFC 6749 §5); an optional first line `NNN` gives the HTTP status.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::token_response(data));
