//! A request on the loopback callback server, or a pasted redirect URL.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_oauth::fuzzing::callback_request(data));
