//! A token endpoint answer (RFC 6749 §5), `NNNn` status line optional.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::token_response(data));
