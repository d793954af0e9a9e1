//! A dynamic registration answer (RFC 7591); an optional first line `NNN` gives the HTTP status.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::registration_response(data));
